"""Exercises the Python client against a running agent and prints what it saw as JSON.

Run by test/clients/python/client.test.ts: python3 driver.py <home>
"""
import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python"))
from crucible_client import Client, CrucibleError  # noqa: E402

home = sys.argv[1]
client = Client(home=home)
out = {}
out["status"] = client.status()
out["load"] = client.load("stories260k", ttl=120)
story = {"model": "stories260k", "messages": [{"role": "user", "content": "Once upon a time"}], "temperature": 0}
out["streamed"] = "".join(client.chat_stream(**story, max_tokens=60))
out["whole"] = client.chat(**story, max_tokens=60)["choices"][0]["message"]["content"]
out["count"] = client.count_tokens("stories260k", [{"role": "user", "content": "Once upon a time"}])

# Four streams at once on the one connection.
prompts = ["The cat", "One day", "Tom and Sue", "A little bird"]
results = [None] * len(prompts)

def run(i):
    results[i] = "".join(client.chat_stream(model="stories260k", messages=[{"role": "user", "content": prompts[i]}], temperature=0, max_tokens=30))

threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
for th in threads:
    th.start()
for th in threads:
    th.join()
out["concurrent"] = results
out["sequential"] = [client.chat(model="stories260k", messages=[{"role": "user", "content": p}], temperature=0, max_tokens=30)["choices"][0]["message"]["content"] for p in prompts]

# Cancel: leave a stream after five pieces; the agent stops it.
pieces = 0
gen = client.chat_stream(model="stories260k", messages=[{"role": "user", "content": "x"}], temperature=0, max_tokens=400)
for _ in gen:
    pieces += 1
    if pieces == 5:
        break
gen.close()
out["cancelled_after"] = pieces

try:
    client.chat(model="no-such-model", messages=[{"role": "user", "content": "x"}])
except CrucibleError as err:
    out["error"] = {"code": err.code, "type": err.type, "message": str(err)}
out["after_error"] = client.status()["protocolVersion"]
client.close()
print(json.dumps(out))
