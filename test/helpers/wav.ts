/** Test audio written by the tests themselves: tones, chirps and noise, as WAV files. */

/** A WAV file of mono samples in [-1, 1]: PCM16 or 32-bit float. */
export function writeWav(samples: Float32Array, rate = 16000, format: 'pcm16' | 'float32' = 'pcm16', channels = 1): Uint8Array {
  const bytesPer = format === 'pcm16' ? 2 : 4;
  const dataBytes = samples.length * bytesPer * channels;
  const buf = Buffer.alloc(44 + dataBytes);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write('WAVE', 8, 'ascii');
  buf.write('fmt ', 12, 'ascii');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(format === 'pcm16' ? 1 : 3, 20);
  buf.writeUInt16LE(channels, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * bytesPer * channels, 28);
  buf.writeUInt16LE(bytesPer * channels, 32);
  buf.writeUInt16LE(bytesPer * 8, 34);
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(dataBytes, 40);
  let off = 44;
  for (const s of samples) {
    for (let c = 0; c < channels; c++) {
      if (format === 'pcm16') buf.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(s * 32767))), off);
      else buf.writeFloatLE(s, off);
      off += bytesPer;
    }
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** What a PCM16 round trip leaves of the samples (what the WAV reader must give back). */
export const pcm16 = (x: Float32Array) => x.map((s) => Math.max(-32768, Math.min(32767, Math.round(s * 32767))) / 32768);

/** A clip of `seconds`: a tone that glides from f0 to f1 with a slow tremolo, over a little seeded noise. */
export function clip(seconds: number, f0: number, f1: number, seed = 1, rate = 16000): Float32Array {
  const n = Math.round(seconds * rate);
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  let phase = 0;
  for (let i = 0; i < n; i++) {
    s = (s * 16807) % 2147483647;
    const f = f0 + ((f1 - f0) * i) / n;
    phase += (2 * Math.PI * f) / rate;
    out[i] = 0.3 * Math.sin(phase) * (0.6 + 0.4 * Math.sin((2 * Math.PI * i) / (rate * 1.7))) + 0.02 * (s / 2147483647 - 0.5);
  }
  return out;
}

/** Seeded white noise. */
export function noise(seconds: number, seed = 7, amplitude = 0.1, rate = 16000): Float32Array {
  const out = new Float32Array(Math.round(seconds * rate));
  let s = seed;
  for (let i = 0; i < out.length; i++) { s = (s * 16807) % 2147483647; out[i] = amplitude * (2 * (s / 2147483647) - 1); }
  return out;
}
