"""MessagePack for the pipe protocol, in the standard library only.

Uses the `msgpack` package when it is installed; otherwise this small codec, which covers what
the protocol sends (nil, booleans, integers, floats, strings, binary, arrays and maps).
"""
from __future__ import annotations

import os
import struct
from typing import Any

try:  # pragma: no cover - depends on the environment
    if os.environ.get("CRUCIBLE_PURE_MSGPACK") == "1":
        raise ImportError("the bundled codec was asked for")
    import msgpack as _msgpack

    def packb(value: Any) -> bytes:
        return _msgpack.packb(value, use_bin_type=True)

    def unpackb(data: bytes) -> Any:
        return _msgpack.unpackb(data, raw=False)

except ImportError:  # pragma: no cover
    _msgpack = None

    def packb(value: Any) -> bytes:
        out = bytearray()
        _pack(value, out)
        return bytes(out)

    def unpackb(data: bytes) -> Any:
        value, end = _unpack(data, 0)
        if end != len(data):
            raise ValueError("extra bytes after the MessagePack value")
        return value


def _pack(v: Any, out: bytearray) -> None:
    if v is None:
        out.append(0xC0)
    elif v is True:
        out.append(0xC3)
    elif v is False:
        out.append(0xC2)
    elif isinstance(v, int):
        if 0 <= v < 0x80:
            out.append(v)
        elif -32 <= v < 0:
            out.append(v & 0xFF)
        elif 0 <= v <= 0xFF:
            out += b"\xcc" + struct.pack(">B", v)
        elif 0 <= v <= 0xFFFF:
            out += b"\xcd" + struct.pack(">H", v)
        elif 0 <= v <= 0xFFFFFFFF:
            out += b"\xce" + struct.pack(">I", v)
        elif 0 <= v <= 0xFFFFFFFFFFFFFFFF:
            out += b"\xcf" + struct.pack(">Q", v)
        elif -0x80 <= v:
            out += b"\xd0" + struct.pack(">b", v)
        elif -0x8000 <= v:
            out += b"\xd1" + struct.pack(">h", v)
        elif -0x80000000 <= v:
            out += b"\xd2" + struct.pack(">i", v)
        elif -0x8000000000000000 <= v:
            out += b"\xd3" + struct.pack(">q", v)
        else:
            raise OverflowError("integer out of MessagePack range")
    elif isinstance(v, float):
        out += b"\xcb" + struct.pack(">d", v)
    elif isinstance(v, str):
        b = v.encode("utf-8")
        n = len(b)
        if n < 32:
            out.append(0xA0 | n)
        elif n <= 0xFF:
            out += b"\xd9" + struct.pack(">B", n)
        elif n <= 0xFFFF:
            out += b"\xda" + struct.pack(">H", n)
        else:
            out += b"\xdb" + struct.pack(">I", n)
        out += b
    elif isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        n = len(b)
        out += (b"\xc4" + struct.pack(">B", n)) if n <= 0xFF else (b"\xc5" + struct.pack(">H", n)) if n <= 0xFFFF else (b"\xc6" + struct.pack(">I", n))
        out += b
    elif isinstance(v, (list, tuple)):
        n = len(v)
        out += bytes([0x90 | n]) if n < 16 else (b"\xdc" + struct.pack(">H", n)) if n <= 0xFFFF else (b"\xdd" + struct.pack(">I", n))
        for item in v:
            _pack(item, out)
    elif isinstance(v, dict):
        n = len(v)
        out += bytes([0x80 | n]) if n < 16 else (b"\xde" + struct.pack(">H", n)) if n <= 0xFFFF else (b"\xdf" + struct.pack(">I", n))
        for k, item in v.items():
            _pack(k, out)
            _pack(item, out)
    else:
        raise TypeError(f"cannot encode {type(v).__name__} as MessagePack")


_FIXED = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q", 0xCA: ">f", 0xCB: ">d"}
_LEN = {0xD9: ">B", 0xDA: ">H", 0xDB: ">I", 0xC4: ">B", 0xC5: ">H", 0xC6: ">I", 0xDC: ">H", 0xDD: ">I", 0xDE: ">H", 0xDF: ">I"}


def _unpack(d: bytes, i: int) -> tuple[Any, int]:
    t = d[i]
    i += 1
    if t < 0x80:
        return t, i
    if t >= 0xE0:
        return t - 0x100, i
    if 0x80 <= t <= 0x8F:
        return _map(d, i, t & 0x0F)
    if 0x90 <= t <= 0x9F:
        return _array(d, i, t & 0x0F)
    if 0xA0 <= t <= 0xBF:
        n = t & 0x1F
        return d[i:i + n].decode("utf-8"), i + n
    if t == 0xC0:
        return None, i
    if t == 0xC2:
        return False, i
    if t == 0xC3:
        return True, i
    if t in _FIXED:
        fmt = _FIXED[t]
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, d[i:i + size])[0], i + size
    if t in _LEN:
        fmt = _LEN[t]
        size = struct.calcsize(fmt)
        (n,) = struct.unpack(fmt, d[i:i + size])
        i += size
        if t in (0xD9, 0xDA, 0xDB):
            return d[i:i + n].decode("utf-8"), i + n
        if t in (0xC4, 0xC5, 0xC6):
            return bytes(d[i:i + n]), i + n
        if t in (0xDC, 0xDD):
            return _array(d, i, n)
        return _map(d, i, n)
    raise ValueError(f"unsupported MessagePack type 0x{t:02x}")


def _array(d: bytes, i: int, n: int) -> tuple[list, int]:
    out = []
    for _ in range(n):
        v, i = _unpack(d, i)
        out.append(v)
    return out, i


def _map(d: bytes, i: int, n: int) -> tuple[dict, int]:
    out = {}
    for _ in range(n):
        k, i = _unpack(d, i)
        v, i = _unpack(d, i)
        out[k] = v
    return out, i
