import { FLACDecoder } from '@wasm-audio-decoders/flac';
import { OggVorbisDecoder } from '@wasm-audio-decoders/ogg-vorbis';
import { MPEGDecoder } from 'mpg123-decoder';
import { OggOpusDecoder } from 'ogg-opus-decoder';
import { CrucibleError } from '../../protocol/errors.js';
import { checkMpeg, checkOgg, flacTotalSamples } from './containers.js';
import { ffmpegPath, viaFfmpeg } from './ffmpeg.js';
import { type AudioFormat, badAudio, downmixGain, sniffFormat, unknownFormat } from './formats.js';
import { Resampler } from './resample.js';
import { readWavHeader, wavMonoBlocks } from './wav.js';

/** The rate every decoded clip comes out at (Whisper's). */
export const SAMPLE_RATE = 16000;

/**
 * Decodes an uploaded audio file to 16 kHz mono float samples. Runs in the speech worker (never on
 * the agent's thread). WAV is read here; MP3 (mpg123), FLAC (libFLAC), Ogg Vorbis (libvorbis) and
 * Ogg Opus (libopus) by the WebAssembly decoders of the wasm-audio-decoders family; anything else
 * through Debian's `ffmpeg` when one is on PATH, else a 400 naming the accepted formats. Truncated
 * or damaged files are 400s too.
 */
export async function decodeAudio(bytes: Uint8Array, hint: { filename?: string; contentType?: string } = {}): Promise<Float32Array> {
  if (bytes.length === 0) throw badAudio('the audio file is empty');
  const format = sniffFormat(bytes, hint);
  if (!format) {
    const ffmpeg = ffmpegPath();
    if (ffmpeg) return viaFfmpeg(ffmpeg, bytes, SAMPLE_RATE);
    throw unknownFormat('the file is not in an audio format this server reads');
  }
  const sink = new MonoSink();
  if (format === 'wav') {
    const info = readWavHeader(bytes);
    for (const block of wavMonoBlocks(bytes, info)) sink.push(block, info.sampleRate);
  } else {
    await decodeCompressed(format, bytes, sink);
  }
  const out = sink.finish();
  if (out.length === 0) throw badAudio(`the ${format.toUpperCase()} file holds no audio samples`);
  return out;
}

/** A WebAssembly decoder's common shape: every call gives per-channel planes. */
interface Decoded { channelData: Float32Array[]; samplesDecoded: number; sampleRate: number; errors: { message: string }[] }
interface Decoder { ready: Promise<void>; decode(b: Uint8Array): Decoded | Promise<Decoded>; flush?(): Promise<Decoded>; free(): void }

const NAMES: Record<AudioFormat, string> = { wav: 'WAV', mp3: 'MP3', flac: 'FLAC', vorbis: 'Ogg Vorbis', opus: 'Ogg Opus' };
const CHUNK = 64 * 1024;

async function decodeCompressed(format: Exclude<AudioFormat, 'wav'>, bytes: Uint8Array, sink: MonoSink): Promise<void> {
  let expected = 0;
  if (format === 'mp3') checkMpeg(bytes);
  else if (format === 'flac') expected = flacTotalSamples(bytes);
  else checkOgg(bytes);
  const decoder: Decoder = format === 'mp3' ? new MPEGDecoder() : format === 'flac' ? new FLACDecoder()
    : format === 'vorbis' ? new OggVorbisDecoder() : new OggOpusDecoder();
  let frames = 0;
  const take = (d: Decoded) => {
    if (d.errors.length > 0) throw badAudio(`the ${NAMES[format]} file is damaged: ${d.errors[0].message}`);
    if (d.samplesDecoded === 0) return;
    frames += d.samplesDecoded;
    if (format === 'flac') toWavScale(d.channelData, d.samplesDecoded, (d as Decoded & { bitDepth: number }).bitDepth);
    sink.pushPlanes(d.channelData, d.samplesDecoded, d.sampleRate);
  };
  try {
    await decoder.ready;
    for (let o = 0; o < bytes.length; o += CHUNK) take(await decoder.decode(bytes.subarray(o, o + CHUNK)));
    if (decoder.flush) take(await decoder.flush());
  } catch (err) {
    if (err instanceof CrucibleError) throw err;
    throw badAudio(`the ${NAMES[format]} file could not be decoded: ${(err as Error).message}`);
  } finally {
    decoder.free();
  }
  if (expected > 0 && frames < expected) {
    throw badAudio(`the FLAC file is truncated: its header counts ${expected} samples and ${frames} could be decoded`);
  }
}

/** Mixes planes down to mono (see downmixGain) and resamples them to 16 kHz as they come. */
class MonoSink {
  private resampler?: Resampler;
  private parts: Float32Array[] = [];
  private length = 0;

  pushPlanes(planes: Float32Array[], n: number, rate: number): void {
    if (planes.length === 1) return this.push(planes[0].subarray(0, n), rate);
    const mono = new Float32Array(n);
    const scale = downmixGain(planes.length);
    for (const plane of planes) for (let i = 0; i < n; i++) mono[i] += plane[i];
    for (let i = 0; i < n; i++) mono[i] *= scale;
    this.push(mono, rate);
  }

  push(mono: Float32Array, rate: number): void {
    if (this.resampler && this.resampler.inRate !== rate) this.keep(this.resampler.flush()), this.resampler = undefined;
    this.resampler ??= new Resampler(rate, SAMPLE_RATE);
    this.keep(this.resampler.push(mono));
  }

  finish(): Float32Array {
    if (this.resampler) this.keep(this.resampler.flush());
    const out = new Float32Array(this.length);
    let o = 0;
    for (const p of this.parts) { out.set(p, o); o += p.length; }
    return out;
  }

  private keep(p: Float32Array): void {
    if (p.length === 0) return;
    this.parts.push(p);
    this.length += p.length;
  }
}

/**
 * libFLAC's WebAssembly build scales integers by 1/(2^(bits-1) - 1); WAV readers (this one, ffmpeg,
 * soundfile) by 1/2^(bits-1). Back to the integers and onto the WAV scale, so a FLAC file gives the
 * very samples its WAV original does.
 */
function toWavScale(planes: Float32Array[], n: number, bits: number): void {
  if (!(bits >= 8 && bits <= 24)) return;
  const full = 2 ** (bits - 1);
  for (const p of planes) for (let i = 0; i < n; i++) p[i] = Math.round(p[i] * (full - 1)) / full;
}
