#!/usr/bin/env python3
"""serve_bench.py - psyche serve's overhead, measured in one run (issue 10 item 9).

    bench/serve_bench.py [BUILD] [--model GGUF] [--threads N] [--tokens N] [--runs N] [--load-s S]
                         [--interval MS]

1. Tokens/s of one streamed answer over HTTP SSE (`psyche serve`, POST
   /v1/chat/completions with stream and include_usage) divided by tokens/s of
   the same generation over MCP directly (elpis's `generate` on stdio, with
   progress, after the same system prompt): the cost of the HTTP layer, the
   queue and the worker (goal >= 0.95). psyche serve runs twice: with
   [server] stream_interval_ms = --interval (20, the default) and with 0
   (every token its own chunk).
2. The same streaming against llama.cpp's own llama-server on the same model
   and threads, when one is found: $LLAMA_SERVER, or the llama-server that
   scripts/build-llama-tools.sh builds into ~/.cache/psyche/*-tools/bin
   (goal >= 1). Skipped, and said so, otherwise.
3. p95 latency of GET /health while 8 clients stream answers (the listener
   and the worker do not block each other).

All sides are started first; then each round runs every side once, one
after the other, so that a change in the machine's load falls on all of
them alike. Rates are completion tokens (as each side reports them in usage)
over the wall time from sending the request to the end of the stream; the
ratios are the median over the rounds of the ratio within a round.
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

SLOTS = 4  # psyche serve's default [server] slots; the direct elpis gets the same
QUESTION = "Tell me a long story about a lighthouse keeper and the sea."
PROMPT = [{"role": "user", "content": QUESTION}]


def serve_system():
    """psyche serve's own system prompt (serve.c's serve_system), so that every side generates after a
    prompt of the same length: attention costs more per token the longer the context is."""
    src = open(os.path.join(ROOT, "psyche", "serve.c")).read()
    m = re.search(r"serve_system\[\] =((?:\s*\"(?:[^\"\\]|\\.)*\")+);", src)
    return "".join(json.loads(lit) for lit in re.findall(r'"(?:[^"\\]|\\.)*"', m.group(1)))


SYSTEM = serve_system()
DIRECT = [{"role": "system", "content": SYSTEM}] + PROMPT


def args_of(argv):
    o = {"build": "build", "model": None, "threads": 2, "tokens": 128, "runs": 3, "load_s": 10.0, "interval": 20}
    it = iter(argv)
    for a in it:
        if a in ("--model", "--threads", "--tokens", "--runs", "--load-s", "--interval"):
            key = a[2:].replace("-", "_")
            v = next(it)
            o[key] = v if key == "model" else float(v) if key == "load_s" else int(v)
        else:
            o["build"] = a
    b = o["build"] if os.path.isabs(o["build"]) else os.path.join(ROOT, o["build"])
    o["build"] = b
    o["model"] = os.path.abspath(o["model"] or os.path.join(b, "models", "tiny-chat.gguf"))
    return o


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- MCP direct

class Direct:
    """elpis on stdio, started as psyche serve starts its own (same threads, same slots)."""

    def __init__(self, o):
        from mcp import Client
        self.c = Client([os.path.join(o["build"], "bin", "elpis"), "--model", o["model"]],
                        env={"ELPIS_MODEL_THREADS": str(o["threads"]), "ELPIS_MODEL_SLOTS": str(SLOTS)})
        self.c.initialize()
        self.c.ok("generate", {"messages": DIRECT, "max_tokens": 8}, timeout=600)  # warm-up, as the server's elpis is
        self.n = 0

    def rate(self, tokens):
        """One generation streamed with a progress token (as psyche serve asks), tokens per second."""
        self.n += 1
        t0 = time.monotonic()
        sc, _ = self.c.call("generate", {"messages": DIRECT, "max_tokens": tokens, "temperature": 0.0},
                            timeout=600, progress_token="b%d" % self.n)
        return sc["usage"]["completion_tokens"] / (time.monotonic() - t0)

    def stop(self):
        self.c.close()


# ---------------------------------------------------------------- HTTP SSE

def sse_rate(host, port, path, model, tokens, headers=None):
    """One streamed answer: completion tokens per second."""
    n, dt = sse_stream(host, port, path, model, tokens, headers)
    return n / dt


def sse_stream(host, port, path, model, tokens, headers=None):
    """One streamed answer: (completion tokens (from the usage chunk, else one token a non-empty
    delta), seconds). /v1/completions takes the prompt as text: llama-server's chat endpoint stops
    a random-weight model's stream when its output parser fails, its completions endpoint does not."""
    body = {"model": model, "stream": True, "max_tokens": tokens, "temperature": 0.0,
            "stream_options": {"include_usage": True}}
    if path.endswith("/completions") and "chat" not in path:
        body["prompt"] = SYSTEM + "\n\n" + QUESTION
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
    return (usage["completion_tokens"] if usage else deltas), dt


class Serve:
    def __init__(self, o, interval_ms):
        self.dir = tempfile.mkdtemp(prefix="serve-bench-")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PSYCHE_", "ELPIS_", "MNEMOSYNE_", "XDG_"))}
        env.update({"HOME": self.dir, "PSYCHE_PATHS_STATE_DIR": self.dir, "PSYCHE_MODEL_PATH": o["model"],
                    "ELPIS_MODEL_THREADS": str(o["threads"]), "PSYCHE_MEMORY_ENABLED": "false",
                    "PSYCHE_IDLE_ENABLED": "false", "PSYCHE_SERVER_QUEUE_MAX": "64",
                    "PSYCHE_SERVER_SLOTS": str(SLOTS), "PSYCHE_SERVER_STREAM_INTERVAL_MS": str(interval_ms)})
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
        sse_rate("127.0.0.1", self.port, "/v1/chat/completions", "psyche", 8)  # warm-up

    def rate(self, tokens):
        return sse_rate("127.0.0.1", self.port, "/v1/chat/completions", "psyche", tokens)

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


def batching_gain(port, o, n=SLOTS):
    """Total completion tokens/s of n streams at once (n conversations: psyche serve runs them
    together and elpis decodes them in one batch) and of one stream alone, medians over the rounds."""
    def together(k):
        got, errors = [], []

        def one(i):
            try:
                got.append(sse_stream("127.0.0.1", port, "/v1/chat/completions", "psyche", o["tokens"],
                                      {"X-Psyche-Conversation": "bench-%d" % i})[0])
            except Exception as e:
                errors.append(str(e))

        ts = [threading.Thread(target=one, args=(i,)) for i in range(k)]
        t0 = time.monotonic()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise RuntimeError(errors[0])
        return sum(got) / (time.monotonic() - t0)

    alone, many = [], []
    for _ in range(o["runs"]):
        time.sleep(0.3)
        alone.append(together(1))
        time.sleep(0.3)
        many.append(together(n))
    return statistics.median(alone), statistics.median(many)


# ---------------------------------------------------------------- llama-server

def find_llama_server():
    if os.environ.get("LLAMA_SERVER"):
        return os.environ["LLAMA_SERVER"]
    found = sorted(glob.glob(os.path.expanduser("~/.cache/psyche/*-tools/bin/llama-server")))
    return found[-1] if found else None


class LlamaServer:
    """llama.cpp's own server on the same model and threads, one slot (the bench streams one answer at a time)."""

    def __init__(self, o, exe):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)
        self.p = subprocess.Popen([exe, "-m", o["model"], "-t", str(o["threads"]), "-c", "4096", "--host",
                                   "127.0.0.1", "--port", str(self.port), "-np", "1"], stdout=self.log, stderr=self.log)
        wait_ok("127.0.0.1", self.port, "/health")
        sse_rate("127.0.0.1", self.port, "/v1/completions", "m", 8)  # warm-up, as elpis is warm

    def rate(self, tokens):
        return sse_rate("127.0.0.1", self.port, "/v1/completions", "m", tokens)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=60)
        os.unlink(self.log.name)


def rounds(o, sides):
    """Each round runs every side once, one after another, with a pause between, so that a change in
    the machine's load falls on all of them alike; returns the rates per side, in round order."""
    rates = {name: [] for name, _ in sides}
    for _ in range(o["runs"]):
        for name, side in sides:
            time.sleep(0.3)  # the previous side's spinning threads go quiet first
            try:
                rates[name].append(side.rate(o["tokens"]))
            except RuntimeError as e:  # e.g. llama-server's parser gives up on a random model's long answer
                print("%s: %s" % (name, e))
                rates[name].append(None)
    return rates


def ratio(rates, a, b):
    """Median over the rounds of a's rate / b's rate in the same round."""
    r = [x / y for x, y in zip(rates[a], rates[b]) if x and y]
    return statistics.median(r) if r else None


def main(argv):
    o = args_of(argv)
    print("model %s, %d threads, %d slots, %d tokens a run, %d rounds (median)" %
          (os.path.basename(o["model"]), o["threads"], SLOTS, o["tokens"], o["runs"]))
    sides, started = [], []
    try:
        for name, make in (("mcp", lambda: Direct(o)), ("sse", lambda: Serve(o, o["interval"])),
                           ("sse0", lambda: Serve(o, 0))):
            started.append(make())
            sides.append((name, started[-1]))
        exe = find_llama_server()
        if exe:
            started.append(LlamaServer(o, exe))
            sides.append(("llama", started[-1]))
        rates = rounds(o, sides)
        med = {k: statistics.median([x for x in v if x] or [0]) for k, v in rates.items()}
        print("MCP direct (elpis generate, progress every 1 ms):  %8.1f tokens/s" % med["mcp"])
        print("HTTP SSE (psyche serve, stream_interval_ms %3d):   %8.1f tokens/s" % (o["interval"], med["sse"]))
        print("HTTP SSE (psyche serve, stream_interval_ms   0):   %8.1f tokens/s" % med["sse0"])
        print("ratio SSE / MCP:                 %6.3f  (goal >= 0.95); every token as its own chunk: %.3f" %
              (ratio(rates, "sse", "mcp"), ratio(rates, "sse0", "mcp")))
        if exe:
            r = ratio(rates, "sse", "llama")
            print("llama-server (same model/threads): %8.1f tokens/s; psyche serve / llama-server = %s (goal >= 1); "
                  "every token as its own chunk: %s" % (med["llama"], "%.3f" % r if r else "-",
                                                        "%.3f" % ratio(rates, "sse0", "llama") if r else "-"))
        else:
            print("llama-server: not found (set LLAMA_SERVER, or build it with scripts/build-llama-tools.sh); "
                  "comparison skipped")
        one, many = batching_gain(started[1].port, o)
        print("psyche serve, %d conversations streaming at once: %8.1f tokens/s in all; one alone: %8.1f; "
              "gain %.2fx" % (SLOTS, many, one, many / one if one else 0))
        p95, n, errors = health_under_load(started[1].port, o)
        print("GET /health p95 with 8 streaming: %8.1f ms over %d requests%s" %
              (p95 * 1000, n, "; stream errors: %s" % errors[:3] if errors else ""))
    finally:
        for side in started:
            side.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
