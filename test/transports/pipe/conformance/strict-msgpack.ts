/**
 * A strict MessagePack decoder for checking what the agent sends: integers and floats stay
 * distinguishable (a float decodes to a `Float`), extension types and non-string map keys are
 * refused (the protocol uses neither), and so are bytes left over after the value.
 */
export class Float {
  constructor(readonly value: number) {}
}

export type Value = null | boolean | number | bigint | Float | string | Uint8Array | Value[] | { [key: string]: Value };

export function decodeStrict(bytes: Uint8Array): Value {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const need = (n: number) => {
    if (pos + n > bytes.length) throw new Error(`truncated MessagePack at byte ${pos}`);
  };
  const u8 = () => { need(1); return bytes[pos++]; };
  const u16 = () => { need(2); const v = view.getUint16(pos); pos += 2; return v; };
  const u32 = () => { need(4); const v = view.getUint32(pos); pos += 4; return v; };
  const int = (v: bigint): number | bigint => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
  const str = (n: number) => { need(n); const s = Buffer.from(bytes.buffer, bytes.byteOffset + pos, n).toString('utf8'); pos += n; return s; };
  const bin = (n: number) => { need(n); const b = bytes.slice(pos, pos + n); pos += n; return b; };
  const array = (n: number): Value[] => Array.from({ length: n }, () => value());
  const map = (n: number) => {
    const out: { [key: string]: Value } = {};
    for (let i = 0; i < n; i++) {
      const k = value();
      if (typeof k !== 'string') throw new Error(`map key at byte ${pos} is not a string`);
      Object.defineProperty(out, k, { value: value(), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  const value = (): Value => {
    const b = u8();
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if ((b & 0xf0) === 0x80) return map(b & 0x0f);
    if ((b & 0xf0) === 0x90) return array(b & 0x0f);
    if ((b & 0xe0) === 0xa0) return str(b & 0x1f);
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bin(u8());
      case 0xc5: return bin(u16());
      case 0xc6: return bin(u32());
      case 0xca: { need(4); const v = view.getFloat32(pos); pos += 4; return new Float(v); }
      case 0xcb: { need(8); const v = view.getFloat64(pos); pos += 8; return new Float(v); }
      case 0xcc: return u8();
      case 0xcd: return u16();
      case 0xce: return u32();
      case 0xcf: { need(8); const v = view.getBigUint64(pos); pos += 8; return int(v); }
      case 0xd0: { need(1); const v = view.getInt8(pos); pos += 1; return v; }
      case 0xd1: { need(2); const v = view.getInt16(pos); pos += 2; return v; }
      case 0xd2: { need(4); const v = view.getInt32(pos); pos += 4; return v; }
      case 0xd3: { need(8); const v = view.getBigInt64(pos); pos += 8; return int(v); }
      case 0xd9: return str(u8());
      case 0xda: return str(u16());
      case 0xdb: return str(u32());
      case 0xdc: return array(u16());
      case 0xdd: return array(u32());
      case 0xde: return map(u16());
      case 0xdf: return map(u32());
      default: throw new Error(`type byte 0x${b.toString(16)} at ${pos - 1} is ${b === 0xc1 ? 'never used' : 'an extension type'}`);
    }
  };
  const v = value();
  if (pos !== bytes.length) throw new Error(`${bytes.length - pos} bytes after the value`);
  return v;
}
