import t from 'tap';
import { CrucibleError } from '../../../protocol/errors.js';
import { decodeWav } from '../../../workers/audio/wav.js';
import { clip, pcm16, writeWav } from '../../helpers/wav.js';

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

t.test('WAV PCM16 and float32, mono and stereo, read back as the samples written', async (t) => {
  const x = clip(1.5, 300, 600, 2);
  const p = decodeWav(writeWav(x, 16000, 'pcm16'));
  t.equal(p.length, x.length);
  t.ok(maxDiff(p, pcm16(x)) < 1e-6, 'PCM16: exactly the quantized samples');
  const f = decodeWav(writeWav(x, 16000, 'float32'));
  t.equal(maxDiff(f, x), 0, 'float32: the samples themselves');
  const stereo = decodeWav(writeWav(x, 16000, 'float32', 2));
  t.ok(maxDiff(stereo, x) < 1e-7, 'two equal channels mix down to the same signal');
});

t.test('other rates are resampled to 16 kHz', async (t) => {
  const x = clip(2, 200, 200, 3, 8000);
  const y = decodeWav(writeWav(x, 8000, 'float32'));
  t.equal(y.length, 32000);
  t.ok(Math.abs(y[2000] - x[1000]) < 1e-6, 'every second sample is an original one');
});

t.test('what is not a readable WAV is a 400 naming the file', async (t) => {
  for (const bytes of [new Uint8Array(10), Buffer.from('RIFF\0\0\0\0WAVEjunk')]) {
    let caught: unknown = null;
    try {
      decodeWav(bytes);
    } catch (e) {
      caught = e;
    }
    t.ok(caught instanceof CrucibleError && caught.code === 'invalid_request' && caught.param === 'file', String(caught));
  }
});
