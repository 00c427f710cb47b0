"""A small MCP stdio client for the integration tests (stdlib only).

Spawns a server binary, speaks newline-delimited JSON-RPC, and collects
notifications. Every wait has a timeout so a hung server fails a test
instead of hanging the suite."""
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import time

BUILD = os.environ.get("BUILD", "build")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_path(*parts):
    p = os.path.join(BUILD, *parts)
    return p if os.path.isabs(p) else os.path.join(ROOT, p)


def empty_config(tag):
    """An empty settings file (the defaults) for one test module, named by tag:
    with ELPIS_CONFIG pointing at it, no user's elpis.toml changes a test."""
    path = os.path.join(tempfile.gettempdir(), "elpis-%s-empty-%d.toml" % (tag, os.getpid()))
    with open(path, "w") as f:
        f.write("# empty: defaults\n")
    return path


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerError(Exception):
    pass


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer")


def check_sanitizer_log(path):
    """Raises if a sanitizer reported anything in a server's stderr log."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return
    for mark in SANITIZER_MARKS:
        i = text.find(mark)
        if i >= 0:
            raise AssertionError("sanitizer report in %s:\n%s" % (path, text[max(0, i - 200):i + 3000]))


class Client:
    def __init__(self, argv, env=None, cwd=None, stderr_path=None):
        e = dict(os.environ)
        if env:
            e.update(env)
        self.stderr_path = stderr_path or "/tmp/mcp-test-%d-%d.log" % (os.getpid(), time.monotonic_ns())
        self.errf = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errf, env=e, cwd=cwd or ROOT)
        self.buf = b""
        self.next_id = 1
        self.notifications = []
        self.responses = {}

    # --- raw I/O
    def send_raw(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, obj):
        self.send_raw((json.dumps(obj) + "\n").encode())

    def read_message(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from server within %.1fs; stderr: %s" % (timeout, self.stderr_tail()))
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    raise EOFError("server closed stdout; stderr: %s" % self.stderr_tail())
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def stderr_tail(self, n=2000):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    # --- JSON-RPC
    def request_async(self, method, params=None, progress_token=None):
        rid = self.next_id
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None or progress_token is not None:
            msg["params"] = dict(params or {})
            if progress_token is not None:
                msg["params"]["_meta"] = {"progressToken": progress_token}
        self.send(msg)
        return rid

    def wait(self, rid, timeout=60.0):
        deadline = time.monotonic() + timeout
        while rid not in self.responses:
            self._keep(self.read_message(max(0.01, deadline - time.monotonic())))
        return self.responses.pop(rid)

    def _keep(self, m):
        """Files a message read: a response where wait finds it, anything else as a notification."""
        if "id" in m and ("result" in m or "error" in m) and "method" not in m:
            self.responses[m["id"]] = m
        else:
            self.notifications.append(m)

    def pump(self, until, timeout=60):
        """Reads messages until until() holds, keeping responses where wait finds them."""
        while not until():
            self._keep(self.read_message(timeout))

    def request(self, method, params=None, timeout=60.0, progress_token=None):
        return self.wait(self.request_async(method, params, progress_token), timeout)

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def initialize(self, version="2025-11-25"):
        r = self.request("initialize", {"protocolVersion": version, "capabilities": {},
                                        "clientInfo": {"name": "psyche-tests", "version": "1"}})
        self.notify("notifications/initialized")
        return r

    def call(self, tool, args=None, timeout=120.0, progress_token=None):
        """Returns (structuredContent, isError) or raises ServerError on a JSON-RPC error."""
        r = self.request("tools/call", {"name": tool, "arguments": args or {}}, timeout, progress_token)
        if "error" in r:
            raise ServerError(r["error"])
        res = r["result"]
        text = json.loads(res["content"][0]["text"])
        assert text == res["structuredContent"], "text and structuredContent differ"
        return res["structuredContent"], bool(res.get("isError"))

    def ok(self, tool, args=None, timeout=120.0):
        sc, err = self.call(tool, args, timeout)
        assert not err, "%s failed: %s" % (tool, sc)
        return sc

    def close(self, timeout=30.0):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("server did not exit within %ss of EOF" % timeout)
        self.errf.close()
        check_sanitizer_log(self.stderr_path)
        return rc

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.errf.close()
        if exc[0] is None:
            check_sanitizer_log(self.stderr_path)
