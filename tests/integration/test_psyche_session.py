"""Integration tests of the agent's session-level behaviour with fake_elpis.py
and the real mnemosyne: the session hint of every generation, the dream's
topic queries and the periodic consolidation check."""
import os
import subprocess

from test_psyche import MNEMOSYNE, Env, Psyche


def import_memories(env, *contents):
    path = os.path.join(env.dir, "seed.jsonl")
    with open(path, "w") as f:
        for c in contents:
            f.write('{"content": "%s"}\n' % c)
    out = subprocess.run([MNEMOSYNE, "--db", env.db, "import", path, "--keep-trust"], cwd=env.dir, env=env.env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def test_generations_carry_a_session_hint_and_dreams_query_topics():
    """Every conversation turn sends its conversation's stable session; idle
    thoughts and dreams run in the background with their own; the dream asks
    mnemosyne about "experiences with <topic>" of the recent conversations."""
    script = {"responses": [{"content": "Hello!"}, {"content": "Again!"}],
              "background": [{"content": "A quiet thought."}],
              "background_default": "A calm dream about the garden."}
    env = Env(script, idle_enabled="true", idle_think_after_s=1, idle_quiet_after_user_s=0, idle_dream_after_s=3,
              idle_dream_interval_s=600, idle_tools="false")
    import_memories(env, "The user grows tomatoes in a greenhouse near the harbour.")
    p = Psyche(env)
    try:
        p.send("hi")
        p.answer(20)
        p.wait_for(lambda e: e["event"] == "thought" and e["data"]["kind"] == "reflection", 20, "reflection")
        dr = p.wait_for(lambda e: e["event"] == "thought" and e["data"]["kind"] == "dream", 20, "dream")
        queries = dr["data"]["queries"]
        assert any(q.startswith("experiences with ") for q in queries), queries
        assert any(q.startswith("what I learned about ") for q in queries), queries
        assert "experiences with tomatoes" in queries or "experiences with greenhouse" in queries, queries
        p.send("and again")
        p.answer(20)
        assert p.quit() == 0
        gens = [r["arguments"] for r in env.requests() if r["tool"] == "generate"]
        fg = [a for a in gens if not a.get("background")]
        bg = [a for a in gens if a.get("background")]
        assert len(fg) == 2 and len(bg) >= 2, gens
        assert fg[0].get("session") and fg[0]["session"] == fg[1]["session"], fg
        assert all(a.get("session") == "psyche-background" for a in bg), bg
        assert fg[0]["session"] != "psyche-background"
    finally:
        p.kill()
        env.cleanup()


def test_consolidation_is_checked_on_the_tick_without_idle_thinking():
    """With --no-idle, should_consolidate is still asked every
    [memory] consolidate_check_s during the session, not only at exit."""
    env = Env({"responses": [{"content": "Hello!"}]}, memory_consolidate_check_s=1, shutdown_consolidate="false")
    env.env["MNEMOSYNE_CONSOLIDATION_BUFFER_THRESHOLD"] = "1"  # one short-term memory: it says yes
    import_memories(env, "The user keeps bees on the roof.")
    p = Psyche(env, "--no-idle")
    try:
        p.send("hi")
        p.answer(20)
        ev = p.wait_for(lambda e: e["event"] == "memory" and "consolidated memories (periodic)" in e.get("text", ""),
                        20, "periodic consolidation")
        assert ev["data"]["kind"] == "consolidation", ev
        assert not [e for e in p.events if e["event"] == "thought"], "idle thinking is off"
        assert p.quit() == 0
    finally:
        p.kill()
        env.cleanup()


def test_idle_thought_and_dream_never_overflow_the_512_token_model():
    """On the tiny model (a context of 512 tokens), after a long conversation
    and with long memories to dream about, an idle thought and a dream both
    run, and neither reports a context overflow (events or log)."""
    env = Env(AGENT_MAX_TOKENS="64", idle_enabled="true", idle_think_after_s=1, idle_quiet_after_user_s=0,
              idle_dream_after_s=6, idle_dream_interval_s=600, idle_tools="false", idle_dream_max_memories=36)
    long_memory = ("A long note about the garden, the harbour, the lighthouse and the bees on the roof, kept so "
                   "that the dream has plenty to read; it goes on about tomatoes, greenhouses and ferries. ")
    import_memories(env, *["%s(%d)" % (long_memory * 2, i) for i in range(12)])
    p = Psyche(env)
    long_text = "Please remember these notes about my garden, my week and the harbour nearby. " * 4
    try:
        p.wait_for(lambda e: e["event"] == "status" and e["data"].get("children", {}).get("elpis", {}).get("alive"),
                   60, "elpis up")
        for i in range(4):
            p.send("%s Grüße, 東京 (%d)" % (long_text, i))
            p.answer(timeout=120)
        kinds = {e["data"]["kind"]: e for e in p.events if e["event"] == "thought"}
        while len(kinds) < 2:  # a reflection and a dream, in either order
            ev = p.wait_for(lambda e: e["event"] == "thought", 180, "a reflection and a dream (seen: %s)" % list(kinds))
            kinds[ev["data"]["kind"]] = ev
        dr = kinds["dream"]
        errors = [e.get("text") for e in p.events if e["event"] == "error"]
        assert not errors, errors
        assert p.quit() == 0
        log = env.log("psyche")
        assert "overflow" not in log and "idle thought:" not in log and "dream:" not in log, log[-3000:]
        assert dr["data"]["memories"] >= 5, dr  # long memories filled the dream's prompt
        assert "request was cut to fit the context of 512 tokens" in log, log[-3000:]  # fitted, not refused
    finally:
        p.kill()
        env.cleanup()
