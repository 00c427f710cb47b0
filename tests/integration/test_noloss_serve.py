"""Issue 9 item 2 through `psyche serve`: the cuts the server makes by bytes
(an exchange memory: the user's text at 300 bytes and the answer at 800; a
conversation's transcript for its summary: 500 bytes a message) land inside
multibyte characters here. Each must cut between characters (mnemosyne
refuses invalid UTF-8, and the memory would be lost to the fallback file)
and show the cut with "..."."""
import http.client
import json
import os
import signal
import subprocess

from test_server import KEY, MNEMOSYNE, Server, _wait, fnv64, user

USER_TEXT = "x" + "é" * 400   # byte 300 falls inside an "é"
ANSWER = "日本" * 300          # byte 800 falls inside a character
HDR = {"Authorization": "Bearer " + KEY}


def _memories(s, query):
    db = os.path.join(s.dir, ".local", "share", "psyche", "serve-users", fnv64(KEY) + ".db")
    out = subprocess.run([MNEMOSYNE, "--db", db, "search", query, "-n", "20", "--json"], capture_output=True,
                         text=True, timeout=30, env=dict(os.environ, HOME=s.dir))
    assert out.returncode == 0, out.stderr
    return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]


def _cut_prefix(text, full, mark="..."):
    """text is a proper prefix of full (whole characters) followed by mark."""
    assert text.endswith(mark), text[-20:]
    body = text[:-len(mark)]
    assert full.startswith(body) and len(body) < len(full), (body[-10:], len(body))
    return body


def test_a_multibyte_exchange_is_stored_cut_between_characters():
    script = {"default": ANSWER, "background": [{"content": "Summary: é and 日本 (at SIGTERM)."}]}
    s = Server(fake_script=script, keys=[KEY], memory_enabled="true", memory_importance_threshold=0)
    try:
        st, r = s.chat(user(USER_TEXT), headers=dict(HDR, **{"X-Psyche-Conversation": "c"}))
        assert st == 200 and r["choices"][0]["message"]["content"] == ANSWER, r
        _wait(lambda: 'psyche_memories_total{op="stored"} 1' in s.request("GET", "/metrics", headers=HDR)[2])
        found = [m for m in _memories(s, "User") if m["content"].startswith("User: x")]
        assert len(found) == 1, found
        user_part, answer_part = found[0]["content"][len("User: "):].split("\n\nAssistant: ")
        assert len(_cut_prefix(user_part, USER_TEXT).encode()) <= 300
        assert len(_cut_prefix(answer_part, ANSWER).encode()) <= 800
        assert "refused" not in s.log(), s.log()[-2000:]
        # SIGTERM summarises the open conversation from its transcript (500 bytes a message)
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=60) == 0
        bg = [q for q in s.requests_logged() if q["tool"] == "generate" and q["arguments"].get("background")]
        assert bg, s.requests_logged()
        transcript = bg[-1]["arguments"]["messages"][-1]["content"]
        lines = [l for l in transcript.splitlines() if l.startswith(("user: ", "assistant: "))]
        assert len(lines) == 2, transcript
        assert len(_cut_prefix(lines[0][len("user: "):], USER_TEXT).encode()) <= 500
        assert len(_cut_prefix(lines[1][len("assistant: "):], ANSWER).encode()) <= 500
        assert any("(at SIGTERM)" in m["content"] for m in _memories(s, "Summary")), _memories(s, "Summary")
    finally:
        assert s.stop() == 0


def test_an_unknown_multibyte_path_is_quoted_between_characters():
    """The 404 message quotes the path at 200 bytes; here byte 200 falls inside a character."""
    s = Server(fake_script={"default": "ok"})
    try:
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        c.request("GET", "/xy" + "%C3%A9" * 150)  # the server unescapes it: UTF-8 in the path
        r = c.getresponse()
        body = r.read()
        c.close()
        assert r.status == 404, body
        msg = json.loads(body.decode("utf-8"))["error"]["message"]  # strict: must be valid UTF-8
        path = msg.split("no route GET ", 1)[1].split(" (see", 1)[0]
        assert ("/xy" + "é" * 150).startswith(path) and len(path.encode()) <= 200, path
    finally:
        assert s.stop() == 0
