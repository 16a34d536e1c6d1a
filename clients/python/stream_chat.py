"""Streams a chat completion from a running Crucible agent over its pipe.

    python3 clients/python/stream_chat.py [--home DIR] [--model NAME] [--max-tokens N] "Once upon a time"
"""
import argparse
import sys

from crucible_client import Client, CrucibleError


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("prompt")
    ap.add_argument("--home")
    ap.add_argument("--model", default="stories260k")
    ap.add_argument("--max-tokens", type=int, default=60)
    ap.add_argument("--temperature", type=float, default=0.0)
    args = ap.parse_args()
    client = Client(home=args.home)
    try:
        status = client.status()
        if status["protocolVersion"] != 1:
            print(f"unsupported protocol version {status['protocolVersion']}", file=sys.stderr)
            return 1
        for text in client.chat_stream(model=args.model, messages=[{"role": "user", "content": args.prompt}],
                                       max_tokens=args.max_tokens, temperature=args.temperature):
            sys.stdout.write(text)
            sys.stdout.flush()
        sys.stdout.write("\n")
        return 0
    except CrucibleError as err:
        print(f"error ({err.code}): {err}", file=sys.stderr)
        return 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
