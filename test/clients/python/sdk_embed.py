"""get_embedding_client() through the Python SDK against a running agent; prints what it saw as JSON.

usage: sdk_embed.py sync|async HOME pipe|http MODEL
"""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "clients", "python"))

from crucible import AsyncManager, CrucibleError, Manager  # noqa: E402

TEXTS = ["Once upon a time", "The cat sat on the mat."]


def sync(home, transport, name):
    with Manager.connect(home=home, transport=transport) as mgr:
        model = mgr.catalog.get_model(name)
        client = model.get_embedding_client()
        vectors, tokens = client.embed_with_usage(TEXTS)
        out = {"vectors": vectors, "tokens": tokens, "one": client.embed_one(TEXTS[1]),
               "cut": len(model.get_embedding_client(dimensions=4).embed_one(TEXTS[0]))}
        try:
            client.embed("")
        except CrucibleError as e:
            out["empty"] = e.code
        return out


async def asynchronous(home, transport, name):
    async with await AsyncManager.connect(home=home, transport=transport) as mgr:
        model = await mgr.catalog.get_model(name)
        client = model.get_embedding_client()
        vectors = await client.embed(TEXTS)
        out = {"vectors": vectors, "one": await client.embed_one(TEXTS[1]),
               "cut": len(await model.get_embedding_client(dimensions=4).embed_one(TEXTS[0]))}
        try:
            await client.embed("")
        except CrucibleError as e:
            out["empty"] = e.code
        return out


mode, home, transport, name = sys.argv[1:5]
print(json.dumps(sync(home, transport, name) if mode == "sync" else asyncio.run(asynchronous(home, transport, name))))
