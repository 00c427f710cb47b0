"""The Landlock inner layer inside bubblewrap (psyche-sandbox-exec): it
refuses what bubblewrap alone leaves writable, keeps the workspace usable,
and the report says ON only when it is applied (OFF, with the reason, when
the helper is made unavailable)."""
import ctypes
import os
import platform
import shutil

from host import BUILD, Host, Skip, need_bwrap, output

PROBE = "touch /dev/psy-inner-probe && echo WROTE-DEV"


def landlock_abi():
    """The kernel's Landlock ABI (landlock_create_ruleset(NULL, 0, VERSION)), 0 when it has none."""
    nr = {"x86_64": 444, "aarch64": 444}.get(platform.machine())
    if nr is None:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(nr, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return abi if abi > 0 else 0


def test_inner_layer_refuses_what_bwrap_leaves_writable():
    """bwrap's private /dev is writable to the command; Landlock's write rules (only the workspace and the private
    temporary folders) refuse it. Without the helper the same command writes there: the check is the inner layer's."""
    with Host() as h:
        need_bwrap(h)
        if not landlock_abi():
            raise Skip("Landlock is not available in this kernel")
        prot = h.report()["protections"]["landlock_files"]
        assert prot["on"], prot
        assert "inside bubblewrap" in prot["why"], prot
        r = h.bash(PROBE)
        assert "WROTE-DEV" not in output(r), output(r)
        assert "Permission denied" in output(r), output(r)
        r = h.bash("echo ok > inside.txt && cat inside.txt")
        assert r["success"] and "ok" in r["stdout"], output(r)
    with Host(env={"PSYCHE_SANDBOX_EXEC": ""}) as h:
        need_bwrap(h)
        prot = h.report()["protections"]["landlock_files"]
        assert not prot["on"], prot
        assert "psyche-sandbox-exec" in prot["why"] and "not applied" in prot["why"], prot
        r = h.bash(PROBE)
        assert "WROTE-DEV" in output(r), "bubblewrap alone no longer leaves /dev writable: pick another probe: %s" % (
            output(r))


def test_inner_layer_missing_helper_path_is_named():
    with Host(env={"PSYCHE_SANDBOX_EXEC": "/nonexistent/psyche-sandbox-exec"}) as h:
        need_bwrap(h)
        rep = h.report()
        prot = rep["protections"]["landlock_files"]
        assert not prot["on"] and "/nonexistent/psyche-sandbox-exec" in prot["why"], prot
        assert "not applied" in rep["detail"], rep["detail"]
        r = h.bash("echo still runs")
        assert r["success"] and "still runs" in r["stdout"], output(r)


def test_inner_layer_keeps_the_workspace_usable():
    """Files a command makes beside a protected file are usable by the same command (the reads inside bubblewrap are
    confined by the mounts, not by per-entry Landlock rules), and the protected file stays unreadable."""
    with Host(files={".env": "TOKEN=inner-secret\n", "src/main.sh": "echo main\n"}) as h:
        need_bwrap(h)
        r = h.bash("printf 'echo ran-new\\n' > run.sh && chmod +x run.sh && ./run.sh && "
                   "echo tmp-data > /tmp/t && cat /tmp/t && mkdir -p out && echo o > out/x && cat out/x")
        assert r["success"], output(r)
        for want in ["ran-new", "tmp-data", "o\n"]:
            assert want in r["stdout"], (want, output(r))
        r = h.bash("cat .env; cat ../outside/x 2>&1; echo done")
        assert "inner-secret" not in output(r), output(r)


def test_a_helper_inside_the_workspace_is_not_trusted():
    """A helper commands could replace (it lies in the workspace) is not used, and the report says why."""
    def copy_in(h):
        dst = os.path.join(h.ws, "psyche-sandbox-exec")
        shutil.copy2(os.path.join(BUILD, "bin", "psyche-sandbox-exec"), dst)
        h.env_extra["PSYCHE_SANDBOX_EXEC"] = dst

    with Host(prepare=copy_in) as h:
        need_bwrap(h)
        prot = h.report()["protections"]["landlock_files"]
        assert not prot["on"] and "lies where commands can write" in prot["why"], prot
        r = h.bash("echo still runs")
        assert r["success"] and "still runs" in r["stdout"], output(r)
        assert "psyche-sandbox-exec" not in str(r.get("stderr")), output(r)
