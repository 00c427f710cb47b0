"""Hermes: `psyche --connect URL` (-p and --repl) against a local `psyche serve`
on loopback (fake_elpis.py scripts the model), over real HTTP. The client's
tools run in the CLIENT's workspace, a folder the server never sees; --repl
is also driven through tmux for Ctrl+C (the stream is closed and the server
counts the generation as cancelled); a full server is retried with backoff."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from test_server import KEY, PSYCHE, Server


class Client:
    """A workspace and HOME for psyche --connect, apart from the server's."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="psyche-hermes-test-")
        self.ws = os.path.join(self.dir, "ws")
        os.makedirs(self.ws)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PSYCHE_", "ELPIS_", "XDG_"))}
        self.env["HOME"] = self.dir

    def run(self, server_url, *args, stdin=None, timeout=60):
        argv = [PSYCHE, "--connect", server_url, "--workspace", self.ws] + list(args)
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, env=self.env,
                              cwd=self.dir)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def url(s):
    return "http://127.0.0.1:%d" % s.port


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def test_server_down_is_one_clear_line_and_exit_69():
    c = Client()
    try:
        r = c.run("http://127.0.0.1:%d" % free_port(), "-p", "hi")
        assert r.returncode == 69, r
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot reach the server" in lines[0] and "psyche serve" in lines[0], r.stderr
        r = c.run("ftp://x", "-p", "hi")
        assert r.returncode == 2 and "http://" in r.stderr, r
    finally:
        c.close()


def test_print_mode_streams_the_answer():
    s = Server(fake_script={"responses": [{"content": "Hello from the server.", "chunk": 4}]})
    c = Client()
    try:
        r = c.run(url(s), "-p", "hi there")
        assert r.returncode == 0, r
        assert r.stdout == "Hello from the server.\n", r
        calls = [q for q in s.requests_logged() if q["tool"] in ("generate", "function_call")]
        # the client's tools are offered to the model
        names = [t["function"]["name"] for t in calls[0]["arguments"]["tools"]]
        assert "create_file" in names and "execute_bash" in names, names
    finally:
        c.close()
        assert s.stop() == 0


def test_escape_sequences_from_the_server_never_reach_the_terminal():
    """Issue 8 item 6 for Hermes: the remote model's text is hostile too."""
    payload = "Hi \x1b]52;c;ZWNobyBwd25lZA==\x07wor\x1b[2Jld\x07\b\r!"
    s = Server(fake_script={"responses": [{"content": payload, "chunk": 3}]})
    c = Client()
    try:
        r = c.run(url(s), "-p", "hi there")
        assert r.returncode == 0, r
        assert r.stdout == "Hi world!\n", repr(r.stdout)
    finally:
        c.close()
        assert s.stop() == 0


def test_tool_round_trip_creates_the_file_in_the_clients_workspace():
    call = [{"id": "call_h1", "type": "function",
             "function": {"name": "create_file",
                          "arguments": "{\"file_path\":\"notes/hello.txt\",\"content\":\"made by hermes\"}"}}]
    s = Server(fake_script={"responses": [{"tool_calls": call, "content": ""},
                                          {"content": "I wrote notes/hello.txt."}]})
    c = Client()
    try:
        r = c.run(url(s), "-p", "write a note")
        assert r.returncode == 0, r
        assert r.stdout.strip() == "I wrote notes/hello.txt.", r
        assert "[tool] create_file" in r.stderr, r.stderr
        with open(os.path.join(c.ws, "notes", "hello.txt")) as f:
            assert f.read() == "made by hermes"
        assert not os.path.exists(os.path.join(s.dir, "notes")), "the tool ran on the server"
        calls = [q for q in s.requests_logged() if q["tool"] == "function_call"]
        assert len(calls) == 2, calls
        last = calls[1]["arguments"]["messages"][-1]["content"]
        assert "call_h1" in last and "\"success\":true" in last, last
        # the server's emotion heard how the local tool went, as the local agent tells elpis
        events = [q["arguments"] for q in s.requests_logged() if q["tool"] == "update_emotion"]
        assert {"event_type": "success", "intensity": 0.3, "context": "create_file"} in events, events
    finally:
        c.close()
        assert s.stop() == 0


def test_a_failed_local_tool_moves_the_servers_emotion():
    call = [{"id": "call_h2", "type": "function",
             "function": {"name": "read_file", "arguments": "{\"file_path\":\"no/such/file.txt\"}"}}]
    s = Server(fake_script={"responses": [{"tool_calls": call, "content": ""}, {"content": "It is not there."}]})
    c = Client()
    try:
        r = c.run(url(s), "-p", "read it")
        assert r.returncode == 0, r
        events = [q["arguments"] for q in s.requests_logged() if q["tool"] == "update_emotion"]
        assert [e["event_type"] for e in events] == ["failure"], events
        assert events[0]["intensity"] == 0.5 and events[0]["context"] == "read_file", events
    finally:
        c.close()
        assert s.stop() == 0


def test_repl_keeps_one_conversation_and_an_api_key():
    s = Server(fake_script={"responses": [{"content": "First answer."}, {"content": "Second answer."}]},
               keys=[KEY])
    c = Client()
    try:
        kf = os.path.join(c.dir, "key")
        with open(kf, "w") as f:
            f.write("# mine\n%s\n" % KEY)
        r = c.run(url(s), "--repl", stdin="hello\n")
        assert r.returncode == 1 and "API key" in r.stderr, r  # 401 without the key, said in one line
        r = c.run(url(s), "--repl", "--api-key-file", kf, stdin="one\ntwo\n/quit\n")
        assert r.returncode == 0, r
        assert r.stdout == "First answer.\nSecond answer.\n", r
        h = s.wait_health()
        assert h["conversations"] == 1, h
        msgs = [q for q in s.requests_logged() if q["tool"] == "function_call"][-1]["arguments"]["messages"]
        texts = [m["content"] for m in msgs]
        assert any("First answer." in t for t in texts) and texts[-1].endswith("two"), texts
    finally:
        c.close()
        assert s.stop() == 0


def test_ctrl_c_under_tmux_cancels_the_remote_generation():
    s = Server(fake_script={"responses": [{"content": "never shown", "delay": 120},
                                          {"content": "after the cancel"}]})
    c = Client()
    sock = "hermes-%d" % os.getpid()
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    try:
        script = os.path.join(c.dir, "run.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\ncd %s\nexec env -i HOME=%s PATH=/usr/bin:/bin %s --connect %s --workspace %s --repl "
                    "2>%s/err\n" % (c.dir, c.dir, PSYCHE, url(s), c.ws, c.dir))
        os.chmod(script, 0o755)
        subprocess.run(tmux + ["new-session", "-d", "-s", "h", "-x", "100", "-y", "30", script], check=True)
        subprocess.run(tmux + ["send-keys", "-t", "h", "-l", "go"], check=True)
        subprocess.run(tmux + ["send-keys", "-t", "h", "Enter"], check=True)
        # with tools offered the server's text is not streamed piece by piece: wait until the model works
        wait_for(lambda: any(q["tool"] == "function_call" for q in s.requests_logged()), "the request")
        subprocess.run(tmux + ["send-keys", "-t", "h", "C-c"], check=True)
        wait_for(lambda: s.metric('psyche_chat_completions_total{finish="cancelled"}') == 1, "cancelled on the server")
        wait_for(lambda: "[cancelled]" in read(os.path.join(c.dir, "err")),
                 lambda: "[cancelled] on the client: %r %r" % (read(os.path.join(c.dir, "err")), pane(tmux)))
        # the client is still there and answers the next line
        subprocess.run(tmux + ["send-keys", "-t", "h", "-l", "again"], check=True)
        subprocess.run(tmux + ["send-keys", "-t", "h", "Enter"], check=True)
        wait_for(lambda: "after the cancel" in pane(tmux), "the next answer")
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
        c.close()
        assert s.stop() == 0


def pane(tmux):
    return subprocess.run(tmux + ["capture-pane", "-p", "-t", "h"], capture_output=True, text=True).stdout


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def wait_for(pred, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + (what() if callable(what) else what))


def test_a_full_server_is_retried_with_backoff():
    """429 (queue full) before anything was shown: Hermes says so, waits and tries again."""
    import json
    import threading
    from test_server import user
    s = Server(fake_script={"responses": [{"content": "slow " * 30, "chunk": 5, "delay": 0.1, "when": "first"}],
                            "default": "Answered after the wait."}, server_queue_max=1)
    c = Client()
    try:
        threads = [threading.Thread(target=s.chat, args=(user(t),)) for t in ("first", "second")]
        threads[0].start()
        wait_for(lambda: json.loads(s.request("GET", "/health")[2])["busy"], "the first request")
        threads[1].start()
        wait_for(lambda: json.loads(s.request("GET", "/health")[2])["queue_depth"] == 1, "the queued one")
        r = c.run(url(s), "-p", "from hermes", timeout=120)
        assert r.returncode == 0 and r.stdout == "Answered after the wait.\n", r
        assert "retrying in" in r.stderr and "HTTP 429" in r.stderr, r.stderr
        for t in threads:
            t.join()
    finally:
        c.close()
        assert s.stop() == 0


# ---------------------------------------------------------------- the full-screen TUI over --connect

def hermes_tui(s, **kw):
    """The full-screen TUI (no -p/--repl) connected to s, its tools in its own workspace."""
    from test_tui import Tui
    ws = tempfile.mkdtemp(prefix="psyche-hermes-ws-")
    t = Tui(args=("--connect", url(s), "--workspace", ws), **kw)
    t.cleanup_dirs = [ws]
    t.client_ws = ws
    return t


def remote_ready(t):
    return t.wait(lambda s: "state     idle" in s and "elpis     \u25cf up" in s, 60, "the remote agent to be idle")


def test_tui_over_connect_answers_runs_local_tools_and_shows_the_servers_emotion():
    call = [{"id": "call_t1", "type": "function",
             "function": {"name": "create_file",
                          "arguments": "{\"file_path\":\"tui.txt\",\"content\":\"from the tui\"}"}}]
    s = Server(fake_script={"responses": [{"content": "Hello from far away.", "chunk": 4},
                                          {"tool_calls": call, "content": ""},
                                          {"content": "Written."}]})
    t = hermes_tui(s)
    try:
        remote_ready(t)
        t.type("hello there")
        t.wait_text("Hello from far away.")
        t.type("write it")
        t.wait_text("Written.")
        with open(os.path.join(t.client_ws, "tui.txt")) as f:
            assert f.read() == "from the tui"
        assert not os.path.exists(os.path.join(s.dir, "tui.txt")), "the tool ran on the server"
        sc = t.screen()
        assert "create_file" in sc and "messages  4" in sc, sc  # two messages, two answers
        # the sidebar follows the server's emotion
        import json
        st, _, body = s.request("POST", "/v1/psyche/emotion", {"event_type": "failure", "intensity": 2})
        assert st == 200, body
        quadrant = json.loads(body)["quadrant"]
        assert quadrant != "excited", body  # the fake model starts at 0/0, which is "excited"
        t.wait_text(quadrant, timeout=20)
        t.type("/emotion")
        t.wait_text("Emotion (from http://127.0.0.1")
        t.type("/memory cats")
        t.wait_text("is local-only")
        t.type("/clear")
        t.wait(lambda sc: "Conversation cleared" in sc and "messages  0" in sc, 20, "the cleared conversation")
        t.type("/quit")
        assert t.exit_code() == 0
    finally:
        t.close()
        assert s.stop() == 0


def test_tui_over_connect_escape_cancels_the_remote_generation():
    s = Server(fake_script={"responses": [{"content": "never shown", "delay": 120},
                                          {"content": "after the cancel"},
                                          {"content": "never shown either", "delay": 120},
                                          {"content": "took over"}]})
    t = hermes_tui(s)
    try:
        remote_ready(t)
        t.type("go")
        wait_for(lambda: any(q["tool"] == "function_call" for q in s.requests_logged()), "the request")
        t.keys("Escape")
        t.wait_text("(interrupted)", timeout=20)
        wait_for(lambda: s.metric('psyche_chat_completions_total{finish="cancelled"}') == 1, "cancelled on the server")
        t.type("again")
        t.wait_text("after the cancel")
        # a message while a turn runs abandons that turn, as with the local agent
        t.type("slow one")
        wait_for(lambda: sum(q["tool"] == "function_call" for q in s.requests_logged()) == 3, "the third request")
        t.type("take over")
        t.wait(lambda sc: "took over" in sc and sc.count("(interrupted)") == 2, 30, "the abandoned turn")
        wait_for(lambda: s.metric('psyche_chat_completions_total{finish="cancelled"}') == 2, "2 cancelled")
    finally:
        t.close()
        assert s.stop() == 0


def test_tui_over_connect_reconnects_when_the_server_is_back():
    s = Server(fake_script={"default": "Back again."})
    port = s.port
    t = hermes_tui(s)
    s2 = None
    try:
        remote_ready(t)
        assert s.stop() == 0
        t.wait(lambda sc: "reconnecting" in sc and "disconnected" in sc, 30, "the lost server to be said")
        s2 = Server(fake_script={"default": "Back again."}, args=("--port", str(port)))
        t.wait_text("Reconnected to", timeout=60)
        t.type("are you there")
        t.wait_text("Back again.")
    finally:
        t.close()
        if s2:
            assert s2.stop() == 0


def test_tui_over_connect_needs_the_server_before_it_starts():
    c = Client()
    try:
        r = c.run("http://127.0.0.1:%d" % free_port())  # no -p/--repl: the TUI, but no terminal here
        assert r.returncode == 1 and "needs a terminal" in r.stderr, r
        r = c.run("http://x", "--help")
        assert r.returncode == 0 and "full-screen terminal UI" in r.stdout, r
    finally:
        c.close()


def test_tui_over_connect_escape_stops_a_local_command_and_asks_the_server_nothing_more():
    call = [{"id": "call_s1", "type": "function",
             "function": {"name": "execute_bash", "arguments": "{\"command\":\"sleep 120\"}"}}]
    s = Server(fake_script={"responses": [{"tool_calls": call, "content": ""}, {"content": "the next answer"}]})
    t = hermes_tui(s)
    try:
        remote_ready(t)
        t.type("run it")
        t.wait_text("sleep 120")
        t.keys("Escape")
        t.wait_text("(interrupted)", timeout=20)  # not after the 30 s tool timeout
        t.type("next")
        t.wait_text("the next answer")  # the response the model had next: nothing was asked in between
        assert sum(q["tool"] == "function_call" for q in s.requests_logged()) == 2
    finally:
        t.close()
        assert s.stop() == 0


def test_tui_over_connect_with_the_server_down_says_so_and_exits_69():
    from test_tui import Tui
    t = Tui(args=("--connect", "http://127.0.0.1:%d" % free_port()))
    try:
        assert t.exit_code() == 69
        assert "cannot reach the server" in t.stderr() and "psyche serve" in t.stderr(), t.stderr()
    finally:
        t.close()


def test_tui_over_connect_quits_cleanly_on_sigterm():
    import signal
    from test_tui import children_of
    s = Server(fake_script={"responses": [{"content": "never shown", "delay": 120}]})
    t = hermes_tui(s)
    try:
        remote_ready(t)
        t.type("go")
        wait_for(lambda: any(q["tool"] == "function_call" for q in s.requests_logged()), "the request")
        shell = int(t.tmux("display", "-p", "-t", t.session, "#{pane_pid}").strip())
        pids = [p for p, name in children_of(shell).items() if name == "psyche"]
        assert len(pids) == 1, children_of(shell)
        os.kill(pids[0], signal.SIGTERM)
        assert t.exit_code(timeout=30) == 0  # the quit path ran (a default SIGTERM would be 143)
        wait_for(lambda: s.metric('psyche_chat_completions_total{finish="cancelled"}') == 1, "cancelled on the server")
    finally:
        t.close()
        assert s.stop() == 0


def test_tui_over_connect_shows_the_servers_dream_in_the_thoughts_panel():
    """The server dreams while nobody asks (Hermes' once-a-second polls of the
    emotion do not count); the dream and the insight kept from it reach the
    thoughts panel once each, their text filtered for the terminal."""
    import json
    dream = "I realize the pattern connects Zephyrine \x1b]0;owned\x07talks."
    s = Server(fake_script={"background_default": dream, "default": "Hello from far away."}, memory_enabled="true",
               idle_enabled="true", idle_dream_after_s=1, idle_dream_interval_s=3600)
    t = hermes_tui(s)
    try:
        remote_ready(t)
        t.type("hello there")  # opens the user's memories: now the server has someone to dream for
        t.wait_text("Hello from far away.")
        t.keys("C-t")
        t.wait(lambda sc: "Zephyrine" in sc and "kept an insight" in sc and "dream: " in sc, 60,
               "the server's dream in the thoughts panel")
        # later polls show nothing twice: the sidebar following an emotion event proves some ran
        st, _, body = s.request("POST", "/v1/psyche/emotion", {"event_type": "failure", "intensity": 2})
        assert st == 200, body
        sc = t.wait_text(json.loads(body)["quadrant"], timeout=20)
        assert sc.count("Zephyrine") == 1 and sc.count("kept an insight") == 1, sc
        assert "owned" not in sc, sc  # the escape sequence was dropped, not shown or obeyed
        t.type("/quit")
        assert t.exit_code() == 0
    finally:
        t.close()
        assert s.stop() == 0


def test_tui_over_connect_shows_the_dreams_of_a_restarted_server():
    """A server that restarts numbers its thoughts from 1 again: Hermes starts from
    its new next, so the new server's first dream is not taken as already seen."""
    def dreamer(text, **kw):
        return Server(fake_script={"background_default": text, "default": "Awake."}, memory_enabled="true",
                      idle_enabled="true", idle_dream_after_s=1, idle_dream_interval_s=3600, **kw)
    s = dreamer("I realize the pattern connects Aldebaran talks.")
    port = s.port
    t = hermes_tui(s)
    s2 = None
    try:
        remote_ready(t)
        t.keys("C-t")
        t.type("hello")
        t.wait(lambda sc: "Aldebaran" in sc and "kept an insight" in sc, 60, "the first server's dream")
        assert s.stop() == 0
        t.wait_text("reconnecting", timeout=30)
        s2 = dreamer("I realize the pattern connects Betelgeuse talks.", args=("--port", str(port)))
        t.wait_text("Reconnected to", timeout=60)
        t.type("hello again")
        t.wait_text("Betelgeuse", timeout=60)
    finally:
        t.close()
        if s2:
            assert s2.stop() == 0


# ---------------------------------------------------------------- against a scripted server

class FakeServer:
    """A stand-in for `psyche serve` on loopback (stdlib only) for what the real
    one cannot be made to do on cue: report chosen token counts, hold a poll,
    or accept every request and never answer. /health, the emotion and
    /v1/chat/completions (streamed, with the usage chunk when asked) answer
    unless `hang` (every request), `hold_health` or `hold_chat` is set; a held
    request waits unanswered until close()."""

    def __init__(self, usage=None, context_length=8192):
        import http.server
        import json
        import threading
        self.usage = usage or {"prompt_tokens": 1234, "completion_tokens": 56, "cached_tokens": 1200}
        self.context_length = context_length
        self.hang = self.hold_health = self.hold_chat = False
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.seen, self.held, self.chats = [], [], []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def hold(self):
                with fake.lock:
                    fake.held.append(self.path)
                fake.released.wait()

            def reply(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                with fake.lock:
                    fake.seen.append(self.path)
                if fake.hang or (fake.hold_health and self.path == "/health"):
                    return self.hold()
                if self.path == "/health":
                    return self.reply(200, {"status": "ok", "model": "fake-remote", "dreaming": False,
                                            "context_length": fake.context_length, "conversations": 0,
                                            "children": {"elpis": {"alive": True, "restarts": 0},
                                                         "mnemosyne": {"disabled": True}}})
                if self.path == "/v1/psyche/emotion":
                    return self.reply(200, {"valence": 0.1, "arousal": 0.2, "quadrant": "excited"})
                self.reply(404, {"error": {"message": "no such route", "type": "invalid_request_error"}})

            def do_POST(self):
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                with fake.lock:
                    fake.seen.append(self.path)
                    fake.chats.append(req)
                if fake.hang or fake.hold_chat:
                    return self.hold()
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake-remote"}
                chunks = [dict(base, choices=[{"index": 0, "delta": {"content": "Counted answer."}}]),
                          dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])]
                if (req.get("stream_options") or {}).get("include_usage"):
                    u = fake.usage
                    chunks.append(dict(base, choices=[], usage={
                        "prompt_tokens": u["prompt_tokens"], "completion_tokens": u["completion_tokens"],
                        "total_tokens": u["prompt_tokens"] + u["completion_tokens"],
                        "prompt_tokens_details": {"cached_tokens": u["cached_tokens"]}}))
                for c in chunks:
                    self.wfile.write(("data: %s\n\n" % json.dumps(c)).encode())
                self.wfile.write(b"data: [DONE]\n\n")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def held_count(self, path):
        with self.lock:
            return self.held.count(path)

    def close(self):
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def sidebar(screen, width=120, side=36):
    return "\n".join(l[width - side:] for l in screen.splitlines())


def test_tui_over_connect_shows_the_token_counts_the_server_reported():
    """The usage of the answer (asked for with stream_options.include_usage) and
    /health's context_length fill the sidebar's token rows; before the first
    answer there is nothing to show, so nothing is shown (not a 0)."""
    fs = FakeServer()
    t = hermes_tui(fs)
    try:
        sc = remote_ready(t)
        assert "tokens    " not in sc and "answer    " not in sc, sc
        t.type("count them")
        # all in one capture: tmux may catch the sidebar half redrawn, so the rows are waited for together
        sc = t.wait(lambda sc: "Counted answer." in sc and "1,290/8,192 16%" in sc
                    and "56 out, 1,200 cached" in sidebar(sc), 30, "the server's counts")
        assert fs.chats[-1]["stream_options"] == {"include_usage": True}, fs.chats[-1]
        t.type("/clear")  # a new conversation: its counts come with its first answer
        t.wait(lambda sc: "Conversation cleared" in sc and "1,290/8,192" not in sc, 20, "the counts gone")
        t.type("/quit")
        assert t.exit_code() == 0
    finally:
        t.close()
        fs.close()


def test_tui_over_connect_refreshes_the_emotion_within_a_turn():
    """The local agent shows elpis's state after each generation of a turn; so
    does Hermes, after each answered request: an emotion event that reaches the
    server while the first tool runs shows after the second request, while the
    second tool still runs (the turn is not over)."""
    import json

    def wait_file(name):
        return [{"id": "call_" + name, "type": "function",
                 "function": {"name": "execute_bash",
                              "arguments": json.dumps({"command": "while [ ! -e %s ]; do sleep 0.1; done" % name})}}]
    s = Server(fake_script={"responses": [{"tool_calls": wait_file("go1"), "content": ""},
                                          {"tool_calls": wait_file("go2"), "content": ""},
                                          {"content": "Both waited."}]})
    t = hermes_tui(s)
    try:
        remote_ready(t)
        t.type("wait twice")
        t.wait(lambda sc: "go1" in sc and "running tool" in sc, 30, "the first tool")
        st, _, body = s.request("POST", "/v1/psyche/emotion", {"event_type": "failure", "intensity": 2})
        assert st == 200, body
        quadrant = json.loads(body)["quadrant"]
        assert quadrant != "excited", body  # the fake model starts at 0/0, which is "excited"
        open(os.path.join(t.client_ws, "go1"), "w").close()
        sc = t.wait(lambda sc: "go2" in sc and quadrant in sidebar(sc) and "running tool" in sc, 30,
                    "the new emotion while the turn runs")
        assert "Both waited." not in sc, sc
        open(os.path.join(t.client_ws, "go2"), "w").close()
        # the fake model's usage (10 + 5) and context length, in the same capture as the answer
        t.wait(lambda sc: "Both waited." in sc and "15/4,096" in sidebar(sc), 30, "the answer and its counts")
    finally:
        t.close()
        assert s.stop() == 0


def hung_tui():
    """Hermes on a FakeServer that answered its start-up check and then stopped
    answering: each poll waits 2 s at most, so the chat says so."""
    fs = FakeServer()
    t = hermes_tui(fs)
    try:
        remote_ready(t)
        fs.hang = True
        t.wait(lambda sc: "not answering" in sc and "disconnected" in sc, 30, "the hung server to be said")
    except BaseException:
        t.close()
        fs.close()
        raise
    return fs, t


def test_tui_over_connect_says_a_hung_server_is_not_answering_and_reconnects_and_quits():
    fs, t = hung_tui()
    try:
        fs.hang = False
        t.wait_text("Reconnected to", timeout=60)  # the backoff still ends when the server answers
        held = len(fs.held)
        fs.hang = True
        wait_for(lambda: len(fs.held) > held, "a poll the server holds")
        t.type("/quit")
        assert t.exit_code(timeout=20) == 0  # not after a 15 s request timeout
    finally:
        t.close()
        fs.close()


def test_tui_over_connect_ctrl_c_quits_while_the_server_hangs():
    fs, t = hung_tui()
    try:
        t.keys("C-c")
        t.wait_text("Ctrl+C again")
        t.keys("C-c")
        assert t.exit_code(timeout=20) == 0
    finally:
        t.close()
        fs.close()


def test_tui_over_connect_escape_before_the_request_starts_cancels_that_turn():
    """The worker is busy with a poll the server holds when the message comes,
    and Esc comes before the worker gets to it: the turn ends as interrupted
    and asks the server nothing (if the machine stalls past the poll's 2 s,
    Esc cancels the started request instead: it is held, so only a cancel ends it)."""
    fs = FakeServer()
    t = hermes_tui(fs)
    try:
        remote_ready(t)
        fs.hold_health = fs.hold_chat = True
        wait_for(lambda: fs.held_count("/health") >= 1, "a held poll")
        t.type("go")
        t.keys("Escape")
        t.wait_text("(interrupted)", timeout=30)
        fs.hold_health = fs.hold_chat = False
        t.type("again")
        t.wait_text("Counted answer.")
        t.type("/quit")
        assert t.exit_code() == 0
    finally:
        t.close()
        fs.close()
