"""The Python runner of the Crucible pipe conformance cases (standard library + msgpack).

    python3 runner.py --pipe PATH [--cases cases.json] [--only TEXT]
    python3 runner.py --home HOME ...      (reads the pipe's path from HOME/service.json)

Replays every case of cases.json (format: README.md beside it) on real sockets and prints one
line per case, "ok N - name" or "not ok N - name: why", then "# N passed, N failed". Exits 1 if
any case failed. It frames with the Python client's own encode_frame and decode_body
(clients/python/crucible_client.py), which keep integers (int) and floats (float) apart, so an
id that comes back as a float fails to match the integer the case expects.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import socket
import struct
import sys
import threading
import time
from typing import Any

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", "clients", "python"))
from crucible_client import MAX_FRAME, decode_body, encode_frame  # noqa: E402

SYNC_ID = 1_000_000
STEP_TIMEOUT = 20.0


class CaseFailure(Exception):
    pass


def show(v: Any) -> str:
    def conv(x: Any) -> Any:
        if isinstance(x, float):
            return f"{x!r} (float)"
        if isinstance(x, dict):
            return {str(k): conv(y) for k, y in x.items()}
        if isinstance(x, (list, tuple)):
            return [conv(y) for y in x]
        if isinstance(x, (bytes, msgpack.ExtType)):
            return repr(x)
        return x
    return json.dumps(conv(v))[:300]


class Conn:
    """One connection: the frames received so far and whether the agent ended its side."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.frames: list[dict] = []
        self.buf = b""
        self.eof = False
        self.gone = False
        self.half_closed = False

    def write(self, data: bytes, per: int | None = None) -> None:
        per = per or len(data) or 1
        for i in range(0, len(data), per):
            self.sock.sendall(data[i:i + per])

    def pump(self, timeout: float) -> None:
        """Reads whatever arrives within `timeout` seconds and splits it into frames."""
        if self.eof:
            return
        ready, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not ready:
            return
        try:
            data = self.sock.recv(1 << 20)
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return
        self.buf += data
        while len(self.buf) >= 4:
            (size,) = struct.unpack(">I", self.buf[:4])
            if size > MAX_FRAME:
                self.frames.append({"$tooLarge": size})
                self.eof = True
                return
            if len(self.buf) < 4 + size:
                break
            body, self.buf = self.buf[4:4 + size], self.buf[4 + size:]
            try:
                value = decode_body(body)
            except Exception as exc:  # noqa: BLE001 - any undecodable frame is a finding
                value = {"$undecodable": f"{exc}: {body[:100].hex()}"}
            self.frames.append(value if isinstance(value, dict) else {"$notAMap": value})


# ---- matching ------------------------------------------------------------------------------------

def type_of(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, bytes):
        return "binary"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "map"
    return "other"


_MISSING = object()


def matches(p: Any, v: Any) -> bool:
    if v is _MISSING:
        return False
    if p is None:
        return v is None
    if isinstance(p, (bool, str)):
        return type(v) is type(p) and v == p
    if isinstance(p, int):  # an integer literal matches only a MessagePack integer
        return type_of(v) == "integer" and v == p
    if isinstance(p, float):
        return type_of(v) == "float" and v == p
    if isinstance(p, list):
        return isinstance(v, list) and len(v) == len(p) and all(matches(x, y) for x, y in zip(p, v))
    if "$any" in p:
        return True
    if "$type" in p:
        return type_of(v) == p["$type"]
    if "$oneOf" in p:
        return any(matches(x, v) for x in p["$oneOf"])
    if "$contains" in p:
        return isinstance(v, list) and any(matches(p["$contains"], x) for x in v)
    return isinstance(v, dict) and all(matches(x, v.get(k, _MISSING)) for k, x in p.items())


class Entry:
    def __init__(self, e: dict):
        repeat = "repeat" in e
        self.pattern = e["repeat"] if repeat else e
        self.min = e.get("min", 0) if repeat else 1
        self.max = e.get("max", float("inf")) if repeat else 1
        head = self.pattern["$oneOf"][0] if "$oneOf" in self.pattern else self.pattern
        if type_of(head.get("id")) != "integer":
            raise CaseFailure(f"a frame pattern needs a literal id: {show(e)}")
        self.id = head["id"]


def id_of(frame: dict) -> Any:
    v = frame.get("id")
    return int(v) if isinstance(v, float) and v.is_integer() else v  # a float id lands in its group, then fails


def match_sequence(entries: list[Entry], frames: list[dict]) -> tuple[str, Any]:
    i = 0
    for e in entries:
        n = 0
        while n < e.max and i < len(frames) and matches(e.pattern, frames[i]):
            i += 1
            n += 1
        if n >= e.min:
            continue
        if i == len(frames):
            return "wait", f"waiting for {show(e.pattern)} ({n} of at least {e.min} so far)"
        return "fail", f"expected {show(e.pattern)}, got {show(frames[i])}"
    return "done", i


# ---- steps ---------------------------------------------------------------------------------------

def substitute(v: Any, bodies: dict) -> Any:
    if isinstance(v, list):
        return [substitute(x, bodies) for x in v]
    if isinstance(v, dict):
        if set(v) == {"$body"}:
            return bodies[v["$body"]]
        return {k: substitute(x, bodies) for k, x in v.items()}
    return v


frame = encode_frame


def padded(message: dict, size: int) -> bytes:
    base = len(frame({**message, "pad": ""})) - 4
    n = size - base - 4  # "" is a 1-byte fixstr, the padding a str32 with a 5-byte header
    data = frame({**message, "pad": "x" * n})
    if len(data) != size + 4:
        raise CaseFailure(f"padding gave {len(data) - 4} bytes, not {size}")
    return data


class Runner:
    def __init__(self, path: str, bodies: dict):
        self.path = path
        self.bodies = bodies
        self.conns: dict[str, Conn] = {}

    def conn(self, name: str = "main") -> Conn:
        if name not in self.conns:
            self.conns[name] = Conn(self.path)
        return self.conns[name]

    def run(self, steps: list[dict]) -> None:
        try:
            self.conn()
            for i, step in enumerate(steps):
                try:
                    self.step(step)
                except CaseFailure as exc:
                    raise CaseFailure(f"step {i + 1} ({show(step)[:160]}): {exc}") from None
            self.finish()
        finally:
            for c in self.conns.values():
                try:
                    c.sock.close()
                except OSError:
                    pass

    def step(self, step: dict) -> None:
        if "parallel" in step:
            errors: list[str] = []

            def branch() -> None:
                try:
                    Runner(self.path, self.bodies).run(step["steps"])
                except CaseFailure as exc:
                    errors.append(str(exc))
                except Exception as exc:  # noqa: BLE001
                    errors.append(repr(exc))

            threads = [threading.Thread(target=branch) for _ in range(step["parallel"])]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise CaseFailure(f"{len(errors)} of {step['parallel']} connections failed; first: {errors[0]}")
            return
        c = self.conn(step.get("conn", "main"))
        if "send" in step:
            messages = step["send"] if isinstance(step["send"], list) else [step["send"]]
            messages = [substitute(m, self.bodies) for m in messages]
            data = padded(messages[0], step["pad_to"]) if "pad_to" in step else b"".join(frame(m) for m in messages)
            c.write(data, step.get("bytes_per_write"))
        elif "send_raw" in step:
            c.write(bytes.fromhex("".join(step["send_raw"].split())))
        elif "expect" in step:
            self.expect(c, [Entry(e) for e in step["expect"]], step.get("ordered", False))
        elif "half_close" in step:
            c.half_closed = True
            c.sock.shutdown(socket.SHUT_WR)
        elif "disconnect" in step:
            c.gone = True
            c.sock.close()
        elif "expect_eof" in step:
            deadline = time.monotonic() + STEP_TIMEOUT
            while not c.eof:
                if time.monotonic() > deadline:
                    raise CaseFailure("the agent did not end the connection")
                c.pump(0.5)
        elif "poll" in step:
            self.poll(c, substitute(step["poll"], self.bodies), step["until"])
        else:
            raise CaseFailure(f"unknown step {show(step)}")

    def expect(self, c: Conn, entries: list[Entry], ordered: bool) -> list[dict]:
        ids = list(dict.fromkeys(e.id for e in entries))
        groups = [entries] if ordered else [[e for e in entries if e.id == i] for i in ids]
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            consumed: set[int] = set()
            waiting = None
            for group in groups:
                mine = {e.id for e in group}
                frames = [f for f in c.frames if id_of(f) in mine]
                status, detail = match_sequence(group, frames)
                if status == "fail":
                    raise CaseFailure(detail)
                if status == "wait":
                    waiting = waiting or detail
                else:
                    consumed.update(id(f) for f in frames[:detail])
            if waiting is None:
                taken = [f for f in c.frames if id(f) in consumed]
                c.frames = [f for f in c.frames if id(f) not in consumed]
                return taken
            if c.eof:
                raise CaseFailure(f"the connection ended while {waiting}")
            if time.monotonic() > deadline:
                raise CaseFailure(f"timed out {waiting}; unconsumed: {show(c.frames[:5])}")
            c.pump(0.5)

    def poll(self, c: Conn, message: dict, until: Any) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT
        last = None
        rid = message["id"]
        while time.monotonic() < deadline:
            c.write(frame(message))
            got = self.expect(c, [Entry({"repeat": {"id": rid, "type": {"$oneOf": ["chunk", "progress"]}}}),
                                  Entry({"id": rid, "type": {"$oneOf": ["result", "error"]}})], False)
            last = got[-1]
            if matches(until, last):
                return
            time.sleep(0.1)
        raise CaseFailure(f"polling never gave {show(until)}; last: {show(last)}")

    def finish(self) -> None:
        for name, c in self.conns.items():
            if c.gone:
                continue
            if not c.eof and not c.half_closed:
                c.write(frame({"id": SYNC_ID, "op": "status", "body": None}))
                self.expect(c, [Entry({"id": SYNC_ID, "type": "result"})], False)
            if c.frames:
                raise CaseFailure(f"connection {name}: unexpected frames {show(c.frames[:5])}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pipe")
    ap.add_argument("--home")
    ap.add_argument("--cases", default=os.path.join(HERE, "cases.json"))
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    path = args.pipe
    if not path:
        home = args.home or os.environ.get("CRUCIBLE_HOME") or os.path.join(os.path.expanduser("~"), ".crucible")
        with open(os.path.join(home, "service.json"), encoding="utf-8") as f:
            path = json.load(f)["pipeName"]
    with open(args.cases, encoding="utf-8") as f:
        suite = json.load(f)
    passed = failed = 0
    for n, case in enumerate(suite["cases"], 1):
        if args.only and args.only not in case["name"]:
            continue
        try:
            Runner(path, suite["bodies"]).run(case["steps"])
            print(f"ok {n} - {case['name']}", flush=True)
            passed += 1
        except CaseFailure as exc:
            print(f"not ok {n} - {case['name']}: {exc}", flush=True)
            failed += 1
    print(f"# {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
