#!/usr/bin/env python3
"""elpis_scale.py - elpis past one stream, measured in one run (issue 11 item 4).

Prints (figures, not pass/fail; docs/benchmarks-elpis.md):
  (a) aggregate tokens/s of N = 1, 2, 4, 8 concurrent greedy streams through
      elpis ([model] slots = N, over MCP) / the same through llama.cpp's
      llama-server -np N (-c N x ctx: it splits its context across the
      slots), same model, context per stream and threads. Goal >= 1.0 at
      every N.
  (b) elpis's own scaling: aggregate at N / aggregate at 1.
  (c) upstream overhead: one stream through elpis with backend = "openai"
      in front of llama-server / the same request to llama-server directly.
      Goal >= 0.95.
  (d) prompt-evaluation fairness: time to first token of a short request
      alone, and while a long prompt is being evaluated, elpis and
      llama-server -np 2.
  (e) slots apart: 4 streams on slots 0,2,4,6 of an 8-slot elpis / the same
      on slots 0-3 (session hints place them). Idle slots between busy ones
      are padded so the batch stays one pass (elpis/slots.c); near 1.0 is the
      goal.
Runs alternate elpis and llama-server rep by rep (shared machine); figures
are medians, with the range of the reps. llama-server comes from
scripts/build-llama-tools.sh."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from mcp import Client, empty_config, free_port  # noqa: E402


EMPTY = empty_config("scale")


def prompt(i):
    return [{"role": "user", "content": "Stream %d: tell a long story about the number %d." % (i, i * 7)}]


class Server:
    def __init__(self, model, n, ctx, threads):
        prefix = subprocess.run([os.path.join(ROOT, "scripts", "build-llama-tools.sh"), "--print-prefix"],
                                capture_output=True, text=True, check=True).stdout.strip()
        self.url = "http://127.0.0.1:%d" % free_port()
        self.proc = subprocess.Popen([os.path.join(prefix, "bin", "llama-server"), "-m", model, "--host", "127.0.0.1",
                                      "--port", self.url.rsplit(":", 1)[1], "-np", str(n), "-c", str(ctx * n),
                                      "-t", str(threads), "-tb", str(threads), "--no-webui", "--log-disable",
                                      "--no-jinja"],  # the built-in template, as elpis; no output parser
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("llama-server did not start")

    def chat(self, messages, max_tokens, stream=False):
        """(completion tokens, seconds to the first token) of /completion on the user text,
        streamed. Not /v1/chat/completions: at the end of a reply llama-server parses the
        whole text and refuses a random-weight model's bytes ("does not match the expected
        format"); /completion decodes the same way without that parser."""
        body = {"prompt": messages[-1]["content"], "n_predict": max_tokens, "temperature": 0, "stream": True}
        t0 = time.monotonic()
        req = urllib.request.Request(self.url + "/completion", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        first, n = None, 0
        with urllib.request.urlopen(req, timeout=600) as r:
            for line in r:
                if not line.startswith(b"data: {"):
                    continue
                j = json.loads(line[6:])
                if j.get("content"):
                    first = first or time.monotonic() - t0
                    n += 1
                n = j.get("timings", {}).get("predicted_n", n)
        return n, first

    def chat_v1(self, messages, max_tokens):
        """Completion tokens of a streamed /v1/chat/completions: the request elpis's
        upstream backend sends (stream, include_usage), for (c)."""
        body = {"messages": messages, "max_tokens": max_tokens, "temperature": 0, "stream": True,
                "stream_options": {"include_usage": True}}
        req = urllib.request.Request(self.url + "/v1/chat/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        n = 0
        with urllib.request.urlopen(req, timeout=600) as r:
            for line in r:
                if line.startswith(b"data: {"):
                    n = (json.loads(line[6:]).get("usage") or {}).get("completion_tokens", n)
        return n

    def stop(self):
        """Ends llama-server; one that ignores SIGTERM for 10 s (seen once under load) is killed."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def elpis(build, model, threads, slots, **env):
    e = {"ELPIS_CONFIG": EMPTY, "ELPIS_MODEL_SLOTS": str(slots), "ELPIS_MODEL_THREADS": str(threads),
         "ELPIS_EMOTION_DECAY_RATE": "0"}
    e.update(env)
    c = Client([os.path.join(build, "bin", "elpis")] + (["--model", model] if model else []), env=e)
    c.initialize()
    return c


def elpis_burst(c, n, tokens):
    t0 = time.monotonic()
    rids = [c.request_async("tools/call", {"name": "generate", "arguments": {
        "messages": prompt(i), "max_tokens": tokens, "temperature": 0}}) for i in range(n)]
    got = sum(c.wait(r, 600)["result"]["structuredContent"]["usage"]["completion_tokens"] for r in rids)
    return got / (time.monotonic() - t0)


def server_burst(srv, n, tokens):
    out = [0] * n
    ths = [threading.Thread(target=lambda i=i: out.__setitem__(i, srv.chat(prompt(i), tokens)[0])) for i in range(n)]
    t0 = time.monotonic()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return sum(out) / (time.monotonic() - t0)


def elpis_apart(build, model, threads, ctx, tokens, reps):
    """(e): aggregate tokens/s of 4 streams on slots 0-3 and on slots 0,2,4,6, medians."""
    c = elpis(build, model, threads, 8, ELPIS_MODEL_CTX=str(ctx))

    def burst(slots):
        t0 = time.monotonic()
        rids = [c.request_async("tools/call", {"name": "generate", "arguments": {
            "messages": prompt(s), "max_tokens": tokens, "temperature": 0, "session": "s%d" % s}}) for s in slots]
        got = sum(c.wait(r, 600)["result"]["structuredContent"]["usage"]["completion_tokens"] for r in rids)
        return got / (time.monotonic() - t0)

    burst(range(8))  # all at once into empty slots: session s<i> on slot i
    together, apart = [], []
    for _ in range(reps):
        together.append(burst([0, 1, 2, 3]))
        apart.append(burst([0, 2, 4, 6]))
    c.close()
    return statistics.median(together), statistics.median(apart)


def elpis_ttft(c, long_text):
    rid = None
    if long_text:
        rid = c.request_async("tools/call", {"name": "generate", "arguments": {
            "messages": [{"role": "user", "content": long_text}], "max_tokens": 1, "temperature": 0}})
    t0 = time.monotonic()
    sid = c.request_async("tools/call", {"name": "generate", "arguments": {
        "messages": prompt(99), "max_tokens": 4, "temperature": 0}}, progress_token="t")
    c.pump(lambda: any(n.get("params", {}).get("progressToken") == "t" for n in c.notifications), 600)
    first = time.monotonic() - t0
    c.wait(sid, 600)
    if rid:
        c.wait(rid, 600)
    c.notifications.clear()
    return first


def server_ttft(srv, long_text):
    th = None
    if long_text:
        th = threading.Thread(target=srv.chat, args=([{"role": "user", "content": long_text}], 1))
        th.start()
    first = srv.chat(prompt(99), 4, stream=True)[1]
    if th:
        th.join()
    return first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--model", default=None)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    medium = os.path.join(a.build, "models", "bench-medium.gguf")
    model = a.model or (medium if os.path.exists(medium) else os.path.join(a.build, "models", "tiny-chat.gguf"))
    print("model %s, %d tokens a stream, ctx %d a stream, %d threads, median of %d; load average %.2f"
          % (os.path.basename(model), a.tokens, a.ctx, a.threads, a.reps, os.getloadavg()[0]))

    agg = {}
    print("\n(a)(b) aggregate tokens/s, median (range)   elpis slots = N        llama-server -np N"
          "     elpis/server   elpis N/1")
    for n in (1, 2, 4, 8):
        srv = Server(model, n, a.ctx, a.threads)
        c = elpis(a.build, model, a.threads, n, ELPIS_MODEL_CTX=str(a.ctx))
        elpis_burst(c, n, 8)  # both warm: first decode, slots touched
        server_burst(srv, n, 8)
        e, s = [], []
        for _ in range(a.reps):
            e.append(elpis_burst(c, n, a.tokens))
            s.append(server_burst(srv, n, a.tokens))
        c.close()
        srv.stop()
        agg[n] = statistics.median(e)
        sm = statistics.median(s)
        print("   N = %d  %28s  %22s  %5.2f          %5.2f"
              % (n, "%.0f (%.0f-%.0f)" % (agg[n], min(e), max(e)), "%.0f (%.0f-%.0f)" % (sm, min(s), max(s)),
                 agg[n] / sm, agg[n] / agg[1]))

    t, ap = elpis_apart(a.build, model, a.threads, a.ctx, a.tokens, a.reps)
    print("\n(e) 4 streams on 8 slots: slots 0-3 %.0f tok/s, slots 0,2,4,6 %.0f tok/s: %.2f" % (t, ap, ap / t))

    long_text = " ".join("word%d" % i for i in range(150))
    srv = Server(model, 2, a.ctx, a.threads)
    c2 = elpis(a.build, model, a.threads, 2, ELPIS_MODEL_CTX=str(a.ctx))
    rows = []
    for label, lt in (("alone", None), ("beside a long prompt", long_text)):
        ee = statistics.median(elpis_ttft(c2, lt) for _ in range(a.reps))
        ss = statistics.median(server_ttft(srv, lt) for _ in range(a.reps))
        rows.append("   %-22s  %7.1f ms     %7.1f ms" % (label, ee * 1000, ss * 1000))
    c2.close()
    srv.stop()
    print("\n(d) time to first token      elpis        llama-server -np 2")
    print("\n".join(rows))

    srv = Server(model, 1, a.ctx, a.threads)
    up = elpis(a.build, None, 1, 1, ELPIS_MODEL_BACKEND="openai", ELPIS_MODEL_BASE_URL=srv.url)
    via, direct = [], []
    tea = [{"role": "user", "content": "Tell me about tea"}]  # a reply llama-server's chat parser accepts

    def through_elpis():
        t0 = time.monotonic()
        sc, err = up.call("generate", {"messages": tea, "max_tokens": 24, "temperature": 0})
        if err:
            raise RuntimeError(sc.get("error"))
        via.append(sc["usage"]["completion_tokens"] / (time.monotonic() - t0))

    def direct_():
        t0 = time.monotonic()
        direct.append(srv.chat_v1(tea, 24) / (time.monotonic() - t0))

    try:
        for i in range(2 * a.reps):  # alternating which goes first
            for f in ((through_elpis, direct_) if i % 2 == 0 else (direct_, through_elpis)):
                f()
    except RuntimeError as ex:
        print("\n(c) upstream: %s" % ex)
        via = []
    up.close()
    srv.stop()
    if via:
        v, d = statistics.median(via), statistics.median(direct)
        print("\n(c) upstream overhead (24 tokens, /v1/chat/completions streamed): elpis -> llama-server %.1f "
              "(%.1f-%.1f) tok/s, llama-server directly %.1f (%.1f-%.1f) tok/s: %.3f"
              % (v, min(via), max(via), d, min(direct), max(direct), v / d))
    print("\nload average %.2f at the end" % os.getloadavg()[0])


if __name__ == "__main__":
    main()
