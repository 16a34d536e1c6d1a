import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogMel, WHISPER_MEL } from '../../../workers/speech/mel.js';
import { clip, noise } from '../../helpers/wav.js';
import { writeWhisperFixture } from '../../helpers/whisper-fixture.js';
import { reference } from '../../helpers/whisper-reference.js';

t.test("log-mel features equal transformers.js' WhisperFeatureExtractor within 1e-4", async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'cru-mel-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const fx = writeWhisperFixture(root);
  const ref = await reference(fx.hf);
  t.teardown(() => ref.dispose());
  const mel = new LogMel(WHISPER_MEL);
  const clips: [string, Float32Array][] = [
    ['a 3 s glide', clip(3, 200, 2000, 1)], ['noise', noise(11)], ['silence', new Float32Array(16000)],
    ['exactly 30 s', clip(30, 500, 600, 2)], ['35 s (cut to 30)', clip(35, 100, 4000, 3)], ['one sample', Float32Array.of(0.5)],
  ];
  for (const [name, audio] of clips) {
    const mine = mel.window30(audio);
    const theirs = await ref.features(audio);
    t.equal(mine.length, theirs.length, `${name}: 80 x 3000`);
    let max = 0;
    for (let i = 0; i < mine.length; i++) max = Math.max(max, Math.abs(mine[i] - theirs[i]));
    t.ok(max < 1e-4, `${name}: largest difference ${max.toExponential(2)}`);
  }
});
