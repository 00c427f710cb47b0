"""Integration tests of `psyche serve` streaming while the client offers tools,
and of the client's sampling (temperature/top_p) reaching elpis only when
given. fake_elpis.py scripts the text and when it ends (hold_until: the
generation waits for a file, so a test sees pieces arrive before the end
without guessing at timing); the real elpis on the tiny model checks the
same paths end to end. Servers come from test_server.Server."""
import http.client
import json
import os
import shutil
import tempfile

from mcp import Client, ServerError, build_path, empty_config
from test_server import Server, sse_events, user

WEATHER = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
CALL = [{"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]
ELPIS = build_path("bin", "elpis")
TINY = build_path("models", "tiny-chat.gguf")


class Stream:
    """A streamed chat completion read event by event (conv: its X-Psyche-Conversation); every
    event read so far is in seen."""

    def __init__(self, server, body, timeout=60, conv=None):
        headers = {"Content-Type": "application/json"}
        if conv:
            headers["X-Psyche-Conversation"] = conv
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
        self.conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=headers)
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, self.resp.read()
        self.seen = []

    def next(self):
        """The next data: payload (a dict, or "[DONE]"); None at the end of the body."""
        while True:
            line = self.resp.readline()
            if not line:
                return None
            line = line.decode().rstrip("\r\n")
            if line.startswith("data: "):
                data = line[len("data: "):]
                e = data if data == "[DONE]" else json.loads(data)
                self.seen.append(e)
                return e

    def rest(self):
        out = []
        while True:
            e = self.next()
            if e is None:
                return out
            out.append(e)

    def close(self):
        self.conn.close()


def content_of(chunks):
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                   if isinstance(c, dict) and c["choices"])


def tool_deltas(chunks):
    return [d for c in chunks if isinstance(c, dict) and c["choices"]
            for d in c["choices"][0]["delta"].get("tool_calls", [])]


def finish_of(chunks):
    return [c["choices"][0]["finish_reason"] for c in chunks
            if isinstance(c, dict) and c["choices"] and c["choices"][0]["finish_reason"]]


# ------------------------------------------------------------ scripted elpis

def test_text_streams_before_the_end_when_tools_are_offered():
    text = "The weather tool is not needed: it is a fine day."
    gate_dir = tempfile.mkdtemp(prefix="psyche-stream-gate-")
    gate = os.path.join(gate_dir, "gate")
    s = Server(fake_script={"responses": [{"content": text, "chunk": 4, "hold_until": gate}]})
    st = None
    try:
        st = Stream(s, user("Is it nice out?", tools=WEATHER, stream=True,
                            stream_options={"include_usage": True}))
        first = st.next()
        assert first["choices"][0]["delta"]["role"] == "assistant", first
        seen = []
        while content_of(seen) == "":  # elpis is still generating (it waits for the gate)
            e = st.next()
            assert isinstance(e, dict) and not finish_of([e]), e
            seen.append(e)
        assert text.startswith(content_of(seen)), content_of(seen)
        open(gate, "w").close()  # now elpis may finish
        rest = st.rest()
        chunks = seen + rest
        assert content_of(chunks) == text, content_of(chunks)
        assert finish_of(chunks) == ["stop"] and not tool_deltas(chunks), chunks
        assert rest[-1] == "[DONE]" and rest[-2]["usage"]["completion_tokens"] > 0, rest[-2:]
        calls = [q for q in s.requests_logged() if q["tool"] == "function_call"]
        assert len(calls) == 1 and calls[0]["arguments"]["tools"] == WEATHER, calls
    finally:
        if st:
            st.close()
        open(gate, "a").close()
        assert s.stop() == 0
        shutil.rmtree(gate_dir, ignore_errors=True)


def test_a_streamed_tool_call_shows_no_content():
    call_text = json.dumps({"name": "get_weather", "arguments": {"city": "Oslo"}})
    s = Server(fake_script={"responses": [
        {"content": call_text, "chunk": 3, "tool_calls": CALL},
        {"content": "<tool_call>\n" + call_text + "\n</tool_call>", "chunk": 2, "tool_calls": CALL},
        {"content": "Let me check. " + call_text, "chunk": 5, "tool_calls": CALL}]})
    try:
        for prose in ("", "", "Let me check. "):
            st, text = s.chat(user("Weather in Oslo?", tools=WEATHER, stream=True))
            assert st == 200, text
            events = sse_events(text)
            assert events[-1] == "[DONE]", events
            chunks = [json.loads(e) for e in events[:-1]]
            # prose before a call may show; the call itself never does
            assert content_of(chunks) == prose, content_of(chunks)
            deltas = tool_deltas(chunks)
            assert deltas[0]["id"] == "call_abc" and deltas[0]["function"]["name"] == "get_weather", deltas
            assert "".join(d["function"].get("arguments", "") for d in deltas) == "{\"city\":\"Oslo\"}"
            assert finish_of(chunks) == ["tool_calls"], chunks
    finally:
        assert s.stop() == 0


def test_stop_sequences_hold_with_tools_offered():
    s = Server(fake_script={"responses": [{"content": "Sunny in Oslo END hidden words", "chunk": 2}]})
    try:
        st, text = s.chat(user("Weather?", tools=WEATHER, stop=["END"], stream=True))
        assert st == 200, text
        chunks = [json.loads(e) for e in sse_events(text)[:-1]]
        assert content_of(chunks) == "Sunny in Oslo ", content_of(chunks)  # not even a part of END
        assert finish_of(chunks) == ["stop"], chunks
    finally:
        assert s.stop() == 0


def test_a_memory_round_is_never_shown_and_the_answer_streams():
    recall = json.dumps({"name": "recall_memory", "arguments": {"query": "cat"}})
    s = Server(fake_script={"responses": [
        {"content": recall, "chunk": 3, "tool_calls": [
            {"id": "call_r", "type": "function",
             "function": {"name": "recall_memory", "arguments": "{\"query\":\"cat\"}"}}]},
        {"content": "I do not know your cat yet.", "chunk": 4}]},
        wait_ready=False, memory_enabled="true", server_memory_tools="true")
    try:
        s.wait_health()
        st, text = s.chat(user("What is my cat called?", stream=True))
        assert st == 200, text
        chunks = [json.loads(e) for e in sse_events(text)[:-1]]
        assert content_of(chunks) == "I do not know your cat yet.", content_of(chunks)
        assert not tool_deltas(chunks) and finish_of(chunks) == ["stop"], chunks
        assert [q["tool"] for q in s.requests_logged() if q["tool"] == "function_call"] == ["function_call"] * 2
    finally:
        assert s.stop() == 0


def test_sampling_reaches_elpis_only_when_given():
    s = Server(fake_script={"default": "fine"})
    try:
        assert s.chat(user("a"))[0] == 200
        assert s.chat(user("b", temperature=0.2, top_p=0.5))[0] == 200
        assert s.chat(user("c", top_p=0.75, tools=WEATHER))[0] == 200
        assert s.chat(user("d", tools=WEATHER))[0] == 200
        args = [q["arguments"] for q in s.requests_logged() if q["tool"] in ("generate", "function_call")]
        assert len(args) == 4, args
        # absent: not sent, so the emotional state shapes them
        assert "temperature" not in args[0] and "top_p" not in args[0], args[0]
        assert "temperature" not in args[3] and "top_p" not in args[3], args[3]
        # given: the client's values, for generate and for function_call
        assert args[1]["temperature"] == 0.2 and args[1]["top_p"] == 0.5, args[1]
        assert args[2]["top_p"] == 0.75 and "temperature" not in args[2], args[2]
        assert "top_p %g is not applied" not in s.log() and "is not applied" not in s.log()
    finally:
        assert s.stop() == 0


# ------------------------------------------------------------------ real elpis

def test_elpis_takes_the_callers_top_p_over_the_emotion():
    with Client([ELPIS, "--model", TINY], env={"ELPIS_CONFIG": empty_config("stream")}) as c:
        assert "result" in c.initialize()
        m = [{"role": "user", "content": "hi"}]
        base = c.ok("generate", {"messages": m, "max_tokens": 2})["modulated_params"]
        got = c.ok("generate", {"messages": m, "max_tokens": 2, "top_p": 0.55})["modulated_params"]
        assert got["top_p"] == 0.55 and got["temperature"] == base["temperature"], (base, got)
        assert base["top_p"] != 0.55, base
        got = c.ok("generate", {"messages": m, "max_tokens": 2, "top_p": 0.6, "temperature": 0.25})
        assert got["modulated_params"] == {"temperature": 0.25, "top_p": 0.6}, got
        sc, err = c.call("function_call", {"messages": m, "tools": WEATHER, "max_tokens": 2, "top_p": 0.5})
        assert not err, sc
        sc, err = c.call("function_call", {"messages": m, "tools": WEATHER, "max_tokens": 2,
                                           "parallel_tool_calls": False, "progress_interval_ms": 0})
        assert not err, sc  # both are in function_call's schema
        try:
            sc, err = c.call("generate", {"messages": m, "top_p": 1.5})
            raise AssertionError("top_p 1.5 was taken: %s" % sc)
        except ServerError as e:  # out of range: refused by the schema
            assert "top_p" in str(e), e
        assert c.close() == 0


def test_real_model_streams_with_tools_offered():
    s = Server()
    try:
        body = user("Say something.", tools=WEATHER, stream=True, max_tokens=12,
                    stream_options={"include_usage": True})
        st, text = s.chat(body, timeout=120)
        assert st == 200, text
        events = sse_events(text)
        assert events[-1] == "[DONE]", events
        chunks = [json.loads(e) for e in events[:-1]]
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant", chunks[0]
        fin = finish_of(chunks)
        assert len(fin) == 1 and fin[0] in ("stop", "length", "tool_calls"), chunks
        if fin[0] != "tool_calls":  # random weights: text, held only where it looks like JSON
            assert not tool_deltas(chunks), chunks
        assert chunks[-1]["usage"]["completion_tokens"] > 0, chunks[-1]
        # the same request without streaming still answers whole
        del body["stream"], body["stream_options"]
        st, r = s.chat(body, timeout=120)
        assert st == 200 and r["choices"][0]["finish_reason"] in ("stop", "length", "tool_calls"), r
    finally:
        assert s.stop() == 0


def test_stream_interval_reaches_elpis_only_when_streaming():
    s = Server(fake_script={"default": "fine"}, server_stream_interval_ms=35)
    try:
        assert s.chat(user("a", stream=True))[0] == 200
        assert s.chat(user("b"))[0] == 200
        assert s.chat(user("c", stream=True, tools=WEATHER))[0] == 200
        assert s.chat(user("d", stream=True, stop=["zz"]))[0] == 200
        args = [q["arguments"] for q in s.requests_logged() if q["tool"] in ("generate", "function_call")]
        assert len(args) == 4, args
        assert args[0]["progress_interval_ms"] == 35 and args[2]["progress_interval_ms"] == 35, args
        assert "progress_interval_ms" not in args[1], args[1]  # nothing streams: nothing to gather
        assert "progress_interval_ms" not in args[3], args[3]  # each piece at once: a stop is found at once
        # pieces are asked for only where they are used: to stream, or to find a stop sequence early
        assert s.chat(user("e", stop=["zz"]))[0] == 200
        asked = [q["progress"] for q in s.requests_logged() if q["tool"] in ("generate", "function_call")]
        assert asked == [True, False, True, True, True], asked
    finally:
        assert s.stop() == 0


def test_real_model_gathers_a_streamed_answer_and_loses_nothing():
    """[server] stream_interval_ms: a fast model's tokens come as a few larger chunks (the first at
    once), and their text is the whole answer, the same as without streaming."""
    def answer(interval):
        s = Server(server_stream_interval_ms=interval)
        try:
            body = user("Tell me a story.", stream=True, max_tokens=16, temperature=0,
                        stream_options={"include_usage": True})
            st, text = s.chat(body, timeout=120)
            assert st == 200, text
            chunks = [json.loads(e) for e in sse_events(text)[:-1]]
            del body["stream"], body["stream_options"]
            st, whole = s.chat(body, timeout=120)
            assert st == 200, whole
            assert content_of(chunks) == whole["choices"][0]["message"]["content"], (chunks, whole)
            return [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
        finally:
            assert s.stop() == 0
    gathered, each = answer(1000), answer(0)
    assert 1 <= len(gathered) <= 3, gathered  # a third only if the machine stalled elpis for a second
    assert len(each) > len(gathered), (each, gathered)


# ------------------------------------------------------------ parallel tool calls

TWO = [{"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}},
       {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]


def test_parallel_tool_calls_come_back_each_at_its_index():
    text = "\n".join(json.dumps({"name": "get_weather", "arguments": {"city": c}}) for c in ("Oslo", "Rome"))
    s = Server(fake_script={"responses": [{"content": text, "chunk": 5, "tool_calls": TWO},
                                          {"content": text, "tool_calls": TWO}]})
    try:
        st, streamed = s.chat(user("Weather in Oslo and Rome?", tools=WEATHER, stream=True))
        assert st == 200, streamed
        chunks = [json.loads(e) for e in sse_events(streamed)[:-1]]
        deltas = tool_deltas(chunks)
        assert sorted({d["index"] for d in deltas}) == [0, 1], deltas
        for i, call in enumerate(TWO):
            mine = [d for d in deltas if d["index"] == i]
            assert mine[0]["id"] == call["id"] and mine[0]["function"]["name"] == "get_weather", mine
            assert "".join(d["function"].get("arguments", "") for d in mine) == call["function"]["arguments"]
        assert content_of(chunks) == "" and finish_of(chunks) == ["tool_calls"], chunks
        st, whole = s.chat(user("Weather in Oslo and Rome?", tools=WEATHER))
        assert st == 200, whole
        msg = whole["choices"][0]["message"]
        assert [c["id"] for c in msg["tool_calls"]] == ["call_a", "call_b"], msg
        assert whole["choices"][0]["finish_reason"] == "tool_calls", whole
        # the client may ask for one call at a time: elpis is told so
        assert s.chat(user("One at a time.", tools=WEATHER, parallel_tool_calls=False))[0] == 200
        args = [q["arguments"] for q in s.requests_logged() if q["tool"] == "function_call"]
        assert "parallel_tool_calls" not in args[0] and args[2]["parallel_tool_calls"] is False, args
        # function_call has no emotional_modulation: the server sends it only with generate
        assert not [a for a in args if "emotional_modulation" in a], args
        st, bad = s.chat(user("x", tools=WEATHER, parallel_tool_calls="no"))
        assert st == 400 and bad["error"]["param"] == "parallel_tool_calls", bad
    finally:
        assert s.stop() == 0


def test_memory_calls_beside_a_client_call_run_and_the_client_gets_its_own():
    mem = {"id": "call_m", "type": "function",
           "function": {"name": "store_memory", "arguments": "{\"content\":\"The user's cat is Miso.\"}"}}
    s = Server(fake_script={"responses": [{"content": "calls", "tool_calls": [mem, TWO[0]]}]},
               wait_ready=False, memory_enabled="true", server_memory_tools="true")
    try:
        s.wait_health()
        st, r = s.chat(user("My cat is Miso. Weather in Oslo?", tools=WEATHER))
        assert st == 200, r
        assert [c["id"] for c in r["choices"][0]["message"]["tool_calls"]] == ["call_a"], r
        assert [q["tool"] for q in s.requests_logged() if q["tool"] == "function_call"] == ["function_call"], \
            s.requests_logged()
        assert "the model called store_memory" in s.log(), s.log()
        st, _, metrics = s.request("GET", "/metrics")
        assert 'psyche_memories_total{op="stored"} 1' in metrics, metrics  # it took effect
    finally:
        assert s.stop() == 0


def test_a_question_moves_the_emotion_once_as_in_the_terminal_ui():
    s = Server(fake_script={"responses": [{"content": "", "tool_calls": CALL}], "default": "Sunny."})
    try:
        assert s.chat(user("Nice weather today."))[0] == 200
        assert s.chat(user("What is the weather in Oslo?", tools=WEATHER))[0] == 200
        # the tool round: the question is still in the history, but the last message is the tool's
        body = user("What is the weather in Oslo?", tools=WEATHER)
        body["messages"] += [{"role": "assistant", "content": None, "tool_calls": CALL},
                             {"role": "tool", "tool_call_id": "call_abc", "content": "sunny"}]
        assert s.chat(body)[0] == 200
        events = [q["arguments"] for q in s.requests_logged() if q["tool"] == "update_emotion"]
        assert events == [{"event_type": "user_question", "intensity": 1.0}], events
        tools = [q["tool"] for q in s.requests_logged()]
        assert tools.index("update_emotion") < tools.index("function_call"), tools  # before the answer
    finally:
        assert s.stop() == 0
