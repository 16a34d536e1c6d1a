/**
 * A minimal WAV reader (PCM 8/16/24/32-bit and 32-bit float), mixed down to mono and resampled to
 * 16 kHz: the speech worker's input until workers/audio/decode.ts (every upload format) is wired in.
 */
import { CrucibleError } from '../../protocol/errors.js';

export const SPEECH_RATE = 16000;

function fail(why: string): never {
  throw new CrucibleError('invalid_request', `the audio file could not be read: ${why}`, 'file');
}

export function isWav(bytes: Uint8Array): boolean {
  return bytes.length >= 12 && String.fromCharCode(...bytes.subarray(0, 4)) === 'RIFF' && String.fromCharCode(...bytes.subarray(8, 12)) === 'WAVE';
}

/** Samples at 16 kHz, mono, in [-1, 1]. */
export function decodeWav(bytes: Uint8Array): Float32Array {
  if (!isWav(bytes)) fail('not a RIFF/WAVE file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: { format: number; channels: number; rate: number; bits: number } | null = null;
  let data: DataView | null = null;
  for (let off = 12; off + 8 <= bytes.length;) {
    const id = String.fromCharCode(...bytes.subarray(off, off + 4));
    const size = view.getUint32(off + 4, true);
    const body = off + 8;
    if (id === 'fmt ') {
      let format = view.getUint16(body, true);
      // WAVE_FORMAT_EXTENSIBLE: the real format is the sub-format GUID's first two bytes.
      if (format === 0xfffe && size >= 26) format = view.getUint16(body + 24, true);
      fmt = { format, channels: view.getUint16(body + 2, true), rate: view.getUint32(body + 4, true), bits: view.getUint16(body + 14, true) };
    } else if (id === 'data') {
      data = new DataView(bytes.buffer, bytes.byteOffset + body, Math.min(size, bytes.length - body));
    }
    off = body + size + (size % 2);
  }
  if (!fmt) fail('no fmt chunk');
  if (!data) fail('no data chunk');
  const { format, channels, rate, bits } = fmt;
  if (channels < 1 || rate < 1) fail('bad channel count or sample rate');
  const bytesPer = bits / 8;
  const read: ((o: number) => number) | null = format === 3 && bits === 32 ? (o) => data.getFloat32(o, true)
    : format === 3 && bits === 64 ? (o) => data.getFloat64(o, true)
    : format !== 1 ? null
    : bits === 8 ? (o) => (data.getUint8(o) - 128) / 128
    : bits === 16 ? (o) => data.getInt16(o, true) / 32768
    : bits === 24 ? (o) => (((data.getUint8(o + 2) << 24) | (data.getUint8(o + 1) << 16) | (data.getUint8(o) << 8)) >> 8) / 8388608
    : bits === 32 ? (o) => data.getInt32(o, true) / 2147483648
    : null;
  if (!read) fail(`WAV format ${format} with ${bits}-bit samples is not supported`);
  const frames = Math.floor(data.byteLength / (bytesPer * channels));
  const mono = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += read((i * channels + c) * bytesPer);
    mono[i] = s / channels;
  }
  return resample(mono, rate, SPEECH_RATE);
}

/** Linear-interpolation resampling (exact when the rates are equal). */
export function resample(x: Float32Array, from: number, to: number): Float32Array {
  if (from === to) return x;
  const n = Math.floor((x.length * to) / from);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = (i * from) / to;
    const j = Math.floor(t);
    const f = t - j;
    out[i] = (x[j] ?? 0) * (1 - f) + (x[j + 1] ?? x[j] ?? 0) * f;
  }
  return out;
}
