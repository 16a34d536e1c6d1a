/**
 * A speech model as its worker holds it: the Whisper sessions, the tokenizer and the transcriber.
 * Uploads are decoded here, off the agent's thread.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { SpeechFacts, SpeechJob, WorkerTranscript } from '../../protocol/worker-messages.js';
import type { TranscriptSegment } from '../../protocol/audio.js';
import { decodeAudio } from '../audio/decode.js';
import { Transcriber } from './transcribe.js';
import { WhisperModel } from './whisper-model.js';

/** Samples at 16 kHz mono from an upload (WAV, MP3, FLAC, Ogg Vorbis, Opus; see workers/audio/decode.ts). */
export function decodeUpload(job: Pick<SpeechJob, 'bytes' | 'filename' | 'contentType'>): Promise<Float32Array> {
  return decodeAudio(job.bytes, { filename: job.filename, contentType: job.contentType });
}

export class SpeechEngine {
  private constructor(private readonly model: WhisperModel, private readonly transcriber: Transcriber, readonly facts: SpeechFacts) {}

  static async create(dir: string, threads: number): Promise<SpeechEngine> {
    const model = await WhisperModel.load(dir, threads);
    const tokenizerJson = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
    let config: Record<string, unknown> = {};
    try {
      config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
    } catch {
      // optional
    }
    const tokenizer = new Tokenizer(tokenizerJson, config);
    const c = model.cfg;
    const facts: SpeechFacts = {
      layout: c.layout, languages: [...c.tokens.languages.keys()], mels: c.mel.nMels,
      vocabSize: c.tokens.timestampBegin + 1501, numLayers: c.layers, contextLength: c.textCtx,
    };
    return new SpeechEngine(model, new Transcriber(model, tokenizer), facts);
  }

  async transcribe(job: SpeechJob, cancelled: () => boolean, onSegments?: (s: TranscriptSegment[]) => void): Promise<WorkerTranscript> {
    const audio = await decodeUpload(job);
    return this.transcriber.run(audio, {
      task: job.task, language: job.language, prompt: job.prompt, temperature: job.temperature, words: job.words, cancelled, onSegments,
    });
  }

  close(): Promise<void> {
    return this.model.close();
  }
}
