"""psyche's own status event (what /status and the sidebar show) carries the
per-protection report, and agrees with the mode of this run."""
import os
import sys

from host import FALLBACK
from test_inner import landlock_abi

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
import test_psyche as tp  # noqa: E402  (the integration suite's Env and Psyche drivers)


def test_status_shows_the_protections():
    env = tp.Env({"responses": [{"content": "Hello."}]})
    if FALLBACK:
        env.env["PSYCHE_BWRAP"] = "/nonexistent/bwrap"
    p = tp.Psyche(env, "--no-memory")
    try:
        p.send("hi")
        p.answer(30)
        sb = p.status()["sandbox"]
        assert isinstance(sb["active"], bool) and sb["detail"], sb
        prot = sb["protections"]
        for name in ["mount_namespace", "pid_namespace", "tty_injection", "clean_environment", "process_cleanup"]:
            assert isinstance(prot[name]["on"], bool) and prot[name]["why"], (name, prot)
        assert prot["mount_namespace"]["on"] == (sb["mode"] == "bubblewrap")
        if FALLBACK:
            assert sb["mode"] != "bubblewrap", sb
        if sb["mode"] == "bubblewrap":  # the inner layer: helper found beside psyche, Landlock in the kernel
            assert prot["landlock_files"]["on"] == bool(landlock_abi()), prot["landlock_files"]
        assert p.quit() == 0
    finally:
        p.kill()
        env.cleanup()
