"""The asynchronous SDK: the same object model, every call awaitable, streams as async generators.

Blocking socket work runs in threads (asyncio.to_thread), so the event loop never waits on the
agent. Cancelling a task that awaits a stream, or closing the async generator, cancels the
generation on the agent.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator, Callable, List, Optional

from ._transport import CrucibleError
from .manager import AudioClient, Catalog, ChatClient, EmbeddingClient, Manager, Model, ModelVariant, Selection, openai_transcript_event



async def _relay(open_stream: Any, convert: Any) -> AsyncIterator[Any]:
    """Opens a blocking stream and yields its items (read on a thread) in the event loop; closing
    the generator (aclose(), a break, task cancellation) cancels the stream on the agent."""
    stream = await asyncio.to_thread(open_stream)
    loop = asyncio.get_running_loop()
    q: asyncio.Queue = asyncio.Queue()
    end = object()

    def pump() -> None:
        try:
            for item in stream:
                loop.call_soon_threadsafe(q.put_nowait, convert(item))
            loop.call_soon_threadsafe(q.put_nowait, end)
        except BaseException as exc:  # delivered to the consumer
            loop.call_soon_threadsafe(q.put_nowait, exc)

    threading.Thread(target=pump, daemon=True).start()
    try:
        while True:
            item = await q.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stream.cancel()


class AsyncEmbeddingClient:
    """EmbeddingClient for asyncio: each call runs in a thread."""

    def __init__(self, sync: EmbeddingClient):
        self._sync = sync

    async def embed(self, inputs: Any, dimensions: Optional[int] = None) -> List[List[float]]:
        return await asyncio.to_thread(self._sync.embed, inputs, dimensions)

    async def embed_one(self, text: str, dimensions: Optional[int] = None) -> List[float]:
        return await asyncio.to_thread(self._sync.embed_one, text, dimensions)


class AsyncChatClient:
    def __init__(self, sync: ChatClient):
        self._sync = sync

    @property
    def settings(self) -> dict:
        return self._sync.settings

    async def complete_chat(self, messages: list, **overrides: Any) -> dict:
        return await asyncio.to_thread(self._sync.complete_chat, messages, **overrides)

    def complete_chat_streaming(self, messages: list, **overrides: Any) -> AsyncIterator[dict]:
        return _relay(lambda: self._sync.open_stream(messages, **overrides), lambda chunk: chunk)

    async def count_tokens(self, messages: list) -> int:
        return await asyncio.to_thread(self._sync.count_tokens, messages)


class AsyncAudioClient:
    """AudioClient for asyncio: transcribe / translate awaitable, the stream an async generator."""

    def __init__(self, sync: AudioClient):
        self._sync = sync

    @property
    def settings(self) -> dict:
        return self._sync.settings

    async def transcribe(self, audio: Any, **overrides: Any) -> dict:
        return await asyncio.to_thread(self._sync.transcribe, audio, **overrides)

    async def translate(self, audio: Any, **overrides: Any) -> dict:
        return await asyncio.to_thread(self._sync.translate, audio, **overrides)

    def transcribe_streaming(self, audio: Any, **overrides: Any) -> AsyncIterator[dict]:
        return _relay(lambda: self._sync.open_stream(audio, **overrides), openai_transcript_event)


class AsyncModel:
    def __init__(self, sync: Model):
        self._sync = sync

    alias = property(lambda self: self._sync.alias)
    id = property(lambda self: self._sync.id)
    variants = property(lambda self: self._sync.variants)
    selection = property(lambda self: self._sync.selection)

    def __repr__(self) -> str:
        return f"Async{self._sync!r}"

    def select_variant(self, variant_id: str) -> "AsyncModel":
        self._sync.select_variant(variant_id)
        return self

    async def is_cached(self) -> bool:
        return await asyncio.to_thread(self._sync.is_cached)

    async def is_loaded(self) -> bool:
        return await asyncio.to_thread(self._sync.is_loaded)

    async def download(self, on_progress: Optional[Callable[[float], None]] = None) -> None:
        """Cancelling the awaiting task cancels the download on the agent."""
        cancel = threading.Event()
        task = asyncio.ensure_future(asyncio.to_thread(self._sync.download, on_progress, cancel))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancel.set()
            try:
                await task
            except CrucibleError:
                pass
            raise

    async def load(self, ttl: Optional[int] = None, ep: Optional[str] = None) -> None:
        await asyncio.to_thread(self._sync.load, ttl, ep)

    async def unload(self, force: bool = False) -> None:
        await asyncio.to_thread(self._sync.unload, force)

    async def remove_from_cache(self, force: bool = False) -> None:
        await asyncio.to_thread(self._sync.remove_from_cache, force)

    async def path(self) -> str:
        return await asyncio.to_thread(self._sync.path)

    def get_chat_client(self, **settings: Any) -> AsyncChatClient:
        return AsyncChatClient(self._sync.get_chat_client(**settings))

    def get_embedding_client(self, dimensions: Optional[int] = None) -> AsyncEmbeddingClient:
        return AsyncEmbeddingClient(self._sync.get_embedding_client(dimensions))

    def get_audio_client(self, **settings: Any) -> AsyncAudioClient:
        return AsyncAudioClient(self._sync.get_audio_client(**settings))


class AsyncCatalog:
    def __init__(self, sync: Catalog):
        self._sync = sync

    async def list_models(self) -> List[AsyncModel]:
        return [AsyncModel(m) for m in await asyncio.to_thread(self._sync.list_models)]

    async def get_model(self, alias_or_id: str, device: Optional[str] = None) -> AsyncModel:
        return AsyncModel(await asyncio.to_thread(self._sync.get_model, alias_or_id, device))

    async def find_model(self, alias_or_id: str, device: Optional[str] = None) -> Optional[AsyncModel]:
        m = await asyncio.to_thread(self._sync.find_model, alias_or_id, device)
        return AsyncModel(m) if m else None

    async def get_model_variant(self, variant_id: str) -> ModelVariant:
        return await asyncio.to_thread(self._sync.get_model_variant, variant_id)

    async def get_cached_models(self) -> List[ModelVariant]:
        return await asyncio.to_thread(self._sync.get_cached_models)

    async def get_loaded_models(self) -> List[ModelVariant]:
        return await asyncio.to_thread(self._sync.get_loaded_models)

    async def get_latest_version(self, model) -> ModelVariant:
        return await asyncio.to_thread(self._sync.get_latest_version, model._sync if isinstance(model, AsyncModel) else model)

    async def refresh(self) -> List[AsyncModel]:
        return await self.list_models()


class AsyncManager:
    """`await AsyncManager.connect(...)` / `await AsyncManager.create(...)`; `async with` closes it."""

    def __init__(self, sync: Manager):
        self._sync = sync
        self.catalog = AsyncCatalog(sync.catalog)

    mode = property(lambda self: self._sync.mode)
    started = property(lambda self: self._sync.started)
    pid = property(lambda self: self._sync.pid)
    transport = property(lambda self: self._sync.transport)

    @classmethod
    async def connect(cls, **kwargs: Any) -> "AsyncManager":
        return cls(await asyncio.to_thread(lambda: Manager.connect(**kwargs)))

    @classmethod
    async def create(cls, **kwargs: Any) -> "AsyncManager":
        return cls(await asyncio.to_thread(lambda: Manager.create(**kwargs)))

    async def openai_config(self) -> dict:
        return await asyncio.to_thread(self._sync.openai_config)

    async def close(self) -> None:
        await asyncio.to_thread(self._sync.close)

    async def __aenter__(self) -> "AsyncManager":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


__all__ = ["AsyncManager", "AsyncCatalog", "AsyncModel", "AsyncChatClient", "AsyncEmbeddingClient", "Selection"]
