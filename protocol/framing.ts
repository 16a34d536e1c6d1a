import { Unpackr } from 'msgpackr';

/**
 * The pipe wire format, the only module that turns messages into bytes: a 4-byte unsigned
 * big-endian length, then that many bytes of standard MessagePack encoding one map. No
 * extension types at all, so any MessagePack library reads it.
 */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

// Decoding: uint64 and int64 come back as numbers (exact up to 2^53-1, the largest id).
const unpackr = new Unpackr({ useRecords: false, moreTypes: false, mapsAsObjects: true, int64AsType: 'number' });

const TWO_32 = 2 ** 32;
const TWO_63 = 2 ** 63;
const TWO_64 = 2 ** 64;

/** Map entries JSON would write: not undefined, functions or symbols. */
const kept = (x: unknown) => x !== undefined && typeof x !== 'function' && typeof x !== 'symbol';

/**
 * A MessagePack encoder for the JSON-shaped values the protocol carries. msgpackr writes every
 * number at or above 2^32 as a float64 (only bigints become int64), so an id of 2^32 would
 * reach a typed client as 4294967296.0: here every integral number in [-2^63, 2^64) is a
 * MessagePack integer in its smallest format (uint64 from 2^32 up), and only other numbers are
 * float64. Values encode as JSON.stringify sees them: toJSON is honoured, map entries whose value
 * is undefined or a function are left out, and such values elsewhere are nil. Bytes are `bin`.
 */
class Encoder {
  private buf = Buffer.allocUnsafe(256);
  private pos: number;

  /** `reserve` bytes are left in front of the encoding (for a frame's length). */
  constructor(private readonly reserve = 0) {
    this.pos = reserve;
  }

  encode(value: unknown): Buffer {
    this.value(value);
    return this.buf.subarray(0, this.pos);
  }

  get size(): number {
    return this.pos - this.reserve;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  private head(code: number, size: number, bytes: 1 | 2 | 4): void {
    this.room(1 + bytes);
    this.buf[this.pos++] = code;
    if (bytes === 1) this.buf.writeUInt8(size, this.pos);
    else if (bytes === 2) this.buf.writeUInt16BE(size, this.pos);
    else this.buf.writeUInt32BE(size, this.pos);
    this.pos += bytes;
  }

  private value(v: unknown): void {
    switch (typeof v) {
      case 'number': return Number.isInteger(v) && v >= -TWO_63 && v < TWO_64 ? this.integer(v) : this.float(v);
      case 'bigint': return this.bigint(v);
      case 'string': return this.string(v);
      case 'boolean': return this.byte(v ? 0xc3 : 0xc2);
      case 'object': return v === null ? this.byte(0xc0) : this.object(v);
      default: return this.byte(0xc0); // undefined, functions, symbols: nil, as JSON writes null
    }
  }

  private integer(v: number): void {
    if (v >= 0) {
      if (v < 0x80) return this.byte(v);
      if (v < 0x100) return this.head(0xcc, v, 1);
      if (v < 0x10000) return this.head(0xcd, v, 2);
      if (v < TWO_32) return this.head(0xce, v, 4);
      return this.bigint(BigInt(v));
    }
    if (v >= -0x20) return this.byte(0x100 + v);
    this.room(9);
    if (v >= -0x80) { this.buf[this.pos++] = 0xd0; this.buf.writeInt8(v, this.pos); this.pos += 1; return; }
    if (v >= -0x8000) { this.buf[this.pos++] = 0xd1; this.buf.writeInt16BE(v, this.pos); this.pos += 2; return; }
    if (v >= -0x80000000) { this.buf[this.pos++] = 0xd2; this.buf.writeInt32BE(v, this.pos); this.pos += 4; return; }
    this.bigint(BigInt(v));
  }

  private bigint(v: bigint): void {
    this.room(9);
    if (v >= 0n && v < 2n ** 64n) {
      if (v < BigInt(TWO_32)) return this.integer(Number(v));
      this.buf[this.pos++] = 0xcf;
      this.buf.writeBigUInt64BE(v, this.pos);
    } else if (v < 0n && v >= -(2n ** 63n)) {
      if (v >= -0x80000000n) return this.integer(Number(v));
      this.buf[this.pos++] = 0xd3;
      this.buf.writeBigInt64BE(v, this.pos);
    } else {
      throw new RangeError(`integer ${v} does not fit in 64 bits`);
    }
    this.pos += 8;
  }

  private float(v: number): void {
    this.room(9);
    this.buf[this.pos++] = 0xcb;
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  private string(v: string): void {
    if (v.length < 0x40) return this.shortString(v);
    const n = Buffer.byteLength(v);
    if (n < 0x20) this.byte(0xa0 | n);
    else if (n < 0x100) this.head(0xd9, n, 1);
    else if (n < 0x10000) this.head(0xda, n, 2);
    else this.head(0xdb, n, 4);
    this.room(n);
    this.pos += this.buf.write(v, this.pos, 'utf8');
  }

  /** Strings of under 64 UTF-16 units (most keys and chunks) encoded in place: native calls cost more. */
  private shortString(v: string): void {
    this.room(2 + v.length * 3); // a str8 header and 3 bytes per unit at most
    const buf = this.buf;
    const start = this.pos;
    let p = start + 1;
    for (let i = 0; i < v.length; i++) {
      let c = v.charCodeAt(i);
      if (c < 0x80) {
        buf[p++] = c;
      } else if (c < 0x800) {
        buf[p++] = 0xc0 | (c >> 6);
        buf[p++] = 0x80 | (c & 0x3f);
      } else {
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < v.length) {
          const d = v.charCodeAt(i + 1);
          if (d >= 0xdc00 && d <= 0xdfff) {
            c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            i++;
            buf[p++] = 0xf0 | (c >> 18);
            buf[p++] = 0x80 | ((c >> 12) & 0x3f);
            buf[p++] = 0x80 | ((c >> 6) & 0x3f);
            buf[p++] = 0x80 | (c & 0x3f);
            continue;
          }
        }
        if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate, as Buffer writes it
        buf[p++] = 0xe0 | (c >> 12);
        buf[p++] = 0x80 | ((c >> 6) & 0x3f);
        buf[p++] = 0x80 | (c & 0x3f);
      }
    }
    const n = p - start - 1;
    if (n >= 0x20) {
      // str8: shift the bytes one place to make room for the 2-byte header.
      buf.copyWithin(start + 2, start + 1, p);
      buf[start] = 0xd9;
      buf[start + 1] = n;
      this.pos = p + 1;
      return;
    }
    buf[start] = 0xa0 | n;
    this.pos = p;
  }

  private object(v: object): void {
    if (v instanceof Uint8Array) {
      const n = v.length;
      if (n < 0x100) this.head(0xc4, n, 1);
      else if (n < 0x10000) this.head(0xc5, n, 2);
      else this.head(0xc6, n, 4);
      this.room(n);
      this.buf.set(v, this.pos);
      this.pos += n;
      return;
    }
    if (Array.isArray(v)) {
      this.collection(0x90, 0xdc, v.length);
      for (const item of v) this.value(item);
      return;
    }
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return this.value(toJSON.call(v));
    if (v instanceof Map) return this.entries([...v.entries()].map(([k, x]) => [String(k), x]));
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    let n = 0;
    for (const k of keys) if (kept(o[k])) n++;
    this.collection(0x80, 0xde, n);
    for (const k of keys) {
      const x = o[k];
      if (!kept(x)) continue;
      this.string(k);
      this.value(x);
    }
  }

  private entries(list: [string, unknown][]): void {
    const keep = list.filter(([, x]) => kept(x));
    this.collection(0x80, 0xde, keep.length);
    for (const [k, x] of keep) {
      this.string(k);
      this.value(x);
    }
  }

  /** fixarray/fixmap under 16 entries, else the 16- or 32-bit form (`code16` + 1 is the 32-bit code). */
  private collection(fix: number, code16: number, n: number): void {
    if (n < 0x10) this.byte(fix | n);
    else if (n < 0x10000) this.head(code16, n, 2);
    else this.head(code16 + 1, n, 4);
  }
}

/** One value as standard MessagePack (see Encoder). */
export function encodeMessagePack(value: unknown): Buffer {
  return new Encoder().encode(value);
}

export function encodeFrame(message: unknown): Buffer {
  const encoder = new Encoder(4);
  const frame = encoder.encode(message);
  if (encoder.size > MAX_FRAME_BYTES) throw new RangeError(`frame of ${encoder.size} bytes exceeds ${MAX_FRAME_BYTES}`);
  frame.writeUInt32BE(encoder.size, 0);
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
