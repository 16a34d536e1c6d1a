import type { IncomingMessage } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AudioUpload, TranscriptionRequest } from '../../protocol/audio.js';
import { renderTranscript, streamEvent } from '../../protocol/audio-render.js';
import { MAX_AUDIO_BYTES, type TranscriptionCall, normalizeFields, parseFoundryBody, parseTranscriptionForm } from '../../protocol/audio-request.js';
import { CrucibleError, invalid } from '../../protocol/errors.js';
import type { CrucibleApi } from '../../protocol/operations.js';
import { clientSignal } from './client-signal.js';
import { readJson } from './errors.js';
import { writeSse } from './sse.js';

/** The agent's speech operations, all these routes call. */
export type SpeechApi = Pick<CrucibleApi, 'transcribe' | 'transcribeStream'>;

/** Room for the form's text fields and part headers beside a file at the limit. */
const FORM_SLACK = 64 * 1024;

const tooLarge = (limit: number) =>
  new CrucibleError('payload_too_large', `the audio file is larger than ${limit} bytes (the server's --max-audio-bytes)`, 'file');

/**
 * `POST /v1/audio/transcriptions` and `/v1/audio/translations`: OpenAI's multipart form (as the
 * `openai` client sends it), or Foundry's JSON `{model, filename}` naming a file on the server's
 * disk (accepted from loopback clients only: it reads a local path). The audio goes to the agent
 * as the uploaded bytes; the speech worker decodes it. The answer is rendered from the Transcript
 * in the asked response_format, or streamed as `transcript.text.delta` / `.done` events.
 */
export function audioRoutes(app: Hono, api: SpeechApi, opts: { maxAudioBytes?: number } = {}): void {
  const limit = opts.maxAudioBytes ?? MAX_AUDIO_BYTES;
  // Refused before the body is read: the rest of the upload is still on the socket, so the
  // connection closes after the 413 rather than being reused by the client's next request.
  const guard = bodyLimit({ maxSize: limit + FORM_SLACK, onError: (c) => { c.header('connection', 'close'); throw tooLarge(limit); } });
  for (const [path, task] of [['/v1/audio/transcriptions', 'transcribe'], ['/v1/audio/translations', 'translate']] as const) {
    app.post(path, guard, async (c) => {
      const call = await readCall(c, task, limit);
      const ac = clientSignal(c.req.raw);
      if (call.stream) {
        const source = api.transcribeStream(call.req, ac.signal)[Symbol.asyncIterator]();
        const events: AsyncIterator<ReturnType<typeof streamEvent>> = {
          next: async () => {
            const r = await source.next();
            return r.done ? { done: true, value: undefined } : { done: false, value: streamEvent(r.value) };
          },
          return: async () => { await source.return?.(); return { done: true, value: undefined }; },
        };
        return writeSse(c, await events.next(), events, ac);
      }
      const out = renderTranscript(await api.transcribe(call.req, ac.signal), call.format);
      return 'json' in out ? c.json(out.json) : c.body(out.text, 200, { 'content-type': out.contentType });
    });
  }
}

async function readCall(c: Context, task: TranscriptionRequest['task'], limit: number): Promise<TranscriptionCall> {
  const type = (c.req.header('content-type') ?? '').toLowerCase();
  if (/^application\/([\w.+-]*\+)?json\b/.test(type)) return readFoundry(c, task, limit);
  if (!type.startsWith('multipart/form-data')) {
    throw new CrucibleError('unsupported_media_type', `Content-Type must be multipart/form-data (or application/json with a filename), got '${type || 'none'}'`);
  }
  let form: FormData;
  try {
    form = await c.req.raw.formData();
  } catch (err) {
    if (err instanceof CrucibleError) throw err;
    throw invalid('body', `the multipart body could not be read: ${(err as Error).message}`);
  }
  let audio: AudioUpload | undefined;
  const fields: [string, string][] = [];
  for (const [key, value] of form.entries()) {
    if (typeof value === 'string') { fields.push([key, value]); continue; }
    if (key !== 'file') throw invalid(key, `'${key}' must be a text field, not a file`);
    if (audio) throw invalid('file', "'file' was given more than once");
    if (value.size > limit) throw tooLarge(limit);
    audio = { bytes: new Uint8Array(await value.arrayBuffer()), filename: value.name || undefined, contentType: value.type || undefined };
  }
  return parseTranscriptionForm(normalizeFields(fields), audio, task);
}

const isLoopback = (addr: string | undefined) => !!addr && (/^127\./.test(addr) || addr === '::1' || /^::ffff:127\./.test(addr));

async function readFoundry(c: Context, task: TranscriptionRequest['task'], limit: number): Promise<TranscriptionCall> {
  const { fields, filename } = parseFoundryBody(await readJson(c, FORM_SLACK));
  const remote = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket?.remoteAddress;
  if (!isLoopback(remote)) {
    throw new CrucibleError('forbidden', "a JSON body's 'filename' (a path on the server's disk) is accepted from loopback clients only; upload the file as multipart/form-data");
  }
  if (!isAbsolute(filename)) throw invalid('filename', `'filename' must be an absolute path, got ${JSON.stringify(filename)}`);
  let size: number;
  try {
    const s = await stat(filename);
    if (!s.isFile()) throw invalid('filename', `'${filename}' is not a file`);
    size = s.size;
  } catch (err) {
    if (err instanceof CrucibleError) throw err;
    throw invalid('filename', `'${filename}' cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (size > limit) throw tooLarge(limit);
  const bytes = new Uint8Array(await readFile(filename));
  return parseTranscriptionForm(fields, { bytes, filename }, task);
}
