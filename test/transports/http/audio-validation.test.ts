import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { signal, wavBytes } from '../../helpers/audio.js';
import { startTestService } from '../../helpers/service.js';

/*
 * The audio routes' reading of requests, over real HTTP: the multipart form as the `openai` client
 * sends it, Foundry's JSON form, the upload limit. Each refusal happens before any model is asked.
 */

const LIMIT = 200_000;
const svc = await startTestService(t, ['--max-audio-bytes', String(LIMIT)]);
const wav = wavBytes(signal(16000, 0.5), 16000);

async function expectError(t: Test, res: Response, status: number, code: string, param: string | null, what: string) {
  t.equal(res.status, status, `${what}: ${status}`);
  const body = await res.json() as { error: { code: string; param: string | null; type: string; message: string } };
  t.equal(body.error.code, code, `${what}: ${code}`);
  t.equal(body.error.param, param, `${what}: names ${param}`);
  t.ok(body.error.message.length > 0, `${what}: ${body.error.message}`);
}

const form = (entries: Record<string, string | string[]>, file: Uint8Array | null = wav, name = 'clip.wav') => {
  const f = new FormData();
  if (file) f.append('file', new Blob([file], { type: 'audio/wav' }), name);
  for (const [k, v] of Object.entries(entries)) for (const x of Array.isArray(v) ? v : [v]) f.append(k, x);
  return f;
};
const post = (body: FormData | string, path = '/v1/audio/transcriptions', headers: Record<string, string> = {}) =>
  fetch(`${svc.url}${path}`, { method: 'POST', body, headers });

t.test('multipart fields are checked, each refusal naming its field', async (t) => {
  await expectError(t, await post(form({ model: 'whisper-tiny' }, null)), 400, 'invalid_request', 'file', 'no file');
  await expectError(t, await post(form({})), 400, 'invalid_request', 'model', 'no model');
  await expectError(t, await post(form({ model: 'whisper-tiny', response_format: 'mp3' })), 400, 'invalid_request', 'response_format', 'an unknown response_format');
  await expectError(t, await post(form({ model: 'whisper-tiny', temperature: '1.5' })), 400, 'invalid_request', 'temperature', 'temperature past 1');
  await expectError(t, await post(form({ model: 'whisper-tiny', language: 'english please' })), 400, 'invalid_request', 'language', 'a language that is no code');
  await expectError(t, await post(form({ model: 'whisper-tiny', 'timestamp_granularities[]': 'word' })), 400, 'invalid_request', 'timestamp_granularities', 'word timestamps without verbose_json');
  await expectError(t, await post(form({ model: 'whisper-tiny', response_format: 'verbose_json', 'timestamp_granularities[]': ['word', 'letter'] })), 400, 'invalid_request', 'timestamp_granularities', 'an unknown granularity');
  await expectError(t, await post(form({ model: 'whisper-tiny', stream: 'true', response_format: 'srt' })), 400, 'invalid_request', 'stream', 'streaming subtitles');
  await expectError(t, await post(form({ model: 'whisper-tiny', stream: 'maybe' })), 400, 'invalid_request', 'stream', 'stream neither true nor false');
  await expectError(t, await post(form({ model: 'whisper-tiny', 'include[]': 'logprobs' })), 400, 'unsupported_parameter', 'include', 'logprobs');
  await expectError(t, await post(form({ model: 'whisper-tiny', known_speaker_names: 'ann' })), 400, 'unsupported_parameter', 'known_speaker_names', 'diarization');
  await expectError(t, await post(form({ model: 'whisper-tiny', voice: 'alloy' })), 400, 'unsupported_parameter', 'voice', 'a field no audio endpoint has');
  await expectError(t, await post(form({ model: 'whisper-tiny', file: 'clip.wav' }, null)), 400, 'invalid_request', 'file', 'file as a text field');
  await expectError(t, await post(form({ model: 'whisper-tiny' }, new Uint8Array(0))), 400, 'invalid_request', 'file', 'an empty file');
  await expectError(t, await post(form({ model: '../etc' })), 400, 'invalid_request', 'model', 'a model name that is a path');
});

t.test('the official openai client\'s multipart reaches the same checks', async (t) => {
  const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const file = await toFile(wav, 'clip.wav', { type: 'audio/wav' });
  for (const [params, param] of [
    [{ response_format: 'srt', timestamp_granularities: ['word'] }, 'timestamp_granularities'],
    [{ response_format: 'json', include: ['logprobs'] }, 'include'],
  ] as const) {
    try {
      await client.audio.transcriptions.create({ file, model: 'whisper-tiny', ...params } as never);
      t.fail('accepted');
    } catch (err) {
      t.ok(err instanceof OpenAI.BadRequestError, `a BadRequestError (${(err as Error).message})`);
      t.equal((err as InstanceType<typeof OpenAI.BadRequestError>).param, param, `names ${param}`);
    }
  }
});

t.test('other bodies: 415, and Foundry\'s JSON form checks its filename', async (t) => {
  await expectError(t, await post('hello', '/v1/audio/transcriptions', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type', null, 'text/plain');
  const json = (body: unknown) => post(JSON.stringify(body), '/v1/audio/transcriptions', { 'content-type': 'application/json' });
  await expectError(t, await json({ model: 'whisper-tiny' }), 400, 'invalid_request', 'filename', 'no filename');
  await expectError(t, await json({ model: 'whisper-tiny', filename: 'clip.wav' }), 400, 'invalid_request', 'filename', 'a relative path');
  await expectError(t, await json({ Model: 'whisper-tiny', FileName: join(svc.home, 'missing.wav') }), 400, 'invalid_request', 'filename', 'a file that is not there');
  await expectError(t, await json({ model: 'whisper-tiny', filename: svc.home }), 400, 'invalid_request', 'filename', 'a folder');
  const big = join(svc.home, 'big.wav');
  writeFileSync(big, new Uint8Array(LIMIT + 1));
  await expectError(t, await json({ model: 'whisper-tiny', filename: big }), 413, 'payload_too_large', 'file', 'a file past the limit');
  const small = join(svc.home, 'small.wav');
  writeFileSync(small, wav);
  await expectError(t, await json({ model: 'whisper-tiny', filename: small, Language: 'en', bogus: 1 }), 400, 'unsupported_parameter', 'bogus', 'an unknown field');
});

t.test('the upload limit: 413 with the OpenAI envelope, declared or streamed', async (t) => {
  const big = new Uint8Array(LIMIT + 1);
  await expectError(t, await post(form({ model: 'whisper-tiny' }, big)), 413, 'payload_too_large', 'file', 'a file one byte past the limit');
  const huge = new Uint8Array(LIMIT + 100_000);
  await expectError(t, await post(form({ model: 'whisper-tiny' }, huge)), 413, 'payload_too_large', 'file', 'a body past the limit and the form\'s slack');
  // No Content-Length: the body is counted as it arrives.
  const encoded = new Response(form({ model: 'whisper-tiny' }, huge));
  const type = encoded.headers.get('content-type')!;
  const bytes = new Uint8Array(await encoded.arrayBuffer());
  const res = await fetch(`${svc.url}/v1/audio/transcriptions`, {
    method: 'POST', headers: { 'content-type': type }, duplex: 'half',
    body: new ReadableStream({ start(c) { for (let o = 0; o < bytes.length; o += 65536) c.enqueue(bytes.subarray(o, o + 65536)); c.close(); } }),
  } as RequestInit);
  await expectError(t, res, 413, 'payload_too_large', 'file', 'a chunked body past the limit');
  // And as the openai client sees it.
  const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  for (const bytes of [big, huge, big]) {
    try {
      await client.audio.transcriptions.create({ file: await toFile(bytes, 'big.wav'), model: 'whisper-tiny' });
      t.fail('accepted');
    } catch (err) {
      t.ok(err instanceof OpenAI.APIError && err.status === 413, `the openai client, ${bytes.length} bytes: 413 (${(err as Error).message})`);
      t.equal((err as InstanceType<typeof OpenAI.APIError>).code, 'payload_too_large');
    }
  }
});
