"""Crucible pipe client: the standard library plus msgpack.

Speaks the protocol in docs/protocol.md: each frame is a 4-byte big-endian length followed by
one MessagePack map. Requests carry a client-chosen id; responses carry the same id and a type
(chunk, progress, result or error). This client runs one reader thread and routes frames to
their requests, so several requests (and streams) can share one connection.
"""
from __future__ import annotations

import itertools
import json
import os
import queue
import socket
import struct
import sys
import threading
from typing import Any, Iterator, Optional

import msgpack

MAX_FRAME = 16 * 1024 * 1024
PROTOCOL_VERSION = 1


def encode_frame(message: Any) -> bytes:
    """One frame: the 4-byte big-endian length, then the message as MessagePack.

    msgpack writes Python ints as MessagePack integers (uint 64 from 2^32 up), as the protocol
    requires of ids.
    """
    payload = msgpack.packb(message, use_bin_type=True)
    if len(payload) > MAX_FRAME:
        raise ValueError(f"frame of {len(payload)} bytes exceeds the {MAX_FRAME}-byte limit")
    return struct.pack(">I", len(payload)) + payload


def decode_body(body: bytes) -> Any:
    """A frame's body: integers decode as int and floats as float, so the two stay apart."""
    return msgpack.unpackb(body, raw=False)


class CrucibleError(Exception):
    """An error frame from the agent: message, type and code as in the HTTP envelope."""

    def __init__(self, body: dict):
        super().__init__(body.get("message", "error"))
        self.code = body.get("code")
        self.type = body.get("type")
        self.param = body.get("param")


def default_home() -> str:
    return os.environ.get("CRUCIBLE_HOME") or os.path.join(os.path.expanduser("~"), ".crucible")


def read_service_file(home: Optional[str] = None) -> dict:
    with open(os.path.join(home or default_home(), "service.json"), "r", encoding="utf-8") as f:
        return json.load(f)


class Client:
    def __init__(self, path: Optional[str] = None, home: Optional[str] = None, timeout: float = 10.0):
        path = path or read_service_file(home)["pipeName"]
        if sys.platform == "win32":
            # A named pipe opened as a file; reads and writes are plain byte streams.
            self._file = open(path, "r+b", buffering=0)
            self._sock = None
        else:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._sock.settimeout(timeout)
            self._sock.connect(path)
            self._sock.settimeout(None)
            self._file = None
        self._ids = itertools.count(1)
        self._queues: dict[int, "queue.Queue[dict]"] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed: Optional[Exception] = None
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # -- framing -------------------------------------------------------------------------------
    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self._sock.recv(n - len(buf)) if self._sock else self._file.read(n - len(buf))
            if not chunk:
                raise ConnectionError("the agent closed the connection")
            buf += chunk
        return bytes(buf)

    def _send(self, message: dict) -> None:
        frame = encode_frame(message)
        with self._write_lock:
            if self._sock:
                self._sock.sendall(frame)
            else:
                self._file.write(frame)

    def _read_loop(self) -> None:
        try:
            while True:
                (size,) = struct.unpack(">I", self._recv_exact(4))
                if size > MAX_FRAME:
                    raise ConnectionError(f"frame of {size} bytes exceeds the limit")
                msg = decode_body(self._recv_exact(size))
                with self._lock:
                    q = self._queues.get(msg.get("id"))
                if q is not None:
                    q.put(msg)
        except Exception as exc:  # the connection is gone: fail every request in flight
            self._closed = exc
            with self._lock:
                for q in self._queues.values():
                    q.put({"type": "error", "body": {"message": str(exc), "type": "server_error", "code": "connection_closed"}})

    # -- requests ------------------------------------------------------------------------------
    def _start(self, op: str, body: Optional[dict]) -> tuple[int, "queue.Queue[dict]"]:
        if self._closed:
            raise CrucibleError({"message": str(self._closed), "code": "connection_closed"})
        rid = next(self._ids)
        q: "queue.Queue[dict]" = queue.Queue()
        with self._lock:
            self._queues[rid] = q
        self._send({"id": rid, "op": op, "body": body})
        return rid, q

    def _finish(self, rid: int) -> None:
        with self._lock:
            self._queues.pop(rid, None)

    def request(self, op: str, body: Optional[dict] = None) -> Any:
        """Sends one request and returns its result body (raises CrucibleError on an error frame)."""
        rid, q = self._start(op, body)
        try:
            while True:
                msg = q.get()
                if msg["type"] == "result":
                    return msg.get("body")
                if msg["type"] == "error":
                    raise CrucibleError(msg["body"])
        finally:
            self._finish(rid)

    def stream(self, op: str, body: dict) -> Iterator[Any]:
        """Yields chunk bodies until the result; closing the iterator early cancels the request."""
        rid, q = self._start(op, body)
        finished = False
        try:
            while True:
                msg = q.get()
                if msg["type"] == "chunk":
                    yield msg.get("body")
                elif msg["type"] == "result":
                    finished = True
                    return
                elif msg["type"] == "error":
                    finished = True
                    raise CrucibleError(msg["body"])
        finally:
            if not finished and not self._closed:
                self.cancel(rid)
            self._finish(rid)

    def cancel(self, target: int) -> None:
        self._send({"id": next(self._ids), "op": "cancel", "body": {"target": target}})

    # -- operations ----------------------------------------------------------------------------
    def status(self) -> dict:
        return self.request("status")

    def load(self, name: str, ttl: Optional[int] = None, ep: Optional[str] = None) -> dict:
        body: dict = {"name": name}
        if ttl is not None:
            body["ttl"] = ttl
        if ep is not None:
            body["ep"] = ep
        return self.request("models.load", body)

    def count_tokens(self, model: str, messages: list) -> int:
        return self.request("tokenizer.count", {"model": model, "messages": messages})["tokenCount"]

    def chat(self, **body: Any) -> dict:
        return self.request("chat.completions", {**body, "stream": False})

    def chat_stream(self, **body: Any) -> Iterator[str]:
        """Yields the text of each chat.completion.chunk."""
        for chunk in self.stream("chat.completions", {**body, "stream": True}):
            for choice in chunk.get("choices", []):
                text = choice.get("delta", {}).get("content")
                if text:
                    yield text

    def close(self) -> None:
        try:
            if self._sock:
                self._sock.shutdown(socket.SHUT_RDWR)
                self._sock.close()
            else:
                self._file.close()
        except OSError:
            pass
