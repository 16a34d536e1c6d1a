import t from 'tap';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CrucibleManager, renderSrt } from '../../../clients/typescript/sdk/index.js';
import { encode } from '../../helpers/audio.js';
import { startTestService, tempHome } from '../../helpers/service.js';
import { clip, writeWav } from '../../helpers/wav.js';
import { writeWhisperFixture } from '../../helpers/whisper-fixture.js';

/*
 * The SDK's AudioClient (getAudioClient) in every mode: the same Transcript as the agent's own
 * operation on the same file, over the pipe, over HTTP and embedded; translations; the stream.
 */

const wav = writeWav(clip(7, 300, 900, 3));

for (const mode of ['pipe', 'http', 'embedded'] as const) {
  t.test(mode, async (t) => {
    let mgr: CrucibleManager;
    let dir: string;
    let expected;
    if (mode === 'embedded') {
      const home = tempHome('cru-sdk-audio-');
      const models = join(home, 'cache', 'models');
      mkdirSync(models, { recursive: true });
      writeWhisperFixture(models);
      mgr = await CrucibleManager.create({ home });
      t.teardown(async () => { await mgr.close(); rmSync(home, { recursive: true, force: true }); });
      dir = home;
    } else {
      const svc = await startTestService(t);
      writeWhisperFixture(svc.config.modelsDir);
      mgr = await CrucibleManager.connect({ home: svc.home, transport: mode });
      t.teardown(() => mgr.close());
      dir = svc.home;
      expected = await svc.agent.transcribe({ model: 'whisper-tiny-hf', task: 'transcribe', audio: { bytes: wav, filename: 'clip.wav' } });
    }
    const path = join(dir, 'clip.wav');
    writeFileSync(path, wav);
    const model = await mgr.catalog.getModel('whisper-tiny-hf');
    const audio = model.getAudioClient();
    const got = await audio.transcribe(path);
    t.ok(got.text.length > 0, `text: ${JSON.stringify(got.text.slice(0, 40))}`);
    t.equal(got.duration, 7);
    t.match(got.language, /^[a-z]{2,3}$/, `the language as a code, whichever the transport (${got.language})`);
    if (expected) {
      t.equal(got.text, expected.text, 'the agent\'s transcript');
      t.equal(got.language, expected.language);
      t.same(got.segments, expected.segments);
      t.equal(renderSrt(got), renderSrt(expected));
    }
    const flac = await audio.transcribe(encode(wav, 'flac'), { filename: 'clip.flac' });
    t.equal(flac.text, got.text, 'bytes too, in another format');
    const words = await audio.transcribe(path, { words: true, language: 'en' });
    t.ok((words.words ?? []).length > 0, 'words when asked');
    const translated = await audio.translate(path);
    t.equal(translated.task, 'translate');
    let deltas = '';
    let done = '';
    for await (const e of audio.transcribeStreaming(path)) {
      if (e.type === 'transcript.text.delta') deltas += e.delta;
      else done = e.text;
    }
    t.equal(done, got.text, 'the stream ends with the text');
    t.equal(deltas.trim(), done.trim());
    if (mode === 'pipe') {
      // One pipe frame carries the whole file: past it, a clear 413 before anything is sent.
      await t.rejects(audio.transcribe(new Uint8Array(17 * 1024 * 1024), { filename: 'big.wav' }), { code: 'payload_too_large', param: 'file' });
    }
  });
}
