import t from 'tap';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, startTestService } from '../../helpers/service.js';
import { clip, writeWav } from '../../helpers/wav.js';
import { writeWhisperFixture } from '../../helpers/whisper-fixture.js';

t.test("the Python SDK's get_audio_client(), sync and async: transcribe, translate, stream, a 400", async (t) => {
  const svc = await startTestService(t);
  writeWhisperFixture(svc.config.modelsDir);
  const wav = writeWav(clip(7, 300, 900, 3));
  const file = join(svc.home, 'clip.wav');
  writeFileSync(file, wav);
  const expected = await svc.agent.transcribe({ model: 'whisper-tiny-hf', task: 'transcribe', audio: { bytes: wav, filename: 'clip.wav' } });
  const r = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile('python3', [join(REPO, 'test', 'clients', 'python', 'sdk_audio.py'), svc.home, file], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, CRUCIBLE_PURE_MSGPACK: '1' } },
      (err, stdout, stderr) => resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  t.equal(out.text, expected.text, 'the agent\'s transcript');
  t.equal(out.duration, 7);
  t.equal(out.segments, expected.segments.length);
  t.equal(out.from_bytes, expected.text, 'bytes as well as a path');
  t.ok(out.words > 0, 'word timestamps when asked');
  t.equal(out.translate_task, 'translate');
  t.same(out.event_types, ['transcript.text.delta', 'transcript.text.done']);
  t.equal(out.done, expected.text);
  t.equal(out.deltas.trim(), expected.text.trim());
  t.equal(out.async_text, expected.text, 'AsyncManager: the same transcript');
  t.equal(out.async_done, expected.text, 'and its stream');
  t.equal(out.bad[0], 'invalid_request');
  t.equal(out.bad[1], 'file');
  t.match(out.bad[2], /accepted audio formats/);
});
