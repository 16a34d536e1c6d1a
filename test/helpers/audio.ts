import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Test audio made at test time: WAV files written here in every sample format, and the same
 * signal encoded to MP3, FLAC, Ogg Vorbis and Opus by Debian's encoders (lame, flac, oggenc,
 * opusenc; scripts/ensure-test-deps.sh installs them).
 */

export type WavSampleFormat = 'u8' | 's16' | 's24' | 's32' | 'f32' | 'f64' | 'alaw' | 'mulaw';

/** Tones well inside every rate's passband (8 kHz input included), faded in and out. */
export const TONES = [220, 700, 1500, 2500];

/** The test signal at `rate`, for `seconds`, on `channels` (each channel a little different). */
export function signal(rate: number, seconds: number, channels = 1): Float32Array[] {
  const n = Math.round(rate * seconds);
  const fade = Math.round(rate * 0.05);
  return Array.from({ length: channels }, (_, ch) => {
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const t = i / rate;
      let v = 0;
      for (const [k, f] of TONES.entries()) v += (0.18 / (k + 1)) * Math.sin(2 * Math.PI * f * t + ch * 0.3 * k);
      // A syllable-like envelope, so codecs see speech-like changes.
      v *= 0.6 + 0.4 * Math.sin(2 * Math.PI * 3 * t);
      const edge = Math.min(1, i / fade, (n - 1 - i) / fade);
      x[i] = v * edge;
    }
    return x;
  });
}

/** The mono mix of `signal()` sampled straight at `rate`: what a perfect decoder and resampler give (stereo summed at 1/sqrt(2), as ffmpeg -ac 1 does; other counts averaged). */
export function monoReference(rate: number, seconds: number, sourceRate: number, channels = 1): Float32Array {
  const n = Math.round((Math.round(sourceRate * seconds) * rate) / sourceRate);
  const fadeSeconds = Math.round(sourceRate * 0.05) / sourceRate;
  const total = (Math.round(sourceRate * seconds) - 1) / sourceRate;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    let v = 0;
    for (let ch = 0; ch < channels; ch++) {
      let s = 0;
      for (const [k, f] of TONES.entries()) s += (0.18 / (k + 1)) * Math.sin(2 * Math.PI * f * t + ch * 0.3 * k);
      v += s * (channels === 2 ? Math.SQRT1_2 : 1 / channels);
    }
    v *= 0.6 + 0.4 * Math.sin(2 * Math.PI * 3 * t);
    out[i] = v * Math.max(0, Math.min(1, t / fadeSeconds, (total - t) / fadeSeconds));
  }
  return out;
}

const ALAW_MAX = 32635;

function toAlaw(x: number): number {
  let pcm = Math.max(-32768, Math.min(32767, Math.round(x * 32768)));
  const sign = pcm >= 0 ? 0x80 : 0;
  if (pcm < 0) pcm = -pcm - 1;
  pcm = Math.min(pcm, ALAW_MAX);
  let exp = 7;
  for (let mask = 0x4000; (pcm & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = exp === 0 ? (pcm >> 4) & 0x0f : (pcm >> (exp + 3)) & 0x0f;
  return ((sign | (exp << 4) | mant) ^ 0x55) & 0xff;
}

function toMulaw(x: number): number {
  let pcm = Math.max(-32768, Math.min(32767, Math.round(x * 32768)));
  const sign = pcm < 0 ? 0x80 : 0;
  if (pcm < 0) pcm = -pcm;
  pcm = Math.min(pcm, 32635) + 0x84;
  let exp = 7;
  for (let mask = 0x4000; (pcm & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = (pcm >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

/** A WAV file of `channels` planes at `rate` in `format`, optionally as WAVE_FORMAT_EXTENSIBLE. */
export function wavBytes(planes: Float32Array[], rate: number, format: WavSampleFormat = 's16', extensible = false): Uint8Array {
  const bits = { u8: 8, s16: 16, s24: 24, s32: 32, f32: 32, f64: 64, alaw: 8, mulaw: 8 }[format];
  const tag = format === 'f32' || format === 'f64' ? 3 : format === 'alaw' ? 6 : format === 'mulaw' ? 7 : 1;
  const ch = planes.length;
  const n = planes[0].length;
  const fmtSize = extensible ? 40 : 16;
  const dataSize = n * ch * (bits / 8);
  const b = Buffer.alloc(12 + 8 + fmtSize + 8 + dataSize);
  b.write('RIFF', 0);
  b.writeUInt32LE(b.length - 8, 4);
  b.write('WAVE', 8);
  b.write('fmt ', 12);
  b.writeUInt32LE(fmtSize, 16);
  b.writeUInt16LE(extensible ? 0xfffe : tag, 20);
  b.writeUInt16LE(ch, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * ch * (bits / 8), 28);
  b.writeUInt16LE(ch * (bits / 8), 32);
  b.writeUInt16LE(bits, 34);
  if (extensible) {
    b.writeUInt16LE(22, 36);
    b.writeUInt16LE(bits, 38);
    b.writeUInt32LE(ch === 2 ? 3 : 0, 40);
    // KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT: the tag, then the fixed GUID tail.
    b.writeUInt16LE(tag, 44);
    Buffer.from('000000001000800000aa00389b71', 'hex').copy(b, 46);
  }
  const data = 12 + 8 + fmtSize;
  b.write('data', data);
  b.writeUInt32LE(dataSize, data + 4);
  let o = data + 8;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < ch; c++) {
      const x = Math.max(-1, Math.min(1, planes[c][i]));
      const int = (full: number) => Math.max(-full, Math.min(full - 1, Math.round(x * full)));
      switch (format) {
        case 'u8': b.writeUInt8(int(128) + 128, o); break;
        case 's16': b.writeInt16LE(int(32768), o); break;
        case 's24': b.writeIntLE(int(8388608), o, 3); break;
        case 's32': b.writeInt32LE(int(2147483648), o); break;
        case 'f32': b.writeFloatLE(x, o); break;
        case 'f64': b.writeDoubleLE(planes[c][i], o); break;
        case 'alaw': b.writeUInt8(toAlaw(x), o); break;
        case 'mulaw': b.writeUInt8(toMulaw(x), o); break;
      }
      o += bits / 8;
    }
  }
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

export type Encoded = 'mp3' | 'flac' | 'vorbis' | 'opus';

/** `wav` encoded by Debian's encoder for `format`. */
export function encode(wav: Uint8Array, format: Encoded): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'cru-audio-'));
  try {
    const src = join(dir, 'in.wav');
    const dst = join(dir, `out.${format}`);
    writeFileSync(src, wav);
    const [cmd, args] = {
      mp3: ['lame', ['--quiet', '-b', '128', src, dst]],
      flac: ['flac', ['--silent', '--force', '-o', dst, src]],
      vorbis: ['oggenc', ['--quiet', '-q', '5', '-o', dst, src]],
      opus: ['opusenc', ['--quiet', '--bitrate', '64', src, dst]],
    }[format] as [string, string[]];
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    return new Uint8Array(readFileSync(dst));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Signal-to-noise ratio of `x` against `ref` in dB, over their common length minus `skip` samples at each end. */
export function snrDb(x: Float32Array, ref: Float32Array, skip = 0, lag = 0): number {
  let sig = 0;
  let noise = 0;
  const n = Math.min(x.length - Math.max(0, lag), ref.length);
  for (let i = skip; i < n - skip; i++) {
    const e = x[i + lag] - ref[i];
    sig += ref[i] * ref[i];
    noise += e * e;
  }
  return 10 * Math.log10(sig / Math.max(noise, 1e-30));
}

/** The lag (samples of `x` after `ref`) within ±`range` at which they correlate best. */
export function bestLag(x: Float32Array, ref: Float32Array, range: number): number {
  let best = 0;
  let bestScore = -Infinity;
  for (let lag = -range; lag <= range; lag++) {
    let s = 0;
    for (let i = Math.max(0, -lag); i < Math.min(ref.length, x.length - lag); i++) s += x[i + lag] * ref[i];
    if (s > bestScore) { bestScore = s; best = lag; }
  }
  return best;
}
