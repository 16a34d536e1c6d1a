import t from 'tap';
import { CrucibleError } from '../../../protocol/errors.js';
import { decodeAudio } from '../../../workers/audio/decode.js';
import { clip, pcm16, writeWav } from '../../helpers/wav.js';

// The interim WAV reader's checks, now on decodeAudio (workers/audio/decode.ts), which replaced it.

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

t.test('WAV PCM16 and float32, mono and stereo, read back as the samples written', async (t) => {
  const x = clip(1.5, 300, 600, 2);
  const p = await decodeAudio(writeWav(x, 16000, 'pcm16'));
  t.equal(p.length, x.length);
  t.ok(maxDiff(p, pcm16(x)) < 1e-6, 'PCM16: exactly the quantized samples');
  const f = await decodeAudio(writeWav(x, 16000, 'float32'));
  t.equal(maxDiff(f, x), 0, 'float32: the samples themselves');
  const stereo = await decodeAudio(writeWav(x, 16000, 'float32', 2));
  t.ok(maxDiff(stereo, x.map((v) => v * Math.SQRT2)) < 1e-6, 'two equal channels mix down as ffmpeg -ac 1 does: their sum over sqrt(2)');
});

t.test('other rates are resampled to 16 kHz', async (t) => {
  const x = clip(2, 200, 200, 3, 8000);
  const y = await decodeAudio(writeWav(x, 8000, 'float32'));
  t.equal(y.length, 32000);
  t.ok(Math.abs(y[2000] - x[1000]) < 1e-3, 'an output at an original sample\'s time is that sample (band-limited)');
});

t.test('what is not a readable WAV is a 400 naming the file', async (t) => {
  for (const bytes of [new Uint8Array(10), Buffer.from('RIFF\0\0\0\0WAVEjunk')]) {
    let caught: unknown = null;
    try {
      await decodeAudio(bytes);
    } catch (e) {
      caught = e;
    }
    t.ok(caught instanceof CrucibleError && caught.code === 'invalid_request' && caught.param === 'file', String(caught));
  }
});
