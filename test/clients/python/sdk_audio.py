"""The Python SDK's AudioClient against a running agent with the Whisper fixture; prints what it saw as JSON.

usage: sdk_audio.py HOME WAV_FILE
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "clients", "python"))

from crucible import CrucibleError, Manager  # noqa: E402

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
print(json.dumps(out))
