import t from 'tap';
import type { PiscinaSpeechRunner } from '../../agent/speech-runner.js';
import type { TranscriptionRequest } from '../../protocol/audio.js';
import { CrucibleError } from '../../protocol/errors.js';
import { RawPipe } from '../helpers/pipe.js';
import { startTestService } from '../helpers/service.js';
import { clip, writeWav } from '../helpers/wav.js';
import { writeWhisperFixture } from '../helpers/whisper-fixture.js';

const request = (seconds: number, extra: Partial<TranscriptionRequest> = {}): TranscriptionRequest => ({
  model: 'whisper-tiny-hf', task: 'transcribe', language: 'en',
  audio: { bytes: writeWav(clip(seconds, 300, 900, 3)), filename: 'clip.wav', contentType: 'audio/wav' }, ...extra,
});

const code = async (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (e instanceof CrucibleError ? e.code : String(e)));

t.test('both Whisper layouts are found by configuration, load on demand and transcribe a WAV', async (t) => {
  const svc = await startTestService(t);
  writeWhisperFixture(svc.config.modelsDir);
  const rows = await svc.agent.modelInfo();
  for (const id of ['whisper-tiny-hf:1', 'whisper-tiny-genai:1']) {
    t.equal(rows.find((r) => r.id === id)?.task, 'automatic-speech-recognition', `${id} is a speech model`);
  }
  const hf = await svc.agent.transcribe(request(7));
  t.equal(hf.model, 'whisper-tiny-hf:1');
  t.equal(hf.language, 'en');
  t.equal(hf.duration, 7);
  t.ok(hf.segments.length > 1, `${hf.segments.length} segments`);
  t.ok(hf.text.length > 0);
  t.equal(hf.text, hf.segments.map((s) => s.text).join('').trim(), 'the text is the segments in order');
  for (const s of hf.segments) t.ok(s.start <= s.end && s.end <= hf.duration, `segment ${s.id}: ${s.start}-${s.end}`);
  t.equal(hf.words, undefined, 'no words unless asked');
  const genai = await svc.agent.transcribe(request(7, { model: 'whisper-tiny-genai' }));
  t.equal(genai.text, hf.text, 'the GenAI layout of the same weights reads the same');
  t.same(genai.segments.map((s) => s.tokens), hf.segments.map((s) => s.tokens));
  const words = await svc.agent.transcribe(request(7, { timestampGranularities: ['word', 'segment'] }));
  t.ok(words.words && words.words.length > 0);
  t.equal(words.words!.map((w) => w.word).join(' '), hf.text.split(/\s+/).filter(Boolean).join(' '), 'every word once, in order');
  t.equal(await code(svc.agent.chat({ model: 'whisper-tiny-hf', messages: [{ role: 'user', content: 'hi' }], n: 1, sampling: {} as never, stream: false } as never)),
    'invalid_request', 'chat on a speech model is a 400');
  const http = await fetch(`${svc.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'whisper-tiny-genai', messages: [{ role: 'user', content: 'hi' }] }),
  });
  t.equal(http.status, 400, '/v1/chat/completions on a Whisper model: 400');
  const err = ((await http.json()) as { error: { message: string; param: string } }).error;
  t.match(err.message, /automatic-speech-recognition model; use \/v1\/audio\/transcriptions/);
  t.equal(err.param, 'model');
  t.equal(await code(svc.agent.transcribe({ ...request(1), model: 'stories260k' })), 'invalid_request', 'a chat model cannot transcribe');
  t.equal(await code(svc.agent.transcribe({ ...request(1), audio: { bytes: new Uint8Array([1, 2, 3, 4]) } })), 'invalid_request', 'an unreadable upload is a 400');
  t.equal(await code(svc.agent.transcribe(request(1, { language: 'xx' }))), 'invalid_request', 'a language the model lacks is a 400');
  const translated = await svc.agent.transcribe(request(3, { task: 'translate' }));
  t.equal(translated.task, 'translate');
});

t.test('the pipe op audio.transcriptions takes the file as msgpack binary, whole or streamed', async (t) => {
  const svc = await startTestService(t);
  writeWhisperFixture(svc.config.modelsDir);
  const expected = await svc.agent.transcribe(request(40));
  const raw = await RawPipe.open(svc.pipeName);
  t.teardown(() => raw.close());
  const file = writeWav(clip(40, 300, 900, 3));
  raw.send({ id: 1, op: 'audio.transcriptions', body: { model: 'whisper-tiny-hf', file, filename: 'a.wav', language: 'en' } });
  t.ok(await raw.until((f) => f.some((x) => x.id === 1 && x.type !== 'chunk'), 60_000));
  const result = raw.frames.find((x) => x.id === 1)!;
  t.equal(result.type, 'result');
  t.equal((result.body as { text: string }).text, expected.text);
  raw.send({ id: 2, op: 'audio.transcriptions', body: { model: 'whisper-tiny-hf', file, language: 'en', stream: true } });
  t.ok(await raw.until((f) => f.some((x) => x.id === 2 && x.type === 'result'), 60_000));
  const chunks = raw.frames.filter((x) => x.id === 2 && x.type === 'chunk').map((x) => x.body as { type: string; text?: string; transcript?: { text: string } });
  const deltas = chunks.filter((c) => c.type === 'delta');
  t.ok(deltas.length >= 2, `${deltas.length} deltas (one per window at least)`);
  t.equal(deltas.map((d) => d.text).join(''), expected.text, 'the deltas add up to the text');
  t.equal(chunks.at(-1)?.type, 'done');
  t.equal(chunks.at(-1)?.transcript?.text, expected.text);
  raw.send({ id: 3, op: 'audio.transcriptions', body: { model: 'whisper-tiny-hf' } });
  t.ok(await raw.until((f) => f.some((x) => x.id === 3)));
  t.equal(raw.frames.find((x) => x.id === 3)?.type, 'error', 'no file: an error frame');
  // Ten minutes of audio (8 kHz, to stay under the 16 MiB frame limit), cancelled by the pipe's
  // cancel op once its first window's text is out.
  raw.send({ id: 4, op: 'audio.transcriptions', body: { model: 'whisper-tiny-hf', file: writeWav(clip(600, 300, 900, 3, 8000), 8000), language: 'en', stream: true } });
  t.ok(await raw.until((f) => f.some((x) => x.id === 4 && x.type === 'chunk'), 60_000));
  raw.send({ id: 5, op: 'cancel', body: { target: 4 } });
  t.ok(await raw.until((f) => f.some((x) => x.id === 4 && (x.type === 'error' || x.type === 'result')), 60_000));
  const end = raw.frames.find((x) => x.id === 4 && (x.type === 'error' || x.type === 'result')) as { type: string; body: { code?: string } };
  t.equal(end.type, 'error');
  t.equal(end.body.code, 'cancelled', 'the pipe cancel stops the transcription');
});

t.test('cancelling mid-transcription stops the worker between steps; a request waits in the model queue meanwhile', async (t) => {
  const svc = await startTestService(t);
  writeWhisperFixture(svc.config.modelsDir);
  const ac = new AbortController();
  const events: string[] = [];
  let firstDelta!: () => void;
  const started = new Promise<void>((r) => { firstDelta = r; });
  const run = (async () => {
    for await (const e of svc.agent.transcribeStream(request(600), ac.signal)) {
      events.push(e.type);
      if (e.type === 'delta') firstDelta();
    }
  })();
  // The first window's text is out: ten minutes of audio are far from done.
  await started;
  const waiting = svc.agent.transcribe(request(3));
  const row0 = () => svc.agent.modelInfo().then((rows) => rows.find((r) => r.id === 'whisper-tiny-hf:1'));
  while ((await row0())?.queued !== 1) await new Promise((r) => setImmediate(r));
  t.equal((await row0())?.inFlight, 1, 'one transcription at a time per replica; the next one is queued');
  ac.abort();
  t.equal(await code(run), 'cancelled');
  t.ok((await waiting).text.length > 0, 'the queued request runs once the cancelled one stops');
  t.notOk(events.includes('done'), 'no transcript after a cancel');
  const row = (await svc.agent.modelInfo()).find((r) => r.id === 'whisper-tiny-hf:1');
  t.equal(row?.state, 'loaded', 'the sessions survived');
  t.equal(row?.inFlight, 0);
  t.ok((await svc.agent.transcribe(request(3))).text.length > 0, 'the next request is served');
});

t.test('a speech worker that dies fails its request, not the agent; the model reloads', async (t) => {
  const svc = await startTestService(t);
  writeWhisperFixture(svc.config.modelsDir);
  await svc.agent.load({ name: 'whisper-tiny-hf' });
  const runner = svc.registry.runner('whisper-tiny-hf') as PiscinaSpeechRunner;
  const long = svc.agent.transcribe(request(600));
  const outcome = code(long);
  await runner.crashWorker();
  t.equal(await outcome, 'worker_crashed');
  const row = (await svc.agent.modelInfo()).find((r) => r.id === 'whisper-tiny-hf:1');
  t.equal(row?.state, 'failed');
  t.ok((await svc.agent.transcribe(request(3))).text.length > 0, 'the model loads again and serves');
  t.equal((await svc.agent.status()).pid, process.pid, 'the agent is alive');
});
