"""Issue 9 item 2, "no memory is ever lost": psyche with a real mnemosyne
that is SIGKILLed while a store is in flight (before it reached the
database, and after it landed but before the answer came back), that is
absent from the start, and a quit summary written while mnemosyne is dead.
Every memory must end up in the fallback file and then in mnemosyne exactly
once when it is back.

mnemosyne runs behind a small proxy (this file run as a program: `noloss
proxy MODE FLAGDIR DB`) that passes JSON-RPC lines both ways and kills the
real mnemosyne and itself (SIGKILL) at the marked store_memory call. Nothing
waits on a clock: the tests wait for events with a deadline."""
import json
import os
import signal
import subprocess
import sys
import threading

from test_psyche import MNEMOSYNE, Env, Psyche, run_p, tool_call

HERE = os.path.abspath(__file__)
MARK = "noloss-marker"


# ----------------------------------------------------------------- the proxy


def _is_marked_store(msg):
    if msg.get("method") != "tools/call":
        return False
    params = msg.get("params") or {}
    args = params.get("arguments") or {}
    return params.get("name") == "store_memory" and MARK in str(args.get("content", ""))


def _die(child, flagdir):
    """Kills the real mnemosyne and this proxy as a crash would."""
    open(os.path.join(flagdir, "killed"), "w").close()
    child.kill()
    child.wait()
    os.kill(os.getpid(), signal.SIGKILL)


def proxy(mode, flagdir, db):
    """mode: before (dies on the marked store before passing it on), after
    (passes it on, waits for mnemosyne's answer, then dies without passing
    that on). After one death: down (every later start fails) or a plain
    mnemosyne (every other mode)."""
    mnemo = [MNEMOSYNE, "--db", db]
    if os.path.exists(os.path.join(flagdir, "killed")):
        if mode == "down":
            sys.stderr.write("mnemosyne stays down for this test\n")
            sys.exit(3)
        os.execv(MNEMOSYNE, mnemo)
    child = subprocess.Popen(mnemo, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    waiting = {}  # the id of the marked store whose answer we swallow

    def upstream():
        for line in child.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                msg = {}
            if "id" in waiting and msg.get("id") == waiting["id"]:
                _die(child, flagdir)  # the store landed; its answer is lost
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
        os._exit(0)

    threading.Thread(target=upstream, daemon=True).start()
    for line in sys.stdin.buffer:
        try:
            msg = json.loads(line)
        except ValueError:
            msg = {}
        if isinstance(msg, dict) and _is_marked_store(msg):
            if mode in ("before", "down"):
                _die(child, flagdir)
            waiting["id"] = msg.get("id")
        child.stdin.write(line)
        child.stdin.flush()
    child.stdin.close()
    child.wait()
    os._exit(0)


# ----------------------------------------------------------------- helpers


def _env(mode, script, **settings):
    settings.setdefault("children_start_attempts", 1)
    settings.setdefault("children_restart_retry_s", 1)
    env = Env(script, **settings)
    cmd = [sys.executable, HERE, "proxy", mode, env.dir, env.db]
    assert not any("," in a for a in cmd)  # the list separator of the environment layer
    env.env["PSYCHE_CHILDREN_MNEMOSYNE_COMMAND"] = ",".join(cmd)
    env.fallback = os.path.join(env.state, "fallback-memories.jsonl")
    return env


def _fallback_lines(env):
    try:
        with open(env.fallback) as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []


def _seen_or_wait(p, pred, timeout, what):
    """The first event so far that satisfies pred, or the next one: events that
    race the answer (a restart, an import) may come before or after it."""
    for e in p.events:
        if pred(e):
            return e
    return p.wait_for(pred, timeout, what)


def _imported(e):
    return e["event"] == "memory" and "imported" in e.get("text", "")


def _start_failed(e):
    return e["event"] == "child" and e["data"]["child"] == "mnemosyne" and e["data"]["event"] == "start_failed"


def _mnemosyne_started(p):
    return p.wait_for(lambda e: e["event"] == "child" and e["data"]["child"] == "mnemosyne"
                      and e["data"]["event"] == "started", 30, "mnemosyne started")


def _exactly_once(env, needle):
    hits = [m for m in env.memories(needle) if needle in m["content"]]
    assert len(hits) == 1, "expected one memory with %r, got %d: %s" % (needle, len(hits), hits)
    return hits[0]


def _killed_mid_store(mode):
    content = "The user's boat is called Ὀδυσσεύς-%s-%s 🚣 (mid-store)." % (MARK, mode)
    script = {"responses": [
        {"content": tool_call("store_memory", content=content, tags=["boats"]), "when": "Remember"},
        {"content": "I will remember that.", "when": "[Tool result for store_memory]"},
    ], "background_default": "Summary: a chat about a boat."}
    env = _env(mode, script, shutdown_summary="false", memory_auto_store="false")
    p = Psyche(env)
    try:
        _mnemosyne_started(p)
        p.send("Remember what my boat is called")
        ans = p.answer(60)
        assert ans["text"].endswith("I will remember that."), ans
        end = [e for e in p.events if e["event"] == "tool_end"][-1]
        assert end["data"]["result"].get("saved_to_fallback"), end
        assert os.path.exists(os.path.join(env.dir, "killed")), "the proxy never saw the store"
        # mnemosyne is restarted (plain now) and the fallback file imported
        imp = _seen_or_wait(p, _imported, 60, "import")
        assert imp["data"]["imported"] == 1 and imp["data"]["failed"] == 0, imp
        assert not os.path.exists(env.fallback), _fallback_lines(env)
        assert p.quit() == 0
        _exactly_once(env, content)
    finally:
        p.kill()
        env.cleanup()


# ----------------------------------------------------------------- tests


def test_mnemosyne_killed_before_the_store_landed_the_memory_is_imported_later():
    _killed_mid_store("before")


def test_mnemosyne_killed_after_the_store_landed_the_memory_is_not_duplicated():
    _killed_mid_store("after")


def test_quit_summary_while_mnemosyne_is_dead_goes_to_the_fallback_file():
    """mnemosyne dies at a store and stays down; the summary written at /quit
    goes to the fallback file, next to the memory of the store it died at."""
    content = "The user's locker code word is Žluťoučký-%s-down." % MARK
    summary = "Summary-noloss-dead: the user talked about a locker ☂ and a code word."
    script = {"responses": [
        {"content": tool_call("store_memory", content=content), "when": "Remember"},
        {"content": "Kept.", "when": "[Tool result for store_memory]"},
    ], "background_default": summary}
    env = _env("down", script, memory_auto_store="false")
    p = Psyche(env)
    try:
        _mnemosyne_started(p)
        p.send("Remember my locker code word")
        assert p.answer(60)["text"].endswith("Kept."), p.events[-5:]
        _seen_or_wait(p, _start_failed, 30, "mnemosyne staying down")
        assert p.quit() == 0
        lines = _fallback_lines(env)
        assert any(l["content"] == content for l in lines), lines
        sums = [l for l in lines if l["content"].startswith("Summary-noloss-dead")]
        assert len(sums) == 1 and "conversation_summary" in sums[0].get("tags", []), lines
        p.kill()
        _import_with_plain_mnemosyne(env, len(lines), content, "Summary-noloss-dead")
    finally:
        p.kill()
        env.cleanup()


def test_mnemosyne_absent_from_the_start_the_quit_summary_is_kept_and_imported():
    summary = "Summary-noloss-absent: the user asked about naïve café hours 日本."
    script = {"responses": [{"content": "The café opens at nine."}], "background_default": summary}
    env = _env("absent", script)
    env.env["PSYCHE_CHILDREN_MNEMOSYNE_COMMAND"] = "sh,-c,exit 3"  # never starts
    p = Psyche(env)
    try:
        p.wait_for(_start_failed, 30, "mnemosyne start failure")
        p.send("When does the café open?")
        assert p.answer(60)["text"] == "The café opens at nine.", p.events[-5:]
        assert p.quit() == 0
        lines = _fallback_lines(env)
        assert len([l for l in lines if l["content"].startswith("Summary-noloss-absent")]) == 1, lines
        p.kill()
        _import_with_plain_mnemosyne(env, len(lines), "Summary-noloss-absent")
    finally:
        p.kill()
        env.cleanup()


def test_an_important_multibyte_exchange_is_stored_whole_characters():
    """The importance store cuts the user's text (300 characters), the answer
    (800) and the summary (150) of a long non-ASCII exchange: mnemosyne takes
    it (a split character would be refused), with "..." where it was cut."""
    user_text = "Please remember this important fact %s: " % MARK + "Ωμέγα 🐝 日本語 " * 60
    answer = "Noted, I will remember: " + "ἀλήθεια 🌊 東京 " * 120
    env = Env({"responses": [{"content": answer}], "background_default": "Summary: a chat."}, shutdown_summary="false")
    try:
        out = run_p(env, user_text)
        assert out.returncode == 0, out.stderr
        assert not os.path.exists(os.path.join(env.state, "fallback-memories.jsonl")), env.log("psyche")[-1500:]
        hits = [m for m in env.memories(MARK) if "auto-stored" in m["tags"]]
        assert len(hits) == 1, hits
        u, a = hits[0]["content"][len("User: "):].split("\n\nAssistant: ")
        assert u.endswith("...") and user_text.startswith(u[:-3]) and len(u[:-3]) == 300, u[-20:]
        assert a.endswith("...") and answer.startswith(a[:-3]) and len(a[:-3]) == 800, a[-20:]
        assert hits[0]["content"].startswith(hits[0]["summary"]) and len(hits[0]["summary"]) == 150, hits[0]["summary"]
    finally:
        env.cleanup()


def test_the_quit_summary_transcript_cuts_long_messages_between_characters():
    """The summary at /quit reads a transcript with each message cut at 500
    characters: whole ones, with "...", and the summary itself is stored."""
    said = "Ünïcödé 🐝 漢字 " * 80  # 800 characters
    script = {"responses": [{"content": "Ответ 🌊 " * 90}],
              "background_default": "Summary-noloss-transcript: a long non-ASCII chat."}
    env = Env(script, memory_auto_store="false", agent_max_tokens="200")
    p = Psyche(env)
    try:
        _mnemosyne_started(p)
        p.send(said)
        p.answer(60)
        assert p.quit() == 0
        bg = [r for r in env.requests() if r["tool"] == "generate" and r["arguments"].get("background")]
        assert bg, env.requests()
        transcript = bg[-1]["arguments"]["messages"][-1]["content"]
        line = [l for l in transcript.splitlines() if l.startswith("user: ")][0][len("user: "):]
        assert line.endswith("...") and said.startswith(line[:-3]) and len(line[:-3]) == 500, line[-20:]
        _exactly_once(env, "Summary-noloss-transcript")
    finally:
        p.kill()
        env.cleanup()


def _import_with_plain_mnemosyne(env, kept, *needles):
    """A new psyche on the same state and database with a plain mnemosyne:
    the fallback file is imported, each memory found exactly once."""
    del env.env["PSYCHE_CHILDREN_MNEMOSYNE_COMMAND"]
    env.env["PSYCHE_SHUTDOWN_SUMMARY"] = "false"
    p = Psyche(env)
    try:
        imp = p.wait_for(_imported, 60, "import")
        assert imp["data"]["imported"] == kept and imp["data"]["failed"] == 0, imp
        assert not os.path.exists(env.fallback), _fallback_lines(env)
        assert p.quit() == 0
        for n in needles:
            _exactly_once(env, n)
    finally:
        p.kill()


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "proxy":
    proxy(sys.argv[2], sys.argv[3], sys.argv[4])
