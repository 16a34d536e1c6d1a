"""Manager.create and AsyncManager.create: a private agent on a private socket, no TCP port.

usage: sdk_create.py HOME            prints what it saw as JSON
       sdk_create.py HOME hold       creates one, prints the agent's pid, then waits (to be killed)
       sdk_create.py HOME autostart  4 threads Manager.connect(auto_start=True) at once; prints JSON
"""
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "clients", "python"))

from crucible import AsyncManager, CrucibleError, Manager  # noqa: E402

MSG = [{"role": "user", "content": "Once upon a time"}]


def listening(pid):
    """The TCP ports and Unix socket paths a process listens on, from /proc."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    tcp = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            for line in f.readlines()[1:]:
                p = line.split()
                if p[3] == "0A" and p[9] in inodes:
                    tcp.append(int(p[1].split(":")[1], 16))
    unix = []
    with open("/proc/net/unix") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if int(p[3], 16) & 0x10000 and p[6] in inodes:
                unix.append(p[7] if len(p) > 7 else "")
    return {"tcp": tcp, "unix": unix}


def text_of(chunk):
    return ((chunk.get("choices") or [{}])[0].get("delta") or {}).get("content") or ""


def main(home):
    out = {}
    with Manager.create(app_name="pytest", home=home) as mgr:
        out["mode"] = mgr.mode
        out["pid"] = mgr.pid
        out["listening"] = listening(mgr.pid)
        status = mgr.transport.request("status")
        out["endpoints"] = status["endpoints"]
        out["pipe"] = status["pipeName"]
        model = mgr.catalog.get_model("stories260k")
        model.load()
        out["text"] = "".join(text_of(c) for c in model.get_chat_client(temperature=0, max_tokens=40).complete_chat_streaming(MSG))
        out["listening_after_chat"] = listening(mgr.pid)
        try:
            mgr.openai_config()
        except CrucibleError as e:
            out["openai_config"] = str(e)
    out["pipe_removed"] = not os.path.exists(out["pipe"])
    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists(f"/proc/{out['pid']}"):
        time.sleep(0.05)
    out["agent_gone_after_close"] = not os.path.exists(f"/proc/{out['pid']}")

    async def run_async():
        async with await AsyncManager.create(app_name="pytest-async", home=home + "-async") as amgr:
            m = await amgr.catalog.get_model("stories260k")
            await m.load()
            r = await m.get_chat_client(temperature=0, max_tokens=40).complete_chat(MSG)
            return amgr.mode, r["choices"][0]["message"]["content"]
    out["async_mode"], out["async_text"] = asyncio.run(run_async())
    return out


if __name__ == "__main__":
    home = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "autostart":
        import threading
        results = [None] * 4

        def one(i):
            m = Manager.connect(home=home, auto_start=True)
            results[i] = {"started": m.started, "mode": m.mode, "pid": m.transport.request("status")["pid"]}
            m.close()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        print(json.dumps(results))
    elif len(sys.argv) > 2 and sys.argv[2] == "hold":
        mgr = Manager.create(app_name="held", home=home)
        print(mgr.pid, flush=True)
        time.sleep(600)
    else:
        print(json.dumps(main(home)))
