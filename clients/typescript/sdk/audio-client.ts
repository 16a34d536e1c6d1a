import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Transcript } from '../../../protocol/audio.js';
import type { TranscriptStreamEvent } from '../../../protocol/audio-render.js';
import type { AgentClient } from '../connect.js';
import type { TranscriptionBody } from '../http-client.js';
import type { CallOptions } from './chat-client.js';

/** Settings every request of an AudioClient carries (per call overridable). */
export interface AudioSettings {
  /** ISO-639-1 code of the spoken language; detected when absent. */
  language?: string;
  /** Text that precedes the audio (names, spelling, style). */
  prompt?: string;
  /** 0 is greedy. */
  temperature?: number;
  /** Word timestamps as well as segments. */
  words?: boolean;
}

/** A file path, or the file's bytes (then `filename` names it: its extension is a format hint). */
export type AudioInput = string | Uint8Array;

/**
 * Speech to text with one model (Foundry's `AudioClient`): `transcribe` keeps the spoken language,
 * `translate` gives English. Files are read here and sent whole (the agent decodes them in the
 * model's worker); the result is the agent's Transcript, which protocol/audio-render.ts renders as
 * SRT, WebVTT or OpenAI's JSON forms.
 */
export class AudioClient {
  settings: AudioSettings;

  constructor(private readonly client: AgentClient, readonly modelId: string, settings: AudioSettings = {}) {
    this.settings = { ...settings };
  }

  transcribe(audio: AudioInput, opts: CallOptions & AudioSettings & { filename?: string } = {}): Promise<Transcript> {
    return this.run(audio, 'transcribe', opts);
  }

  translate(audio: AudioInput, opts: CallOptions & AudioSettings & { filename?: string } = {}): Promise<Transcript> {
    return this.run(audio, 'translate', opts);
  }

  /** OpenAI's `transcript.text.delta` events as the windows are decoded, then `transcript.text.done`. */
  async *transcribeStreaming(audio: AudioInput, opts: CallOptions & AudioSettings & { filename?: string } = {}): AsyncIterable<TranscriptStreamEvent> {
    const body = await this.body(audio, 'transcribe', opts);
    yield* this.client.transcribeStream(body, opts.signal);
  }

  private async run(audio: AudioInput, task: 'transcribe' | 'translate', opts: CallOptions & AudioSettings & { filename?: string }): Promise<Transcript> {
    return this.client.transcribe(await this.body(audio, task, opts), opts.signal);
  }

  private async body(audio: AudioInput, task: 'transcribe' | 'translate', opts: AudioSettings & { filename?: string }): Promise<TranscriptionBody> {
    const s = { ...this.settings, ...opts };
    const file = typeof audio === 'string' ? new Uint8Array(await readFile(audio)) : audio;
    const filename = opts.filename ?? (typeof audio === 'string' ? basename(audio) : undefined);
    return {
      model: this.modelId, file, task,
      ...(filename ? { filename } : {}),
      ...(s.language ? { language: s.language } : {}),
      ...(s.prompt ? { prompt: s.prompt } : {}),
      ...(s.temperature !== undefined ? { temperature: s.temperature } : {}),
      ...(s.words ? { timestamp_granularities: ['segment', 'word'] as ('segment' | 'word')[] } : {}),
    };
  }
}
