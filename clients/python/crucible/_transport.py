"""The two ways to reach an agent: its pipe (a Unix socket, or a named pipe on Windows) and HTTP.

Both offer the same calls: `request(op, body)` for one result and `stream(op, body)` for chunks;
ops are the pipe protocol's names (docs/protocol.md) and HTTP maps them onto its routes.
"""
from __future__ import annotations

import http.client
import itertools
import json
import queue
import socket
import struct
import sys
import threading
import urllib.parse
from typing import Any, Callable, Iterator, Optional

from . import _msgpack

MAX_FRAME = 16 * 1024 * 1024


class CrucibleError(Exception):
    """An error from the agent, with the code, type and param of its error envelope."""

    def __init__(self, message: str, code: str = "internal_error", type: str = "server_error", param: Optional[str] = None):
        super().__init__(message)
        self.code = code
        self.type = type
        self.param = param

    @classmethod
    def from_body(cls, body: dict) -> "CrucibleError":
        return cls(body.get("message", "error"), body.get("code") or "internal_error", body.get("type") or "server_error", body.get("param"))


class Stream:
    """Chunks of one streamed request. `cancel()` may be called from any thread; iteration then ends
    with a `cancelled` CrucibleError (unless the stream had already finished)."""

    def __init__(self, chunks: Iterator[Any], cancel: Callable[[], None]):
        self._chunks = chunks
        self._cancel = cancel
        self.done = False

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> Any:
        try:
            return next(self._chunks)
        except BaseException:
            self.done = True
            raise

    def cancel(self) -> None:
        if not self.done:
            self._cancel()


class PipeTransport:
    """One connection, many requests multiplexed by id; a reader thread routes frames."""

    kind = "pipe"

    def __init__(self, path: str, timeout: float = 5.0):
        self.path = path
        if sys.platform == "win32":
            self._file = open(path, "r+b", buffering=0)
            self._sock = None
        else:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._sock.settimeout(timeout)
            try:
                self._sock.connect(path)
            except OSError:
                self._sock.close()
                raise
            self._sock.settimeout(None)
            self._file = None
        self._ids = itertools.count(1)
        self._queues: dict = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed: Optional[BaseException] = None
        threading.Thread(target=self._read_loop, daemon=True).start()

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self._sock.recv(n - len(buf)) if self._sock else self._file.read(n - len(buf))
            if not chunk:
                raise ConnectionError("the agent closed the connection")
            buf += chunk
        return bytes(buf)

    def _send(self, message: dict) -> None:
        payload = _msgpack.packb(message)
        if len(payload) > MAX_FRAME:
            raise CrucibleError(f"request of {len(payload)} bytes exceeds the frame limit", "payload_too_large", "invalid_request_error")
        frame = struct.pack(">I", len(payload)) + payload
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
                msg = _msgpack.unpackb(self._recv_exact(size))
                with self._lock:
                    q = self._queues.get(msg.get("id"))
                if q is not None:
                    q.put(msg)
        except Exception as exc:  # the connection is gone: fail everything in flight
            self._closed = exc
            with self._lock:
                for q in self._queues.values():
                    q.put({"type": "error", "body": {"message": f"the connection to the agent closed: {exc}", "type": "server_error", "code": "connection_closed"}})

    def _start(self, op: str, body: Optional[dict]):
        if self._closed:
            raise CrucibleError(f"the connection to the agent closed: {self._closed}", "connection_closed")
        rid = next(self._ids)
        q: "queue.Queue[dict]" = queue.Queue()
        with self._lock:
            self._queues[rid] = q
        self._send({"id": rid, "op": op, "body": body})
        return rid, q

    def _cancel(self, rid: int) -> None:
        if not self._closed:
            try:
                self._send({"id": next(self._ids), "op": "cancel", "body": {"target": rid}})
            except OSError:
                pass

    def request(self, op: str, body: Optional[dict] = None, on_progress: Optional[Callable[[dict], None]] = None,
                cancel: Optional[threading.Event] = None) -> Any:
        rid, q = self._start(op, body)
        sent_cancel = False
        try:
            while True:
                try:
                    msg = q.get(timeout=0.05 if cancel is not None else None)
                except queue.Empty:
                    if cancel is not None and cancel.is_set() and not sent_cancel:
                        sent_cancel = True
                        self._cancel(rid)
                    continue
                kind = msg.get("type")
                if kind == "result":
                    return msg.get("body")
                if kind == "error":
                    raise CrucibleError.from_body(msg.get("body") or {})
                if kind == "progress" and on_progress is not None:
                    on_progress(msg.get("body"))
                if cancel is not None and cancel.is_set() and not sent_cancel:
                    sent_cancel = True
                    self._cancel(rid)
        finally:
            with self._lock:
                self._queues.pop(rid, None)

    def stream(self, op: str, body: dict) -> Stream:
        rid, q = self._start(op, body)

        def chunks() -> Iterator[Any]:
            finished = False
            try:
                while True:
                    msg = q.get()
                    kind = msg.get("type")
                    if kind == "chunk":
                        yield msg.get("body")
                    elif kind == "result":
                        finished = True
                        return
                    elif kind == "error":
                        finished = True
                        raise CrucibleError.from_body(msg.get("body") or {})
            finally:
                # Closed early (a break, close(), garbage collection): stop the generation on the agent.
                if not finished:
                    self._cancel(rid)
                with self._lock:
                    self._queues.pop(rid, None)

        return Stream(chunks(), lambda: self._cancel(rid))

    def close(self) -> None:
        try:
            if self._sock:
                self._sock.shutdown(socket.SHUT_RDWR)
                self._sock.close()
            else:
                self._file.close()
        except OSError:
            pass


class HttpTransport:
    """The agent's HTTP API with http.client; streams are SSE and downloads NDJSON."""

    kind = "http"

    def __init__(self, base_url: str, api_key: Optional[str] = None, timeout: float = 600.0):
        self.base_url = base_url.rstrip("/")
        u = urllib.parse.urlsplit(self.base_url)
        self._host, self._port = u.hostname or "127.0.0.1", u.port or 80
        self._api_key = api_key
        self._timeout = timeout

    def _open(self, method: str, path: str, body: Any = None, accept: Optional[str] = None):
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["content-type"] = "application/json"
        if accept:
            headers["accept"] = accept
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        try:
            conn.request(method, path, body=data, headers=headers)
            res = conn.getresponse()
        except OSError as exc:
            conn.close()
            raise CrucibleError(f"cannot reach the agent at {self.base_url}: {exc}", "connection_closed") from exc
        if res.status >= 400:
            text = res.read().decode("utf-8", "replace")
            conn.close()
            try:
                err = json.loads(text).get("error")
            except ValueError:
                err = None
            if isinstance(err, dict):
                raise CrucibleError.from_body(err)
            raise CrucibleError(f"HTTP {res.status}: {text[:200]}")
        return conn, res

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        conn, res = self._open(method, path, body)
        try:
            return json.loads(res.read())
        finally:
            conn.close()

    @staticmethod
    def _q(name: str) -> str:
        return urllib.parse.quote(name, safe="")

    def request(self, op: str, body: Optional[dict] = None, on_progress: Optional[Callable[[dict], None]] = None,
                cancel: Optional[threading.Event] = None) -> Any:
        b = body or {}
        if op == "status":
            return self._json("GET", "/openai/status")
        if op == "models.list":
            return self._json("GET", "/foundry/list")
        if op == "models.info":
            return self._json("GET", "/openai/ps")
        if op == "models.cached":
            return self._json("GET", "/openai/models")
        if op == "models.loaded":
            return self._json("GET", "/openai/loadedmodels")
        if op == "models.load":
            query = urllib.parse.urlencode({k: b[k] for k in ("ttl", "ep") if b.get(k) is not None})
            return self._json("GET", f"/openai/load/{self._q(b['name'])}?{query}")
        if op == "models.unload":
            return self._json("GET", f"/openai/unload/{self._q(b['name'])}?force={'true' if b.get('force') else 'false'}")
        if op == "models.remove":
            return self._json("DELETE", f"/openai/models/{self._q(b['name'])}?force={'true' if b.get('force') else 'false'}")
        if op == "tokenizer.count":
            return self._json("POST", "/v1/chat/completions/tokenizer/encode/count", b)
        if op == "chat.completions":
            return self._json("POST", "/v1/chat/completions", {**b, "stream": False})
        if op == "embeddings":
            return self._json("POST", "/v1/embeddings", b)
        if op == "models.download":
            return self._download(b, on_progress, cancel)
        raise CrucibleError(f"'{op}' is not available over HTTP in this SDK", "invalid_request", "invalid_request_error")

    def _download(self, body: dict, on_progress, cancel) -> Any:
        conn, res = self._open("POST", "/openai/download", body, accept="application/x-ndjson")
        stop = threading.Event()
        if cancel is not None:
            def watch() -> None:
                while not stop.wait(0.05):
                    if cancel.is_set():
                        _shutdown(conn)
                        return
            threading.Thread(target=watch, daemon=True).start()
        try:
            for line in res:
                if not line.strip():
                    continue
                msg = json.loads(line)
                if msg.get("type") == "progress":
                    if on_progress is not None:
                        on_progress(msg)
                elif msg.get("Success") is True:
                    return {"model": msg.get("model")}
                elif msg.get("Success") is False:
                    raise CrucibleError(msg.get("ErrorMessage") or "download failed", "download_failed")
        except (OSError, ValueError, http.client.HTTPException) as exc:
            if cancel is not None and cancel.is_set():
                raise CrucibleError("the download was cancelled", "cancelled", "cancelled") from exc
            raise CrucibleError(f"the download stream broke: {exc}", "connection_closed") from exc
        finally:
            stop.set()
            conn.close()
        if cancel is not None and cancel.is_set():
            raise CrucibleError("the download was cancelled", "cancelled", "cancelled")
        raise CrucibleError("the download stream ended without a result", "connection_closed")

    def stream(self, op: str, body: dict) -> Stream:
        if op != "chat.completions":
            raise CrucibleError(f"'{op}' does not stream over HTTP in this SDK", "invalid_request", "invalid_request_error")
        conn, res = self._open("POST", "/v1/chat/completions", {**body, "stream": True}, accept="text/event-stream")
        cancelled = threading.Event()

        def chunks() -> Iterator[Any]:
            try:
                for raw in res:
                    line = raw.decode("utf-8").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    parsed = json.loads(data)
                    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
                        raise CrucibleError.from_body(parsed["error"])
                    yield parsed
                if cancelled.is_set():
                    raise CrucibleError("the stream was cancelled", "cancelled", "cancelled")
            except (OSError, ValueError, http.client.HTTPException) as exc:
                if cancelled.is_set():
                    raise CrucibleError("the stream was cancelled", "cancelled", "cancelled") from exc
                raise
            finally:
                # Closing the connection is how an HTTP client cancels: the agent sees it go.
                _shutdown(conn)
                conn.close()

        def cancel() -> None:
            cancelled.set()
            _shutdown(conn)

        return Stream(chunks(), cancel)

    def close(self) -> None:
        pass


def _shutdown(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
