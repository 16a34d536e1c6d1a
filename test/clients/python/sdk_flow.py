"""Seed 004's flow through the Python SDK against a running agent; prints what it saw as JSON.

usage: sdk_flow.py sync|async HOME [pipe|http]
The agent's catalog has `tiny` (a slow CPU variant and a CUDA one); `endless` is in its cache.
"""
import asyncio
import contextlib
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "clients", "python"))

from crucible import AsyncManager, CrucibleError, Manager  # noqa: E402

MSG = [{"role": "user", "content": "Once upon a time"}]
out = {}


def text_of(chunk):
    choices = chunk.get("choices") or [{}]
    return (choices[0].get("delta") or {}).get("content") or ""


def partial_gone(models_dir):
    path = os.path.join(models_dir, ".partial", "tiny-generic-cpu-1")
    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists(path):
        time.sleep(0.05)
    return not os.path.exists(path) and not os.path.exists(os.path.join(models_dir, "tiny-generic-cpu-1"))


def endless_row(mgr_transport):
    return next(m for m in mgr_transport.request("models.info") if m["id"] == "endless")


def wait_idle(transport):
    deadline = time.time() + 10
    while time.time() < deadline:
        if endless_row(transport)["inFlight"] == 0:
            return True
        time.sleep(0.02)
    return False


def run_sync(home, transport):
    with Manager.connect(home=home, transport=transport) as mgr:
        out["mode"] = mgr.mode
        models_dir = mgr.transport.request("status")["modelDirPath"]
        tiny = next(m for m in mgr.catalog.list_models() if m.alias == "tiny")
        out["variants"] = sorted(v.id for v in tiny.variants)
        out["runnable"] = {v.id: v.runnable for v in tiny.variants}
        model = mgr.catalog.get_model("tiny")
        out["selection"] = [model.selection.id, model.selection.reason]
        out["gpu_selection"] = mgr.catalog.get_model("tiny", device="gpu").selection.reason
        try:
            mgr.catalog.get_model("tinny")
        except CrucibleError as e:
            out["not_found"] = [e.code, str(e)]
        out["cached_before"] = model.is_cached()

        cancel = threading.Event()
        seen = []

        def progress(p):
            seen.append(p)
            if p >= 30:
                cancel.set()
        try:
            model.download(on_progress=progress, cancel=cancel)
            out["cancelled"] = None
        except CrucibleError as e:
            out["cancelled"] = e.code
        out["cancel_percent"] = seen[-1] if seen else None
        out["nothing_left"] = partial_gone(models_dir)
        out["cached_after_cancel"] = model.is_cached()

        percents = []
        model.download(on_progress=percents.append)
        out["last_percent"] = percents[-1] if percents else None
        out["cached"] = model.is_cached()
        out["in_cached_list"] = any(v.id == model.id for v in mgr.catalog.get_cached_models())
        model.load()
        out["loaded"] = model.is_loaded()

        chat = model.get_chat_client(temperature=0, max_tokens=40)
        out["text"] = "".join(text_of(c) for c in chat.complete_chat_streaming(MSG))
        out["tokens"] = chat.count_tokens(MSG)

        endless = mgr.catalog.get_model("endless")
        endless.load()
        long = endless.get_chat_client(temperature=0, max_tokens=1000000, ignore_eos=True)
        n = 0
        for chunk in long.complete_chat_streaming([{"role": "user", "content": "x"}]):
            if text_of(chunk):
                n += 1
            if n == 5:
                break  # the generator is closed here (CPython), which cancels on the agent
        out["stream_tokens"] = n
        out["stopped"] = wait_idle(mgr.transport)
        out["still_loaded"] = endless_row(mgr.transport)["state"]
        nxt = long.complete_chat([{"role": "user", "content": "x"}], max_tokens=5)
        out["next_finish"] = nxt["choices"][0]["finish_reason"]
        model.unload()
        out["unloaded"] = not model.is_loaded()


async def run_async(home, transport):
    async with await AsyncManager.connect(home=home, transport=transport) as mgr:
        out["mode"] = mgr.mode
        models_dir = (await asyncio.to_thread(mgr.transport.request, "status"))["modelDirPath"]
        tiny = next(m for m in await mgr.catalog.list_models() if m.alias == "tiny")
        out["variants"] = sorted(v.id for v in tiny.variants)
        out["runnable"] = {v.id: v.runnable for v in tiny.variants}
        model = await mgr.catalog.get_model("tiny")
        out["selection"] = [model.selection.id, model.selection.reason]
        out["gpu_selection"] = (await mgr.catalog.get_model("tiny", device="gpu")).selection.reason
        try:
            await mgr.catalog.get_model("tinny")
        except CrucibleError as e:
            out["not_found"] = [e.code, str(e)]
        out["cached_before"] = await model.is_cached()

        # Cancelling the task that awaits a download cancels the download.
        half = asyncio.Event()
        seen = []
        loop = asyncio.get_running_loop()

        def progress(p):
            seen.append(p)
            if p >= 30:
                loop.call_soon_threadsafe(half.set)
        task = asyncio.ensure_future(model.download(on_progress=progress))
        await half.wait()
        task.cancel()
        try:
            await task
            out["cancelled"] = None
        except asyncio.CancelledError:
            out["cancelled"] = "cancelled"
        out["cancel_percent"] = seen[-1] if seen else None
        out["nothing_left"] = await asyncio.to_thread(partial_gone, models_dir)
        out["cached_after_cancel"] = await model.is_cached()

        percents = []
        await model.download(on_progress=percents.append)
        out["last_percent"] = percents[-1] if percents else None
        out["cached"] = await model.is_cached()
        out["in_cached_list"] = any(v.id == model.id for v in await mgr.catalog.get_cached_models())
        await model.load()
        out["loaded"] = await model.is_loaded()

        chat = model.get_chat_client(temperature=0, max_tokens=40)
        text = ""
        async with contextlib.aclosing(chat.complete_chat_streaming(MSG)) as stream:
            async for c in stream:
                text += text_of(c)
        out["text"] = text
        out["tokens"] = await chat.count_tokens(MSG)

        endless = await mgr.catalog.get_model("endless")
        await endless.load()
        long = endless.get_chat_client(temperature=0, max_tokens=1000000, ignore_eos=True)
        five = asyncio.Event()
        counted = [0]

        async def consume():
            async for chunk in long.complete_chat_streaming([{"role": "user", "content": "x"}]):
                if text_of(chunk):
                    counted[0] += 1
                    if counted[0] == 5:
                        five.set()
        task = asyncio.ensure_future(consume())
        await five.wait()
        task.cancel()  # cancelling the task cancels the generation on the agent
        with contextlib.suppress(asyncio.CancelledError):
            await task
        out["stream_tokens"] = counted[0]  # 5, or a few more that arrived before the cancellation
        out["stopped"] = await asyncio.to_thread(wait_idle, mgr.transport)
        out["still_loaded"] = (await asyncio.to_thread(endless_row, mgr.transport))["state"]
        nxt = await long.complete_chat([{"role": "user", "content": "x"}], max_tokens=5)
        out["next_finish"] = nxt["choices"][0]["finish_reason"]
        await model.unload()
        out["unloaded"] = not await model.is_loaded()


if __name__ == "__main__":
    mode, home = sys.argv[1], sys.argv[2]
    transport = sys.argv[3] if len(sys.argv) > 3 else "auto"
    if mode == "sync":
        run_sync(home, transport)
    else:
        asyncio.run(run_async(home, transport))
    print(json.dumps(out))
