"""Continuous batching in elpis (issue 11 item 1), through MCP on the real binary:
several requests generate at once on their own slots (KV sequences), at
temperature 0 each produces exactly what it produces alone, cancelling one
leaves the others running, a long prompt is evaluated in chunks so a short
request is answered first, and a conversation keeps the slot that caches it.

Ordering checks rely on margins of tens of decode steps, not on timing."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp import Client, build_path, empty_config  # noqa: E402

ELPIS = build_path("bin", "elpis")
MODEL = build_path("models", "tiny-chat.gguf")

_EMPTY_CONFIG = empty_config("batch")

PROMPTS = ["The first of four requests", "A second, rather different question about tea",
           "third", "Fourth: 1 2 3 4 5 6 7 8 9 10 11 12"]


def spawn(slots, **env):
    e = {"ELPIS_CONFIG": _EMPTY_CONFIG, "ELPIS_EMOTION_DECAY_RATE": "0", "ELPIS_MODEL_SLOTS": str(slots)}
    e.update(env)
    c = Client([ELPIS, "--model", MODEL], env=e)
    assert "result" in c.initialize()
    return c


def gen(text, max_tokens=40, temperature=0, **kw):
    a = {"messages": [{"role": "user", "content": text}], "max_tokens": max_tokens}
    if temperature is not None:
        a["temperature"] = temperature
    a.update(kw)
    return {"name": "generate", "arguments": a}


def result(c, rid, timeout=120):
    r = c.wait(rid, timeout)
    assert "result" in r and not r["result"].get("isError"), r
    return r["result"]["structuredContent"]


def finish(c):
    assert c.close() == 0, c.stderr_tail()


def job_lines(c):
    """(request number, finish, generated tokens, slot) of every generate the server logged."""
    log = c.stderr_tail(1 << 20)
    return [(int(m[0]), m[1], int(m[2]), int(m[3])) for m in
            re.findall(r"request (\d+) generate(?: \(background\))?: (\w+), prompt \d+ tokens \(\d+ cached\), "
                       r"(\d+) generated, .*?, slot (-?\d+)", log)]


def alone(prompts, max_tokens=40):
    """Each prompt's greedy text from a one-slot elpis, one request at a time."""
    c = spawn(1)
    try:
        return [result(c, c.request_async("tools/call", gen(p, max_tokens)))["content"] for p in prompts]
    finally:
        finish(c)


def test_concurrent_greedy_generations_equal_each_alone():
    want = alone(PROMPTS)
    c = spawn(4)
    try:
        assert c.ok("get_capabilities")["slots"] == 4
        rids = [c.request_async("tools/call", gen(p)) for p in PROMPTS]  # pipelined: all four at once
        got = [result(c, r)["content"] for r in rids]
        assert got == want, (got, want)
        # They ran on four different slots (one request per KV sequence).
        slots = {s for _, _, _, s in job_lines(c)}
        assert slots == {0, 1, 2, 3}, job_lines(c)
    finally:
        finish(c)


def test_slots_flag_overrides_the_config():
    """--slots N (what a supervisor passes, e.g. psyche serve's 4) wins over
    [model] slots from the environment or the config."""
    c = Client([ELPIS, "--model", MODEL, "--slots", "3"], env={"ELPIS_CONFIG": _EMPTY_CONFIG,
                                                             "ELPIS_MODEL_SLOTS": "5"})
    try:
        assert "result" in c.initialize()
        assert c.ok("get_capabilities")["slots"] == 3
    finally:
        finish(c)


def test_cancelling_one_slot_leaves_the_others_running():
    want = alone([PROMPTS[1]], 150)[0]
    c = spawn(2)
    try:
        doomed = c.request_async("tools/call", gen(PROMPTS[0], 2000, None), progress_token="d")
        keeper = c.request_async("tools/call", gen(PROMPTS[1], 150), progress_token="k")
        c.pump(lambda: any(n.get("params", {}).get("progressToken") == "d" for n in c.notifications), 60)
        c.notify("notifications/cancelled", {"requestId": doomed})
        r = result(c, keeper)
        # The neighbour's cancellation did not disturb it: the whole answer, the same text as alone.
        assert r["finish_reason"] == "length" and r["usage"]["completion_tokens"] == 150, r
        assert r["content"] == want
        lines = sorted((f, n) for _, f, n, _ in job_lines(c))
        assert lines[0][0] == "cancelled" and lines[0][1] < 150 and lines[1] == ("length", 150), lines
    finally:
        finish(c)


def test_a_short_request_is_answered_while_a_long_one_generates():
    c = spawn(2)
    try:
        # Sampled, up to the end of the 512-token context: hundreds of steps.
        long_rid = c.request_async("tools/call", gen(PROMPTS[0], 2000, None), progress_token="l")
        c.pump(lambda: c.notifications, 60)
        r = result(c, c.request_async("tools/call", gen("short", 4)))
        assert r["usage"]["completion_tokens"] == 4
        assert long_rid not in c.responses, "the short request waited for the long one"
        c.notify("notifications/cancelled", {"requestId": long_rid})
        assert c.ok("get_emotion")  # still serving
    finally:
        finish(c)


def test_a_long_prompt_does_not_stall_a_short_one():
    # A batch of 8 tokens: the ~450-token prompt takes ~60 steps; the short prompt,
    # submitted right behind it, goes first (shortest remaining prompt first).
    c = spawn(2, ELPIS_MODEL_BATCH="8")
    try:
        long_text = " ".join("word%d" % i for i in range(150))
        long_rid = c.request_async("tools/call", gen(long_text, 1))
        short_rid = c.request_async("tools/call", gen("hi", 2))
        result(c, short_rid)
        assert long_rid not in c.responses, "the short prompt waited for the long prompt's evaluation"
        assert result(c, long_rid)["usage"]["prompt_tokens"] > 300
    finally:
        finish(c)


def test_a_conversation_keeps_the_slot_that_caches_it():
    c = spawn(2)
    try:
        convs = {k: [{"role": "user", "content": "Conversation %s begins with its own long opening line" % k}]
                 for k in "ab"}
        prompt = {}

        def turn(k, **kw):
            a = {"messages": convs[k], "max_tokens": 8, "temperature": 0}
            a.update(kw)
            r = c.ok("generate", a)
            convs[k] = convs[k] + [{"role": "assistant", "content": r["content"]},
                                   {"role": "user", "content": "and then?"}]
            cached, prompt[k] = r["usage"]["cached_tokens"], r["usage"]["prompt_tokens"]
            return cached

        turn("a"), turn("b")
        # a twice in a row, then b: least-recently-used alone would put a's third
        # turn on b's slot and lose both caches; the longest cached prefix keeps each.
        for k in "aab":
            before = prompt[k]
            assert turn(k) >= before - 1, (k, before, c.stderr_tail())
        # A session hint wins over the prefix: a request hinted "x" lands on a's slot
        # (by prefix), and b's next turn, hinted "x" too, follows it there.
        turn("a", session="x")
        turn("b", session="x")
        lines = job_lines(c)
        assert lines[-2][3] == lines[-1][3], lines
    finally:
        finish(c)


def test_slots_apart_run_as_one_batch_and_the_idle_slot_between_keeps_its_cache():
    """Slots 0 and 2 generate while slot 1, between them, holds an idle
    conversation: the scheduler pads slot 1 with a throwaway token every step
    (so llama.cpp evaluates the three consecutive sequences in one pass) and
    takes it out again. The two generations equal their text alone, and slot
    1's conversation continues from its cache with the text it has alone."""
    c = spawn(3)
    try:
        first = [c.request_async("tools/call", gen(p, 8, session=k)) for p, k in zip(PROMPTS[:3], "abc")]
        reply_b = [result(c, r) for r in first][1]
        by_request = sorted(job_lines(c))
        assert [s for _, _, _, s in by_request] == [0, 1, 2], by_request  # a, b, c: in admission order
        apart = [c.request_async("tools/call", gen(p, 60, session=k)) for p, k in ((PROMPTS[0], "a"),
                                                                                  (PROMPTS[3], "c"))]
        got = [result(c, r)["content"] for r in apart]
        assert {s for _, _, _, s in job_lines(c)[3:]} == {0, 2}, job_lines(c)
        conv_b = [{"role": "user", "content": PROMPTS[1]}, {"role": "assistant", "content": reply_b["content"]},
                  {"role": "user", "content": "and then?"}]
        rb = c.ok("generate", {"messages": conv_b, "max_tokens": 8, "temperature": 0, "session": "b"})
        assert job_lines(c)[-1][3] == 1, job_lines(c)
        # Its cache survived the pads: all of the first turn's prompt is reused.
        assert rb["usage"]["cached_tokens"] >= reply_b["usage"]["prompt_tokens"], (rb["usage"], reply_b["usage"])
    finally:
        finish(c)
    assert got == alone([PROMPTS[0], PROMPTS[3]], 60)
    solo = spawn(1)
    try:
        assert solo.ok("generate", {"messages": conv_b, "max_tokens": 8, "temperature": 0})["content"] == rb["content"]
    finally:
        finish(solo)


def test_background_work_runs_beside_the_slots():
    c = spawn(1)
    try:
        fg = c.request_async("tools/call", gen(PROMPTS[0], 2000, None), progress_token="f")
        c.pump(lambda: c.notifications, 60)
        bg = result(c, c.request_async("tools/call", gen("idle thought", 4, background=True)))
        assert bg["usage"]["completion_tokens"] == 4
        assert fg not in c.responses, "background work waited for the conversation"
        c.notify("notifications/cancelled", {"requestId": fg})
        lines = job_lines(c)
        assert any(s == 1 for _, _, _, s in lines), lines  # the background sequence follows the one slot
    finally:
        finish(c)
