"""Crucible's Python SDK: seed 004's flow over a local Crucible agent, standard library only.

    from crucible import Manager
    with Manager.connect(auto_start=True) as mgr:
        model = mgr.catalog.get_model("qwen2.5-0.5b")
        model.download(on_progress=lambda p: print(f"{p:.1f}%"))
        model.load()
        for chunk in model.get_chat_client().complete_chat_streaming([{"role": "user", "content": "Hi"}]):
            print(chunk["choices"][0]["delta"].get("content", ""), end="")
        model.unload()

`Manager.create(app_name=...)` starts a private agent for this process instead (a Node child on a
private socket, no TCP port, ending with this process): Python cannot host the Node engine in its
own process. `AsyncManager` is the same object model for asyncio.
"""
from ._transport import CrucibleError, HttpTransport, PipeTransport, Stream
from .aio import AsyncAudioClient, AsyncCatalog, AsyncChatClient, AsyncEmbeddingClient, AsyncManager, AsyncModel
from .manager import AudioClient, Catalog, ChatClient, EmbeddingClient, Manager, Model, ModelVariant, Selection, default_home

__all__ = [
    "Manager", "AsyncManager", "Catalog", "AsyncCatalog", "Model", "AsyncModel", "ModelVariant", "Selection",
    "ChatClient", "AsyncChatClient", "EmbeddingClient", "AsyncEmbeddingClient", "AudioClient", "AsyncAudioClient",
    "CrucibleError", "PipeTransport", "HttpTransport", "Stream", "default_home",
]
