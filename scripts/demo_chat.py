"""A minimal interactive chat with elpis over MCP, streaming tokens as they
come (notifications/progress). `make run` uses it until psyche is built."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from mcp import Client  # noqa: E402


def main():
    elpis, model = sys.argv[1], sys.argv[2]
    c = Client([elpis, "--model", model], stderr_path="/tmp/elpis-demo.log")
    c.initialize()
    messages = [{"role": "system", "content": "You are a friendly companion."}]
    print("elpis demo chat (Ctrl+D to quit); the server log is /tmp/elpis-demo.log")
    while True:
        try:
            line = input("you> ")
        except EOFError:
            break
        messages.append({"role": "user", "content": line})
        rid = c.request_async("tools/call", {"name": "generate", "arguments": {"messages": messages, "max_tokens": 200}},
                              progress_token=rid_token())
        sys.stdout.write("elpis> ")
        while rid not in c.responses:
            m = c.read_message(300)
            if m.get("method") == "notifications/progress":
                sys.stdout.write(m["params"].get("message", ""))
                sys.stdout.flush()
            elif m.get("id") == rid:
                c.responses[rid] = m
        r = c.responses.pop(rid)["result"]["structuredContent"]
        print("\n  [%s, %s tokens]" % (r.get("emotional_state", {}).get("quadrant"), r.get("usage", {}).get("completion_tokens")))
        messages.append({"role": "assistant", "content": r.get("content", "")})
    c.close()


_tok = [0]


def rid_token():
    _tok[0] += 1
    return "demo-%d" % _tok[0]


if __name__ == "__main__":
    main()
