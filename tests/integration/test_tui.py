"""The full-screen terminal UI (psyche with no mode flag) driven through tmux:
send-keys types, capture-pane reads the screen (issue 4, "Terminal UI").

Each test starts psyche in a detached tmux session on its own tmux socket,
with a scratch HOME, state dir, workspace and memory database. psyche's
stderr goes to a file (sanitizer reports land there), and a wrapper writes
its exit status to a file when it ends. The real children run on the tiny
random model (gibberish, so only structure is asserted); fake_elpis.py
scripts exact text, tool calls and idle thoughts where the test needs them."""
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp import ROOT, build_path, check_sanitizer_log  # noqa: E402

PSYCHE = build_path("bin", "psyche")
TINY = build_path("models", "tiny-chat.gguf")
FAKE = os.path.join(ROOT, "tests", "integration", "fake_elpis.py")
CURSOR = "\u258c"  # the streaming cursor


def tool_call(name, **arguments):
    return "Let me look.\n```tool_call\n%s\n```" % json.dumps({"name": name, "arguments": arguments})


class Tui:
    """psyche in a tmux pane of width x height."""

    _count = 0

    def __init__(self, width=120, height=40, fake_script=None, args=(), **settings):
        Tui._count += 1
        self.dir = tempfile.mkdtemp(prefix="psyche-tui-")
        self.socket = "psyche-tui-%d-%d" % (os.getpid(), Tui._count)
        self.session = "psy"
        self.state = os.path.join(self.dir, "state")
        self.ws = os.path.join(self.dir, "ws")
        for d in ("home", "state", "ws"):
            os.makedirs(os.path.join(self.dir, d))
        self.rc_path = os.path.join(self.dir, "rc")
        self.err_path = os.path.join(self.dir, "psyche.stderr")
        env = {
            "HOME": os.path.join(self.dir, "home"),
            "PSYCHE_PATHS_STATE_DIR": self.state,
            "PSYCHE_MEMORY_DB_PATH": os.path.join(self.dir, "memories.db"),
            "PSYCHE_WORKSPACE_DIR": self.ws,
            "PSYCHE_MODEL_PATH": TINY,
            "PSYCHE_IDLE_ENABLED": "false",
            "PSYCHE_AGENT_MAX_TOKENS": "48",
            "PSYCHE_SHUTDOWN_SUMMARY_MAX_TOKENS": "16",
            "PSYCHE_CHILDREN_STOP_GRACE_MS": "2000",
        }
        if fake_script is not None:
            path = os.path.join(self.dir, "script.json")
            with open(path, "w") as f:
                json.dump(fake_script, f)
            env["PSYCHE_CHILDREN_ELPIS_COMMAND"] = "%s,%s,%s" % (sys.executable, FAKE, path)
            env["PSYCHE_MODEL_PATH"] = ""
        for k, v in settings.items():
            env["PSYCHE_" + k.upper()] = str(v)
        # A wrapper with an explicit environment: the tmux server's own
        # environment is not this process's.
        lines = ["#!/bin/sh"]
        for k, v in os.environ.items():
            if not k.startswith(("PSYCHE_", "ELPIS_", "MNEMOSYNE_", "XDG_", "TMUX")) and k.isidentifier():
                lines.append("export %s=%s" % (k, shlex.quote(v)))
        for k, v in env.items():
            lines.append("export %s=%s" % (k, shlex.quote(v)))
        lines.append('infocmp "$TERM" >/dev/null 2>&1 || export TERM=screen')
        lines.append("export LANG=C.UTF-8")
        lines.append("cd %s" % shlex.quote(self.dir))
        lines.append("%s %s 2>%s" % (shlex.quote(PSYCHE), " ".join(shlex.quote(a) for a in args),
                                     shlex.quote(self.err_path)))
        lines.append("echo $? > %s" % shlex.quote(self.rc_path))
        script = os.path.join(self.dir, "run.sh")
        with open(script, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(script, 0o755)
        self.tmux("new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), script)

    def tmux(self, *args, check=True):
        out = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null"] + list(args), capture_output=True,
                             text=True, timeout=10)
        if check and out.returncode != 0:
            raise AssertionError("tmux %s: %s" % (" ".join(args), out.stderr))
        return out.stdout

    def keys(self, *keys):
        """tmux key names: "Enter", "C-t", "Escape", "PPage"..."""
        self.tmux("send-keys", "-t", self.session, *keys)

    def type(self, text, enter=True):
        self.tmux("send-keys", "-t", self.session, "-l", text)
        if enter:
            self.keys("Enter")

    def screen(self):
        if self.ended():
            return ""
        return self.tmux("capture-pane", "-p", "-t", self.session, check=False)

    def ended(self):
        return os.path.exists(self.rc_path) and open(self.rc_path).read().strip() != ""

    def wait(self, pred, timeout, what):
        """Polls the screen until pred(screen) is true; returns that screen."""
        deadline = time.monotonic() + timeout
        s = ""
        while time.monotonic() < deadline:
            s = self.screen()
            if pred(s):
                return s
            if self.ended():
                break
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %s; screen:\n%s\nstderr: %s\nlog tail: %s"
                             % (what, s, self.stderr(), self.log("psyche")[-2000:]))

    def wait_text(self, text, timeout=30):
        return self.wait(lambda s: text in s, timeout, repr(text))

    def ready(self, timeout=60):
        """Both children up and the agent idle, as the sidebar says."""
        return self.wait(lambda s: "state     idle" in s and "elpis     \u25cf up" in s, timeout, "the agent to be idle")

    def exit_code(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ended():
                return int(open(self.rc_path).read())
            time.sleep(0.1)
        raise AssertionError("psyche did not exit; screen:\n%s" % self.screen())

    def stderr(self):
        try:
            with open(self.err_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log(self, name):
        try:
            with open(os.path.join(self.state, name + ".log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        self.tmux("kill-server", check=False)
        for name in ("psyche", "elpis", "mnemosyne"):
            check_sanitizer_log(os.path.join(self.state, name + ".log"))
        check_sanitizer_log(self.err_path)
        for d in [self.dir] + getattr(self, "cleanup_dirs", []):
            shutil.rmtree(d, ignore_errors=True)


def chat_column(screen, width=83):
    """The chat side of the screen (the sidebar cut off)."""
    return "\n".join(l[:width] for l in screen.splitlines())


def answer_lines(screen):
    """The text rows under the last 'Psyche' label of the chat."""
    rows = chat_column(screen).splitlines()
    labels = [i for i, r in enumerate(rows) if r.rstrip() == "Psyche"]
    if not labels:
        return []
    out = []
    for r in rows[labels[-1] + 1:]:
        if not r.startswith("  ") or r.startswith("\u2500"):
            break
        out.append(r.strip())
    return [r for r in out if r]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie waiting for its parent counts as gone
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# ----------------------------------------------------------------- tests


def test_tui_chat_commands_thoughts_resize_quit():
    """The issue's walk-through on the real children and the tiny model."""
    t = Tui(120, 40)
    try:
        s = t.ready()
        assert "EMOTION" in s and "STATUS" in s and "TOOLS" in s, s
        assert "valence" in s and "arousal" in s and "sandbox" in s, s
        assert "Type a message" in s, s

        t.type("Hello, who are you?")
        t.wait_text("Hello, who are you?", 5)
        s = t.wait(lambda s: answer_lines(s) and "state     idle" in s and CURSOR not in s, 60, "an answer")
        assert "You" in chat_column(s), s
        assert sum(len(l) for l in answer_lines(s)) > 10, s
        assert "messages  2" in s, s  # the user message and the answer

        t.type("/emotion")
        s = t.wait_text("Emotion: ", 20)
        assert "valence" in s and "trend" in s, s

        t.type("/status")
        s = t.wait_text("Sandbox:", 20)
        assert "State: " in s and "elpis: running (pid" in s, s
        pids = []
        for line in s.splitlines():
            for child in ("elpis", "mnemosyne"):
                mark = "%s: running (pid " % child
                if mark in line:
                    pids.append(int(line.split(mark)[1].split(",")[0]))
        assert len(pids) == 2, s

        t.keys("C-r")  # reasoning mode, as /thinking
        t.wait(lambda s: "Reasoning mode on" in s and "reasoning on" in s, 10, "reasoning mode on")
        t.type("/thinking off")
        t.wait(lambda s: "Reasoning mode off" in s and "reasoning off" in s, 10, "reasoning mode off")

        t.keys("C-t")
        s = t.wait_text("thoughts (", 5)
        t.keys("C-t")
        t.wait(lambda s: "thoughts (" not in s, 5, "the thought panel to close")
        t.type("/thoughts on")
        t.wait_text("thoughts (", 5)
        t.type("/t off")
        t.wait(lambda s: "thoughts (" not in s, 5, "the thought panel to close")

        # narrow: no sidebar, the input line still at the bottom
        t.tmux("resize-window", "-t", t.session, "-x", "70", "-y", "20")
        s = t.wait(lambda s: len(s.splitlines()) <= 20 and "EMOTION" not in s and "\u203a" in s, 5, "a narrow layout")
        rows = s.splitlines()
        assert all(len(r) <= 70 for r in rows), s
        assert any(r.startswith("\u203a") for r in rows[-3:]), s
        t.tmux("resize-window", "-t", t.session, "-x", "120", "-y", "40")
        t.wait(lambda s: "EMOTION" in s and len(s.splitlines()) >= 39, 5, "the sidebar to come back")

        t.type("/quit")
        t.wait_text("Saving the conversation", 10)
        assert t.exit_code(60) == 0, t.stderr()
        deadline = time.monotonic() + 10
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(pid_alive(p) for p in pids), "children still running: %s" % pids
        assert "AddressSanitizer" not in t.stderr(), t.stderr()
    finally:
        t.close()


def test_tui_streams_tools_cancels_and_shows_thoughts():
    """Scripted text: streaming with the cursor, a tool line in the chat and
    the sidebar, Esc stopping an answer, an idle thought in the panel."""
    words = " ".join("word%02d" % i for i in range(40))
    script = {
        "responses": [
            {"content": "Streaming now: " + words + " THE END.", "when": "stream please", "chunk": 6, "delay": 0.05},
            {"content": tool_call("read_file", file_path="notes.txt"), "when": "read my notes"},
            {"content": "Your notes say hello.", "when": "[Tool result for read_file]"},
            {"content": "slow " * 200, "when": "go slowly", "chunk": 2, "delay": 0.1},
            {"content": "later " * 200, "when": "slowly again", "chunk": 2, "delay": 0.1},
        ],
        "background": [{"content": "I notice a quiet pattern in the workspace."}],
        "background_default": "A summary.",
    }
    t = Tui(120, 40, script, ("--no-memory",), idle_enabled="true", idle_think_after_s=2, idle_quiet_after_user_s=0,
            idle_dream_after_s=3600, idle_tool_warmup_s=3600)
    try:
        with open(os.path.join(t.ws, "notes.txt"), "w") as f:
            f.write("hello\nworld\n")
        t.ready()

        # streaming: part of the text with the cursor after it, later all of it
        t.type("stream please")
        s = t.wait(lambda s: "Streaming now" in s and CURSOR in s and "THE END." not in s, 20, "text mid-stream")
        assert "generating" in s, s
        s = t.wait(lambda s: "THE END." in s and CURSOR not in s, 30, "the whole answer")
        text = " ".join(answer_lines(s))
        assert "word00" in text and "word39" in text, s

        # a tool: its readable line in the chat (with its outcome) and in the sidebar
        t.type("read my notes")
        s = t.wait(lambda s: "Your notes say hello." in s and "state     idle" in s, 30, "the tool's answer")
        chat = chat_column(s)
        assert "\u2713 Reading notes.txt (2 lines)" in chat, s
        side = "\n".join(l[84:] for l in s.splitlines())
        assert "Reading notes.txt (2 lines)" in side, s

        # Esc stops a running answer
        t.type("go slowly")
        t.wait(lambda s: "slow slow" in s, 20, "the slow answer")
        t.keys("Escape")
        s = t.wait(lambda s: "(interrupted)" in s, 10, "the answer to stop")
        t.wait(lambda s: "state     idle" in s, 10, "idle")

        # so does Ctrl+C while an answer runs, with a hint that a second press quits
        t.type("slowly again")
        t.wait(lambda s: "later later" in s, 20, "the second slow answer")
        t.keys("C-c")
        s = t.wait(lambda s: s.count("(interrupted)") == 2, 10, "the second answer to stop")
        assert "Press Ctrl+C again to quit" in s, s
        t.wait(lambda s: "state     idle" in s and "Press Ctrl+C again" not in s, 10, "the hint to go")
        assert not t.ended()

        # an idle thought: announced in the status bar, shown in the panel
        t.wait_text("new thought", 30)
        t.keys("C-t")
        s = t.wait_text("quiet pattern in the workspace", 5)
        assert "reflection" in s, s
        assert "quiet pattern" not in "\n".join(answer_lines(s)), "a thought leaked into the chat"

        # input editing and history, on screen
        t.type("hello wrld", enter=False)
        t.keys("Left", "Left", "Left")
        t.type("o", enter=False)
        t.wait_text("\u203a hello world", 5)
        t.keys("C-u")
        t.wait(lambda s: "\u203a hello world" not in s, 5, "Ctrl+U to clear")
        t.keys("Up")
        t.wait_text("\u203a slowly again", 5)
        t.keys("Up")
        t.wait_text("\u203a go slowly", 5)
        t.keys("C-u")

        t.keys("C-q")
        assert t.exit_code(60) == 0, t.stderr()
    finally:
        t.close()


def test_tui_ctrl_c_twice_quits():
    script = {"responses": [{"content": "Hi."}], "background_default": "A summary."}
    t = Tui(100, 30, script, ("--no-memory",))
    try:
        t.ready()
        t.keys("C-c")
        t.wait_text("Press Ctrl+C again to quit", 5)
        time.sleep(1.8)  # too late for a double press: only a hint again
        t.keys("C-c")
        t.wait_text("Press Ctrl+C again to quit", 5)
        assert not t.ended()
        t.keys("C-c")
        assert t.exit_code(60) == 0, t.stderr()
    finally:
        t.close()


def test_tui_unknown_command_and_help():
    script = {"responses": [], "background_default": "A summary."}
    t = Tui(120, 40, script, ("--no-memory",))
    try:
        t.ready()
        t.type("/frobnicate")
        t.wait_text("Unknown command /frobnicate (try /help)", 5)
        t.type("/help")
        s = t.wait_text("/memory <query>", 5)
        assert "/thinking [on|off]" in s and "/quit" in s, s
        t.type("/memory")
        t.wait_text("usage: /memory <query>", 5)
        t.type("/q")
        assert t.exit_code(60) == 0, t.stderr()
    finally:
        t.close()


def test_tui_paste_with_line_breaks_is_one_message():
    """A bracketed paste (tmux paste-buffer -p) keeps its line breaks in the
    input line (shown as a return sign) instead of sending each line."""
    script = {"responses": [{"content": "Got both lines.", "when": "second line"}], "background_default": "A summary."}
    t = Tui(120, 40, script, ("--no-memory",))
    try:
        t.ready()
        t.tmux("set-buffer", "first line\nsecond line")
        t.tmux("paste-buffer", "-p", "-t", t.session)
        t.wait_text("\u203a first line\u21b5second line", 5)
        assert "You" not in chat_column(t.screen()), "the paste was sent"
        t.keys("C-j")
        t.type("third")
        s = t.wait_text("Got both lines.", 20)
        rows = [r.rstrip() for r in chat_column(s).splitlines()]
        i = rows.index("You")
        assert rows[i + 1:i + 4] == ["  first line", "  second line", "  third"], s  # one message, three lines
        t.keys("C-q")
        assert t.exit_code(60) == 0, t.stderr()
    finally:
        t.close()


def children_of(pid):
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid=,comm="], capture_output=True, text=True)
    return {int(l.split()[0]): l.split()[1] for l in out.stdout.splitlines() if l.strip()}


def test_tui_closing_the_terminal_stops_psyche_and_its_children():
    """SIGHUP and a hung-up tty (tmux kill-session): psyche takes its
    shutdown path and leaves no process behind."""
    t = Tui(100, 30)
    try:
        t.ready()
        shell = int(t.tmux("display", "-p", "-t", t.session, "#{pane_pid}").strip())
        psyche = [p for p, c in children_of(shell).items() if c == "psyche"]
        assert len(psyche) == 1, children_of(shell)
        kids = list(children_of(psyche[0]))
        assert len(kids) == 2, children_of(psyche[0])
        t.tmux("kill-session", "-t", t.session)
        deadline = time.monotonic() + 30
        while any(pid_alive(p) for p in psyche + kids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(pid_alive(p) for p in psyche + kids), "still running: %s" % (psyche + kids)
        assert "shutting down" in t.log("psyche"), t.log("psyche")[-2000:]
    finally:
        t.close()


# ------------------------------------------------------------ layering


CHECK_LAYERS = os.path.join(ROOT, "tests", "check_layers.py")


def test_tui_files_call_only_the_layers_below():
    """No two TUI files call each other, directly or around a loop
    (tests/check_layers.py over the object files), and the screen model sits
    below keys, view and events: it calls only the pure files."""
    objdir = os.path.dirname(build_path("obj", "psyche", "tui.o"))
    r = subprocess.run([sys.executable, CHECK_LAYERS, objdir, "--only", "tui*", "--graph"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "no circles" in r.stdout, r.stdout + r.stderr
    model = [l for l in r.stdout.splitlines() if l.startswith("tui_model.c ")]
    assert model and model[0].split("->")[1].strip() == "tui_input.c, tui_text.c", r.stdout


# ------------------------------------------------- issue 9, front-end items


def test_tui_test_model_header_stays():
    t = Tui(120, 40)
    try:
        s = t.ready()
        assert s.splitlines()[0].lstrip().startswith("TEST MODEL: tiny-chat.gguf"), s
        t.type("hello")
        s = t.wait(lambda s: answer_lines(s) and "state     idle" in s, 60, "an answer")
        assert "TEST MODEL" in s.splitlines()[0], s  # still there: not covered by the chat
        t.type("/q")
        assert t.exit_code(60) == 0, t.stderr()
    finally:
        t.close()


def test_tui_no_header_for_another_model_and_where_files_live():
    script = {"responses": [], "background_default": "A summary."}
    t = Tui(120, 40, script, ("--no-memory",))
    try:
        s = t.ready()
        assert "TEST MODEL" not in s, s
        t.type("/status")
        s = t.wait_text("Config: ", 20)
        assert "Memories: off (--no-memory); " + os.path.join(t.dir, "memories.db") in s, s
        assert "Logs: " + t.state in s, s
        t.type("/q")
        assert t.exit_code(60) == 0, t.stderr()
    finally:
        t.close()


def test_tui_tab_lists_candidates_cls_keeps_the_conversation():
    logdir = tempfile.mkdtemp(prefix="psyche-tui-log-")
    log = os.path.join(logdir, "requests.jsonl")
    script = {"responses": [{"content": "First reply here.", "when": "hello"},
                            {"content": "Second reply.", "when": "again"}],
              "background_default": "A summary.", "log": log}
    t = Tui(120, 40, script, ("--no-memory",))
    t.cleanup_dirs = [logdir]
    try:
        t.ready()
        t.type("/th", enter=False)
        t.keys("Tab")
        t.wait_text("/thinking  /thoughts", 5)  # the candidates in the status bar
        t.keys("C-u")
        t.type("hello")
        t.wait_text("First reply here.", 20)
        t.type("/cls")
        t.wait(lambda s: "First reply here." not in s and "hello" not in chat_column(s), 5, "a clear screen")
        t.type("again")
        t.wait_text("Second reply.", 20)
        with open(log) as f:
            reqs = [json.loads(l) for l in f]
        last = [r for r in reqs if r["tool"] == "generate" and not r["arguments"].get("background")][-1]
        contents = [m["content"] for m in last["arguments"]["messages"]]
        assert any("hello" in c for c in contents), contents  # the conversation went on
        t.type("/q")
        assert t.exit_code(60) == 0, t.stderr()
    finally:
        t.close()


def test_tui_reason_hides_reasoning_and_thoughts_toggle():
    script = {"responses": [{"content": "<reasoning>secret-plan-marker</reasoning>The answer."}],
              "background_default": "A summary."}
    t = Tui(120, 40, script, ("--no-memory",))
    try:
        t.ready()
        t.type("/thoughts toggle")
        t.wait_text("thoughts (", 5)
        t.type("hi")
        t.wait_text("The answer.", 20)
        t.wait_text("secret-plan-marker", 5)
        t.type("/reason")
        t.wait(lambda s: "Reasoning is hidden" in s and "secret-plan-marker" not in s, 5, "reasoning hidden")
        t.type("/reason on")
        t.wait_text("secret-plan-marker", 5)
        t.type("/thoughts toggle")
        t.wait(lambda s: "thoughts (" not in s, 5, "the thought panel to close")
        t.type("/q")
        assert t.exit_code(60) == 0, t.stderr()
    finally:
        t.close()


def test_tui_child_start_failure_shows_its_cause_in_full():
    """No model at all: the chat says elpis's own cause, not 'initialize: '."""
    t = Tui(120, 40, None, ("--no-memory",), children_start_attempts=1, model_path="")
    try:
        s = t.wait_text("elpis cannot start: no model: pass --model PATH", 30)
        assert "--model FILE.gguf" in s, s
        assert "elpis     \u25cf down: no model" in s, s  # the sidebar names the cause, not "initialize: "
        t.type("/q")
        assert t.exit_code(60) == 0, t.stderr()
    finally:
        t.close()


def test_tui_removes_escape_sequences_split_across_tokens():
    """Issue 8 item 6 in the TUI: sequences arrive in 3-character pieces and
    still leave no fragment ("[2J", "52;c;") on the screen."""
    payload = "Hello \x1b]52;c;ZWNobyBwd25lZA==\x07wor\x1b[2Jld\x1bP$q\x1b\\ done\x07\b!"
    script = {"responses": [{"content": payload, "chunk": 3}], "background_default": "A summary."}
    t = Tui(120, 40, script, ("--no-memory",))
    try:
        t.ready()
        t.type("say it")
        s = t.wait_text("Hello world done!", 20)
        assert "[2J" not in s and "52;c" not in s and "$q" not in s and "\ufffd" not in s, s
        t.type("/q")
        assert t.exit_code(60) == 0, t.stderr()
    finally:
        t.close()
