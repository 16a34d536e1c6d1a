"""A pipe client written from docs/protocol.md alone: no Crucible code, just socket, struct, msgpack.

python3 from_spec.py <home>  -> prints the streamed completion of "Once upon a time".
"""
import json
import os
import socket
import struct
import sys

import msgpack

home = sys.argv[1]
with open(os.path.join(home, "service.json")) as f:
    pipe = json.load(f)["pipeName"]

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(pipe)


def send(message):
    body = msgpack.packb(message, use_bin_type=True)
    s.sendall(struct.pack(">I", len(body)) + body)


def recv():
    head = s.recv(4, socket.MSG_WAITALL)
    (size,) = struct.unpack(">I", head)
    return msgpack.unpackb(s.recv(size, socket.MSG_WAITALL), raw=False)


send({"id": 1, "op": "status", "body": None})
status = recv()
assert status["type"] == "result" and status["body"]["protocolVersion"] == 1, status

send({"id": 2, "op": "chat.completions", "body": {
    "model": "stories260k", "messages": [{"role": "user", "content": "Once upon a time"}],
    "temperature": 0, "max_tokens": 12, "stream": True}})
text = ""
while True:
    frame = recv()
    assert frame["id"] == 2, frame
    if frame["type"] == "chunk":
        for choice in frame["body"]["choices"]:
            text += choice["delta"].get("content") or ""
    elif frame["type"] == "result":
        break
    else:
        raise SystemExit(f"error frame: {frame['body']}")
print(text)
