"""Integration tests of `psyche serve` over real HTTP on loopback: the real
elpis on the tiny model (usage, cached tokens, raw SSE through `curl -N`) and
fake_elpis.py where a test needs scripted text or timing (stop sequences, the
merged system prompt, a client that disconnects, a child that crashes, a full
queue, SIGTERM draining, a bounded load test). Each server gets its own temp
dir for HOME and state and listens on a free port (--port 0)."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from mcp import BUILD, ROOT, SANITIZER_MARKS, build_path, check_sanitizer_log

PSYCHE = build_path("bin", "psyche")
MNEMOSYNE = build_path("bin", "mnemosyne")
TINY = build_path("models", "tiny-chat.gguf")
FAKE = os.path.join(ROOT, "tests", "integration", "fake_elpis.py")
KEY = "test-key-0123456789abcdef"
# Under ASan freed memory sits in quarantine (RSS grows by design) and TSan is slow: the RSS bound
# is checked in the plain build; leaks are LeakSanitizer's job in the ASan build.
SANITIZED = "san" in BUILD or bool(os.environ.get("SAN"))


class Server:
    """A running `psyche serve`; stop() ends it with SIGTERM and returns its exit status."""

    def __init__(self, fake_script=None, args=(), keys=None, wait_ready=True, **settings):
        self.dir = tempfile.mkdtemp(prefix="psyche-serve-test-")
        self.state = os.path.join(self.dir, "state")
        os.makedirs(self.state)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PSYCHE_", "ELPIS_", "MNEMOSYNE_", "XDG_"))
               or k == "ELPIS_MODEL_THREADS"}  # the TSan stage runs elpis on one thread
        env.update({"HOME": self.dir, "PSYCHE_PATHS_STATE_DIR": self.state, "PSYCHE_MODEL_PATH": TINY,
                    "PSYCHE_AGENT_MAX_TOKENS": "16", "PSYCHE_CHILDREN_STOP_GRACE_MS": "2000",
                    # memory only where a test is about it (a user's first request starts a mnemosyne)
                    "PSYCHE_MEMORY_ENABLED": "false", "PSYCHE_IDLE_ENABLED": "false"})
        self.log_path = os.path.join(self.dir, "requests.jsonl")
        if fake_script is not None:
            fake_script.setdefault("log", self.log_path)
            script = os.path.join(self.dir, "script.json")
            with open(script, "w") as f:
                json.dump(fake_script, f)
            env["PSYCHE_CHILDREN_ELPIS_COMMAND"] = "%s,%s,%s" % (sys.executable, FAKE, script)
            env["PSYCHE_MODEL_PATH"] = ""
        for k, v in settings.items():
            env["PSYCHE_" + k.upper()] = str(v)
        argv = [PSYCHE, "serve", "--port", "0"] + list(args)
        if keys is not None:
            kf = os.path.join(self.dir, "keys")
            with open(kf, "w") as f:
                f.write("# test keys\n" + "\n".join(keys) + "\n")
            argv += ["--api-key-file", kf]
        self.proc = subprocess.Popen(argv, cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.port = None
        self.stderr = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.port is None:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.stderr.append(line)
            m = re.search(r"listening on http://[^:]+:(\d+)/v1", line)
            if m:
                self.port = int(m.group(1))
        assert self.port, "psyche serve did not start: %s" % "".join(self.stderr)
        threading.Thread(target=self._drain, daemon=True).start()
        if wait_ready:
            self.wait_health()

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def wait_health(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st, _, body = self.request("GET", "/health")
            if st == 200:
                return json.loads(body)
            time.sleep(0.1)
        raise AssertionError("server never became healthy: %s" % body)

    def request(self, method, path, body=None, headers=None, timeout=60):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data.decode("utf-8", "replace")

    def chat(self, body, headers=None, timeout=60):
        st, hd, data = self.request("POST", "/v1/chat/completions", body, headers, timeout)
        return st, json.loads(data) if data.startswith("{") else data

    def metric(self, name):
        st, _, text = self.request("GET", "/metrics")
        assert st == 200, text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return 0.0

    def requests_logged(self):
        try:
            with open(self.log_path) as f:
                return [json.loads(l) for l in f]
        except OSError:
            return []

    def log(self):
        try:
            with open(os.path.join(self.state, "psyche-serve.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("psyche serve did not stop on SIGTERM")
        for name in ("psyche-serve", "elpis"):
            check_sanitizer_log(os.path.join(self.state, name + ".log"))
        err = "".join(self.stderr)  # sanitizers report on stderr
        assert not any(m in err for m in SANITIZER_MARKS), err
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


def user(text, **extra):
    body = {"model": "psyche", "messages": [{"role": "user", "content": text}]}
    body.update(extra)
    return body


def sse_events(text):
    """The data: payloads of an SSE body, in order."""
    return [l[len("data: "):] for l in text.split("\n") if l.startswith("data: ")]


# ------------------------------------------------------------------ real elpis

def test_models_health_and_metrics():
    s = Server()
    try:
        st, _, body = s.request("GET", "/v1/models")
        assert st == 200, body
        models = json.loads(body)
        assert models["object"] == "list" and models["data"][0]["id"] == "psyche"
        h = s.wait_health()
        assert h["status"] == "ok" and h["children"]["elpis"]["alive"] and h["context_length"] > 0, h
        assert h["slots"] == 4, h  # [server] slots: psyche serve asks elpis for 4 (issue 11)
        st, hd, text = s.request("GET", "/metrics")
        assert st == 200 and hd["Content-Type"].startswith("text/plain"), hd
        assert "# TYPE psyche_http_requests_total counter" in text
        assert 'psyche_http_requests_total{route="models",status="200"} 1' in text, text
    finally:
        assert s.stop() == 0


def test_chat_usage_and_cached_tokens_on_the_second_request():
    s = Server()
    try:
        body = user("Hello there, how are you?", max_tokens=4, temperature=0)
        st, r = s.chat(body)
        assert st == 200, r
        assert r["object"] == "chat.completion" and r["choices"][0]["message"]["role"] == "assistant"
        assert r["choices"][0]["finish_reason"] in ("stop", "length")
        u = r["usage"]
        assert u["prompt_tokens"] > 0 and 0 < u["completion_tokens"] <= 4, u
        assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
        # the same conversation again: elpis reuses the KV prefix and says so
        st, r2 = s.chat(body)
        assert st == 200, r2
        cached = r2["usage"]["prompt_tokens_details"]["cached_tokens"]
        assert 0 < cached <= r2["usage"]["prompt_tokens"], r2["usage"]
        assert s.metric('psyche_tokens_total{kind="cached"}') >= cached
    finally:
        assert s.stop() == 0


def test_raw_sse_with_curl():
    s = Server()
    try:
        body = json.dumps(user("Tell me a story", max_tokens=6, stream=True, stream_options={"include_usage": True}))
        out = subprocess.run(["curl", "-sN", "-H", "Content-Type: application/json", "-d", body,
                              "http://127.0.0.1:%d/v1/chat/completions" % s.port],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        events = sse_events(out.stdout)
        assert events[-1] == "[DONE]", out.stdout
        chunks = [json.loads(e) for e in events[:-1]]
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert len({c["id"] for c in chunks}) == 1
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
        assert len(finals) == 1 and finals[0]["choices"][0]["finish_reason"] in ("stop", "length")
        usage = chunks[-1]
        assert usage["choices"] == [] and usage["usage"]["completion_tokens"] > 0, usage
        # every chunk is framed as "data: {...}\n\n"
        assert out.stdout.startswith("data: {") and out.stdout.endswith("data: [DONE]\n\n")
        # without include_usage there is no usage chunk
        out = subprocess.run(["curl", "-sN", "-H", "Content-Type: application/json", "-d",
                              json.dumps(user("again", max_tokens=3, stream=True)),
                              "http://127.0.0.1:%d/v1/chat/completions" % s.port],
                             capture_output=True, text=True, timeout=60)
        chunks = [json.loads(e) for e in sse_events(out.stdout)[:-1]]
        assert all("usage" not in c for c in chunks), out.stdout
    finally:
        assert s.stop() == 0


def test_emotion_read_and_event():
    s = Server()
    try:
        st, _, body = s.request("GET", "/v1/psyche/emotion")
        assert st == 200 and "valence" in json.loads(body), body
        st, _, body = s.request("POST", "/v1/psyche/emotion", {"event_type": "success", "intensity": 2})
        assert st == 200, body
        e = json.loads(body)
        assert e["valence"] > 0 and e["update_count"] >= 1, e
        for bad in ({}, {"event_type": ""}, {"event_type": "success", "intensity": 9}, "[1]"):
            st, _, body = s.request("POST", "/v1/psyche/emotion", bad)
            assert st == 400 and json.loads(body)["error"]["type"] == "invalid_request_error", (bad, body)
    finally:
        assert s.stop() == 0


# ------------------------------------------------------------ errors and limits

def test_malformed_and_invalid_requests():
    s = Server(fake_script={})
    try:
        for raw, param in (("{not json", None), ("[]", None), ('{"model":"m"}', "messages"),
                           (json.dumps(user("x", n=2)), "n"), (json.dumps(user("x", temperature=7)), "temperature"),
                           (json.dumps(user("x", stop=["a", "b", "c", "d", "e"])), "stop")):
            st, hd, body = s.request("POST", "/v1/chat/completions", raw)
            assert st == 400 and hd["Content-Type"] == "application/json", (raw, st, body)
            err = json.loads(body)["error"]
            assert err["type"] == "invalid_request_error" and err["param"] == param and err["message"], err
        st, _, body = s.request("GET", "/v1/nothing")
        assert st == 404 and json.loads(body)["error"]["code"] == "unknown_url", body
        st, _, body = s.request("GET", "/v1/chat/completions")  # wrong method
        assert st == 404, body
        assert s.proc.poll() is None
    finally:
        assert s.stop() == 0


def test_oversized_requests_get_413():
    s = Server(fake_script={}, server_max_body_bytes=2048)
    try:
        big = json.dumps(user("x" * 5000))
        st, _, body = s.request("POST", "/v1/chat/completions", big)
        assert st == 413 and json.loads(body)["error"]["code"] == "request_too_large", body
        # without Content-Length (chunked upload) the limit holds too
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        c.putrequest("POST", "/v1/chat/completions")
        c.putheader("Content-Type", "application/json")
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        for i in range(0, len(big), 1000):
            piece = big[i:i + 1000].encode()
            c.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        assert r.status == 413, r.read()
        c.close()
        # a small request still works afterwards
        st, r = s.chat(user("hi"))
        assert st == 200, r
    finally:
        assert s.stop() == 0


def test_header_limit_and_slow_bodies():
    s = Server(fake_script={}, server_body_timeout_s=2)
    try:
        # headers over the 64 KiB connection memory: refused by libmicrohttpd
        st, _, _ = s.request("GET", "/health", headers={"X-Big": "a" * 70000})
        assert st == 431, st
        # a body trickling in for longer than body_timeout_s: the connection is closed
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 20 and not closed:
            time.sleep(0.3)
            try:
                sock.sendall(b" ")
            except OSError:
                closed = True
        sock.close()
        assert closed and time.monotonic() - t0 >= 2, time.monotonic() - t0
        assert "request body not complete after 2 s" in s.log()
        assert s.chat(user("still serving"))[0] == 200
    finally:
        assert s.stop() == 0


def test_api_keys():
    s = Server(fake_script={}, keys=[KEY, "second-key-abcdefghijklmnop"])
    try:
        st, hd, body = s.request("GET", "/v1/models")
        assert st == 401 and json.loads(body)["error"]["type"] == "authentication_error", body
        assert hd.get("WWW-Authenticate") == "Bearer"
        st, _, _ = s.request("GET", "/v1/models", headers={"Authorization": "Bearer " + KEY[:-1]})
        assert st == 401
        st, _, _ = s.request("GET", "/v1/models", headers={"Authorization": "Bearer " + KEY + "x"})
        assert st == 401
        st, _, _ = s.request("GET", "/v1/models", headers={"Authorization": "Bearer " + KEY})
        assert st == 200
        st, r = s.chat(user("hi"), headers={"Authorization": "Bearer second-key-abcdefghijklmnop"})
        assert st == 200, r
        st, _, _ = s.request("GET", "/health")  # for load balancers: no key needed
        assert st == 200
        assert KEY not in s.log() and "second-key" not in s.log()  # keys are never logged
    finally:
        assert s.stop() == 0


def test_public_address_without_keys_is_refused():
    out = subprocess.run([PSYCHE, "serve", "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True,
                         timeout=30, env=dict(os.environ, HOME=tempfile.gettempdir(),
                                              PSYCHE_PATHS_STATE_DIR=tempfile.mkdtemp(prefix="psyche-serve-test-")))
    assert out.returncode == 1, out
    assert "without API keys" in out.stderr and "--api-key-file" in out.stderr, out.stderr
    out = subprocess.run([PSYCHE, "serve", "--port", "99999"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "port" in out.stderr, out.stderr


# ------------------------------------------------------------ scripted elpis

def test_system_prompt_merged_and_sampling_overrides():
    s = Server(fake_script={"default": "fine"})
    try:
        body = {"model": "m", "messages": [{"role": "system", "content": "Talk like a pirate."},
                                           {"role": "user", "content": "hi"}]}
        assert s.chat(body)[0] == 200
        body["temperature"] = 0.3
        body["max_completion_tokens"] = 7
        assert s.chat(body)[0] == 200
        gens = [r["arguments"] for r in s.requests_logged() if r["tool"] == "generate"]
        assert len(gens) == 2, gens
        sys_msg = gens[0]["messages"][0]
        assert sys_msg["role"] == "system" and "Psyche" in sys_msg["content"], sys_msg
        assert "Talk like a pirate." in sys_msg["content"]  # the client's prompt is honoured, not dropped
        assert [m["role"] for m in gens[0]["messages"]] == ["system", "user"]
        assert "temperature" not in gens[0]  # emotion decides unless the client says
        assert gens[1]["temperature"] == 0.3 and gens[1]["max_tokens"] == 7
    finally:
        assert s.stop() == 0


def test_stop_sequences_cut_the_answer():
    s = Server(fake_script={"responses": [{"content": "Hello there END secret words", "chunk": 3},
                                          {"content": "Streamed text STOP hidden", "chunk": 2}]})
    try:
        st, r = s.chat(user("a", stop="END"))
        assert st == 200, r
        assert r["choices"][0]["message"]["content"] == "Hello there ", r
        assert r["choices"][0]["finish_reason"] == "stop"
        st, text = s.chat(user("b", stop=["STOP"], stream=True, stream_options={"include_usage": True}))
        events = sse_events(text)
        chunks = [json.loads(e) for e in events[:-1]]
        content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        assert content == "Streamed text ", content  # nothing of the stop sequence leaked, not even a part
        assert chunks[-1]["usage"]["prompt_tokens"] > 0
    finally:
        assert s.stop() == 0


WEATHER = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
CALL = [{"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]


def test_tool_calls_round_trip_plain_and_streamed():
    s = Server(fake_script={"responses": [{"tool_calls": CALL, "content": "{\"name\":\"get_weather\"}"},
                                          {"tool_calls": CALL, "content": ""},
                                          {"content": "It is -3 C in Oslo."}]})
    try:
        st, r = s.chat(user("Weather in Oslo?", tools=WEATHER))
        assert st == 200, r
        ch = r["choices"][0]
        assert ch["finish_reason"] == "tool_calls" and ch["message"]["content"] is None, ch
        assert ch["message"]["tool_calls"] == CALL
        # streamed: per-index deltas, id and name first, then the arguments
        st, text = s.chat(user("Weather in Oslo?", tools=WEATHER, stream=True))
        chunks = [json.loads(e) for e in sse_events(text)[:-1]]
        deltas = [c["choices"][0]["delta"]["tool_calls"] for c in chunks if "tool_calls" in c["choices"][0]["delta"]]
        assert deltas[0] == [{"index": 0, "id": "call_abc", "type": "function",
                              "function": {"name": "get_weather", "arguments": ""}}], deltas
        assert deltas[1] == [{"index": 0, "function": {"arguments": "{\"city\":\"Oslo\"}"}}], deltas
        assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
        # the client runs the tool and sends the result back
        body = {"model": "m", "tools": WEATHER, "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": None, "tool_calls": CALL},
            {"role": "tool", "tool_call_id": "call_abc", "content": "-3 C"}]}
        st, r = s.chat(body)
        assert st == 200 and r["choices"][0]["message"]["content"] == "It is -3 C in Oslo.", r
        assert r["choices"][0]["finish_reason"] == "stop"
        calls = [q for q in s.requests_logged() if q["tool"] == "function_call"]
        assert len(calls) == 3 and calls[0]["arguments"]["tools"] == WEATHER
        msgs = calls[2]["arguments"]["messages"]
        assert '"name":"get_weather"' in msgs[-2]["content"] and msgs[-1]["content"].endswith("-3 C"), msgs
        # tool_choice none: plain generation, the tools are not offered
        st, r = s.chat(user("hi", tools=WEATHER, tool_choice="none"))
        assert st == 200 and s.requests_logged()[-1]["tool"] == "generate"
    finally:
        assert s.stop() == 0


def test_conversations_are_counted_and_idle_ones_forgotten():
    s = Server(fake_script={}, server_conversation_idle_s=3)
    try:
        health = lambda: json.loads(s.request("GET", "/health")[2])  # noqa: E731
        assert health()["conversations"] == 0
        for _ in range(2):  # one conversation by header, requests of it do not add more
            assert s.chat(user("hi"), headers={"X-Psyche-Conversation": "chat-1"})[0] == 200
        assert s.chat(user("hi", user="ann"))[0] == 200                  # the user field
        body = {"model": "m", "messages": [{"role": "user", "content": "first"}]}
        assert s.chat(body)[0] == 200                                    # the prefix hash: the same
        body["messages"] += [{"role": "assistant", "content": "a"}, {"role": "user", "content": "second"}]
        assert s.chat(body)[0] == 200                                    # chat continued
        assert health()["conversations"] == 3, health()
        _wait(lambda: health()["conversations"] == 0, timeout=15)
        assert "idle conversation(s) forgotten" in s.log()
    finally:
        assert s.stop() == 0


def fnv64(text):
    h = 1469598103934665603
    for b in text.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def test_two_users_cannot_see_each_others_memories():
    keys = [KEY, "second-key-abcdefghijklmnop"]
    s = Server(fake_script={"default": "ok"}, keys=keys, wait_ready=False, memory_enabled="true")
    try:
        # seed user 1's database (the server opens it on user 1's first request)
        users = os.path.join(s.dir, ".local", "share", "psyche", "serve-users")
        db = os.path.join(users, fnv64(KEY) + ".db")
        seed = os.path.join(s.dir, "seed.jsonl")
        with open(seed, "w") as f:
            f.write(json.dumps({"content": "The secret password of Ann is violet-harbor", "memory_type": "semantic"}))
        os.makedirs(users, exist_ok=True)
        out = subprocess.run([MNEMOSYNE, "--db", db, "import", seed], capture_output=True, text=True, timeout=30,
                             env=dict(os.environ, HOME=s.dir))
        assert out.returncode == 0, out.stderr
        s.wait_health()
        q = user("What is the secret password of Ann?")
        assert s.chat(q, headers={"Authorization": "Bearer " + keys[1]})[0] == 200
        assert s.chat(q, headers={"Authorization": "Bearer " + KEY})[0] == 200
        gens = [r["arguments"]["messages"] for r in s.requests_logged() if r["tool"] == "generate"]
        assert len(gens) == 2
        other, owner = gens[0][-1]["content"], gens[1][-1]["content"]
        assert "violet-harbor" not in json.dumps(gens[0]), other           # user 2 never sees it
        assert "[Relevant memories]" in owner and "violet-harbor" in owner, owner  # user 1 does, next to the question
        assert owner.endswith("What is the secret password of Ann?")
        assert os.path.exists(os.path.join(users, fnv64(keys[1]) + ".db"))  # user 2 has a database of its own
        st, _, body = s.request("GET", "/health")
        assert json.loads(body)["children"]["mnemosyne"]["running"] == 2, body
        st, _, text = s.request("GET", "/metrics", headers={"Authorization": "Bearer " + KEY})
        assert 'psyche_memories_total{op="recalled"} 1' in text, text
    finally:
        assert s.stop() == 0


def test_exchanges_are_stored_in_the_users_own_memories():
    keys = [KEY, "second-key-abcdefghijklmnop"]
    s = Server(fake_script={"default": "Noted: your cat is called Pixel."}, keys=keys,
               memory_enabled="true", memory_importance_threshold=0)
    try:
        st, r = s.chat(user("Please remember that my cat is called Pixel."),
                       headers={"Authorization": "Bearer " + keys[1]})
        assert st == 200 and r["choices"][0]["message"]["content"] == "Noted: your cat is called Pixel.", r
        # the answer goes out before the store: wait for it
        _wait(lambda: 'psyche_memories_total{op="stored"} 1' in
              s.request("GET", "/metrics", headers={"Authorization": "Bearer " + KEY})[2])
        users = os.path.join(s.dir, ".local", "share", "psyche", "serve-users")
        for key, want in ((keys[1], 1), (KEY, 0)):
            db = os.path.join(users, fnv64(key) + ".db")
            if not want and not os.path.exists(db):
                continue  # user 1 never came: no database at all
            out = subprocess.run([MNEMOSYNE, "--db", db, "search", "cat Pixel", "--json"], capture_output=True,
                                 text=True, timeout=30, env=dict(os.environ, HOME=s.dir))
            found = [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
            assert len(found) == want, (key, found, out.stderr)
            if want:
                assert found[0]["content"].startswith("User: Please remember that my cat is called Pixel."), found
                assert "Assistant: Noted: your cat is called Pixel." in found[0]["content"], found
    finally:
        assert s.stop() == 0


def test_dreams_while_nobody_is_there_and_a_request_cancels_them():
    s = Server(fake_script={"background": [{"content": "I realize the pattern connects our talks.", "chunk": 8},
                                           {"content": "slow " * 200, "chunk": 5, "delay": 0.05}],
                            "default": "hello"},
               memory_enabled="true", idle_enabled="true", idle_dream_after_s=1, idle_dream_interval_s=1)
    try:
        assert s.chat(user("Hi there"))[0] == 200  # opens the user's memories: now there is someone to dream for
        _wait(lambda: "dream: kept an insight" in s.log(), timeout=30)
        dreams = [r["arguments"] for r in s.requests_logged() if r["tool"] == "generate" and
                  r["arguments"].get("background")]
        assert dreams and dreams[0]["messages"][0]["role"] == "system", dreams
        db = os.path.join(s.dir, ".local", "share", "psyche", "memories.db")
        out = subprocess.run([MNEMOSYNE, "--db", db, "search", "Dream insight pattern", "--json"],
                             capture_output=True, text=True, timeout=30, env=dict(os.environ, HOME=s.dir))
        assert "[Dream insight" in out.stdout, out.stdout + out.stderr
        # the second dream is slow (10 s); a request ends it at once
        _wait(lambda: json.loads(s.request("GET", "/health")[2])["dreaming"], timeout=30)
        t0 = time.monotonic()
        st, r = s.chat(user("Are you awake?"))
        assert st == 200 and r["choices"][0]["message"]["content"] == "hello", r
        assert time.monotonic() - t0 < 5
        _wait(lambda: "dream: cancelled by a request" in s.log(), timeout=10)
    finally:
        assert s.stop() == 0


def test_client_disconnect_cancels_the_generation():
    # 200 pieces, 50 ms each: 10 s unless cancelled
    s = Server(fake_script={"responses": [{"content": "word " * 200, "chunk": 5, "delay": 0.05}],
                            "default": "quick answer"})
    try:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
        body = json.dumps(user("long please", stream=True)).encode()
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        got = b""
        while b"word" not in got:
            got += sock.recv(4096)
        sock.close()
        t0 = time.monotonic()
        while s.metric('psyche_chat_completions_total{finish="cancelled"}') < 1:
            assert time.monotonic() - t0 < 8, "the generation was not cancelled"
            time.sleep(0.05)
        # the engine is free at once: the next request does not wait for the rest of the long one
        st, r = s.chat(user("next"), timeout=8)
        assert st == 200 and r["choices"][0]["message"]["content"] == "quick answer", r
        assert time.monotonic() - t0 < 8
    finally:
        assert s.stop() == 0


def test_child_crash_gives_503_then_recovers():
    s = Server(fake_script={"responses": [{"content": "x", "crash": True, "when": "crash now"}],
                            "default": "back again"},
               children_restart_backoff_max_s=1)
    try:
        st, r = s.chat(user("crash now"))
        assert st == 503 and r["error"]["type"] == "server_error", r
        assert "restart" in r["error"]["message"]

        def restarted():
            st, _, body = s.request("GET", "/health")
            h = json.loads(body)
            return st == 200 and h["children"]["elpis"]["restarts"] >= 1

        _wait(restarted, timeout=30)
        st, r = s.chat(user("hello"))
        assert st == 200 and r["choices"][0]["message"]["content"] == "back again", r
        assert s.metric('psyche_child_restarts_total{child="elpis"}') >= 1
    finally:
        assert s.stop() == 0


def _wait(cond, timeout=20):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_full_queue_answers_429():
    # the first answer takes 5 s: time enough to queue the second and be refused the third
    s = Server(fake_script={"responses": [{"content": "slow " * 50, "chunk": 5, "delay": 0.1}],
                            "default": "ok"}, server_queue_max=1)
    try:
        results = []
        t1 = threading.Thread(target=lambda: results.append(s.chat(user("first"))[0]))
        t1.start()
        _wait(lambda: json.loads(s.request("GET", "/health")[2])["busy"])
        t2 = threading.Thread(target=lambda: results.append(s.chat(user("second"))[0]))
        t2.start()
        _wait(lambda: json.loads(s.request("GET", "/health")[2])["queue_depth"] == 1)
        st, hd, body = s.request("POST", "/v1/chat/completions", user("third"))
        assert st == 429 and json.loads(body)["error"]["type"] == "rate_limit_error", body
        assert hd.get("Retry-After") == "1", hd
        t1.join()
        t2.join()
        assert sorted(results) == [200, 200], results
    finally:
        assert s.stop() == 0


def test_sigterm_drains_requests_in_flight():
    s = Server(fake_script={"responses": [{"content": "one two three four five ", "chunk": 4, "delay": 0.5}]})
    try:
        out = {}
        t = threading.Thread(target=lambda: out.update(r=s.chat(user("go"))))
        t.start()
        _wait(lambda: json.loads(s.request("GET", "/health")[2])["busy"])
        s.proc.send_signal(signal.SIGTERM)
        t.join(30)
        st, r = out["r"]
        assert st == 200 and r["choices"][0]["message"]["content"] == "one two three four five ", r
    finally:
        assert s.stop() == 0


def test_load_8_clients_all_answered_or_429_rss_flat():
    s = Server(fake_script={"default": "a short answer from the fake model"}, server_queue_max=4)
    try:
        for _ in range(20):  # warm up allocator pools before the first RSS sample
            s.chat(user("warm"))
        rss0 = s.rss_kb()
        stop_at = time.monotonic() + 15
        counts, bad = {}, []
        lock = threading.Lock()

        def client(i):
            n = 0
            while time.monotonic() < stop_at:
                n += 1
                try:
                    stream = n % 2 == 0
                    st, r = s.chat(user("client %d request %d" % (i, n), stream=stream), timeout=30)
                    ok = st == 429 or (st == 200 and (stream and r.endswith("data: [DONE]\n\n") or
                                                      not stream and r["choices"][0]["message"]["content"]))
                except Exception as e:  # noqa: BLE001 - every failure is reported below
                    st, ok = repr(e), False
                with lock:
                    counts[st] = counts.get(st, 0) + 1
                    if not ok:
                        bad.append(st)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not bad, (bad[:5], counts)
        assert counts.get(200, 0) > (10 if SANITIZED else 50), counts
        assert s.proc.poll() is None
        rss1 = s.rss_kb()
        assert SANITIZED or rss1 < rss0 * 1.5 + 8192, (rss0, rss1)
        h = s.wait_health()
        assert h["queue_depth"] == 0, h
    finally:
        assert s.stop() == 0


def test_one_psyche_toml_for_the_terminal_ui_and_the_server():
    """[server] keys are psyche's too: the terminal UI (and -p, --repl) loads a shared
    psyche.toml without "unknown section", and still names a mistyped [server] key."""
    d = tempfile.mkdtemp(prefix="psyche-shared-toml-")
    try:
        conf = os.path.join(d, "psyche.toml")
        env = {"PATH": os.environ.get("PATH", ""), "HOME": d}
        with open(conf, "w") as f:
            f.write('[server]\nport = 9123\nhost = "127.0.0.1"\n')
        r = subprocess.run([PSYCHE, "--print-config", "--config", conf], capture_output=True, text=True, env=env)
        assert r.returncode == 0 and "port = 9123" in r.stdout, r
        with open(conf, "w") as f:
            f.write("[server]\nprot = 9123\n")
        r = subprocess.run([PSYCHE, "--print-config", "--config", conf], capture_output=True, text=True, env=env)
        assert r.returncode == 2 and "prot" in r.stderr and "[server]" in r.stderr, r
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _mem_call(cid, name, args):
    return [{"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]


def test_the_model_uses_its_memory_tools_inside_the_server():
    s = Server(fake_script={"responses": [
        {"tool_calls": _mem_call("call_s", "store_memory", {"content": "The user's cat is called Miso."})},
        {"tool_calls": _mem_call("call_r", "recall_memory", {"query": "cat called Miso"})},
        {"content": "Your cat is Miso."}]}, wait_ready=False, memory_enabled="true", server_memory_tools="true")
    try:
        s.wait_health()
        st, r = s.chat(user("What is my cat called?"))
        assert st == 200, r
        ch = r["choices"][0]
        assert ch["message"]["content"] == "Your cat is Miso." and ch["finish_reason"] == "stop", ch
        assert "tool_calls" not in ch["message"], ch
        calls = [q for q in s.requests_logged() if q["tool"] == "function_call"]
        assert len(calls) == 3, calls
        names = [t["function"]["name"] for t in calls[0]["arguments"]["tools"]]
        assert names == ["recall_memory", "store_memory"], names
        msgs = calls[2]["arguments"]["messages"]
        assert '"name":"recall_memory"' in msgs[-2]["content"], msgs[-2]
        assert msgs[-1]["content"].startswith("[Tool result for call call_r]") and "Miso" in msgs[-1]["content"], msgs
        assert s.metric('psyche_memories_total{op="stored"}') >= 1
    finally:
        assert s.stop() == 0


def test_memory_tools_stop_after_five_rounds():
    recall = {"tool_calls": _mem_call("call_x", "recall_memory", {"query": "anything"})}
    s = Server(fake_script={"responses": [recall] * 5 + [{"content": "done"}]}, wait_ready=False,
               memory_enabled="true", server_memory_tools="true")
    try:
        s.wait_health()
        st, r = s.chat(user("hi"))
        assert st == 200 and r["choices"][0]["message"]["content"] == "done", r
        tools = [q["tool"] for q in s.requests_logged() if q["tool"] in ("function_call", "generate")]
        # five rounds with the memory tools, then they are withdrawn: a plain (streamable) generate
        assert tools == ["function_call"] * 5 + ["generate"], tools
    finally:
        assert s.stop() == 0


def test_embeddings_float_and_base64():
    import base64
    import struct
    s = Server(fake_script={}, wait_ready=False, memory_enabled="true")
    try:
        s.wait_health()
        st, _, body = s.request("POST", "/v1/embeddings", {"model": "m", "input": ["a cat called Miso", "rain"]})
        assert st == 200, body
        r = json.loads(body)
        assert r["object"] == "list" and r["model"] == "m" and len(r["data"]) == 2, r
        vec = r["data"][0]["embedding"]
        assert r["data"][1]["index"] == 1 and len(vec) >= 16 and any(v != 0 for v in vec), r["data"][0]
        assert abs(sum(v * v for v in vec) - 1.0) < 1e-3  # L2-normalised, as the vector search uses them
        assert r["usage"]["prompt_tokens"] > 0
        st, _, body = s.request("POST", "/v1/embeddings",
                                {"model": "m", "input": "a cat called Miso", "encoding_format": "base64"})
        assert st == 200, body
        raw = base64.b64decode(json.loads(body)["data"][0]["embedding"])
        got = struct.unpack("<%df" % (len(raw) // 4), raw)
        assert len(got) == len(vec) and all(abs(a - b) < 1e-6 for a, b in zip(got, vec))
        for bad, param in (({"model": "m", "input": [1, 2]}, "input"), ({"model": "m"}, "input"),
                           ({"input": "x"}, "model"), ({"model": "m", "input": "x", "encoding_format": "hex"},
                                                        "encoding_format")):
            st, _, body = s.request("POST", "/v1/embeddings", bad)
            assert st == 400 and json.loads(body)["error"]["param"] == param, (bad, body)
    finally:
        assert s.stop() == 0
    s = Server(fake_script={})  # memory off: said, with what to do
    try:
        st, _, body = s.request("POST", "/v1/embeddings", {"model": "m", "input": "x"})
        assert st == 503 and "[memory] enabled" in json.loads(body)["error"]["message"], body
    finally:
        assert s.stop() == 0


def test_consolidates_while_nobody_is_there_after_a_dream():
    """As the terminal UI while idle: after a dream, the dreamer's mnemosyne is asked
    should_consolidate and its memories consolidated on yes, without any SIGTERM."""
    s = Server(fake_script={"background": [{"content": "I realize the pattern connects our talks."}],
                            "default": "hello"},
               memory_enabled="true", idle_enabled="true", idle_dream_after_s=1, idle_dream_interval_s=1)
    try:
        conf = os.path.join(s.dir, ".config", "psyche")
        os.makedirs(conf)
        with open(os.path.join(conf, "mnemosyne.toml"), "w") as f:
            f.write("[consolidation]\nbuffer_threshold = 1\nmin_age_hours = 0\n")
        assert s.chat(user("Hi there"))[0] == 200  # opens the user's memories
        _wait(lambda: "consolidated user 0's memories" in s.log(), timeout=30)
        log = s.log()
        assert log.index("dream: about") < log.index("should_consolidate (user 0): yes"), log
        assert s.proc.poll() is None  # while running, not at exit
    finally:
        assert s.stop() == 0


def _summaries(s, key):
    db = os.path.join(s.dir, ".local", "share", "psyche", "serve-users", fnv64(key) + ".db")
    out = subprocess.run([MNEMOSYNE, "--db", db, "search", "Miso summary", "--json"], capture_output=True,
                         text=True, timeout=30, env=dict(os.environ, HOME=s.dir))
    return [r for r in (json.loads(l) for l in out.stdout.splitlines() if l.strip())
            if "conversation_summary" in r.get("tags", [])]


def test_an_ended_conversation_is_summarised_into_its_users_memories():
    """As the terminal UI stores a summary at exit: an evicted conversation's and, on SIGTERM,
    every open one's, in the memories of the user it belongs to."""
    script = {"default": "Noted.", "background": [
        {"content": "Summary: the user's cat is called Miso (evicted)."},
        {"content": "Summary: the user's cat Miso likes rain (at SIGTERM)."}]}
    hdr = {"Authorization": "Bearer " + KEY}
    s = Server(fake_script=script, keys=[KEY], wait_ready=False, memory_enabled="true",
               server_conversation_idle_s=3, memory_importance_threshold=1)
    try:
        # the user's mnemosyne (started by the first request) recommends consolidating at once
        conf = os.path.join(s.dir, ".config", "psyche")
        os.makedirs(conf)
        with open(os.path.join(conf, "mnemosyne.toml"), "w") as f:
            f.write("[consolidation]\nbuffer_threshold = 1\nmin_age_hours = 0\n")
        s.wait_health()
        st, r = s.chat(user("My cat is called Miso."), headers=dict(hdr, **{"X-Psyche-Conversation": "a"}))
        assert st == 200, r
        _wait(lambda: "stored the summary of an ended conversation" in s.log(), timeout=30)
        st, r = s.chat(user("She likes rain."), headers=dict(hdr, **{"X-Psyche-Conversation": "b"}))
        assert st == 200, r
        s.proc.send_signal(signal.SIGTERM)  # before conversation b is idle: SIGTERM stores its summary
        assert s.proc.wait(timeout=60) == 0
        got = sorted(r["content"] for r in _summaries(s, KEY))
        assert got == ["Summary: the user's cat Miso likes rain (at SIGTERM).",
                       "Summary: the user's cat is called Miso (evicted)."], got
        bg = [q for q in s.requests_logged() if q["tool"] == "generate" and q["arguments"].get("background")]
        assert "user: My cat is called Miso." in bg[0]["arguments"]["messages"][-1]["content"], bg[0]
        # then, as the terminal UI at exit, consolidation because mnemosyne recommends it
        log = s.log()
        assert "should_consolidate (user 0): yes" in log, log
        assert "consolidated user 0's memories" in log, log
        assert log.index("consolidated user 0's memories") > log.rindex("stored the summary"), log
    finally:
        assert s.stop() == 0


def test_sigterm_consolidates_only_when_mnemosyne_recommends_it():
    """[shutdown] consolidate: asked of each user's mnemosyne at SIGTERM; a "no" runs nothing,
    and consolidate = false does not ask at all."""
    for enabled in ("true", "false"):
        s = Server(fake_script={"default": "Noted."}, memory_enabled="true", shutdown_consolidate=enabled)
        try:
            st, r = s.chat(user("Hello there."))
            assert st == 200, r
            s.proc.send_signal(signal.SIGTERM)
            assert s.proc.wait(timeout=60) == 0
            log = s.log()
            if enabled == "true":
                assert "should_consolidate (user 0): no" in log, log
            else:
                assert "should_consolidate" not in log, log
            assert "consolidated user" not in log, log
        finally:
            assert s.stop() == 0
