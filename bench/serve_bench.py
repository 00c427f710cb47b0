#!/usr/bin/env python3
"""serve_bench.py - psyche serve's overhead, measured in one run (issue 10 item 9).

    bench/serve_bench.py [BUILD] [--model GGUF] [--threads N] [--tokens N] [--runs N] [--load-s S]

1. Tokens/s of one streamed answer over HTTP SSE (`psyche serve`, POST
   /v1/chat/completions with stream and include_usage) divided by tokens/s of
   the same generation over MCP directly (elpis's `generate` on stdio, with
   progress): the cost of the HTTP layer, the queue and the worker (goal >= 0.95).
2. p95 latency of GET /health while 8 clients stream answers (the listener
   and the worker do not block each other).
3. The same streaming against llama.cpp's own llama-server on the same model
   and threads, when one is found: $LLAMA_SERVER, or the llama-server that
   scripts/build-llama-tools.sh (wip/elpis) builds into ~/.cache/psyche/*-tools/bin.
   Skipped, and said so, otherwise.

Rates are completion tokens (as each side reports them in usage) over the
wall time from sending the request to the end of the stream; the median of
--runs runs. Prints figures; fails only when something does not answer.
Python standard library only."""
import glob
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

PROMPT = [{"role": "user", "content": "Tell me a long story about a lighthouse keeper and the sea."}]


def args_of(argv):
    o = {"build": "build", "model": None, "threads": 2, "tokens": 128, "runs": 3, "load_s": 10.0}
    it = iter(argv)
    for a in it:
        if a in ("--model", "--threads", "--tokens", "--runs", "--load-s"):
            key = a[2:].replace("-", "_")
            v = next(it)
            o[key] = v if key == "model" else float(v) if key == "load_s" else int(v)
        else:
            o["build"] = a
    b = o["build"] if os.path.isabs(o["build"]) else os.path.join(ROOT, o["build"])
    o["build"] = b
    o["model"] = o["model"] or os.path.join(b, "models", "tiny-chat.gguf")
    return o


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- MCP direct

def mcp_rate(o):
    from mcp import Client
    c = Client([os.path.join(o["build"], "bin", "elpis"), "--model", o["model"]],
               env={"ELPIS_MODEL_THREADS": str(o["threads"])})
    try:
        c.initialize()
        c.ok("generate", {"messages": PROMPT, "max_tokens": 8}, timeout=600)  # warm-up, as the server's elpis is
        streamed = []  # with a progress token, as psyche serve asks when streaming
        for i in range(o["runs"]):
            t0 = time.monotonic()
            sc, _ = c.call("generate", {"messages": PROMPT, "max_tokens": o["tokens"], "temperature": 0.0},
                           timeout=600, progress_token="b%d" % i)
            streamed.append(sc["usage"]["completion_tokens"] / (time.monotonic() - t0))
        return statistics.median(streamed)
    finally:
        c.close()


# ---------------------------------------------------------------- HTTP SSE

def sse_rate(host, port, path, model, tokens, headers=None):
    """One streamed answer: completion tokens per second (from the usage chunk, else one token a
    non-empty delta). /v1/completions takes the prompt as text: llama-server's chat endpoint stops
    a random-weight model's stream when its output parser fails, its completions endpoint does not."""
    body = {"model": model, "stream": True, "max_tokens": tokens, "temperature": 0.0,
            "stream_options": {"include_usage": True}}
    if path.endswith("/completions") and "chat" not in path:
        body["prompt"] = PROMPT[0]["content"]
    else:
        body["messages"] = PROMPT
    c = http.client.HTTPConnection(host, port, timeout=600)
    t0 = time.monotonic()
    c.request("POST", path, json.dumps(body), dict({"Content-Type": "application/json"}, **(headers or {})))
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError("HTTP %d: %s" % (r.status, r.read()[:300]))
    usage, deltas = None, 0
    for line in r:
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        if line == b"data: [DONE]":
            break
        chunk = json.loads(line[6:])
        if "error" in chunk:
            raise RuntimeError("error in the stream: %s" % chunk["error"])
        if chunk.get("usage"):
            usage = chunk["usage"]
        for ch in chunk.get("choices") or []:
            deltas += bool((ch.get("delta") or {}).get("content") or ch.get("text"))
    dt = time.monotonic() - t0
    c.close()
    return (usage["completion_tokens"] if usage else deltas) / dt


class Serve:
    def __init__(self, o):
        self.dir = tempfile.mkdtemp(prefix="serve-bench-")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PSYCHE_", "ELPIS_", "MNEMOSYNE_", "XDG_"))}
        env.update({"HOME": self.dir, "PSYCHE_PATHS_STATE_DIR": self.dir, "PSYCHE_MODEL_PATH": o["model"],
                    "ELPIS_MODEL_THREADS": str(o["threads"]), "PSYCHE_MEMORY_ENABLED": "false",
                    "PSYCHE_IDLE_ENABLED": "false", "PSYCHE_SERVER_QUEUE_MAX": "64"})
        self.proc = subprocess.Popen([os.path.join(o["build"], "bin", "psyche"), "serve", "--port", "0"],
                                     env=env, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.port = None
        for line in self.proc.stderr:
            m = re.search(r"listening on http://[^:]+:(\d+)/v1", line)
            if m:
                self.port = int(m.group(1))
                break
        if not self.port:
            raise RuntimeError("psyche serve did not start")
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        wait_ok("127.0.0.1", self.port, "/health")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        subprocess.run(["rm", "-rf", self.dir])


def wait_ok(host, port, path, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection(host, port, timeout=5)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("%s:%d%s never answered 200" % (host, port, path))


def health_under_load(port, o, clients=8):
    stop = threading.Event()
    errors = []

    def stream():
        while not stop.is_set():
            try:
                sse_rate("127.0.0.1", port, "/v1/chat/completions", "psyche", 32)
            except Exception as e:  # a 429 is an answer too; anything else is counted
                if "HTTP 429" not in str(e):
                    errors.append(str(e))
                time.sleep(0.05)

    ts = [threading.Thread(target=stream, daemon=True) for _ in range(clients)]
    for t in ts:
        t.start()
    lat = []
    end = time.monotonic() + o["load_s"]
    while time.monotonic() < end:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        t0 = time.monotonic()
        c.request("GET", "/health")
        c.getresponse().read()
        lat.append(time.monotonic() - t0)
        c.close()
        time.sleep(0.05)
    stop.set()
    for t in ts:
        t.join(timeout=600)
    lat.sort()
    return lat[int(0.95 * (len(lat) - 1))], len(lat), errors


# ---------------------------------------------------------------- llama-server

def find_llama_server():
    if os.environ.get("LLAMA_SERVER"):
        return os.environ["LLAMA_SERVER"]
    found = sorted(glob.glob(os.path.expanduser("~/.cache/psyche/*-tools/bin/llama-server")))
    return found[-1] if found else None


def llama_server_rate(o, exe):
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)
    p = subprocess.Popen([exe, "-m", o["model"], "-t", str(o["threads"]), "-c", "4096", "--host", "127.0.0.1", "--port",
                          str(port), "-np", "1"], stdout=log, stderr=log)
    try:
        wait_ok("127.0.0.1", port, "/health")
        sse_rate("127.0.0.1", port, "/v1/completions", "m", 8)  # warm-up, as elpis is warm
        return statistics.median(sse_rate("127.0.0.1", port, "/v1/completions", "m", o["tokens"])
                                 for _ in range(o["runs"]))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        os.unlink(log.name)


def main(argv):
    o = args_of(argv)
    print("model %s, %d threads, %d tokens a run, median of %d" % (os.path.basename(o["model"]), o["threads"],
                                                                   o["tokens"], o["runs"]))
    mcp_streamed = mcp_rate(o)
    print("MCP direct (elpis generate):      %8.1f tokens/s streamed" % mcp_streamed)
    s = Serve(o)
    try:
        sse_rate("127.0.0.1", s.port, "/v1/chat/completions", "psyche", 8)  # warm-up
        http_rate = statistics.median(sse_rate("127.0.0.1", s.port, "/v1/chat/completions", "psyche", o["tokens"])
                                      for _ in range(o["runs"]))
        print("HTTP SSE (psyche serve):          %8.1f tokens/s" % http_rate)
        print("ratio SSE / MCP streamed:         %8.3f   (goal >= 0.95)" % (http_rate / mcp_streamed))
        p95, n, errors = health_under_load(s.port, o)
        print("GET /health p95 with 8 streaming: %8.1f ms over %d requests%s" %
              (p95 * 1000, n, "; stream errors: %s" % errors[:3] if errors else ""))
    finally:
        s.stop()
    exe = find_llama_server()
    if not exe:
        print("llama-server: not found (set LLAMA_SERVER, or build it with scripts/build-llama-tools.sh "
              "from wip/elpis); comparison skipped")
        return 0
    try:
        ls = llama_server_rate(o, exe)
    except RuntimeError as e:  # e.g. its output parser gives up on a random-weight model's long answer
        print("llama-server: %s; comparison skipped" % e)
        return 0
    print("llama-server (same model/threads): %7.1f tokens/s; psyche serve / llama-server = %.3f "
          "(goal >= 1)" % (ls, http_rate / ls))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
