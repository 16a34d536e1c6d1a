import { type AudioUpload, TRANSCRIPTION_FORMATS, type TranscriptionFormat, type TranscriptionRequest } from './audio.js';
import { invalid, unsupported } from './errors.js';
import { checkModelName } from './validate.js';

/**
 * The wire forms of `POST /v1/audio/transcriptions` and `/v1/audio/translations`, validated into
 * a TranscriptionRequest plus how to answer it: OpenAI's multipart fields (as the `openai` client
 * sends them, `timestamp_granularities[]` repeated) and Foundry's JSON `{model, filename}`.
 * Every refusal is a 400 naming the field; known OpenAI fields that are not implemented are
 * `unsupported_parameter`, never ignored.
 */

export interface TranscriptionCall {
  req: TranscriptionRequest;
  format: TranscriptionFormat;
  stream: boolean;
}

/** Default largest upload: OpenAI's own limit. */
export const MAX_AUDIO_BYTES = 25 * 1024 * 1024;

type Task = TranscriptionRequest['task'];

/** Form fields (repeated ones as arrays) minus the file. */
export type FormFields = Record<string, string[]>;

const KNOWN = new Set(['file', 'model', 'language', 'prompt', 'response_format', 'temperature', 'timestamp_granularities', 'stream', 'include', 'chunking_strategy']);
const NOT_IMPLEMENTED = ['languages', 'keywords', 'known_speaker_names', 'known_speaker_references'];

const one = (fields: FormFields, key: string): string | undefined => {
  const v = fields[key];
  if (!v || v.length === 0) return undefined;
  if (v.length > 1) throw invalid(key, `'${key}' was given ${v.length} times; give it once`);
  return v[0];
};

/** Multipart fields as `timestamp_granularities[]` and `timestamp_granularities` alike. */
export function normalizeFields(raw: Iterable<[string, string]>): FormFields {
  const out: FormFields = {};
  for (const [k, v] of raw) (out[k.endsWith('[]') ? k.slice(0, -2) : k] ??= []).push(v);
  return out;
}

/**
 * `renders`: the caller answers in `response_format` (HTTP), so word timestamps need
 * `verbose_json` and streaming needs a text format; the pipe answers the Transcript itself.
 */
export function parseTranscriptionForm(fields: FormFields, audio: AudioUpload | undefined, task: Task, { renders = true } = {}): TranscriptionCall {
  for (const key of Object.keys(fields)) {
    if (NOT_IMPLEMENTED.includes(key)) throw unsupported(key, `'${key}' is not implemented by this server's speech models`);
    if (!KNOWN.has(key)) throw unsupported(key, `'${key}' is not a field of /v1/audio/${task === 'translate' ? 'translations' : 'transcriptions'}`);
  }
  if (fields.file) throw invalid('file', "'file' must be a file part (multipart/form-data with a filename), not a text field");
  if (!audio) throw invalid('file', "'file' is required: the audio as a multipart file part");
  if (audio.bytes.length === 0) throw invalid('file', "'file' is empty");
  const model = one(fields, 'model');
  if (model === undefined || model === '') throw invalid('model', "'model' is required");
  checkModelName(model, 'model');

  const format = (one(fields, 'response_format') ?? 'json') as TranscriptionFormat;
  if (!TRANSCRIPTION_FORMATS.includes(format)) {
    throw invalid('response_format', `'response_format' must be one of ${TRANSCRIPTION_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
  }
  const req: TranscriptionRequest = { model, task, audio };

  const language = one(fields, 'language');
  if (language !== undefined && language !== '') {
    if (!/^[a-z]{2,3}$/i.test(language)) throw invalid('language', `'language' must be an ISO-639-1 code such as 'en', got ${JSON.stringify(language)}`);
    req.language = language.toLowerCase();
  }
  const prompt = one(fields, 'prompt');
  if (prompt) req.prompt = prompt;

  const temperature = one(fields, 'temperature');
  if (temperature !== undefined && temperature !== '') {
    const n = Number(temperature);
    if (!Number.isFinite(n) || n < 0 || n > 1) throw invalid('temperature', `'temperature' must be a number between 0 and 1, got ${JSON.stringify(temperature)}`);
    req.temperature = n;
  }

  const granularities = fields.timestamp_granularities ?? [];
  for (const g of granularities) {
    if (g !== 'word' && g !== 'segment') throw invalid('timestamp_granularities', `'timestamp_granularities[]' values are 'word' and 'segment', got ${JSON.stringify(g)}`);
  }
  if (granularities.length > 0) {
    if (renders && format !== 'verbose_json') throw invalid('timestamp_granularities', "'timestamp_granularities[]' needs response_format 'verbose_json'");
    req.timestampGranularities = [...new Set(granularities)] as ('word' | 'segment')[];
  }

  const include = fields.include ?? [];
  if (include.length > 0) throw unsupported('include', `'include[]' (${include.join(', ')}) is not implemented: no token log probabilities are returned`);
  const chunking = one(fields, 'chunking_strategy');
  if (chunking !== undefined && chunking !== 'auto') {
    throw unsupported('chunking_strategy', "'chunking_strategy' may only be 'auto': audio is cut into 30-second windows");
  }

  const streamRaw = one(fields, 'stream');
  const stream = parseBool(streamRaw, 'stream');
  if (renders && stream && format !== 'json' && format !== 'text') {
    throw invalid('stream', `'stream' streams text: use response_format 'json' or 'text', not '${format}'`);
  }
  return { req, format, stream };
}

function parseBool(v: string | undefined, key: string): boolean {
  if (v === undefined || v === '') return false;
  if (['true', '1'].includes(v.toLowerCase())) return true;
  if (['false', '0'].includes(v.toLowerCase())) return false;
  throw invalid(key, `'${key}' must be true or false, got ${JSON.stringify(v)}`);
}

/**
 * Foundry's JSON form: `{model, filename}` (its SDK also writes `Model`, `FileName`, `Language`,
 * `Temperature`), the file being a path on the server's own disk. Gives the fields as form
 * fields, for parseTranscriptionForm, and the path to read.
 */
export function parseFoundryBody(body: unknown): { fields: FormFields; filename: string } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid('body', 'the body must be a JSON object');
  const fields: FormFields = {};
  let filename: string | undefined;
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    const key = ({ filename: 'filename', file_name: 'filename', responseformat: 'response_format' } as Record<string, string>)[k.toLowerCase()] ?? k.toLowerCase();
    if (v === null || v === undefined) continue;
    if (key === 'filename') {
      if (typeof v !== 'string' || v === '') throw invalid('filename', "'filename' must be the path of an audio file on the server");
      filename = v;
      continue;
    }
    if (key === 'file') throw invalid('file', "a JSON body names its audio by 'filename' (a path on the server); upload files as multipart/form-data");
    const values = Array.isArray(v) ? v : [v];
    if (!values.every((x) => ['string', 'number', 'boolean'].includes(typeof x))) throw invalid(key, `'${key}' must be a string, number or boolean`);
    fields[key === 'timestamp_granularities[]' ? 'timestamp_granularities' : key] = values.map(String);
  }
  if (!filename) throw invalid('filename', "'filename' is required in a JSON body: the path of the audio file on the server");
  return { fields, filename };
}

/**
 * The pipe op `audio.transcriptions` body: the multipart fields of `POST /v1/audio/transcriptions`
 * as one msgpack map, the file's bytes as msgpack binary (`file`), plus `filename`,
 * `content_type`, `task` (`translate` for `/v1/audio/translations`) and `stream`. Validated by the
 * same rules as the form.
 */
export function parseTranscriptionBody(input: unknown): TranscriptionRequest & { stream: boolean } {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw invalid('body', 'the body must be a map');
  const body = input as Record<string, unknown>;
  const file = body.file;
  if (!(file instanceof Uint8Array) || file.length === 0) throw invalid('file', "'file' is required: the audio file's bytes (msgpack binary)");
  const text = (key: string): string | undefined => {
    const v = body[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw invalid(key, `'${key}' must be a string`);
    return v;
  };
  const task = text('task') ?? 'transcribe';
  if (task !== 'transcribe' && task !== 'translate') throw invalid('task', "'task' must be transcribe or translate");
  const fields: FormFields = {};
  for (const [key, v] of Object.entries(body)) {
    if (v === undefined || v === null || ['file', 'filename', 'content_type', 'task'].includes(key)) continue;
    const values = Array.isArray(v) ? v : [v];
    if (!values.every((x) => ['string', 'number', 'boolean'].includes(typeof x))) throw invalid(key, `'${key}' must be a string, number or boolean`);
    fields[key] = values.map(String);
  }
  const { req, stream } = parseTranscriptionForm(fields, { bytes: file, filename: text('filename'), contentType: text('content_type') }, task, { renders: false });
  return { ...req, stream };
}
