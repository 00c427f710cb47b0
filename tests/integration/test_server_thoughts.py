"""GET /v1/psyche/thoughts: what `psyche serve` thought while nobody was
there (a dream, the insight kept from it), per user. fake_elpis.py dreams a
scripted text; two API keys check that a user sees only their own thoughts.
Servers come from test_server.Server."""
import json
import os
import time

from test_server import KEY, Server, _wait, user

OTHER = "second-key-abcdefghijklmnop"
DREAM = "I realize the pattern \x1b[2J connects our \"talks\"."


def thoughts(s, key, since=None):
    path = "/v1/psyche/thoughts" + ("" if since is None else "?since=%s" % since)
    st, _, body = s.request("GET", path, headers={"Authorization": "Bearer " + key} if key else None)
    return st, json.loads(body)


def test_a_dream_is_kept_for_its_user_only():
    s = Server(fake_script={"background_default": DREAM, "default": "hello"}, keys=[KEY, OTHER],
               memory_enabled="true", idle_enabled="true", idle_dream_after_s=1, idle_dream_interval_s=3600)
    try:
        st, t = thoughts(s, KEY)
        assert st == 200 and t == {"thoughts": [], "next": 1}, t
        # the first user's memories open with a request: now there is someone to dream for
        assert s.chat(user("Hi there"), headers={"Authorization": "Bearer " + KEY})[0] == 200
        _wait(lambda: len(thoughts(s, KEY)[1]["thoughts"]) >= 2, timeout=30)  # the dream and its insight
        st, t = thoughts(s, KEY)
        dream, insight = t["thoughts"][0], t["thoughts"][1]
        assert dream["kind"] == "dream" and dream["text"] == DREAM and dream["seq"] == 1, t  # the text as data
        assert dream["theme"] and isinstance(dream["time"], (int, float)) and dream["time"] > 1e9, dream
        assert insight["kind"] == "memory" and "kept an insight" in insight["text"] and insight["seq"] == 2, t
        assert t["next"] == 3, t
        # since: only what is new
        assert thoughts(s, KEY, since=2)[1] == {"thoughts": [insight], "next": 3}
        assert thoughts(s, KEY, since=3)[1] == {"thoughts": [], "next": 3}
        # the other key's user dreamt nothing and sees nothing of the first's
        st, t = thoughts(s, OTHER)
        assert st == 200 and t == {"thoughts": [], "next": 1}, t
        # auth as the other /v1 routes; a bad since is a 400 that says what to pass
        st, t = thoughts(s, None)
        assert st == 401, t
        for bad in ("-1", "x", "", "1e3"):
            st, t = thoughts(s, KEY, since=bad)
            assert st == 400 and t["error"]["param"] == "since", (bad, t)
        st, _, text = s.request("GET", "/metrics", headers={"Authorization": "Bearer " + KEY})
        assert 'psyche_http_requests_total{route="thoughts",status="200"}' in text, text
    finally:
        assert s.stop() == 0


def test_polling_the_emotion_does_not_keep_the_server_from_dreaming():
    """Hermes reads the emotion every second; that must not postpone the dream
    (dream_after_s counts from the last other request)."""
    s = Server(fake_script={"background_default": DREAM, "default": "hello"}, memory_enabled="true",
               idle_enabled="true", idle_dream_after_s=2, idle_dream_interval_s=3600)
    try:
        assert s.chat(user("Hi there"))[0] == 200
        deadline = time.monotonic() + 30
        while not thoughts(s, None)[1]["thoughts"]:
            assert time.monotonic() < deadline, "no dream while the emotion was polled"
            assert s.request("GET", "/v1/psyche/emotion")[0] == 200
            time.sleep(0.5)
    finally:
        assert s.stop() == 0


def test_a_consolidation_while_idle_is_a_thought_too():
    s = Server(fake_script={"background_default": DREAM, "default": "hello"}, memory_enabled="true",
               idle_enabled="true", idle_dream_after_s=1, idle_dream_interval_s=3600)
    try:
        conf = os.path.join(s.dir, ".config", "psyche")
        os.makedirs(conf)
        with open(os.path.join(conf, "mnemosyne.toml"), "w") as f:  # mnemosyne recommends it at once
            f.write("[consolidation]\nbuffer_threshold = 1\nmin_age_hours = 0\n")
        assert s.chat(user("Hi there"))[0] == 200
        _wait(lambda: any(t["text"].startswith("consolidated memories: ") for t in thoughts(s, None)[1]["thoughts"]),
              timeout=30)
        kinds = [t["kind"] for t in thoughts(s, None)[1]["thoughts"]]
        assert kinds == ["dream", "memory", "memory"], kinds  # the dream, its insight, then the consolidation
    finally:
        assert s.stop() == 0
