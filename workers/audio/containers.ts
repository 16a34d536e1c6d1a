import { badAudio, id3Length, mpegFrame, mpegStart } from './formats.js';

/**
 * Structural checks run before decoding, so a truncated or damaged file is a 400 rather than a
 * transcript of whatever part the codec managed: the WebAssembly decoders skip what they cannot
 * read and return the rest. Each says what it found.
 */

/** Ogg: every page whole, pages back to back, and the last one marked end-of-stream. */
export function checkOgg(b: Uint8Array): void {
  let off = 0;
  let last = 0;
  let pages = 0;
  while (off < b.length) {
    if (b.length - off < 27) throw badAudio(`the Ogg file is truncated: ${b.length - off} bytes of a page header at byte ${off}`);
    if (b[off] !== 0x4f || b[off + 1] !== 0x67 || b[off + 2] !== 0x67 || b[off + 3] !== 0x53) {
      throw badAudio(`the Ogg file is damaged: no page starts at byte ${off}`);
    }
    const segments = b[off + 26];
    if (off + 27 + segments > b.length) throw badAudio(`the Ogg file is truncated in the page at byte ${off}`);
    let body = 0;
    for (let i = 0; i < segments; i++) body += b[off + 27 + i];
    const end = off + 27 + segments + body;
    if (end > b.length) throw badAudio(`the Ogg file is truncated: the page at byte ${off} needs ${end - off} bytes and ${b.length - off} are present`);
    last = b[off + 5];
    pages++;
    off = end;
  }
  if (pages === 0 || !(last & 0x04)) throw badAudio('the Ogg file is truncated: its last page does not end the stream');
}

/** MPEG audio: frames back to back up to the end (or a trailing ID3v1/APE tag), and as many as a Xing/Info header counts. */
export function checkMpeg(b: Uint8Array): void {
  const tagged = id3Length(b);
  if (tagged > b.length) throw badAudio('the MP3 file is truncated inside its ID3 tag');
  const start = mpegStart(b, tagged, 64 * 1024);
  if (start < 0) throw badAudio('the file holds no MPEG audio frames');
  let off = start;
  let frames = 0;
  let declared = -1;
  for (;;) {
    const f = mpegFrame(b, off);
    if (!f) break;
    if (off + f.length > b.length) {
      throw badAudio(`the MP3 file is truncated: the frame at byte ${off} needs ${f.length} bytes and ${b.length - off} are present`);
    }
    if (frames === 0) declared = xingFrames(b, off, f);
    frames++;
    off += f.length;
  }
  // What may follow the last frame: nothing, tags, or padding.
  const rest = String.fromCharCode(...b.subarray(off, off + 8));
  const tail = rest.startsWith('TAG') || rest.startsWith('APETAGEX') || rest.startsWith('LYRICS') || b.subarray(off).every((x) => x === 0);
  if (!tail && b.length - off > 0) {
    // A stream that resumes after junk is damaged but readable: mpg123 resyncs. A stray partial header is truncation.
    if (b.length - off < 4 || (b[off] === 0xff && (b[off + 1] & 0xe0) === 0xe0)) throw badAudio(`the MP3 file is truncated at byte ${off}`);
  }
  // Encoders differ on whether the count includes the Xing frame itself: allow either.
  if (declared > 0 && frames < declared) {
    throw badAudio(`the MP3 file is truncated: its Xing/Info header counts ${declared} frames and ${frames - 1} are present`);
  }
}

/** The frame count of a Xing/Info header in the first frame (LAME writes one), else -1. */
function xingFrames(b: Uint8Array, off: number, f: { version: number; channels: number; layer: number }): number {
  if (f.layer !== 3) return -1;
  const side = f.version === 3 ? (f.channels === 1 ? 17 : 32) : (f.channels === 1 ? 9 : 17);
  const at = off + 4 + side;
  const id = String.fromCharCode(...b.subarray(at, at + 4));
  if (id !== 'Xing' && id !== 'Info') return -1;
  const flags = (b[at + 4] << 24) | (b[at + 5] << 16) | (b[at + 6] << 8) | b[at + 7];
  if (!(flags & 1)) return -1;
  return ((b[at + 8] << 24) | (b[at + 9] << 16) | (b[at + 10] << 8) | b[at + 11]) >>> 0;
}

/** FLAC: the STREAMINFO block is whole; its total sample count (0: not known). */
export function flacTotalSamples(b: Uint8Array): number {
  const o = id3Length(b) + 4;
  if (b.length < o + 4 + 34) throw badAudio('the FLAC file is truncated inside its STREAMINFO header');
  if ((b[o] & 0x7f) !== 0) throw badAudio('the FLAC file is damaged: its first metadata block is not STREAMINFO');
  const s = o + 4;
  return (b[s + 13] & 0x0f) * 2 ** 32 + (((b[s + 14] << 24) | (b[s + 15] << 16) | (b[s + 16] << 8) | b[s + 17]) >>> 0);
}
