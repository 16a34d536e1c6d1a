import { badAudio, downmixGain } from './formats.js';

/**
 * RIFF/WAVE (and RF64) reading: PCM integer 8/16/24/32-bit, IEEE float 32/64-bit, A-law and
 * mu-law, plain or WAVE_FORMAT_EXTENSIBLE, any channel count and rate. Samples come out in blocks
 * already mixed down to mono, so a long file is never held as floats of every channel at once.
 */

export interface WavInfo {
  sampleRate: number;
  channels: number;
  /** 1 PCM, 3 float, 6 A-law, 7 mu-law (the subformat's tag for WAVE_FORMAT_EXTENSIBLE). */
  format: number;
  bits: number;
  dataOffset: number;
  frames: number;
}

const PCM = 1;
const FLOAT = 3;
const ALAW = 6;
const MULAW = 7;
const EXTENSIBLE = 0xfffe;

export function readWavHeader(b: Uint8Array): WavInfo {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const tag = (o: number) => String.fromCharCode(b[o], b[o + 1], b[o + 2], b[o + 3]);
  if (b.length < 12) throw badAudio('the WAV file is truncated (no RIFF header)');
  let fmt: Omit<WavInfo, 'dataOffset' | 'frames'> | undefined;
  let off = 12;
  while (off + 8 <= b.length) {
    const id = tag(off);
    const size = v.getUint32(off + 4, true);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > b.length) throw badAudio('the WAV file is truncated (in its fmt chunk)');
      let format = v.getUint16(body, true);
      const channels = v.getUint16(body + 2, true);
      const sampleRate = v.getUint32(body + 4, true);
      const bits = v.getUint16(body + 14, true);
      if (format === EXTENSIBLE) {
        if (size < 40 || body + 40 > b.length) throw badAudio('the WAV file is truncated (in its WAVE_FORMAT_EXTENSIBLE header)');
        format = v.getUint16(body + 24, true); // the subformat GUID's first two bytes
      }
      fmt = { sampleRate, channels, format, bits };
    } else if (id === 'data') {
      if (!fmt) throw badAudio("the WAV file has no 'fmt ' chunk before its samples");
      checkFormat(fmt);
      const frameBytes = fmt.channels * (fmt.bits / 8);
      const present = b.length - body;
      // 0 and 0xFFFFFFFF are what streaming writers (and RF64) put when the length is not known.
      let length = size === 0 || size === 0xffffffff ? present - (present % frameBytes) : size;
      if (length > present) {
        throw badAudio(`the WAV file is truncated: its data chunk declares ${length} bytes of samples and ${present} are present`);
      }
      length -= length % frameBytes;
      return { ...fmt, dataOffset: body, frames: length / frameBytes };
    }
    off = body + size + (size & 1);
  }
  throw badAudio(fmt ? 'the WAV file is truncated (no data chunk)' : "the WAV file is truncated (no 'fmt ' chunk)");
}

function checkFormat(f: Omit<WavInfo, 'dataOffset' | 'frames'>): void {
  if (f.channels < 1) throw badAudio('the WAV file declares no channels');
  if (f.sampleRate < 1 || f.sampleRate > 768_000) throw badAudio(`the WAV file's sample rate ${f.sampleRate} is not one audio can have`);
  const ok = (f.format === PCM && [8, 16, 24, 32].includes(f.bits))
    || (f.format === FLOAT && (f.bits === 32 || f.bits === 64))
    || ((f.format === ALAW || f.format === MULAW) && f.bits === 8);
  if (!ok) {
    throw badAudio(`WAV samples of format tag ${f.format} with ${f.bits} bits are not supported: PCM 8, 16, 24 or 32-bit, float 32 or 64-bit, A-law or mu-law`);
  }
}

function alaw(a: number): number {
  a ^= 0x55;
  const exp = (a & 0x70) >> 4;
  let mag = (a & 0x0f) << 4;
  mag = exp === 0 ? mag + 8 : ((mag + 0x108) << (exp - 1));
  return (a & 0x80 ? mag : -mag) / 32768;
}

function mulaw(u: number): number {
  u = ~u & 0xff;
  const exp = (u & 0x70) >> 4;
  const mag = ((((u & 0x0f) << 3) + 0x84) << exp) - 0x84;
  return (u & 0x80 ? -mag : mag) / 32768;
}

/** Every sample of the file, mixed down to mono, in blocks of `block` frames. */
export function* wavMonoBlocks(b: Uint8Array, w: WavInfo, block = 65536): Generator<Float32Array> {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const bytes = w.bits / 8;
  const read: (o: number) => number =
    w.format === FLOAT ? (w.bits === 32 ? (o) => v.getFloat32(o, true) : (o) => v.getFloat64(o, true))
    : w.format === ALAW ? (o) => alaw(b[o])
    : w.format === MULAW ? (o) => mulaw(b[o])
    : w.bits === 8 ? (o) => (b[o] - 128) / 128
    : w.bits === 16 ? (o) => v.getInt16(o, true) / 32768
    : w.bits === 24 ? (o) => (((b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) << 8) >> 8) / 8388608
    : (o) => v.getInt32(o, true) / 2147483648;
  const scale = downmixGain(w.channels);
  for (let f0 = 0; f0 < w.frames; f0 += block) {
    const n = Math.min(block, w.frames - f0);
    const out = new Float32Array(n);
    let o = w.dataOffset + f0 * w.channels * bytes;
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (let ch = 0; ch < w.channels; ch++, o += bytes) sum += read(o);
      out[i] = sum * scale;
    }
    yield out;
  }
}
