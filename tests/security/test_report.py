"""The report of which protections are on is truthful: `psyche --doctor`
and psy_sandbox_report, with bubblewrap and with it made unavailable."""
import os
import subprocess
import tempfile

from host import BUILD, FALLBACK, Host, Skip
from test_inner import landlock_abi

BWRAP_ONLY = ["mount_namespace", "pid_namespace", "sockets_absent"]


def test_report_matches_the_mode():
    with Host() as h:
        rep = h.report()
        prot = rep["protections"]
        if FALLBACK:
            assert rep["mode"] in ("landlock", "none"), rep["mode"]
            for name in BWRAP_ONLY:
                assert not prot[name]["on"], name
            assert "bubblewrap" in prot["mount_namespace"]["why"]
            if rep["mode"] == "none":
                assert not rep["active"] and not prot["landlock_files"]["on"]
        elif rep["mode"] == "bubblewrap":
            for name in BWRAP_ONLY + ["network", "tty_injection", "clean_environment", "secrets_hidden"]:
                assert prot[name]["on"], (name, prot[name])
            # the inner Landlock layer (psyche-sandbox-exec) is applied under bubblewrap where the kernel has it
            ll = prot["landlock_files"]
            if landlock_abi():
                assert ll["on"] and "inside bubblewrap" in ll["why"], ll
            else:
                assert not ll["on"] and "not available" in ll["why"], ll
        else:
            raise Skip("bubblewrap unusable here: " + prot["mount_namespace"]["why"])
        assert rep["active"] == (rep["mode"] != "none")
        for name, p in prot.items():
            assert isinstance(p["on"], bool) and p["why"], name


def test_report_says_disabled():
    """With sandbox = false nothing is claimed."""
    cfgdir = tempfile.mkdtemp(prefix="psy-sec-cfg-")
    cfg = os.path.join(cfgdir, "psyche.toml")
    ws = tempfile.mkdtemp(prefix="psy-sec-ws-")
    try:
        with open(cfg, "w") as f:
            f.write("[workspace]\nsandbox = false\n")
        r = subprocess.run([os.path.join(BUILD, "bin", "psyche"), "--doctor", "--config", cfg, "--workspace", ws],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r
        assert "sandbox mode: none" in r.stdout, r.stdout
        for name in ["mount_namespace", "landlock_files", "network", "tty_injection"]:
            line = [ln for ln in r.stdout.splitlines() if ln.strip().startswith(name)]
            assert line and " OFF " in line[0], (name, r.stdout)
    finally:
        os.remove(cfg)
        os.rmdir(cfgdir)
        os.rmdir(ws)


def test_doctor_prints_the_report():
    ws = tempfile.mkdtemp(prefix="psy-sec-ws-")
    try:
        r = subprocess.run([os.path.join(BUILD, "bin", "psyche"), "--doctor", "--workspace", ws],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode in (0, 1), r
        assert "sandbox mode: " in r.stdout
        mode = r.stdout.split("sandbox mode: ")[1].split()[0]
        if FALLBACK:
            assert mode != "bubblewrap", r.stdout
        line = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("mount_namespace")][0]
        assert (" on " in line) == (mode == "bubblewrap"), r.stdout
        # the exit status is 0 exactly when every protection is on
        offs = [ln for ln in r.stdout.splitlines() if " OFF " in ln]
        assert (r.returncode == 0) == (not offs), r.stdout
        ll = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("landlock_files")][0]
        if mode == "bubblewrap" and landlock_abi():
            assert " on " in ll, r.stdout
    finally:
        os.rmdir(ws)
