"""Integration tests of `psyche serve` running several chat completions at
once (up to elpis's slots): two conversations stream side by side, two
requests of one conversation never overlap, a client that leaves cancels
only its own generation, and on the real elpis four concurrent greedy
requests answer what a lone one does. fake_elpis.py answers concurrently
when its script gives "slots"; its hold_until files keep a generation open
until the test releases it, so nothing here guesses at timing."""
import http.client
import json
import os
import shutil
import tempfile

from test_server import Server, _wait, sse_events, user
import test_server_stream
from test_server_stream import content_of, finish_of


class Stream(test_server_stream.Stream):
    """A streamed chat completion of one conversation, read event by event."""

    def __init__(self, server, conv, body, timeout=30):
        super().__init__(server, body, timeout, conv)

    def first_content(self):
        """Reads until some content came (the generation is running)."""
        while content_of(self.seen) == "":
            e = self.next()
            assert isinstance(e, dict) and not finish_of([e]), e

    def rest(self):
        """Every event of the stream, those read before included."""
        super().rest()
        return self.seen


class Gates:
    """Files that release fake_elpis's held generations."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="psyche-conc-gate-")

    def path(self, name):
        return os.path.join(self.dir, name)

    def open(self, name):
        open(self.path(name), "a").close()

    def cleanup(self):
        for name in ("a", "b", "c"):
            self.open(name)
        shutil.rmtree(self.dir, ignore_errors=True)


def held(text, when, gate):
    return {"content": text, "when": when, "chunk": 4, "hold_until": gate}


def generations(s):
    """The last user message of every generation fake_elpis was asked for, in order."""
    out = []
    for q in s.requests_logged():
        if q["tool"] in ("generate", "function_call") and not q["arguments"].get("background"):
            out.append(q["arguments"]["messages"][-1]["content"])
    return out


def test_two_conversations_stream_at_once():
    g = Gates()
    s = Server(fake_script={"slots": 4, "responses": [held("alpha one two", "first", g.path("a")),
                                                      held("beta three four", "second", g.path("b"))]})
    a = b = None
    try:
        a = Stream(s, "conv-a", user("first", stream=True))
        b = Stream(s, "conv-b", user("second", stream=True))
        a.first_content()  # both are streaming while neither has ended
        b.first_content()
        health = s.wait_health()
        assert health["running"] == 2 and health["busy"], health
        g.open("b")
        assert content_of(b.rest()) == "beta three four" and b.seen[-1] == "[DONE]"
        g.open("a")
        assert content_of(a.rest()) == "alpha one two" and a.seen[-1] == "[DONE]"
        assert finish_of(a.seen) == ["stop"] and finish_of(b.seen) == ["stop"]
    finally:
        for st in (a, b):
            if st:
                st.close()
        g.cleanup()
        assert s.stop() == 0


def test_requests_of_one_conversation_do_not_overlap():
    g = Gates()
    s = Server(fake_script={"slots": 4, "responses": [held("first answer", "first", g.path("a")),
                                                      {"content": "third answer", "when": "third"},
                                                      {"content": "second answer", "when": "second"}]})
    a = b = c = None
    try:
        a = Stream(s, "same", user("first", stream=True))
        a.first_content()
        # the conversation's second request waits for its first ...
        b_conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        b_conn.request("POST", "/v1/chat/completions", body=json.dumps(user("second", stream=True)),
                       headers={"Content-Type": "application/json", "X-Psyche-Conversation": "same"})
        _wait(lambda: s.wait_health()["queue_depth"] == 1)
        # ... while another conversation, queued after it, is served beside the first
        c = Stream(s, "other", user("third", stream=True))
        assert content_of(c.rest()) == "third answer"
        _wait(lambda: s.wait_health()["running"] == 1)  # c's runner frees its job just after the answer
        assert s.wait_health()["queue_depth"] == 1  # the second still waits for the first
        assert generations(s) == ["first", "third"], generations(s)
        g.open("a")
        assert content_of(a.rest()) == "first answer"
        resp = b_conn.getresponse()
        assert resp.status == 200
        events = sse_events(resp.read().decode())
        assert events[-1] == "[DONE]", events
        assert content_of([json.loads(e) for e in events[:-1]]) == "second answer", events
        b_conn.close()
        assert generations(s) == ["first", "third", "second"], generations(s)
    finally:
        for st in (a, b, c):
            if st:
                st.close()
        g.cleanup()
        assert s.stop() == 0


def test_a_disconnect_cancels_only_its_own_generation():
    g = Gates()
    s = Server(fake_script={"slots": 4, "responses": [held("left behind", "first", g.path("a")),
                                                      held("still here", "second", g.path("b"))]})
    a = b = None
    try:
        a = Stream(s, "conv-a", user("first", stream=True))
        b = Stream(s, "conv-b", user("second", stream=True))
        a.first_content()
        b.first_content()
        a.close()  # a's client leaves; its gate never opens
        _wait(lambda: s.metric('psyche_chat_completions_total{finish="cancelled"}') >= 1)
        _wait(lambda: s.wait_health()["running"] == 1)
        g.open("b")
        assert content_of(b.rest()) == "still here" and finish_of(b.seen) == ["stop"]
        assert s.metric('psyche_chat_completions_total{finish="cancelled"}') == 1
    finally:
        for st in (a, b):
            if st:
                st.close()
        g.cleanup()
        assert s.stop() == 0


# ------------------------------------------------------------ real elpis

def test_real_model_four_concurrent_streams_answer_as_one_does():
    s = Server()  # [server] slots 4: elpis decodes the four in one batch
    try:
        assert s.wait_health()["slots"] == 4
        body = user("Tell me about the sea.", stream=True, temperature=0, stream_options={"include_usage": True})
        lone = Stream(s, "lone", body, timeout=120)
        alone = content_of(lone.rest())
        lone.close()
        streams = [Stream(s, "conc-%d" % i, body, timeout=120) for i in range(4)]
        for st in streams:
            chunks = st.rest()
            st.close()
            assert chunks[-1] == "[DONE]", chunks[-2:]
            usage = chunks[-2]["usage"]
            assert usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 0, usage
            assert content_of(chunks) == alone, (content_of(chunks), alone)
    finally:
        assert s.stop() == 0
