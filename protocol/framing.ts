import { Packr, Unpackr } from 'msgpackr';

/**
 * The pipe wire format, the only module that turns messages into bytes: a 4-byte unsigned
 * big-endian length, then that many bytes of standard MessagePack encoding one map. No
 * msgpackr-only extensions (records, typed-array types), so any MessagePack library reads it.
 */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, moreTypes: false, mapsAsObjects: true, int64AsType: 'number' });

export function encodeFrame(message: unknown): Buffer {
  const body = packr.pack(message);
  if (body.length > MAX_FRAME_BYTES) throw new RangeError(`frame of ${body.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

export class FrameTooLargeError extends Error {
  constructor(readonly size: number) {
    super(`frame of ${size} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
    this.name = 'FrameTooLargeError';
  }
}

/** A decoded frame: the value, or why its bytes are not MessagePack. */
export type Frame = { ok: true; value: unknown } | { ok: false; error: string };

/**
 * Reassembles frames from a byte stream cut at arbitrary points. A length over the limit throws
 * FrameTooLargeError: the stream cannot be resynchronised and the connection must close.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxBytes = MAX_FRAME_BYTES) {}

  get pending(): number {
    return this.buffered;
  }

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Frame[] = [];
    while (this.buffered >= 4) {
      const head = this.peek(4);
      const size = head.readUInt32BE(0);
      if (size > this.maxBytes) throw new FrameTooLargeError(size);
      if (this.buffered < 4 + size) break;
      const bytes = this.take(4 + size).subarray(4);
      try {
        out.push({ ok: true, value: unpackr.unpack(bytes) });
      } catch (err) {
        out.push({ ok: false, error: `frame is not valid MessagePack: ${(err as Error).message}` });
      }
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered -= n;
    return out;
  }
}
