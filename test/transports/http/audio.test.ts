import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import type { TranscriptionRequest } from '../../../protocol/audio.js';
import { renderSrt, renderVtt } from '../../../protocol/audio-render.js';
import { encode } from '../../helpers/audio.js';
import { openaiAudioSchema } from '../../helpers/openai-audio-schema.js';
import { startTestService, until } from '../../helpers/service.js';
import { clip, writeWav } from '../../helpers/wav.js';
import { writeWhisperFixture } from '../../helpers/whisper-fixture.js';

/*
 * /v1/audio/transcriptions and /translations end to end: the official `openai` client against a
 * real agent on the repo's tiny Whisper fixture, every response_format and the stream, each JSON
 * answer validated against OpenAI's own schemas, and each answer checked against the transcript
 * the agent's operation gives for the same upload.
 */

const svc = await startTestService(t);
writeWhisperFixture(svc.config.modelsDir);
const MODEL = 'whisper-tiny-hf';
const wav = writeWav(clip(7, 300, 900, 3));
const client = new OpenAI({ baseURL: `${svc.url}/v1`, apiKey: 'unused', maxRetries: 0 });
const file = (bytes: Uint8Array = wav, name = 'clip.wav', type = 'audio/wav') => toFile(bytes, name, { type });
const direct = (extra: Partial<TranscriptionRequest> = {}) =>
  svc.agent.transcribe({ model: MODEL, task: 'transcribe', audio: { bytes: wav, filename: 'clip.wav' }, ...extra });

const conforms = (t: Test, schema: string, value: unknown) => {
  const v = openaiAudioSchema(schema);
  t.ok(v(value), `a valid ${schema}${v.errors ? `: ${JSON.stringify(v.errors)}` : ''}`);
};

const reference = await direct();

t.test('json (the default), as the openai client reads it', async (t) => {
  t.ok(reference.text.length > 0, `the fixture says something: ${JSON.stringify(reference.text.slice(0, 60))}`);
  const json = await client.audio.transcriptions.create({ file: await file(), model: MODEL });
  conforms(t, 'CreateTranscriptionResponseJson', json);
  t.equal(json.text, reference.text, 'the agent\'s transcript');
  t.same((json as { usage?: unknown }).usage, { type: 'duration', seconds: 7 });
});

t.test('text, srt and vtt', async (t) => {
  const text = await client.audio.transcriptions.create({ file: await file(), model: MODEL, response_format: 'text' });
  t.equal(text, `${reference.text.trim()}\n`);
  const srt = await client.audio.transcriptions.create({ file: await file(), model: MODEL, response_format: 'srt' });
  t.equal(srt, renderSrt(reference));
  t.match(srt, /^1\n00:00:00,000 --> 00:00:\d\d,\d{3}\n/);
  const vtt = await client.audio.transcriptions.create({ file: await file(), model: MODEL, response_format: 'vtt' });
  t.equal(vtt, renderVtt(reference));
  t.match(vtt, /^WEBVTT\n\n00:00:00\.000 --> /);
  t.equal(srt.split('\n\n').filter(Boolean).length, reference.segments.length, 'one cue per segment');
});

t.test('verbose_json with segment and word timestamps', async (t) => {
  const v = await client.audio.transcriptions.create({
    file: await file(), model: MODEL, response_format: 'verbose_json', timestamp_granularities: ['word', 'segment'], language: 'en',
  });
  conforms(t, 'CreateTranscriptionResponseVerboseJson', v);
  t.equal(v.language, 'english');
  t.equal(v.duration, 7);
  const words = await direct({ timestampGranularities: ['word', 'segment'], language: 'en' });
  t.same(v.segments, words.segments, 'the segments, as the agent gave them');
  t.same(v.words, words.words, 'and the words');
  t.ok((v.words ?? []).length > 0);
  const plain = await client.audio.transcriptions.create({ file: await file(), model: MODEL, response_format: 'verbose_json' });
  t.notOk('words' in plain, 'no words unless asked');
});

t.test('stream: transcript.text.delta events, then transcript.text.done', async (t) => {
  const stream = await client.audio.transcriptions.create({ file: await file(), model: MODEL, stream: true });
  let text = '';
  const types: string[] = [];
  let done = '';
  for await (const e of stream) {
    types.push(e.type);
    conforms(t, 'CreateTranscriptionResponseStreamEvent', e);
    if (e.type === 'transcript.text.delta') text += e.delta;
    if (e.type === 'transcript.text.done') done = e.text;
  }
  t.ok(types.length >= 2 && types.slice(0, -1).every((x) => x === 'transcript.text.delta'), `deltas first (${types.length - 1})`);
  t.equal(types.at(-1), 'transcript.text.done', 'done last');
  t.equal(done, reference.text);
  t.equal(text.trim(), done.trim(), 'the deltas add up to the text');
});

t.test('translations: json, verbose_json and text', async (t) => {
  const expected = await direct({ task: 'translate' });
  const json = await client.audio.translations.create({ file: await file(), model: MODEL });
  conforms(t, 'CreateTranslationResponseJson', json);
  t.equal(json.text, expected.text);
  const verbose = await client.audio.translations.create({ file: await file(), model: MODEL, response_format: 'verbose_json' });
  conforms(t, 'CreateTranslationResponseVerboseJson', verbose);
  t.equal((verbose as { task?: string }).task, 'translate');
  const text = await client.audio.translations.create({ file: await file(), model: MODEL, response_format: 'text' });
  t.equal(text, `${expected.text.trim()}\n`);
  // Streamed too (a Crucible extension: OpenAI streams transcriptions only).
  const form = new FormData();
  form.append('file', new Blob([wav], { type: 'audio/wav' }), 'clip.wav');
  form.append('model', MODEL);
  form.append('stream', 'true');
  const res = await fetch(`${svc.url}/v1/audio/translations`, { method: 'POST', body: form });
  t.match(res.headers.get('content-type'), /^text\/event-stream/);
  const frames = (await res.text()).split('\n\n').filter(Boolean).map((f) => f.replace(/^data: /, ''));
  t.equal(frames.at(-1), '[DONE]');
  const events = frames.slice(0, -1).map((f) => JSON.parse(f) as { type: string; text?: string });
  for (const e of events) conforms(t, 'CreateTranscriptionResponseStreamEvent', e);
  t.equal(events.at(-1)?.text, expected.text, 'translations stream the same events');
});

t.test('every accepted format is read; FLAC gives the very transcript of its WAV', async (t) => {
  for (const [format, name] of [['flac', 'clip.flac'], ['mp3', 'clip.mp3'], ['vorbis', 'clip.ogg'], ['opus', 'clip.opus']] as const) {
    const bytes = encode(wav, format);
    const json = await client.audio.transcriptions.create({ file: await file(bytes, name, 'application/octet-stream'), model: MODEL, response_format: 'verbose_json' });
    conforms(t, 'CreateTranscriptionResponseVerboseJson', json);
    t.ok(Math.abs(json.duration - 7) < 0.05, `${format}: ${json.duration} s`);
    if (format === 'flac') t.equal(json.text, reference.text, 'FLAC: the WAV\'s transcript');
  }
});

t.test('unknown and truncated files are 400s naming the file', async (t) => {
  const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(500).fill(1)]);
  for (const [bytes, pattern, what] of [
    [png, /accepted audio formats are WAV .*MP3, FLAC, OGG Vorbis and OGG Opus/, 'a PNG'],
    [encode(wav, 'opus').subarray(0, 3000), /truncated/, 'a truncated Opus file'],
    [wav.subarray(0, 5000), /truncated/, 'a truncated WAV file'],
  ] as const) {
    try {
      await client.audio.transcriptions.create({ file: await file(bytes, 'upload.bin'), model: MODEL });
      t.fail(`${what}: accepted`);
    } catch (err) {
      t.ok(err instanceof OpenAI.BadRequestError, `${what}: 400 (${(err as Error).message})`);
      t.equal((err as InstanceType<typeof OpenAI.APIError>).param, 'file');
      t.match((err as Error).message, pattern);
    }
  }
  try {
    await client.audio.transcriptions.create({ file: await file(), model: 'no-such-model' });
    t.fail('accepted');
  } catch (err) {
    t.ok(err instanceof OpenAI.NotFoundError, `a model that is not there: 404 (${(err as Error).message})`);
  }
});

t.test('Foundry\'s JSON form {model, filename} reads a file on the server', async (t) => {
  const path = join(svc.home, 'clip.wav');
  writeFileSync(path, wav);
  const res = await fetch(`${svc.url}/v1/audio/transcriptions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, filename: path }),
  });
  t.equal(res.status, 200);
  const body = await res.json();
  conforms(t, 'CreateTranscriptionResponseJson', body);
  t.equal((body as { text: string }).text, reference.text);
  // As Foundry's SDK spells it.
  const sdk = await fetch(`${svc.url}/v1/audio/transcriptions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ Model: MODEL, FileName: path, Language: 'en', Temperature: 0 }),
  });
  t.equal(((await sdk.json()) as { text: string }).text, (await direct({ language: 'en', temperature: 0 })).text);
});

t.test('a deployment of the speech model serves the same routes on its data plane', async (t) => {
  const NS = `${svc.url}/api/v1/namespaces/default/deployments`;
  const created = await fetch(NS, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'asr', spec: { model: { ref: MODEL }, compute: 'cpu', replicas: 1, workloadType: 'predictive' } }),
  });
  t.equal(created.status, 201);
  t.ok(await until(async () => ((await (await fetch(`${NS}/asr`)).json()) as { status?: { state?: string } }).status?.state === 'Running', 60_000), 'it runs');
  const plane = new OpenAI({ baseURL: `${svc.url}/deployments/asr/v1`, apiKey: 'unused', maxRetries: 0 });
  const json = await plane.audio.transcriptions.create({ file: await file(), model: 'whatever: the deployment names it' });
  conforms(t, 'CreateTranscriptionResponseJson', json);
  t.equal(json.text, reference.text, 'the deployment\'s model, the same transcript');
  const srt = await plane.audio.translations.create({ file: await file(), model: 'x', response_format: 'srt' });
  t.match(srt, /^1\n00:00:00,000 --> /);
});
