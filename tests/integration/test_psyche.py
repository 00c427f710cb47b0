"""Integration tests of psyche with its real children (elpis on the tiny
random model, mnemosyne) and with fake_elpis.py, a scripted elpis for what the
tiny model cannot do (produce tool calls). Every test uses its own temp dir for
HOME, state, workspace and the memory database; nothing touches the real ~."""
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from mcp import ROOT, SANITIZER_MARKS, build_path, check_sanitizer_log

PSYCHE = build_path("bin", "psyche")
ELPIS = build_path("bin", "elpis")
MNEMOSYNE = build_path("bin", "mnemosyne")
TINY = build_path("models", "tiny-chat.gguf")
FAKE = os.path.join(ROOT, "tests", "integration", "fake_elpis.py")


class Env:
    """A scratch HOME with state, data and workspace dirs, and the env for psyche."""

    def __init__(self, fake_script=None, **settings):
        self.dir = tempfile.mkdtemp(prefix="psyche-test-")
        self.home = os.path.join(self.dir, "home")
        self.state = os.path.join(self.dir, "state")
        self.ws = os.path.join(self.dir, "ws")
        self.db = os.path.join(self.dir, "memories.db")
        for d in (self.home, self.state, self.ws):
            os.makedirs(d)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PSYCHE_", "ELPIS_", "MNEMOSYNE_", "XDG_"))}
        self.env.update({
            "HOME": self.home,
            "PSYCHE_PATHS_STATE_DIR": self.state,
            "PSYCHE_MEMORY_DB_PATH": self.db,
            "PSYCHE_WORKSPACE_DIR": self.ws,
            "PSYCHE_IDLE_ENABLED": "false",
            "PSYCHE_AGENT_MAX_TOKENS": "24",
            "PSYCHE_SHUTDOWN_SUMMARY_MAX_TOKENS": "16",
            "PSYCHE_CHILDREN_STOP_GRACE_MS": "2000",
            "PSYCHE_MODEL_PATH": TINY,
        })
        if fake_script is not None:
            self.script = os.path.join(self.dir, "script.json")
            fake_script.setdefault("log", os.path.join(self.dir, "requests.jsonl"))
            with open(self.script, "w") as f:
                json.dump(fake_script, f)
            self.env["PSYCHE_CHILDREN_ELPIS_COMMAND"] = "%s,%s,%s" % (sys.executable, FAKE, self.script)
            self.env["PSYCHE_MODEL_PATH"] = ""
        for k, v in settings.items():
            self.env["PSYCHE_" + k.upper()] = str(v)

    def log(self, name):
        try:
            with open(os.path.join(self.state, name + ".log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def requests(self):
        try:
            with open(os.path.join(self.dir, "requests.jsonl")) as f:
                return [json.loads(l) for l in f]
        except OSError:
            return []

    def memories(self, query):
        out = subprocess.run([MNEMOSYNE, "--db", self.db, "search", query, "-n", "20", "--json"], cwd=self.dir,
                             env=self.env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]  # one JSON object per line

    def cleanup(self):
        for name in ("psyche", "elpis", "mnemosyne"):
            check_sanitizer_log(os.path.join(self.state, name + ".log"))
        shutil.rmtree(self.dir, ignore_errors=True)


class Psyche:
    """psyche --events --repl: send lines, read JSON events."""

    def __init__(self, env, *args):
        self.env = env
        self.errpath = os.path.join(env.dir, "psyche.stderr")
        self.errf = open(self.errpath, "wb")
        self.proc = subprocess.Popen([PSYCHE, "--events", "--repl"] + list(args), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.errf, cwd=env.dir, env=env.env)
        self.buf = b""
        self.events = []
        self.seen = 0

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def _read(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            return False
        chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
        if not chunk:
            raise EOFError("psyche exited (%s); stderr: %s; log: %s" % (self.proc.poll(), self.stderr(),
                                                                       self.env.log("psyche")[-2000:]))
        self.buf += chunk
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            ev = json.loads(line)  # every line must be valid JSON
            assert "event" in ev, ev
            self.events.append(ev)
        return True

    def wait_for(self, pred, timeout=30.0, what="event"):
        """Returns the first event after the last one returned that satisfies pred."""
        deadline = time.monotonic() + timeout
        while True:
            while self.seen < len(self.events):
                ev = self.events[self.seen]
                self.seen += 1
                if pred(ev):
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s within %.0fs; last events: %s; log: %s" % (
                    what, timeout, [e["event"] + ":" + str(e.get("text", ""))[:80] for e in self.events[-12:]],
                    self.env.log("psyche")[-1500:]))
            self._read(min(left, 1.0))

    def answer(self, timeout=60.0):
        return self.wait_for(lambda e: e["event"] == "answer", timeout, "answer")

    def status(self):
        return [e for e in self.events if e["event"] == "status"][-1]["data"]

    def stderr(self):
        with open(self.errpath, "rb") as f:
            return f.read()[-2000:].decode(errors="replace")

    def quit(self, timeout=60.0):
        self.send("/quit")
        self.wait_for(lambda e: e["event"] == "quit", timeout, "quit")
        rc = self.proc.wait(timeout)
        self.errf.close()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.errf.close()
        check_sanitizer_log(self.errpath)


def run_p(env, message, *args, timeout=60):
    out = subprocess.run([PSYCHE, "-p", message] + list(args), cwd=env.dir, env=env.env, capture_output=True,
                         text=True, timeout=timeout)
    for mark in SANITIZER_MARKS:
        assert mark not in out.stderr, out.stderr
    return out


def tool_call(name, **arguments):
    return "Let me do that.\n```tool_call\n%s\n```" % json.dumps({"name": name, "arguments": arguments})


# ----------------------------------------------------------------- tests


def test_one_shot_tiny_model():
    env = Env()
    try:
        t0 = time.monotonic()
        out = run_p(env, "Hello, who are you?", "--no-idle")
        assert out.returncode == 0, "rc %d; stderr: %s; log: %s" % (out.returncode, out.stderr, env.log("psyche"))
        assert out.stdout.strip(), "no answer on stdout; stderr: %s" % out.stderr
        assert time.monotonic() - t0 < 30
        assert "elpis is up" in env.log("psyche") and "mnemosyne is up" in env.log("psyche")
    finally:
        env.cleanup()


def test_tool_loop_creates_and_reads_a_file():
    script = {"responses": [
        {"content": tool_call("create_file", file_path="notes/hello.txt", content="hello from psyche\n")
         + "\nthis text after the fence must be ignored"},
        {"content": tool_call("read_file", file_path="notes/hello.txt"), "when": "[Tool result for create_file]"},
        {"content": "The file says: hello from psyche.", "when": "[Tool result for read_file]"},
    ], "background_default": "Summary: a file was made."}
    env = Env(script)
    try:
        out = run_p(env, "Please create notes/hello.txt and read it back", "--no-memory")
        assert out.returncode == 0, "rc %d; stderr: %s" % (out.returncode, out.stderr)
        path = os.path.join(env.ws, "notes", "hello.txt")
        assert os.path.exists(path), "the file was not created; stderr: %s" % out.stderr
        with open(path) as f:
            assert f.read() == "hello from psyche\n"
        assert "The file says: hello from psyche." in out.stdout, out.stdout
        assert "must be ignored" not in out.stdout
        assert "[tool] Creating notes/hello.txt" in out.stderr and "[tool] Reading notes/hello.txt" in out.stderr, out.stderr
        gens = [r for r in env.requests() if r["tool"] == "generate" and not r["arguments"].get("background")]
        assert len(gens) == 3, [g["arguments"]["messages"][-1]["content"][:60] for g in gens]
        last = gens[2]["arguments"]["messages"]
        assert last[0]["role"] == "system" and "tool_call" in last[0]["content"]
        results = [m["content"] for m in last if m["content"].startswith("[Tool result for")]
        assert len(results) == 2 and '"success":true' in results[0] and "hello from psyche" in results[1], results
    finally:
        env.cleanup()


def test_events_are_json_lines_with_the_turn_in_order():
    script = {"responses": [{"content": "<reasoning>a greeting</reasoning>Hi there, friend.", "chunk": 3}]}
    env = Env(script)
    try:
        out = run_p(env, "hi", "--events", "--no-memory")
        assert out.returncode == 0, out.stderr
        events = [json.loads(l) for l in out.stdout.splitlines()]
        kinds = [e["event"] for e in events]
        for k in ("status", "token", "reasoning", "answer", "quit"):
            assert k in kinds, kinds
        assert kinds[-1] == "quit"
        tokens = "".join(e["text"] for e in events if e["event"] == "token")
        assert tokens == "Hi there, friend.", tokens
        assert [e for e in events if e["event"] == "reasoning"][0]["text"] == "a greeting"
        assert [e for e in events if e["event"] == "answer"][0]["text"] == "Hi there, friend."
        assert kinds.index("answer") > max(i for i, k in enumerate(kinds) if k == "token")
    finally:
        env.cleanup()


def test_elpis_crash_is_reported_and_the_next_turn_answers():
    env = Env()
    p = Psyche(env, "--no-memory")
    try:
        p.send("Hello there")
        first = p.answer(60)
        assert first["text"].strip(), first
        pid = p.status()["children"]["elpis"]["pid"]
        assert pid > 0
        os.kill(pid, signal.SIGSEGV)
        died = p.wait_for(lambda e: e["event"] == "child" and e["data"]["event"] == "died", 30, "death report")
        assert "elpis" in died["text"] and "signal 11" in died["text"], died
        assert died["data"]["child"] == "elpis"
        p.wait_for(lambda e: e["event"] == "child" and e["data"]["event"] == "restarted", 30, "restart")
        p.send("Are you back?")
        second = p.answer(60)
        assert second["text"].strip() and not (second.get("data") or {}).get("interrupted"), \
            (second, [e for e in p.events if e["event"] in ("error", "info", "child")])
        st = p.status()["children"]["elpis"]
        assert st["alive"] and st["restarts"] == 1 and st["pid"] != pid, st
        assert p.quit() == 0
    finally:
        p.kill()
        env.cleanup()


def test_elpis_dying_mid_generation_is_an_error_not_a_crash():
    script = {"responses": [{"content": "a long answer " * 40, "chunk": 4, "delay": 0.05, "when": "story"}],
              "default": "I am fine again."}
    env = Env(script)
    p = Psyche(env, "--no-memory")
    try:
        p.send("tell me a story")
        p.wait_for(lambda e: e["event"] == "token", 30, "first token")
        os.kill(p.status()["children"]["elpis"]["pid"], signal.SIGSEGV)
        err = p.wait_for(lambda e: e["event"] == "error", 30, "error")
        assert err["text"].startswith("[Error: elpis died (killed by signal 11"), err
        assert p.answer(10)["data"]["interrupted"]  # the broken turn still ends with its answer event
        p.seen = 0
        p.wait_for(lambda e: e["event"] == "child" and e["data"]["event"] == "restarted", 30, "restart")
        p.send("still there?")
        assert p.answer(30)["text"] == "I am fine again."
        assert p.quit() == 0
    finally:
        p.kill()
        env.cleanup()


def test_memory_goes_to_the_fallback_file_and_is_imported_when_mnemosyne_is_back():
    script = {"responses": [
        {"content": tool_call("store_memory", content="The user's cat is called Zephyrine-fallback-marker.",
                              memory_type="semantic", tags=["pets"])},
        {"content": "I will remember that.", "when": "[Tool result for store_memory]"},
    ], "background_default": "Summary: the user talked about the cat Zephyrine-fallback-marker."}
    env = Env(script, children_start_attempts=1, children_restart_retry_s=1)
    flag = os.path.join(env.dir, "mnemosyne-may-start")
    wrapper = "test -e %s || { echo 'not yet' >&2; exit 3; }; exec %s --db %s" % (flag, MNEMOSYNE, env.db)
    assert "," not in wrapper  # the list separator of the environment layer
    env.env["PSYCHE_CHILDREN_MNEMOSYNE_COMMAND"] = "sh,-c," + wrapper
    fallback = os.path.join(env.state, "fallback-memories.jsonl")
    p = Psyche(env)
    try:
        p.wait_for(lambda e: e["event"] == "child" and e["data"]["child"] == "mnemosyne"
                   and e["data"]["event"] == "start_failed", 30, "mnemosyne start failure")
        p.send("Remember that my cat is called Zephyrine")
        ans = p.answer(30)
        assert ans["text"].endswith("I will remember that."), ans
        end = [e for e in p.events if e["event"] == "tool_end"][-1]
        assert end["data"]["success"] and end["data"]["result"].get("saved_to_fallback"), end
        with open(fallback) as f:
            lines = [json.loads(l) for l in f]
        assert any("Zephyrine-fallback-marker" in l["content"] for l in lines), lines
        open(flag, "w").close()  # mnemosyne may start now
        imp = p.wait_for(lambda e: e["event"] == "memory" and "imported" in e.get("text", ""), 30, "import")
        assert imp["data"]["imported"] >= 1 and imp["data"]["failed"] == 0, imp
        assert not os.path.exists(fallback)
        assert p.quit() == 0
        found = env.memories("Zephyrine-fallback-marker")
        assert any("Zephyrine-fallback-marker" in m["content"] for m in found), found
    finally:
        p.kill()
        env.cleanup()


def test_shutdown_stores_a_conversation_summary():
    script = {"responses": [{"content": "Nice to meet you, Ada."}],
              "background_default": "Summary-marker-42: the user Ada introduced herself."}
    env = Env(script)
    p = Psyche(env)
    try:
        p.wait_for(lambda e: e["event"] == "child" and e["data"]["child"] == "mnemosyne"
                   and e["data"]["event"] == "started", 30, "mnemosyne")
        p.send("Hi, I am Ada")
        p.answer(30)
        assert p.quit() == 0
        assert any(e["event"] == "memory" and "summary" in e.get("text", "") for e in p.events), \
            [e for e in p.events if e["event"] == "memory"]
        found = env.memories("Summary-marker-42")
        hits = [m for m in found if "Summary-marker-42" in m["content"]]
        assert hits, found
        assert "conversation_summary" in hits[0]["tags"] and hits[0]["memory_type"] == "semantic", hits[0]
        summary_req = [r for r in env.requests() if r["tool"] == "generate" and r["arguments"].get("background")]
        assert summary_req and summary_req[-1]["arguments"]["max_tokens"] == 16
        assert summary_req[-1]["arguments"]["temperature"] == 0.3
    finally:
        p.kill()
        env.cleanup()


def test_sigterm_takes_the_shutdown_path():
    script = {"responses": [{"content": "Noted."}],
              "background_default": "Summary-marker-sigterm: a short chat."}
    env = Env(script)
    p = Psyche(env)
    try:
        p.wait_for(lambda e: e["event"] == "child" and e["data"]["child"] == "mnemosyne", 30, "mnemosyne")
        p.send("hello")
        p.answer(30)
        p.proc.send_signal(signal.SIGTERM)
        p.wait_for(lambda e: e["event"] == "quit", 30, "quit")
        assert p.proc.wait(30) == 0
        assert any("Summary-marker-sigterm" in m["content"] for m in env.memories("Summary-marker-sigterm"))
    finally:
        p.kill()
        env.cleanup()


def test_generation_timeout_keeps_the_partial_text():
    script = {"responses": [{"content": "partial words that never end " * 20, "chunk": 6, "delay": 0.2}]}
    env = Env(script, agent_generation_timeout_s=1)
    try:
        out = run_p(env, "go on", "--no-memory", timeout=30)
        assert out.returncode == 0, out.stderr
        assert "partial words" in out.stdout and "[Generation timed out]" not in out.stdout  # tokens streamed
        p = Psyche(env, "--no-memory")
        try:
            p.send("go on")
            ans = p.answer(20)
            assert ans["text"].startswith("partial words") and ans["text"].endswith("[Generation timed out]"), ans
            assert p.quit() == 0
        finally:
            p.kill()
    finally:
        env.cleanup()


def test_new_input_abandons_the_running_turn():
    script = {"responses": [{"content": "slow " * 200, "chunk": 5, "delay": 0.05, "when": "first"},
                            {"content": "Second answer.", "when": "second"}]}
    env = Env(script)
    p = Psyche(env, "--no-memory")
    try:
        p.send("first question")
        p.wait_for(lambda e: e["event"] == "token", 20, "first token")
        t0 = time.monotonic()
        p.send("second question")
        first = p.answer(10)
        assert first["data"]["interrupted"], first
        assert time.monotonic() - t0 < 2, "abandoning took too long"
        assert p.answer(10)["text"] == "Second answer."
        assert p.quit() == 0
    finally:
        p.kill()
        env.cleanup()


def test_tool_results_are_truncated_and_outcomes_move_the_emotion():
    script = {"responses": [
        {"content": tool_call("read_file", file_path="big.txt")},
        {"content": tool_call("read_file", file_path="missing.txt"), "when": "[Tool result for read_file]"},
        {"content": "Done reading. Is that all?", "when": "not found"},
    ]}
    env = Env(script, agent_tool_result_max_chars=500)
    with open(os.path.join(env.ws, "big.txt"), "w") as f:
        f.write("line of text\n" * 1000)
    try:
        out = run_p(env, "read big.txt?", "--no-memory")
        assert out.returncode == 0, out.stderr
        gens = [r for r in env.requests() if r["tool"] == "generate" and not r["arguments"].get("background")]
        result = [m["content"] for m in gens[1]["arguments"]["messages"] if m["content"].startswith("[Tool result")][0]
        assert "[... truncated, " in result and " chars omitted]" in result, result[-200:]
        assert len(result) < 600
        events = [(r["arguments"]["event_type"], r["arguments"].get("intensity")) for r in env.requests()
                  if r["tool"] == "update_emotion"]
        assert events[0] == ("user_question", 1.0), events
        assert ("success", 0.3) in events and ("failure", 0.5) in events, events
    finally:
        env.cleanup()


def test_compacted_messages_are_stored_through_the_filter():
    long_answer = "The observatory on the hill is where my sister works because she loves the stars. " * 3
    script = {"context_length": 700, "default": long_answer, "background_default": "Summary: stars."}
    env = Env(script)
    p = Psyche(env)
    try:
        p.wait_for(lambda e: e["event"] == "child" and e["data"]["child"] == "mnemosyne", 30, "mnemosyne")
        for i in range(8):
            p.send("Tell me about the observatory number %d and the people who work there at night." % i)
            p.answer(20)
        comp = [e for e in p.events if e["event"] == "memory" and e.get("text", "").startswith("compacted")]
        assert comp, [e.get("text") for e in p.events if e["event"] == "memory"]
        stored = [e for e in p.events if e["event"] == "memory" and "from earlier" in e.get("text", "")]
        assert stored and stored[0]["data"]["stored"] >= 1, [e.get("text") for e in p.events if e["event"] == "memory"]
        st = p.status()
        assert st["messages"] < 16 and st["tokens_used"] < st["context_length"], st
        assert p.quit() == 0
        found = env.memories("observatory sister stars")
        assert any(m["source"] == "compaction" for m in found), found
    finally:
        p.kill()
        env.cleanup()


def test_idle_thought_and_dream_go_to_the_thought_panel():
    script = {"responses": [{"content": "Hello!"}],
              "background": [{"content": "I notice the workspace is empty; a pattern of quiet."}],
              "background_default": "I realize the memories connect in a pattern of patience."}
    env = Env(script, idle_enabled="true", idle_think_after_s=1, idle_quiet_after_user_s=0, idle_dream_after_s=3,
              idle_dream_interval_s=600, idle_tool_warmup_s=0)
    p = Psyche(env)
    try:
        p.send("hi")
        p.answer(20)
        th = p.wait_for(lambda e: e["event"] == "thought" and e["data"]["kind"] == "reflection", 20, "reflection")
        assert "pattern of quiet" in th["text"], th
        dr = p.wait_for(lambda e: e["event"] == "thought" and e["data"]["kind"] == "dream", 20, "dream")
        assert dr["data"]["theme"] and dr["data"]["queries"], dr
        p.wait_for(lambda e: e["event"] == "memory" and "insight" in e.get("text", ""), 10, "dream insight")
        bg = [r for r in env.requests() if r["tool"] == "generate" and r["arguments"].get("background")]
        assert bg[0]["arguments"]["temperature"] == 0.7 and bg[0]["arguments"]["max_tokens"] == 512
        assert "[INTERNAL REFLECTION" in bg[0]["arguments"]["messages"][-1]["content"]
        dream = [r for r in bg if "dream state" in r["arguments"]["messages"][0]["content"]][0]
        assert dream["arguments"]["temperature"] == 0.9 and dream["arguments"]["max_tokens"] == 500
        # thoughts never enter the conversation
        p.send("and now?")
        p.answer(20)
        conv = [r for r in env.requests() if r["tool"] == "generate" and not r["arguments"].get("background")]
        assert not any("pattern of quiet" in m["content"] for m in conv[-1]["arguments"]["messages"])
        assert p.quit() == 0
        found = env.memories("Dream insight")
        assert any(m["source"] == "dream" and "insight" in m["tags"] for m in found), found
    finally:
        p.kill()
        env.cleanup()


def test_commands_answer_as_info_events():
    env = Env({"responses": []})
    p = Psyche(env)
    try:
        p.wait_for(lambda e: e["event"] == "child" and e["data"]["child"] == "mnemosyne", 30, "mnemosyne")
        p.send("/status")
        st = p.wait_for(lambda e: e["event"] == "info" and e.get("text", "").startswith("State:"), 10, "/status")
        assert "elpis: running" in st["text"] and "Sandbox:" in st["text"], st["text"]
        assert st["data"]["children"]["mnemosyne"]["alive"]
        p.send("/emotion")
        em = p.wait_for(lambda e: e["event"] == "info" and e.get("text", "").startswith("Emotion:"), 10, "/emotion")
        assert em["data"]["quadrant"]
        p.send("/thinking on")
        p.wait_for(lambda e: e["event"] == "info" and "Reasoning mode on" in e.get("text", ""), 10, "/thinking")
        p.send("/memory anything")
        p.wait_for(lambda e: e["event"] == "info" and "memories for" in e.get("text", ""), 10, "/memory")
        assert p.quit() == 0
    finally:
        p.kill()
        env.cleanup()


def test_a_child_that_keeps_failing_is_reported_not_looped_on():
    env = Env({"responses": [{"content": "Still here without memory."}]}, children_start_attempts=2,
              children_restart_retry_s=1, children_restart_max=2)
    env.env["PSYCHE_CHILDREN_MNEMOSYNE_COMMAND"] = "sh,-c,echo boom-marker >&2; exit 3"
    p = Psyche(env)
    try:
        failed = p.wait_for(lambda e: e["event"] == "child" and e["data"]["event"] == "start_failed", 20, "failure")
        assert "mnemosyne could not be started" in failed["text"] and "exit code 3" in failed["text"], failed
        assert "boom-marker" in failed["data"]["log_tail"], failed
        p.wait_for(lambda e: e["event"] == "child" and e["data"]["event"] == "gave_up", 20, "giving up")
        n = len([e for e in p.events if e["event"] == "child" and e["data"]["child"] == "mnemosyne"])
        p.send("hello?")
        assert p.answer(20)["text"] == "Still here without memory."  # the conversation goes on
        time.sleep(2)
        p._read(0.1)
        assert len([e for e in p.events if e["event"] == "child" and e["data"]["child"] == "mnemosyne"]) == n
        assert p.quit() == 0
    finally:
        p.kill()
        env.cleanup()
