"""psyche's line front-ends for scripts (-p, --repl, --events; front_print.c):
clean terminal output (issue 8 item 6), pipes read completely and answered in
order, -p without a quit summary, documented exit statuses, documented events
(issue 9 items 5 and 6). Real binaries; fake_elpis.py scripts exact text."""
import os
import re
import subprocess
import time

from mcp import ROOT
from test_psyche import PSYCHE, Env, run_p  # noqa: E402

PAYLOAD = "Hello \x1b]52;c;ZWNobyBwd25lZA==\x07wor\x1b[2Jld\x1bP$q\x1b\\ \u00e9t\u00e9\x07\b\r!"


def run_repl(env, stdin, *args, timeout=60):
    return subprocess.run([PSYCHE, "--repl"] + list(args), input=stdin, cwd=env.dir, env=env.env,
                          capture_output=True, text=True, timeout=timeout)


def test_print_strips_escape_sequences_from_model_text():
    # chunk 3: the sequences arrive split across streamed tokens
    env = Env({"responses": [{"content": PAYLOAD, "chunk": 3}]})
    try:
        out = run_p(env, "say it", "--no-memory")
        assert out.returncode == 0, out.stderr
        assert out.stdout == "Hello world \u00e9t\u00e9!\n", repr(out.stdout)
        assert "\x1b" not in out.stderr and "\x07" not in out.stderr, repr(out.stderr)
    finally:
        env.cleanup()


def test_raw_keeps_the_text_as_it_is():
    env = Env({"responses": [{"content": PAYLOAD, "chunk": 3}]})
    try:
        out = run_p(env, "say it", "--no-memory", "--raw")
        assert out.returncode == 0, out.stderr
        assert "\x1b]52;c;ZWNobyBwd25lZA==\x07" in out.stdout and "\x1b[2J" in out.stdout, repr(out.stdout)
    finally:
        env.cleanup()


def test_repl_strips_escapes_from_answers_and_tool_lines():
    env = Env({"responses": [{"content": "A\x1b[2J\x9bB\u009b2JC\x1b]0;pwn\x07D"}]})
    try:
        out = run_repl(env, "hi\n", "--no-memory")
        assert out.returncode == 0, out.stderr
        assert "\x1b" not in out.stdout and "\u009b" not in out.stdout, repr(out.stdout)
        assert out.stdout.splitlines()[0] == "ACD", repr(out.stdout)  # "\x9bB" is a C1 CSI with final B
    finally:
        env.cleanup()


def test_repl_from_a_pipe_answers_every_line_in_order():
    script = {"responses": [{"content": "First answer.", "when": "hello"},
                            {"content": "Second answer.", "when": "second", "delay": 0.05, "chunk": 4},
                            {"content": "Third answer.", "when": "third"}]}
    env = Env(script)
    try:
        out = run_repl(env, "hello\nsecond\nthird\n/quit\nnever sent\n")
        assert out.returncode == 0, "rc %d: %s" % (out.returncode, out.stderr)
        lines = out.stdout.splitlines()
        assert lines[:3] == ["First answer.", "Second answer.", "Third answer."], repr(out.stdout)
        assert "cancelled" not in out.stderr, out.stderr
        sent = [r["arguments"]["messages"][-1]["content"] for r in env.requests()
                if r["tool"] == "generate" and not r["arguments"].get("background")]
        assert not any("never sent" in m for m in sent), sent
    finally:
        env.cleanup()


def test_repl_from_a_pipe_on_the_tiny_model_answers_before_quitting():
    """The issue's case: printf 'hello\\n/quit\\n' | psyche --repl on the real
    children. It printed nothing and 'elpis could not be started: cancelled'."""
    env = Env()
    try:
        out = run_repl(env, "hello\n/quit\n", "--no-idle")
        assert out.returncode == 0, "rc %d: %s" % (out.returncode, out.stderr)
        assert out.stdout.strip(), "no answer; stderr: %s" % out.stderr
        assert "cancelled" not in out.stderr, out.stderr
    finally:
        env.cleanup()


def test_print_stores_no_quit_summary_unless_asked():
    for args, want in (((), False), (("--summary",), True)):
        env = Env({"responses": [{"content": "Hi Ada."}], "background_default": "Summary-marker: Ada said hello."})
        try:
            out = run_p(env, "Hi, I am Ada", *args)
            assert out.returncode == 0, out.stderr
            bg = [r for r in env.requests() if r["tool"] == "generate" and r["arguments"].get("background")]
            assert bool(bg) == want, (args, bg)
        finally:
            env.cleanup()


def test_summary_without_print_is_a_usage_error():
    env = Env()
    try:
        out = subprocess.run([PSYCHE, "--repl", "--summary"], input="", cwd=env.dir, env=env.env,
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 2 and "--summary goes with -p" in out.stderr, (out.returncode, out.stderr)
    finally:
        env.cleanup()


def test_missing_model_file_exits_3_at_once_with_one_line():
    env = Env()
    env.env["PSYCHE_MODEL_PATH"] = os.path.join(env.dir, "nope.gguf")
    try:
        for mode in (["-p", "hi"], ["--repl"]):
            t0 = time.monotonic()
            out = subprocess.run([PSYCHE] + mode, input="hi\n", cwd=env.dir, env=env.env, capture_output=True,
                                 text=True, timeout=30)
            assert out.returncode == 3, (mode, out.returncode, out.stderr)
            lines = out.stderr.strip().splitlines()
            assert len(lines) == 1 and "nope.gguf" in lines[0] and "--model" in lines[0], lines
            assert time.monotonic() - t0 < 5
    finally:
        env.cleanup()


def test_no_model_configured_exits_3_without_waiting_for_a_retry():
    env = Env(children_restart_retry_s=60)
    env.env["PSYCHE_MODEL_PATH"] = ""  # the real elpis with no model at all
    try:
        t0 = time.monotonic()
        out = run_p(env, "hi", "--no-memory", timeout=45)
        assert out.returncode == 3, (out.returncode, out.stderr)
        assert "no model" in out.stderr and "--model" in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr  # one line, not a log tail
        assert time.monotonic() - t0 < 30, "waited for the retry"
    finally:
        env.cleanup()


def test_elpis_that_cannot_start_exits_4():
    env = Env(children_start_attempts=1)
    env.env["PSYCHE_CHILDREN_ELPIS_COMMAND"] = "sh,-c,echo broken-marker >&2; exit 5"
    env.env["PSYCHE_MODEL_PATH"] = ""
    try:
        t0 = time.monotonic()
        out = run_repl(env, "hello\n", "--no-memory", timeout=45)
        assert out.returncode == 4, (out.returncode, out.stderr)
        assert "elpis could not be started" in out.stderr, out.stderr
        assert time.monotonic() - t0 < 30
    finally:
        env.cleanup()


def test_repl_status_says_where_memories_logs_and_config_live():
    env = Env({"responses": []})
    try:
        out = run_repl(env, "/status\n")
        assert out.returncode == 0, out.stderr
        assert "Memories: " + env.db in out.stdout, out.stdout
        assert "Logs: " + env.state in out.stdout and "Config: " in out.stdout, out.stdout
    finally:
        env.cleanup()


def test_help_says_where_memories_logs_and_config_live():
    env = Env()
    try:
        out = subprocess.run([PSYCHE, "--help"], cwd=env.dir, env=env.env, capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0
        assert "Memories: " + env.db in out.stdout and "Logs: " + env.state in out.stdout, out.stdout
        assert "Exit status" in out.stdout and "--raw" in out.stdout
    finally:
        env.cleanup()


def test_every_event_is_documented_with_its_fields():
    """The names come from psy_event_kind_name's table, wherever it lives."""
    src = ""
    for name in sorted(os.listdir(os.path.join(ROOT, "psyche"))):
        if name.endswith(".c"):
            with open(os.path.join(ROOT, "psyche", name)) as f:
                text = f.read()
            if re.search(r"^const char \*psy_event_kind_name\(", text, re.M):
                src = text[text.index("psy_event_kind_name("):]
    names = re.findall(r'"(\w+)"', re.search(r"names\[\] = \{(.*?)\};", src, re.S).group(1))
    assert len(names) >= 13, names
    with open(os.path.join(ROOT, "docs", "psyche.md")) as f:
        doc = f.read()
    section = doc[doc.index("## Events"):]
    for n in names:
        assert re.search(r"^\| `%s` \|" % n, section, re.M), "event %s is not in the table of docs/psyche.md" % n


def test_a_config_file_inside_the_workspace_is_refused():
    """Issue 8 item 3: the agent could have written it (common/startup)."""
    env = Env({"responses": [{"content": "never"}]})
    try:
        conf = os.path.join(env.ws, "psyche.toml")
        with open(conf, "w") as f:
            f.write("[shutdown]\nsummary = false\n")
        out = run_p(env, "hi", "--config", conf)
        assert out.returncode == 2, (out.returncode, out.stderr)
        assert "refusing config file " + conf in out.stderr, out.stderr
        assert not env.requests(), "elpis was started"
    finally:
        env.cleanup()


def test_home_or_root_as_the_default_workspace_is_refused():
    """Issue 8 item 3: a workspace that defaulted to the current folder must not
    silently be the user's home or /; an explicit --workspace is the user's choice."""
    env = Env({"responses": [{"content": "fine"}]})
    try:
        env.env.pop("PSYCHE_WORKSPACE_DIR")
        for cwd in (env.home, "/"):
            out = subprocess.run([PSYCHE, "-p", "hi", "--no-memory"], cwd=cwd, env=env.env,
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 2, (cwd, out.returncode, out.stderr)
            assert "the workspace would be " + cwd in out.stderr, out.stderr
        assert not env.requests(), "elpis was started"
        out = subprocess.run([PSYCHE, "-p", "hi", "--no-memory", "--workspace", env.home], cwd=env.home,
                             env=env.env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout == "fine\n", (out.returncode, out.stdout, out.stderr)
    finally:
        env.cleanup()


def test_make_run_gives_the_agent_a_workspace_of_its_own():
    """Issue 8 item 3: scripts/run.sh passes the repo's configs explicitly and a
    workspace under the data folder, never the source tree."""
    with open(os.path.join(ROOT, "scripts", "run.sh")) as f:
        text = f.read()
    assert 'args=(--workspace "$workspace")' in text
    assert "psyche/workspace" in text and "PSYCHE_CONFIG=" in text
