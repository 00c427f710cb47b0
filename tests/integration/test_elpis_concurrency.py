"""Thread-safety tests of elpis: the protocol thread, the one inference
thread and the streams and replies between them.

`make test` also runs this file against the TSan build
(BUILD=build/tsan ELPIS_MODEL_THREADS=1), where the Client's close() fails a
test on any "WARNING: ThreadSanitizer" in the server's stderr; and the ASan
build runs it with the rest of the suite. Everything here is pipelined:
requests are written without waiting for replies, so the engine thread's
callbacks (stream text, progress, replies, emotion analysis) run while the
protocol thread reads, starts, cancels and evicts. Kept under 60 s under TSan
on 2 cores: greedy generations of a few dozen tokens, and sampled ones
(slow: top_p over a flat 32k vocabulary) only where they must still be
running when cancelled."""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp import Client, build_path, check_sanitizer_log, empty_config  # noqa: E402

ELPIS = build_path("bin", "elpis")
MODEL = build_path("models", "tiny-chat.gguf")
LOOSE = float(os.environ.get("ELPIS_TEST_LOOSE_S", "10"))

_EMPTY_CONFIG = empty_config("conc")


def spawn(env=None):
    e = {"ELPIS_CONFIG": _EMPTY_CONFIG, "ELPIS_EMOTION_DECAY_RATE": "0"}
    e.update(env or {})
    c = Client([ELPIS, "--model", MODEL], env=e)
    r = c.initialize()
    assert "result" in r, r
    return c


def gen(text, max_tokens=24, temperature=0, **kw):
    a = {"messages": [{"role": "user", "content": text}], "max_tokens": max_tokens}
    if temperature is not None:
        a["temperature"] = temperature
    a.update(kw)
    return a


def call_async(c, tool, args, progress_token=None):
    return c.request_async("tools/call", {"name": tool, "arguments": args}, progress_token)


def result(c, rid, timeout=120):
    r = c.wait(rid, timeout)
    assert "result" in r, r
    return r["result"]["structuredContent"], bool(r["result"].get("isError"))


def ok(c, rid, timeout=120):
    sc, err = result(c, rid, timeout)
    assert not err, sc
    return sc


def drain(c, quiet=0.3):
    """Reads until the server is quiet for `quiet` seconds."""
    try:
        while True:
            m = c.read_message(quiet)
            if "id" in m and ("result" in m or "error" in m) and "method" not in m:
                c.responses[m["id"]] = m
            else:
                c.notifications.append(m)
    except TimeoutError:
        pass


def progress_text(c, token):
    return "".join(n["params"].get("message", "") for n in c.notifications
                   if n.get("method") == "notifications/progress" and n["params"]["progressToken"] == token)


def cancelled_counts(c):
    log = c.stderr_tail(1 << 22)
    return [int(n) for n in re.findall(r"generate(?: \(background\))?: cancelled, prompt \d+ tokens "
                                       r"\(\d+ cached\), (\d+) generated", log)]


def test_streams_progress_cancels_and_emotion_interleaved():
    c = spawn()
    try:
        n_streams = 14
        prompts = ["Stream %d: tell me something about the number %d." % (i, i * 7) for i in range(n_streams)]
        # The first two are long (sampled, up to the context's end) and get cancelled below.
        start_ids = [call_async(c, "generate_stream_start", gen(p, 2000, None) if i < 2 else gen(p, 24))
                     for i, p in enumerate(prompts)]
        prog_ids = {"pg%d" % i: call_async(c, "generate", gen("progress %d" % i, 20), progress_token="pg%d" % i)
                    for i in range(3)}
        # Long sampled work, cancelled by notification while it runs or waits.
        doomed = [call_async(c, "generate", gen("doomed %d" % i, 2000, None)) for i in range(2)]
        emo_ids = []
        events = ["success", "failure", "insight", "idle", "novelty", "blocked"]
        for i, ev in enumerate(events):
            emo_ids.append(call_async(c, "update_emotion", {"event_type": ev, "intensity": 0.5}))
            emo_ids.append(call_async(c, "get_emotion", {}))
            emo_ids.append(c.request_async("resources/read", {"uri": "emotion://state"}))
        for rid in doomed:
            c.notify("notifications/cancelled", {"requestId": rid})
        streams = [ok(c, rid)["stream_id"] for rid in start_ids]
        for rid in emo_ids:
            r = c.wait(rid, 60)
            assert "result" in r and not r["result"].get("isError"), r
        # Round-robin reads, with emotion calls and two cancels in between.
        parts = {s: [] for s in streams}
        done, cancelled = {}, set(streams[:2])
        for s in cancelled:
            ok(c, call_async(c, "generate_stream_cancel", {"stream_id": s}))
        deadline = time.monotonic() + 120
        pending = [s for s in streams if s not in cancelled]
        while pending:
            assert time.monotonic() < deadline, "streams did not complete"
            ids = [(s, call_async(c, "generate_stream_read", {"stream_id": s})) for s in pending]
            emo = call_async(c, "update_emotion", {"event_type": "routine"})
            for s, rid in ids:
                r = ok(c, rid)
                parts[s].append(r["new_content"])
                if r["is_complete"]:
                    done[s] = r
            ok(c, emo)
            pending = [s for s in pending if s not in done]
            time.sleep(0.01)
        for s in cancelled:
            sc, err = result(c, call_async(c, "generate_stream_read", {"stream_id": s}))
            assert err and "Unknown stream_id" in sc["error"], sc
        # Every completed stream: the reads add up, and match greedy generate.
        for i, s in enumerate(streams):
            if s in cancelled:
                continue
            r = done[s]
            assert r["full_content"] == "".join(parts[s]), (s, r, parts[s])
            assert not r.get("error"), r
            ref = ok(c, call_async(c, "generate", gen(prompts[i], 24)))
            assert ref["content"] == r["full_content"], (i, ref["content"], r["full_content"])
        # Pushed progress: the deltas add up to the content.
        for tok, rid in prog_ids.items():
            res = ok(c, rid)
            assert progress_text(c, tok) == res["content"], (tok, res["content"])
        drain(c)
        for rid in doomed:
            assert rid not in c.responses, c.responses.get(rid)
        counts = cancelled_counts(c)
        assert len(counts) >= 4 and all(n < 300 for n in counts), counts
        st = ok(c, call_async(c, "get_emotion", {}))
        assert st["update_count"] >= len(events), st
        assert c.request("ping", timeout=10).get("result") == {}
    finally:
        assert c.close(60) == 0


def test_cancel_storm():
    c = spawn({"ELPIS_SERVER_MAX_STREAMS": "6"})
    all_gens = []
    try:
        for rnd in range(5):
            # Streams started and cancelled at once (queued or running), interleaved with
            # generates cancelled by notification and cancels of unknown ids.
            starts = [call_async(c, "generate_stream_start", gen("storm %d %d" % (rnd, i), 400, None))
                      for i in range(6)]
            gens = [call_async(c, "generate", gen("g %d %d" % (rnd, i), 400, None), progress_token="s%d%d" % (rnd, i))
                    for i in range(3)]
            for rid in gens:
                c.notify("notifications/cancelled", {"requestId": rid})
            all_gens += gens
            sids = [ok(c, rid)["stream_id"] for rid in starts]
            cancels = [call_async(c, "generate_stream_cancel", {"stream_id": s}) for s in sids]
            cancels.append(call_async(c, "generate_stream_cancel", {"stream_id": "no-such-stream"}))
            for rid in cancels[:-1]:
                assert ok(c, rid)["status"] == "cancelled"
            sc, err = result(c, cancels[-1])
            assert err and "Unknown stream_id" in sc["error"]
            for rid in gens:  # cancelling again after the fact is harmless
                c.notify("notifications/cancelled", {"requestId": rid})
        # Every slot is free again, and the engine is idle enough to answer at once.
        t0 = time.monotonic()
        sids = [ok(c, call_async(c, "generate_stream_start", gen("after %d" % i, 4)))["stream_id"]
                for i in range(6)]
        for s in sids:
            while True:
                r = ok(c, call_async(c, "generate_stream_read", {"stream_id": s}))
                if r["is_complete"]:
                    assert r["total_tokens"] >= 1 and not r.get("error"), r
                    break
                time.sleep(0.01)
        assert time.monotonic() - t0 < LOOSE, "cancelled work was not stopped"
        drain(c)
        assert not [rid for rid in c.responses if rid in all_gens], c.responses
        counts = cancelled_counts(c)
        assert len(counts) == 5 * 9 and max(counts) < 200, counts
    finally:
        assert c.close(60) == 0


def test_cancel_racing_completion():
    c = spawn()
    try:
        # Short streams whose completion races the cancel: either outcome is fine,
        # but the stream must be gone afterwards and nothing may be freed twice.
        for i in range(30):
            sid = ok(c, call_async(c, "generate_stream_start", gen("race %d" % i, 1 + i % 4)))["stream_id"]
            if i % 3:
                time.sleep(0.001 * (i % 5))
            sc, err = result(c, call_async(c, "generate_stream_cancel", {"stream_id": sid}))
            assert (not err and sc["status"] == "cancelled") or "Unknown stream_id" in sc["error"], sc
            sc, err = result(c, call_async(c, "generate_stream_read", {"stream_id": sid}))
            assert err and "Unknown stream_id" in sc["error"], sc
        # The same for generate and notifications/cancelled: a reply or none, never two.
        rids = []
        for i in range(20):
            rid = call_async(c, "generate", gen("race g %d" % i, 1 + i % 3), progress_token="r%d" % i)
            if i % 2:
                time.sleep(0.002)
            c.notify("notifications/cancelled", {"requestId": rid})
            rids.append(rid)
        assert c.request("ping", timeout=30).get("result") == {}
        drain(c, 0.5)
        seen = [m.get("id") for m in c.notifications if "id" in m]
        assert not seen, seen  # no stray responses filed as notifications
        for rid in rids:
            r = c.responses.pop(rid, None)
            assert r is None or "result" in r, r
    finally:
        assert c.close(60) == 0


def test_idle_eviction_of_running_streams():
    c = spawn({"ELPIS_SERVER_STREAM_IDLE_SECONDS": "1"})
    try:
        sids = [ok(c, call_async(c, "generate_stream_start", gen("evict %d" % i, 2000, None)))["stream_id"]
                for i in range(3)]
        # Keep one alive by reading it; let the other two be evicted while they run or wait.
        t_end = time.monotonic() + 2.6
        complete = False
        while time.monotonic() < t_end:
            if not complete:  # a completed stream is removed by the read that says so
                complete = ok(c, call_async(c, "generate_stream_read", {"stream_id": sids[0]}))["is_complete"]
            time.sleep(0.2)
        for s in sids[1:]:
            sc, err = result(c, call_async(c, "generate_stream_read", {"stream_id": s}))
            assert err and "Unknown stream_id" in sc["error"], sc
        if not complete:
            assert ok(c, call_async(c, "generate_stream_cancel", {"stream_id": sids[0]}))["status"] == "cancelled"
        r = ok(c, call_async(c, "generate", gen("after eviction", 8)))
        assert r["usage"]["completion_tokens"] >= 1
        assert "evicted" in c.stderr_tail(1 << 20)
    finally:
        assert c.close(60) == 0


def test_eof_while_generations_are_queued():
    c = spawn()
    for i in range(6):
        call_async(c, "generate", gen("queued %d" % i, 2000, None), progress_token="q%d" % i)
        call_async(c, "generate_stream_start", gen("queued stream %d" % i, 2000, None))
        call_async(c, "update_emotion", {"event_type": "success"})
        call_async(c, "count_tokens", {"text": "count me %d" % i})
    time.sleep(0.05)
    t0 = time.monotonic()
    rc = c.close(60)
    assert rc == 0, (rc, c.stderr_tail())
    assert time.monotonic() - t0 < LOOSE, "EOF did not stop the queued work promptly"
    counts = cancelled_counts(c)
    assert counts and max(counts) < 300, counts
    # Whatever was written before exit is whole JSON lines.
    import json
    for line in (c.buf + c.proc.stdout.read()).split(b"\n"):
        if line.strip():
            json.loads(line)


def test_sigterm_while_generations_are_queued():
    c = spawn()
    try:
        for i in range(4):
            call_async(c, "generate", gen("queued %d" % i, 2000, None), progress_token="q%d" % i)
            call_async(c, "generate_stream_start", gen("queued stream %d" % i, 2000, None))
        c.read_message(30)  # something is running
        t0 = time.monotonic()
        c.proc.send_signal(signal.SIGTERM)
        rc = c.proc.wait(60)
        assert rc == 0, (rc, c.stderr_tail())
        assert time.monotonic() - t0 < LOOSE
    finally:
        c.__exit__(None, None, None)


def test_eof_while_the_engine_thread_is_stuck_writing():
    # Regression (fixed in 4105dfe, found by test_elpis.py): the engine thread
    # blocks on a full stdout (this client reads nothing) while the protocol
    # thread sees EOF and shuts down: the output must give up, the engine thread
    # must be joined, and nothing may race on the way out.
    import array
    import fcntl
    import termios

    def pending():
        n = array.array("i", [0])
        fcntl.ioctl(c.proc.stdout.fileno(), termios.FIONREAD, n, True)
        return n[0]

    c = spawn()
    for i in range(3):
        call_async(c, "generate", gen("fill %d" % i, 400), progress_token="fill-%d-%s" % (i, "x" * 1000))
    call_async(c, "generate_stream_start", gen("a stream", 400))
    deadline = time.monotonic() + 60
    while pending() < 40000 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pending() >= 40000, pending()
    c.proc.stdin.close()
    try:
        rc = c.proc.wait(LOOSE + 5)
    except Exception:
        c.proc.kill()
        c.proc.wait()
        raise AssertionError("elpis hung at EOF with its stdout full")
    c.errf.close()
    assert rc == 0, (rc, c.stderr_tail())
    check_sanitizer_log(c.stderr_path)
