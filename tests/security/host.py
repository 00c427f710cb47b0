"""Helpers for tests/security: a toolhost (psyche's tools on stdin/stdout)
in a fresh workspace, and the Skip exception for what a kernel lacks."""
import json
import os
import shutil
import subprocess
import tempfile

BUILD = os.environ.get("BUILD", "build")
FALLBACK = os.environ.get("SECURITY_FALLBACK") == "1"


class Skip(Exception):
    """Raised by a test that cannot run here; the message says why."""


class Host:
    """One toolhost process. env: extra environment; stdin: a file object or fd; prepare: called with the
    Host after the workspace is made and before the toolhost starts (may add to self.env_extra)."""

    def __init__(self, files=None, env=None, home=None, tty=None, prepare=None):
        self.root = tempfile.mkdtemp(prefix="psy-sec-")
        self.ws = os.path.join(self.root, "ws")
        self.outside = os.path.join(self.root, "outside")
        os.makedirs(self.ws)
        os.makedirs(self.outside)
        for rel, content in (files or {}).items():
            p = os.path.join(self.ws, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(content)
        e = dict(os.environ)
        if home:
            e["HOME"] = home
        e.update(env or {})
        self.env_extra = {}
        if prepare:
            prepare(self)
        e.update(self.env_extra)
        def own_terminal():  # tty: the path of a pty slave that becomes the host's terminal (and stderr)
            os.setsid()
            fd = os.open(tty, os.O_RDWR)
            os.dup2(fd, 2)

        self.proc = subprocess.Popen([os.path.join(BUILD, "tests", "toolhost"), self.ws], env=e,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     preexec_fn=own_terminal if tty else None)
        ready = self.proc.stdout.readline()
        assert '"ready"' in ready, "toolhost did not start: %r" % ready

    def send(self, obj):
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "toolhost died"
        return json.loads(line)

    def call(self, tool, **args):
        """The tool's result object (with "success")."""
        return self.send({"tool": tool, "args": args})["result"]

    def bash(self, command):
        return self.call("execute_bash", command=command)

    def report(self):
        return self.send({"report": True})

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def need_bwrap(h):
    """Skips unless commands run under bubblewrap here (says why not)."""
    r = h.report()
    if r["mode"] != "bubblewrap":
        raise Skip("needs bubblewrap: " + r["protections"]["mount_namespace"]["why"])


def need_sandbox(h):
    r = h.report()
    if not r["active"]:
        raise Skip("no sandbox on this kernel: " + r["detail"])


def output(r):
    return (r.get("stdout") or "") + (r.get("stderr") or "")
