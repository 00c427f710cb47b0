"""execute_bash attacked (issue 8 rows 2, 4, 5, 8, 16, and the attacks that
already held: ~/.ssh, network, kill $PPID, fork bomb, output flood)."""
import os
import pty
import select
import socket
import tempfile
import time

from host import FALLBACK, Host, Skip, need_bwrap, need_sandbox, output


def _alive(marker):
    """Pids whose command line holds marker."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(p))
        except OSError:
            pass
    return found


def _gone(marker, seconds=5):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not _alive(marker):
            return True
        time.sleep(0.05)
    return False


def test_unix_socket_outside_unreachable():
    """Row 2: a pathname UNIX socket outside the workspace (a tmux server, a session bus) cannot be reached."""
    with Host() as h:
        need_bwrap(h)  # Landlock cannot refuse connect() to a pathname socket: the report says so
        path = os.path.join(h.outside, "server.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(4)
        srv.setblocking(False)
        try:
            r = h.bash("python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
                       "s.send(b\"ESCAPED\")' %s" % path)
            assert not r["success"], output(r)
            got = select.select([srv], [], [], 0.2)[0]
            assert not got, "the sandbox connected to a socket outside"
        finally:
            srv.close()
        # the same through tmux, when it is installed: its server runs outside the sandbox
        sock = os.path.join(h.outside, "tmux.sock")
        if os.system("command -v tmux >/dev/null && tmux -S %s new-session -d 'sleep 30'" % sock) == 0:
            try:
                h.bash("tmux -S %s new-window 'touch %s/ESCAPED'" % (sock, h.outside))
                time.sleep(0.3)
                assert not os.path.exists(os.path.join(h.outside, "ESCAPED"))
            finally:
                os.system("tmux -S %s kill-server 2>/dev/null" % sock)


TIOCSTI_PY = ("import fcntl,termios,sys,os\n"
              "for p in sys.argv[1:]:\n"
              "    try:\n"
              "        fd = os.open(p, os.O_RDWR | os.O_NOCTTY)\n"
              "        fcntl.ioctl(fd, termios.TIOCSTI, b'X')\n"
              "        print('INJECTED', p)\n"
              "    except OSError as e:\n"
              "        print('refused', p, e)\n")


def test_tiocsti_cannot_type_into_the_terminal():
    """Rows 4 and 16: TIOCSTI on /dev/tty, /dev/pts/N and /proc/$PPID/fd/2 types nothing."""
    master, slave = pty.openpty()
    name = os.ttyname(slave)
    try:
        with Host(tty=name) as h:
            need_sandbox(h)
            with open(os.path.join(h.ws, "sti.py"), "w") as f:
                f.write(TIOCSTI_PY)
            r = h.bash("python3 sti.py /dev/tty %s /proc/$PPID/fd/2 /proc/%d/fd/2" % (name, h.proc.pid))
            assert "INJECTED" not in output(r), output(r)
            os.set_blocking(slave, False)
            try:
                typed = os.read(slave, 100)
            except BlockingIOError:
                typed = b""
            assert typed == b"", "characters were typed into the terminal: %r" % typed
            assert h.report()["protections"]["tty_injection"]["on"]
    finally:
        os.close(master)
        os.close(slave)


def test_setsid_setpgid_double_fork_do_not_survive():
    """Rows 5 and 16: setsid, setpgid and double-forked children end with the command."""
    with Host() as h:
        marks = ["31%03d" % (os.getpid() % 1000) + str(i) for i in range(4)]
        cmd = ("setsid sleep %s & "
               "python3 -c 'import os; os.setpgid(0, 0); os.execvp(\"sleep\", [\"sleep\", \"%s\"])' & "
               "( (sleep %s &) & ) ; "
               "nohup setsid sh -c 'sleep %s' >/dev/null 2>&1 & "
               "sleep 0.3; echo started" % tuple(marks))
        r = h.bash(cmd)
        assert "started" in r["stdout"], output(r)
        for m in marks:
            assert _gone(m), "a process of the command survived it: sleep %s %s" % (m, _alive(m))
        # the same when the command times out
        r = h.bash("setsid sleep %s7 & sleep 100" % marks[0])
        assert r["timed_out"]
        assert _gone(marks[0] + "7")


def test_environment_does_not_leak():
    """Rows 8 and 16: env, /proc/$PPID/environ and every /proc/*/environ show none of psyche's tokens."""
    env = {"AWS_SECRET_ACCESS_KEY": "leak-aws-0001", "GITHUB_TOKEN": "leak-gh-0002",
           "SSH_AUTH_SOCK": "/tmp/leak-agent-0003"}
    with Host(env=env) as h:
        r = h.bash("env; echo ---; cat /proc/$PPID/environ /proc/%d/environ; "
                   "for p in /proc/[0-9]*; do cat $p/environ; done; true" % h.proc.pid)
        out = output(r)
        for v in env.values():
            assert v not in out, "%s leaked:\n%s" % (v, out[:2000])
        assert "HOME=" in out and "PATH=" in out


def test_home_secrets_unreadable():
    """Held before: ~/.ssh cannot be read with cat, cp, mv or a hard link."""
    home = tempfile.mkdtemp(prefix="psy-sec-home-")
    try:
        os.makedirs(os.path.join(home, ".ssh"))
        with open(os.path.join(home, ".ssh", "id_ed25519"), "w") as f:
            f.write("ssh-secret-0004\n")
        with Host(home=home) as h:
            need_sandbox(h)
            key = os.path.join(home, ".ssh", "id_ed25519")
            r = h.bash("cat {k}; cp {k} a; mv {k} b; ln {k} c; cat a b c; cat ~/.ssh/id_ed25519; true".format(k=key))
            assert "ssh-secret" not in output(r), output(r)
            assert os.path.exists(key)
    finally:
        os.system("rm -rf '%s'" % home)


def test_no_network():
    """Held before: a listener on 127.0.0.1 outside cannot be reached."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    try:
        with Host() as h:
            rep = h.report()
            if not rep["protections"]["network"]["on"]:
                raise Skip("network not restricted here: " + rep["protections"]["network"]["why"])
            r = h.bash("python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", %d), timeout=2)'"
                       % srv.getsockname()[1])
            assert not r["success"], output(r)
    finally:
        srv.close()


def test_kill_parent_and_fork_bomb_and_flood():
    """Held before: kill -9 $PPID, a fork bomb and an output flood leave psyche's tools working."""
    with Host(files={"ok.txt": "ok\n"}) as h:
        need_sandbox(h)
        h.bash("kill -9 $PPID; kill -9 %d; true" % h.proc.pid)
        assert h.proc.poll() is None, "the command killed its host"
        r = h.bash(":(){ :|:& };:")
        assert not r["success"] and "Dangerous" in r["error"]
        r = h.bash("head -c 50000000 /dev/zero | tr '\\0' x")
        assert len(r["stdout"]) < 40000 and r.get("stdout_cut_bytes", 0) > 0
        assert h.call("read_file", file_path="ok.txt")["success"]


def test_psyche_binaries_not_writable():
    """Also in the issue: psyche's own binaries are not writable from the sandbox (bubblewrap: not even there)."""
    with Host() as h:
        need_bwrap(h)
        exe = os.path.realpath(os.path.join(os.environ.get("BUILD", "build"), "tests", "toolhost"))
        r = h.bash("ls -l %s; echo x >> %s" % (exe, exe))
        assert not r["success"]
        assert os.access(exe, os.X_OK)


def test_fallback_is_really_used():
    """In the fallback run the report must not claim bubblewrap's protections."""
    if not FALLBACK:
        raise Skip("only in the fallback run (make test-security-fallback)")
    with Host() as h:
        rep = h.report()
        assert rep["mode"] != "bubblewrap"
        assert not rep["protections"]["mount_namespace"]["on"]
        assert not rep["protections"]["pid_namespace"]["on"]
        assert not rep["protections"]["sockets_absent"]["on"]


def test_command_holds_no_capabilities():
    """Run by root, the command must not keep root's capabilities (mount, ptrace, ...) in either mode."""
    with Host() as h:
        need_sandbox(h)
        r = h.bash("grep CapEff /proc/self/status; mount -t tmpfs none /usr 2>/dev/null && echo MOUNTED; true")
        assert "CapEff:\t0000000000000000" in r["stdout"], r["stdout"]
        assert "MOUNTED" not in r["stdout"]


def test_the_background_note_is_only_said_when_true():
    """A command that leaves nothing running gets no "background processes ... were stopped" note
    (bubblewrap's init ends a moment after the command: it was counted as one, on most commands);
    in the Landlock fallback a real background process still gets it. Under bubblewrap the
    kernel ends what the command left with its PID namespace, where the keeper cannot count it."""
    with Host() as h:
        noted = [r.get("note") for r in (h.bash("echo hi") for _ in range(20)) if r.get("note")]
        assert not noted, noted
        mark = "41%03d" % (os.getpid() % 1000)
        r = h.bash("sleep %s & echo started" % mark)
        assert "started" in r["stdout"], output(r)
        assert _gone(mark), "the background sleep survived the command"
        if FALLBACK:
            assert "background processes still running" in (r.get("note") or ""), r
