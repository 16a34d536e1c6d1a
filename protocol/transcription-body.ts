import { type TranscriptionRequest } from './audio.js';
import { invalid, unsupported } from './errors.js';
import { type Json, optionalNumber, requireModelName, requireObject } from './validate.js';

/**
 * The pipe op `audio.transcriptions` body: the multipart fields of `POST /v1/audio/transcriptions`
 * as one msgpack map, the file's bytes as msgpack binary (`file`), plus `task` (`translate` for
 * `/v1/audio/translations`) and `stream`.
 */
export function parseTranscriptionBody(input: unknown): TranscriptionRequest & { stream: boolean } {
  const body = requireObject(input, 'body') as Json;
  const model = requireModelName(body, 'model');
  const file = body.file;
  if (!(file instanceof Uint8Array) || file.length === 0) throw invalid('file', "'file' is required: the audio file's bytes (msgpack binary)");
  const str = (key: string): string | undefined => {
    const v = body[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw invalid(key, `'${key}' must be a string`);
    return v;
  };
  const task = str('task') ?? 'transcribe';
  if (task !== 'transcribe' && task !== 'translate') throw invalid('task', "'task' must be transcribe or translate");
  const language = str('language');
  if (language !== undefined && !/^[a-z]{2,3}$/.test(language)) throw invalid('language', "'language' must be an ISO-639-1 code such as 'en'");
  const grains = body.timestamp_granularities;
  if (grains !== undefined && grains !== null && (!Array.isArray(grains) || grains.some((g) => g !== 'segment' && g !== 'word'))) {
    throw invalid('timestamp_granularities', "'timestamp_granularities' must be an array of 'segment' and 'word'");
  }
  const stream = body.stream ?? false;
  if (typeof stream !== 'boolean') throw invalid('stream', "'stream' must be a boolean");
  for (const key of Object.keys(body)) {
    if (!['model', 'file', 'filename', 'content_type', 'task', 'language', 'prompt', 'temperature', 'timestamp_granularities', 'response_format', 'stream'].includes(key)) {
      throw unsupported(key, `'${key}' is not a transcription field this server implements`);
    }
  }
  return {
    model, task, audio: { bytes: file, filename: str('filename'), contentType: str('content_type') },
    ...(language ? { language } : {}), ...(str('prompt') ? { prompt: str('prompt') } : {}),
    temperature: optionalNumber(body, 'temperature', 0, 1) ?? 0,
    ...(Array.isArray(grains) ? { timestampGranularities: grains as ('segment' | 'word')[] } : {}),
    stream,
  };
}
