"""Issue 8 row 3 for the children: psyche refuses to start elpis or mnemosyne
on a config file the agent could have written (inside the workspace), names
it as the child's start-failure cause, and runs nothing; a config outside
the workspace is used as before."""
import os
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
import test_psyche as tp  # noqa: E402  (the integration suite's Env and Psyche drivers)

EVIL = '[model]\npath = "/nonexistent/evil.gguf"\nctx = 1\n'


def _wrapper(env, name, real):
    """A command outside the workspace that leaves a marker when it runs, then execs the real program."""
    marker = os.path.join(env.dir, name + ".ran")
    script = os.path.join(env.dir, name + "-wrapper.sh")
    with open(script, "w") as f:
        f.write('#!/bin/sh\ntouch "%s"\nexec "%s" "$@"\n' % (marker, real))
    os.chmod(script, stat.S_IRWXU)
    return script, marker


def _plant(env, name):
    path = os.path.join(env.ws, "configs", name + ".toml")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(EVIL)
    return path


def _start_failure(p, child):
    return p.wait_for(lambda e: e["event"] == "child" and e["data"]["child"] == child
                      and e["data"]["event"] == "start_failed", 30, child + " start failure")


def test_elpis_config_in_the_workspace_is_refused():
    """--config in elpis_command pointing into the workspace: refused, named, elpis never run. elpis
    never came up, so psyche's line mode stops with exit status 4 and says why (the mnemosyne test below
    checks /status, which a running psyche shows)."""
    env = tp.Env(children_start_attempts=1, children_restart_retry_s=600)
    env.env["PSYCHE_MODEL_PATH"] = ""  # no model needed: elpis must not even start
    planted = _plant(env, "elpis")
    script, marker = _wrapper(env, "elpis", tp.ELPIS)
    env.env["PSYCHE_CHILDREN_ELPIS_COMMAND"] = "%s,--config,%s" % (script, planted)
    p = tp.Psyche(env, "--no-memory")
    try:
        failed = _start_failure(p, "elpis")
        assert planted in failed["text"] and "inside the workspace" in failed["text"], failed
        assert p.proc.wait(30) == 4, p.stderr()  # the start-up failure ends line mode, as a missing model does
        line = p.stderr()
        assert "elpis could not be started" in line and planted in line and "inside the workspace" in line, line
        assert not os.path.exists(marker), "elpis was run with the planted config"
    finally:
        p.kill()
        env.cleanup()


def test_mnemosyne_config_from_the_environment_in_the_workspace_is_refused():
    """$MNEMOSYNE_CONFIG pointing into the workspace (mnemosyne starts on a helper thread): the same."""
    env = tp.Env({"responses": [{"content": "Hello."}]}, children_start_attempts=1, children_restart_retry_s=600)
    planted = _plant(env, "mnemosyne")
    script, marker = _wrapper(env, "mnemosyne", tp.MNEMOSYNE)
    env.env["PSYCHE_CHILDREN_MNEMOSYNE_COMMAND"] = script
    env.env["MNEMOSYNE_CONFIG"] = planted
    p = tp.Psyche(env)
    try:
        failed = _start_failure(p, "mnemosyne")
        assert planted in failed["text"] and "MNEMOSYNE_CONFIG" in failed["text"], failed
        assert not os.path.exists(marker), "mnemosyne was run with the planted config"
        p.send("hi")
        assert p.answer(30)["text"] == "Hello."  # the conversation goes on without memory
        assert p.quit() == 0
    finally:
        p.kill()
        env.cleanup()


def test_a_config_outside_the_workspace_is_used():
    """The control: the same wrapper with a config outside the workspace runs."""
    env = tp.Env({"responses": [{"content": "Hello."}]}, children_start_attempts=1)
    outside = os.path.join(env.dir, "cfg", "mnemosyne.toml")
    os.makedirs(os.path.dirname(outside))
    with open(outside, "w") as f:
        f.write("# nothing to change\n")
    script, marker = _wrapper(env, "mnemosyne", tp.MNEMOSYNE)
    env.env["PSYCHE_CHILDREN_MNEMOSYNE_COMMAND"] = script
    env.env["MNEMOSYNE_CONFIG"] = outside
    p = tp.Psyche(env)
    try:
        p.wait_for(lambda e: e["event"] == "child" and e["data"]["child"] == "mnemosyne"
                   and e["data"]["event"] == "started", 30, "mnemosyne started")
        assert os.path.exists(marker)
        assert p.quit() == 0
    finally:
        p.kill()
        env.cleanup()
