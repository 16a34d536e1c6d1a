import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { TRANSCRIPTION_FORMATS, type TranscriptionFormat } from '../../protocol/audio.js';
import { renderTranscript } from '../../protocol/audio-render.js';
import { CrucibleError } from '../../protocol/errors.js';
import type { AgentClient } from '../typescript/connect.js';

export interface TranscribeOptions {
  model?: string;
  format?: string;
  language?: string;
  translate?: boolean;
}

/**
 * `crucible transcribe <file>`: the file sent to the agent (any accepted format; the agent decodes
 * it), the transcript printed in the asked format: text (default), srt, vtt, json, verbose_json.
 * Without --model, the first speech model in the cache.
 */
export async function transcribeCommand(c: AgentClient, file: string | undefined, opts: TranscribeOptions): Promise<number> {
  if (!file) {
    console.error('usage: crucible transcribe <file> [--model M] [--format text|srt|vtt|json|verbose_json] [--language xx] [--translate]');
    return 2;
  }
  const format = (opts.format ?? 'text') as TranscriptionFormat;
  if (!TRANSCRIPTION_FORMATS.includes(format)) {
    console.error(`crucible: --format must be one of ${TRANSCRIPTION_FORMATS.join(', ')}`);
    return 2;
  }
  const model = opts.model ?? (await c.modelInfo()).find((m) => m.task === 'automatic-speech-recognition')?.id;
  if (!model) throw new CrucibleError('model_not_found', 'no speech-to-text model in the cache; name one with --model', 'model');
  const bytes = new Uint8Array(readFileSync(file));
  const transcript = await c.transcribe({
    model, file: bytes, filename: basename(file), task: opts.translate ? 'translate' : 'transcribe',
    ...(opts.language ? { language: opts.language } : {}),
    ...(format === 'verbose_json' ? { timestamp_granularities: ['segment', 'word'] as ('segment' | 'word')[] } : {}),
  });
  const out = renderTranscript(transcript, format);
  process.stdout.write('json' in out ? `${JSON.stringify(out.json, null, 2)}\n` : out.text);
  return 0;
}
