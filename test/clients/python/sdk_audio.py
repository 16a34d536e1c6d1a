"""The Python SDK's AudioClient against a running agent with the Whisper fixture; prints what it saw as JSON.

usage: sdk_audio.py HOME WAV_FILE
"""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "clients", "python"))

from crucible import AsyncManager, CrucibleError, Manager  # noqa: E402

home, wav = sys.argv[1], sys.argv[2]
out = {}
with Manager.connect(home=home, transport="pipe") as mgr:
    audio = mgr.catalog.get_model("whisper-tiny-hf").get_audio_client()
    t = audio.transcribe(wav)
    out["text"] = t["text"]
    out["duration"] = t["duration"]
    out["segments"] = len(t["segments"])
    with open(wav, "rb") as f:
        out["from_bytes"] = audio.transcribe(f.read(), filename="clip.wav")["text"]
    out["words"] = len(audio.transcribe(wav, words=True, language="en").get("words") or [])
    out["translate_task"] = audio.translate(wav)["task"]
    events = list(audio.transcribe_streaming(wav))
    out["event_types"] = sorted({e["type"] for e in events})
    out["deltas"] = "".join(e["delta"] for e in events if e["type"] == "transcript.text.delta")
    out["done"] = events[-1]["text"]
    try:
        audio.transcribe(b"not audio at all", filename="notes.txt")
    except CrucibleError as e:
        out["bad"] = [e.code, e.param, str(e)]


async def run_async():
    mgr = await AsyncManager.connect(home=home, transport="pipe")
    try:
        audio = (await mgr.catalog.get_model("whisper-tiny-hf")).get_audio_client()
        out["async_text"] = (await audio.transcribe(wav))["text"]
        events = [e async for e in audio.transcribe_streaming(wav)]
        out["async_done"] = events[-1]["text"]
    finally:
        await mgr.close()


asyncio.run(run_async())
print(json.dumps(out))
