import { CrucibleError } from '../../protocol/errors.js';

/**
 * Which audio format a file is: from its magic bytes, with the upload's file name and content type
 * only as a fallback (clients send `application/octet-stream` and names like `blob`). Every refusal
 * is a 400 on the `file` field naming what is accepted.
 */

export type AudioFormat = 'wav' | 'mp3' | 'flac' | 'vorbis' | 'opus';

export const ACCEPTED_FORMATS = 'WAV (PCM 8/16/24/32-bit, float 32/64-bit, A-law, mu-law), MP3, FLAC, OGG Vorbis and OGG Opus';

/**
 * The weight of each channel in the mono mix. Stereo is summed at 1/sqrt(2) a channel, as
 * `ffmpeg -ac 1` does, and so as openai-whisper (which reads audio through ffmpeg), Hugging Face's
 * `ffmpeg_read` and transformers.js' `read_audio` give Whisper its input; other channel counts
 * are averaged.
 */
export const downmixGain = (channels: number): number => (channels === 2 ? Math.SQRT1_2 : 1 / channels);

export const badAudio = (message: string): CrucibleError => new CrucibleError('invalid_request', message, 'file');

export const unknownFormat = (what: string): CrucibleError =>
  badAudio(`${what}; the accepted audio formats are ${ACCEPTED_FORMATS}`);

const ascii = (b: Uint8Array, o: number, n: number): string => String.fromCharCode(...b.subarray(o, o + n));

/** The length of an ID3v2 tag at the start (0 when there is none). */
export function id3Length(b: Uint8Array): number {
  if (b.length < 10 || ascii(b, 0, 3) !== 'ID3') return 0;
  const size = ((b[6] & 0x7f) << 21) | ((b[7] & 0x7f) << 14) | ((b[8] & 0x7f) << 7) | (b[9] & 0x7f);
  return 10 + size + (b[5] & 0x10 ? 10 : 0);
}

const BITRATES: Record<string, number[]> = {
  '1-1': [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  '1-2': [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  '1-3': [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  '2-1': [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
  '2-2': [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
};
BITRATES['2-3'] = BITRATES['2-2'];
const RATES: Record<number, number[]> = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };

export interface MpegFrame { length: number; samples: number; version: number; layer: number; channels: number }

/** An MPEG audio frame header at `o`, or undefined (free-format bitrates included: their length is unknown). */
export function mpegFrame(b: Uint8Array, o: number): MpegFrame | undefined {
  if (o + 4 > b.length || b[o] !== 0xff || (b[o + 1] & 0xe0) !== 0xe0) return undefined;
  const versionBits = (b[o + 1] >> 3) & 3;
  const layerBits = (b[o + 1] >> 1) & 3;
  const brIndex = b[o + 2] >> 4;
  const srIndex = (b[o + 2] >> 2) & 3;
  if (versionBits === 1 || layerBits === 0 || brIndex === 0 || brIndex === 15 || srIndex === 3) return undefined;
  const layer = 4 - layerBits;
  const v1 = versionBits === 3;
  const kbps = BITRATES[`${v1 ? 1 : 2}-${layer}`][brIndex];
  const rate = RATES[versionBits][srIndex];
  const pad = (b[o + 2] >> 1) & 1;
  const samples = layer === 1 ? 384 : layer === 3 && !v1 ? 576 : 1152;
  const length = layer === 1 ? (Math.floor((12 * kbps * 1000) / rate) + pad) * 4 : Math.floor(((samples / 8) * kbps * 1000) / rate) + pad;
  return { length, samples, version: versionBits, layer, channels: (b[o + 3] >> 6) === 3 ? 1 : 2 };
}

/** Where MPEG audio starts: the first frame header followed by another (or by the end), from `from`. */
export function mpegStart(b: Uint8Array, from: number, scan: number): number {
  for (let o = from; o < Math.min(b.length - 4, from + scan); o++) {
    const f = mpegFrame(b, o);
    if (f && (o + f.length >= b.length || mpegFrame(b, o + f.length))) return o;
  }
  return -1;
}

/** The format of a file from its first bytes, else (for MP3) from the hint; undefined when neither tells. */
export function sniffFormat(b: Uint8Array, hint: { filename?: string; contentType?: string } = {}): AudioFormat | undefined {
  const head = ascii(b, 0, 4);
  if ((head === 'RIFF' || head === 'RF64') && ascii(b, 8, 4) === 'WAVE') return 'wav';
  const tagged = id3Length(b);
  if (ascii(b, tagged, 4) === 'fLaC') return 'flac';
  if (head === 'OggS' && b.length >= 27) {
    const first = 27 + b[26];
    if (ascii(b, first, 8) === 'OpusHead') return 'opus';
    if (b[first] === 1 && ascii(b, first + 1, 6) === 'vorbis') return 'vorbis';
    throw unknownFormat('the file is an Ogg stream of a codec other than Vorbis or Opus');
  }
  if (mpegStart(b, tagged, tagged ? 4096 : 1) >= 0) return 'mp3';
  // WAV, FLAC and Ogg always start with their magic bytes; only MPEG audio may begin with junk
  // before its first frame, so the hint can only ever say MP3.
  const name = (hint.filename ?? '').toLowerCase();
  const ext = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1) : '';
  const type = (hint.contentType ?? '').toLowerCase().split(';')[0].trim();
  return ['mp3', 'mpga', 'mpeg'].includes(ext) || ['audio/mpeg', 'audio/mp3', 'audio/mpga'].includes(type) ? 'mp3' : undefined;
}
