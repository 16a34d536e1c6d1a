"""The synchronous SDK: Manager, Catalog, Model, ChatClient (seed 004's object model, snake_case)."""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union

from ._transport import CrucibleError, HttpTransport, PipeTransport

START_TIMEOUT = 30.0


def default_home() -> str:
    return os.environ.get("CRUCIBLE_HOME") or os.path.join(os.path.expanduser("~"), ".crucible")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except PermissionError:
        return True
    except OSError:
        return False


def _read_service(home: str) -> Optional[dict]:
    try:
        with open(os.path.join(home, "service.json"), "r", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _api_key(info: dict) -> Optional[str]:
    if os.environ.get("CRUCIBLE_API_KEY"):
        return os.environ["CRUCIBLE_API_KEY"]
    path = info.get("apiKeysFile")
    if not path:
        return None
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f).get("primaryKey", {}).get("value")
    except (OSError, ValueError):
        return None


def _agent_command() -> List[str]:
    """How to run the Node agent: $CRUCIBLE_AGENT_JS, else this source tree's build, else the CLI's agent on PATH."""
    node = os.environ.get("CRUCIBLE_NODE") or shutil.which("node") or "node"
    js = os.environ.get("CRUCIBLE_AGENT_JS")
    if not js:
        here = os.path.dirname(os.path.abspath(__file__))
        candidate = os.path.normpath(os.path.join(here, "..", "..", "..", "build", "agent", "main.js"))
        if os.path.exists(candidate):
            js = candidate
    if js:
        return [node, js]
    cli = shutil.which("crucible")
    if cli:
        # The npm package's bin is build/clients/cli/main.js; the agent sits beside it.
        real = os.path.realpath(cli)
        agent = os.path.normpath(os.path.join(os.path.dirname(real), "..", "..", "agent", "main.js"))
        if os.path.exists(agent):
            return [node, agent]
    raise CrucibleError("cannot find the Crucible agent: set CRUCIBLE_AGENT_JS to build/agent/main.js, or install the crucible npm package", "agent_start_failed")


def _discover(home: str, transport: str, api_key: Optional[str]):
    info = _read_service(home)
    if not info or not _alive(int(info.get("pid", 0))):
        return None
    if transport != "http" and info.get("pipeName"):
        try:
            pipe = PipeTransport(info["pipeName"], timeout=2.0)
            try:
                pipe.request("status")
                return pipe
            except CrucibleError:
                pipe.close()
        except OSError:
            pass
    endpoints = info.get("endpoints") or []
    if transport == "pipe" or not endpoints:
        return None
    http = HttpTransport(endpoints[0], api_key or _api_key(info))
    try:
        http.request("status")
        return http
    except CrucibleError:
        return None


def _try_lock(path: str) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        try:
            with open(path, "r", encoding="utf-8") as f:
                owner = int(f.read().strip() or "0")
        except (OSError, ValueError):
            return False
        if owner > 0 and not _alive(owner):
            try:
                os.unlink(path)
            except OSError:
                pass
        return False
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return True


def _log_excerpt(log_path: str, offset: int) -> str:
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            return "\n".join(f.read().decode("utf-8", "replace").strip().splitlines()[:8])
    except OSError:
        return ""


def _connect_or_start(home: str, transport: str, api_key: Optional[str], agent_args: List[str], timeout: float):
    """The TypeScript SDK's autoStart: the same `<home>/start.lock`, so both start one agent between them."""
    os.makedirs(home, mode=0o700, exist_ok=True)
    lock = os.path.join(home, "start.lock")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _discover(home, transport, api_key)
        if found:
            return found, False
        if not _try_lock(lock):
            time.sleep(0.05)
            continue
        try:
            found = _discover(home, transport, api_key)
            if found:
                return found, False
            log_path = os.path.join(home, "agent.log")
            with open(log_path, "ab") as log:
                offset = log.tell()
                child = subprocess.Popen(_agent_command() + ["--home", home, *agent_args], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True)
            while time.monotonic() < deadline:
                if child.poll() is not None:
                    break
                found = _discover(home, transport, api_key)
                if found:
                    return found, True
                time.sleep(0.05)
            code = child.poll()
            if code is None:
                child.kill()
            how = f"the agent exited with exit code {code}" if code is not None else f"the agent (pid {child.pid}) did not answer within {timeout:.0f} s"
            excerpt = _log_excerpt(log_path, offset)
            raise CrucibleError(f"{how}; see its log {log_path}" + (f":\n{excerpt}" if excerpt else ""), "agent_start_failed")
        finally:
            try:
                os.unlink(lock)
            except OSError:
                pass
    raise CrucibleError(f"no agent answered on {home} within {timeout:.0f} s; see {os.path.join(home, 'agent.log')}", "agent_start_failed")


# -- the object model ----------------------------------------------------------------------------

def _version(model_id: str) -> int:
    if ":" not in model_id:
        return 0
    try:
        return int(model_id.rsplit(":", 1)[1])
    except ValueError:
        return 0


def _provider(ep: str) -> str:
    p = ep.lower()
    if p.endswith("executionprovider"):
        p = p[: -len("executionprovider")]
    return "dml" if p in ("dml", "directml") else p


def _pick(variants: List["ModelVariant"], name: str, providers: List[str]) -> Optional["ModelVariant"]:
    """agent/resolve.ts's pickVariant, the agent's one rule: exact id; else id without version; else
    alias, preferring variants that run here; ordered cached first, then version, then provider."""
    n = name.lower()
    for v in variants:
        if v.id.lower() == n:
            return v

    def rank(v: "ModelVariant"):
        i = providers.index(v.provider) if v.provider in providers else len(providers) + 1
        if v.provider == "cpu" and v.provider in providers:
            i = len(providers)
        return (0 if v.cached else 1, -v.version, i)

    unversioned = [v for v in variants if ":" in v.id and v.id.rsplit(":", 1)[0].lower() == n]
    if unversioned:
        return sorted(unversioned, key=rank)[0]
    aliased = [v for v in variants if v.alias.lower() == n]
    runnable = [v for v in aliased if v.provider in providers]
    pool = runnable or aliased
    return sorted(pool, key=rank)[0] if pool else None


@dataclass
class ModelVariant:
    id: str
    alias: str
    version: int
    provider: str
    device_type: str
    cached: bool
    runnable: bool
    file_size_mb: Optional[float]
    task: str
    listing: Optional[dict]


@dataclass
class Selection:
    """Why a Model uses its variant: explicit, only, cached or device (see the README)."""
    id: str
    reason: str


class ChatClient:
    """Chat with one variant. `settings` (temperature, max_tokens, top_p, top_k, seed, stop,
    response_format, tools ...) go with every request; keyword arguments override them per call."""

    def __init__(self, transport, model_id: str, **settings: Any):
        self._t = transport
        self.model_id = model_id
        self.settings = dict(settings)

    def _body(self, messages: list, overrides: dict) -> dict:
        merged = {**self.settings, **overrides}
        return {"model": self.model_id, "messages": messages, **{k: v for k, v in merged.items() if v is not None}}

    def complete_chat(self, messages: list, **overrides: Any) -> dict:
        return self._t.request("chat.completions", {**self._body(messages, overrides), "stream": False})

    def complete_chat_streaming(self, messages: list, **overrides: Any) -> Iterator[dict]:
        """A generator of chat.completion.chunk dicts; closing it (a `break` in CPython, `close()`,
        or `with contextlib.closing(...)`) cancels the generation on the agent."""
        stream = self._t.stream("chat.completions", {**self._body(messages, overrides), "stream": True})
        try:
            yield from stream
        finally:
            stream.cancel()

    def open_stream(self, messages: list, **overrides: Any):
        """The stream object itself, whose `cancel()` works from any thread (AsyncManager uses it)."""
        return self._t.stream("chat.completions", {**self._body(messages, overrides), "stream": True})

    def count_tokens(self, messages: list) -> int:
        return self._t.request("tokenizer.count", {"model": self.model_id, "messages": messages})["tokenCount"]


def _floats(b64: str) -> List[float]:
    """OpenAI's base64 vector (little-endian float32) as floats."""
    raw = base64.b64decode(b64)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


class EmbeddingClient:
    """Sentence vectors from one variant (an encoder export, Foundry's embedding layout, or a chat
    model's hidden states). Vectors travel as base64 float32, so they arrive exactly as the model
    made them. `dimensions` (Matryoshka models only) may be set here or per call."""

    def __init__(self, transport, model_id: str, dimensions: Optional[int] = None):
        self._t = transport
        self.model_id = model_id
        self.dimensions = dimensions

    def embed_with_usage(self, inputs: Union[str, List[str], List[List[int]]], dimensions: Optional[int] = None) -> Tuple[List[List[float]], int]:
        body: dict = {"model": self.model_id, "input": inputs, "encoding_format": "base64"}
        dims = dimensions if dimensions is not None else self.dimensions
        if dims is not None:
            body["dimensions"] = dims
        r = self._t.request("embeddings", body)
        data = sorted(r["data"], key=lambda d: d["index"])
        vectors = [_floats(d["embedding"]) if isinstance(d["embedding"], str) else list(d["embedding"]) for d in data]
        return vectors, r["usage"]["prompt_tokens"]

    def embed(self, inputs: Union[str, List[str], List[List[int]]], dimensions: Optional[int] = None) -> List[List[float]]:
        """One vector per input, in order; all inputs go in one request (one batch on the worker)."""
        return self.embed_with_usage(inputs, dimensions)[0]

    def embed_one(self, text: str, dimensions: Optional[int] = None) -> List[float]:
        return self.embed([text], dimensions)[0]


class AudioClient:
    """Speech to text with one variant (Foundry's AudioClient): `transcribe` keeps the spoken
    language, `translate` gives English. `audio` is a file path or the file's bytes (WAV, MP3,
    FLAC, Ogg Vorbis, Opus: the agent decodes it). Settings (language, prompt, temperature,
    words=True for word timestamps) go with every request; keyword arguments override them.
    Results are the agent's Transcript as a dict (text, language, duration, segments, words).
    Over the pipe: the file travels as msgpack binary."""

    def __init__(self, transport, model_id: str, **settings: Any):
        self._t = transport
        self.model_id = model_id
        self.settings = dict(settings)

    def _body(self, audio: Any, task: str, overrides: dict) -> dict:
        merged = {**self.settings, **overrides}
        if isinstance(audio, (str, os.PathLike)):
            with open(audio, "rb") as f:
                data = f.read()
            filename = merged.pop("filename", None) or os.path.basename(os.fspath(audio))
        else:
            data = bytes(audio)
            filename = merged.pop("filename", None)
        body: dict = {"model": self.model_id, "file": data, "task": task}
        if filename:
            body["filename"] = filename
        for key in ("language", "prompt", "temperature"):
            if merged.get(key) is not None:
                body[key] = merged[key]
        if merged.get("words"):
            body["timestamp_granularities"] = ["segment", "word"]
        return body

    def transcribe(self, audio: Any, **overrides: Any) -> dict:
        return self._t.request("audio.transcriptions", {**self._body(audio, "transcribe", overrides), "stream": False})

    def translate(self, audio: Any, **overrides: Any) -> dict:
        return self._t.request("audio.transcriptions", {**self._body(audio, "translate", overrides), "stream": False})

    def transcribe_streaming(self, audio: Any, **overrides: Any) -> Iterator[dict]:
        """OpenAI's events: {"type": "transcript.text.delta", "delta"} as the windows are decoded,
        then {"type": "transcript.text.done", "text"}; closing the generator cancels the work."""
        stream = self.open_stream(audio, **overrides)
        try:
            for event in stream:
                yield openai_transcript_event(event)
        finally:
            stream.cancel()

    def open_stream(self, audio: Any, **overrides: Any):
        """The agent's own events (`delta`, then `done` with the transcript) as a stream object whose
        `cancel()` works from any thread (AsyncAudioClient uses it)."""
        return self._t.stream("audio.transcriptions", {**self._body(audio, "transcribe", overrides), "stream": True})


def openai_transcript_event(event: dict) -> dict:
    """One of the agent's transcript events as OpenAI's stream event."""
    if event.get("type") == "delta":
        return {"type": "transcript.text.delta", "delta": event["text"]}
    return {"type": "transcript.text.done", "text": event["transcript"]["text"]}


class Model:
    """A model by alias with its variants and the selected one; calls act on the selected variant."""

    def __init__(self, transport, catalog: "Catalog", alias: str, variants: List[ModelVariant], selection: Selection):
        self._t = transport
        self._catalog = catalog
        self.alias = alias
        self.variants = variants
        self.selection = selection

    @property
    def id(self) -> str:
        return self.selection.id

    def __repr__(self) -> str:
        return f"Model(alias={self.alias!r}, id={self.id!r}, reason={self.selection.reason!r})"

    def select_variant(self, variant_id: str) -> "Model":
        for v in self.variants:
            if v.id.lower() == variant_id.lower():
                self.selection = Selection(v.id, "explicit")
                return self
        raise CrucibleError(f"'{variant_id}' is not a variant of {self.alias}", "model_not_found", "invalid_request_error", "id")

    def is_cached(self) -> bool:
        return self.id in self._t.request("models.cached")

    def is_loaded(self) -> bool:
        return self.id in self._t.request("models.loaded")

    def download(self, on_progress: Optional[Callable[[float], None]] = None, cancel: Optional[threading.Event] = None) -> None:
        """Downloads the selected variant (nothing to do when cached); `on_progress(percent)`;
        setting `cancel` stops it, leaving nothing half-written in the cache."""
        if self.is_cached():
            return
        report = (lambda p: on_progress(float(p.get("percent") or 0.0))) if on_progress else None
        self._t.request("models.download", {"model": self.id}, on_progress=report, cancel=cancel)

    def load(self, ttl: Optional[int] = None, ep: Optional[str] = None) -> None:
        body: dict = {"name": self.id}
        if ttl is not None:
            body["ttl"] = ttl
        if ep is not None:
            body["ep"] = ep
        self._t.request("models.load", body)

    def unload(self, force: bool = False) -> None:
        self._t.request("models.unload", {"name": self.id, "force": force})

    def remove_from_cache(self, force: bool = False) -> None:
        self._t.request("models.remove", {"name": self.id, "force": force})

    def path(self) -> str:
        for m in self._t.request("models.info"):
            if m["id"] == self.id:
                return m["path"]
        raise CrucibleError(f"'{self.id}' is not in the cache; download it first", "model_not_found", "invalid_request_error", "model")

    def get_chat_client(self, **settings: Any) -> ChatClient:
        return ChatClient(self._t, self.id, **settings)

    def get_embedding_client(self, dimensions: Optional[int] = None) -> EmbeddingClient:
        return EmbeddingClient(self._t, self.id, dimensions)

    def get_audio_client(self, **settings: Any) -> AudioClient:
        """Speech to text (Whisper models); over the pipe."""
        return AudioClient(self._t, self.id, **settings)

    def get_latest_version(self) -> ModelVariant:
        return self._catalog.get_latest_version(self)


class Catalog:
    def __init__(self, transport):
        self._t = transport

    def _snapshot(self):
        listing = self._t.request("models.list")
        info = self._t.request("models.info")
        status = self._t.request("status")
        runs = status.get("executionProviders") or ["cpu"]
        # Ranked among the providers chosen automatically: a software WebGPU adapter is not the GPU.
        providers = (status.get("devices") or {}).get("automatic") or runs
        cached = {m["id"] for m in info}
        variants = []
        for e in listing:
            p = _provider(e["runtime"]["executionProvider"])
            variants.append(ModelVariant(e["name"], e["alias"], _version(e["name"]), p, e["runtime"]["deviceType"],
                                         e["name"] in cached, p in runs, e.get("fileSizeMb"), e.get("task", ""), e))
        known = {v.id for v in variants}
        for m in info:
            if m["id"] not in known:
                alias = m.get("alias") or (m["id"].rsplit(":", 1)[0] if ":" in m["id"] else m["id"])
                variants.append(ModelVariant(m["id"], alias, _version(m["id"]), m.get("executionProvider") or "cpu",
                                             "CPU", True, True, None, "chat-completion", None))
        return variants, info, providers

    def _group(self, snap, alias: str, selection: Optional[Selection] = None) -> Model:
        variants, _, providers = snap
        group = [v for v in variants if v.alias.lower() == alias.lower()]
        if selection is None:
            chosen = _pick(group, group[0].alias, providers) or group[0]
            if len(group) == 1:
                selection = Selection(chosen.id, "only")
            elif chosen.cached and any(not v.cached and v.runnable for v in group):
                selection = Selection(chosen.id, "cached")
            else:
                selection = Selection(chosen.id, "device")
        return Model(self._t, self, group[0].alias, group, selection)

    def list_models(self) -> List[Model]:
        snap = self._snapshot()
        aliases = list(dict.fromkeys(v.alias for v in snap[0]))
        return [self._group(snap, a) for a in aliases]

    def find_model(self, alias_or_id: str, device: Optional[str] = None) -> Optional[Model]:
        snap = self._snapshot()
        variants, _, providers = snap
        n = alias_or_id.lower()
        by_alias = [v for v in variants if v.alias.lower() == n]
        by_id = next((v for v in variants if v.id.lower() == n), None) or _pick([v for v in variants if ":" in v.id], alias_or_id, providers)
        if device:
            d = device.lower()
            pool = by_alias or ([v for v in variants if v.alias == by_id.alias] if by_id else [])
            fits = [v for v in pool if v.provider == d or v.device_type.lower() == d]
            chosen = _pick(fits, fits[0].alias, providers) if fits else None
            return self._group(snap, chosen.alias, Selection(chosen.id, "explicit")) if chosen else None
        if by_alias:
            return self._group(snap, by_alias[0].alias)
        if by_id:
            return self._group(snap, by_id.alias, Selection(by_id.id, "explicit") if by_id.id.lower() == n else None)
        return None

    def get_model(self, alias_or_id: str, device: Optional[str] = None) -> Model:
        found = self.find_model(alias_or_id, device)
        if found:
            return found
        import difflib
        names = list(dict.fromkeys(x for v in self._snapshot()[0] for x in (v.alias, v.id)))
        close = difflib.get_close_matches(alias_or_id, names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise CrucibleError(f"no model '{alias_or_id}' in the catalog or the cache{hint}", "model_not_found", "invalid_request_error", "model")

    def get_model_variant(self, variant_id: str) -> ModelVariant:
        for v in self._snapshot()[0]:
            if v.id.lower() == variant_id.lower():
                return v
        raise CrucibleError(f"no variant '{variant_id}'", "model_not_found", "invalid_request_error", "id")

    def get_cached_models(self) -> List[ModelVariant]:
        return [v for v in self._snapshot()[0] if v.cached]

    def get_loaded_models(self) -> List[ModelVariant]:
        variants, info, _ = self._snapshot()
        loaded = {m["id"] for m in info if m["state"] == "loaded"}
        return [v for v in variants if v.id in loaded]

    def get_latest_version(self, model) -> ModelVariant:
        model_id = model if isinstance(model, str) else model.id
        base = (model_id.rsplit(":", 1)[0] if ":" in model_id else model_id).lower()
        same = [v for v in self._snapshot()[0] if (v.id.rsplit(":", 1)[0] if ":" in v.id else v.id).lower() == base]
        if not same:
            raise CrucibleError(f"no variant '{model_id}'", "model_not_found", "invalid_request_error", "model")
        return max(same, key=lambda v: v.version)

    def refresh(self) -> List[Model]:
        return self.list_models()


class Manager:
    """One agent, reached over its pipe or HTTP (`connect`), or started privately for this process
    (`create`). Every Manager is its own object: no process-wide singleton."""

    def __init__(self, transport, mode: str, started: bool = False, child: Optional[subprocess.Popen] = None,
                 private_dir: Optional[str] = None, home: Optional[str] = None):
        self._t = transport
        self.mode = mode
        self.started = started
        self.home = home
        self._child = child
        self._private_dir = private_dir
        self.catalog = Catalog(transport)

    @property
    def transport(self):
        """The low-level transport (`request(op, body)`, `stream(op, body)`)."""
        return self._t

    @classmethod
    def connect(cls, home: Optional[str] = None, url: Optional[str] = None, api_key: Optional[str] = None,
                transport: str = "auto", auto_start: bool = False, agent_args: Optional[List[str]] = None,
                start_timeout: float = START_TIMEOUT) -> "Manager":
        """Finds the agent through `<home>/service.json` (pipe first, then HTTP); with `auto_start`,
        starts it when none answers (one agent however many callers race, through a start lock)."""
        if url:
            t = HttpTransport(url, api_key)
            t.request("status")
            return cls(t, "http")
        home = home or default_home()
        if auto_start:
            t, started = _connect_or_start(home, transport, api_key, list(agent_args or []), start_timeout)
        else:
            t, started = _discover(home, transport, api_key), False
            if t is None:
                raise CrucibleError(f"no agent answers on {home}; start one with 'crucible service start' or pass auto_start=True", "connection_closed")
        return cls(t, t.kind, started, home=home)

    @classmethod
    def create(cls, app_name: str = "default", home: Optional[str] = None, catalog_url: Optional[str] = None,
               model_cache_dir: Optional[str] = None, agent_args: Optional[List[str]] = None,
               start_timeout: float = START_TIMEOUT) -> "Manager":
        """A private agent for this process: a Node child on a private socket with no TCP port,
        that exits when this process does (its stdin is our pipe). Python cannot host the Node
        engine in-process, so this is the closest to embedded mode."""
        shared_cache = os.path.join(default_home(), "cache", "models")
        cache = model_cache_dir or (os.path.join(home, "cache", "models") if home else shared_cache)
        home = home or os.path.join(default_home(), "apps", app_name)
        os.makedirs(home, mode=0o700, exist_ok=True)
        private = tempfile.mkdtemp(prefix="crucible-")
        sock = os.path.join(private, "agent.sock")
        args = ["--home", home, "--pipe", sock, "--http", "0", "--exit-on-stdin-close", "1"]
        if catalog_url:
            args += ["--catalog-url", catalog_url]
        args += ["--models-dir", cache]
        args += list(agent_args or [])
        log_path = os.path.join(home, "agent.log")
        with open(log_path, "ab") as log:
            offset = log.tell()
            child = subprocess.Popen(_agent_command() + args, stdin=subprocess.PIPE, stdout=log, stderr=log)
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if child.poll() is not None:
                break
            if os.path.exists(sock):
                try:
                    t = PipeTransport(sock, timeout=2.0)
                    t.request("status")
                    return cls(t, "pipe", True, child, private, home)
                except (OSError, CrucibleError):
                    pass
            time.sleep(0.05)
        code = child.poll()
        if code is None:
            child.kill()
            child.wait()
        shutil.rmtree(private, ignore_errors=True)
        excerpt = _log_excerpt(log_path, offset)
        how = f"the agent exited with exit code {code}" if code is not None else "the agent did not answer in time"
        raise CrucibleError(f"{how}; see its log {log_path}" + (f":\n{excerpt}" if excerpt else ""), "agent_start_failed")

    @property
    def pid(self) -> Optional[int]:
        """The private agent's process id (create mode)."""
        return self._child.pid if self._child else None

    @property
    def urls(self) -> List[str]:
        return list(self._t.request("status").get("endpoints") or [])

    def openai_config(self) -> dict:
        """`openai.OpenAI(**manager.openai_config())`."""
        if isinstance(self._t, HttpTransport):
            return {"base_url": f"{self._t.base_url}/v1", "api_key": self._t._api_key or "crucible"}
        urls = self.urls
        if not urls:
            raise CrucibleError("this agent serves no HTTP (a private agent is pipe-only); use connect() to a shared agent", "invalid_request", "invalid_request_error")
        info = _read_service(self.home) if self.home else None
        return {"base_url": f"{urls[0]}/v1", "api_key": (_api_key(info) if info else None) or "crucible"}

    def close(self) -> None:
        """Closes the connection; a private agent is stopped (models unloaded, workers ended)."""
        self._t.close()
        if self._child is not None:
            if self._child.poll() is None:
                try:
                    self._child.stdin.close()
                except OSError:
                    pass
                try:
                    self._child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self._child.kill()
                    self._child.wait()
            self._child = None
        if self._private_dir:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None

    def __enter__(self) -> "Manager":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
