"""Protocol exactness over real stdio (issue 8 rows 10-12, issue 9's timestamps),
through build/bin/mnemosyne (no model needed); the MCP layer is the one elpis
uses too.

- a raw control byte (0x00, 0x01, a raw tab) inside a JSON string is -32700
  for the line, never a truncation: nothing is stored;
- \\u0000 is refused the same way;
- two JSON objects on one line: -32700 for the line (answered with the first
  object's id; the second is not run), and the server goes on;
- ids, and progress tokens in notifications, come back exactly as sent (12345678901234567890, 1e400, -0, 1.50);
- an export/import/export round trip keeps the milliseconds of timestamps.

Run alone: BUILD=build python3 tests/integration/run.py test_protocol.py
"""
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

from mcp import build_path, check_sanitizer_log, empty_config

BIN = build_path("bin", "mnemosyne")


def env():
    e = {k: v for k, v in os.environ.items() if not k.startswith(("MNEMOSYNE_", "XDG_"))}
    cfg = os.path.join(tempfile.gettempdir(), "protocol-no-config-%d.toml" % os.getpid())
    with open(cfg, "w") as f:
        f.write("# empty: defaults only\n")
    e["MNEMOSYNE_CONFIG"] = cfg
    return e


class Raw:
    """A mnemosyne process read line by line as bytes (ids must be seen as sent)."""

    def __init__(self, db, argv=None, environ=None):
        self.err = tempfile.NamedTemporaryFile(prefix="protocol-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(argv or [BIN, "--db", db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, env=environ or env())
        self.buf = b""

    def send(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def line(self, timeout=30.0) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, "no answer within %.0fs" % timeout
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                assert chunk, "mnemosyne closed its output"
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def msg(self):
        return json.loads(self.line())

    def call(self, rid, tool, args):
        self.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                              "params": {"name": tool, "arguments": args}}).encode() + b"\n")
        return self.msg()

    def close(self):
        self.proc.stdin.close()
        assert self.proc.wait(30) == 0
        self.err.close()
        check_sanitizer_log(self.err.name)
        os.unlink(self.err.name)


def started(db, argv=None, environ=None):
    s = Raw(db, argv, environ)
    s.send(b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
           b'"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}\n')
    assert "result" in s.msg()
    return s


def total(s, rid):
    m = s.call(rid, "get_memory_stats", {})
    return m["result"]["structuredContent"]["total_memories"]


def store_line(rid, content: bytes) -> bytes:
    return (b'{"jsonrpc":"2.0","id":' + str(rid).encode() + b',"method":"tools/call","params":'
            b'{"name":"store_memory","arguments":{"content":"' + content + b'"}}}\n')


def test_control_bytes_and_nul_are_parse_errors():
    d = tempfile.mkdtemp(prefix="protocol-")
    s = started(os.path.join(d, "m.db"))
    try:
        for i, bad in enumerate([b"secret\x00tail", b"a\x01b", b"tab\there", b"secret\\u0000tail"]):
            s.send(store_line(10 + i, bad))
            m = s.msg()
            assert m["error"]["code"] == -32700, m
            assert m["id"] == 10 + i, m
            assert "0x00" in m["error"]["message"] or "control" in m["error"]["message"] \
                or "\\u0000" in m["error"]["message"], m
        assert total(s, 20) == 0, "a refused line stored something"
        # the escaped forms are fine and stored whole
        s.send(store_line(21, b"secret\\u0001tail and a tab\\there"))
        assert "result" in s.msg()
        assert total(s, 22) == 1
    finally:
        s.close()
        shutil.rmtree(d)


def test_two_objects_on_one_line():
    d = tempfile.mkdtemp(prefix="protocol-")
    s = started(os.path.join(d, "m.db"))
    try:
        s.send(store_line(30, b"first").rstrip(b"\n") + b" " + store_line(31, b"second"))
        m = s.msg()
        assert m["error"]["code"] == -32700 and m["id"] == 30, m
        assert "trailing data" in m["error"]["message"], m
        # nothing was run, nothing else is answered, and the next line is served
        assert total(s, 32) == 0
        s.send(b'{"jsonrpc":"2.0","id":33,"method":"ping"}   \r\n')
        assert s.msg() == {"jsonrpc": "2.0", "id": 33, "result": {}}
    finally:
        s.close()
        shutil.rmtree(d)


def test_ids_echoed_exactly():
    d = tempfile.mkdtemp(prefix="protocol-")
    s = started(os.path.join(d, "m.db"))
    try:
        for rid in [b"12345678901234567890", b"1e400", b"-0", b"1.50", b"-2.5E-3", b'"caf\\u00e9"']:
            s.send(b'{"jsonrpc":"2.0","id":' + rid + b',"method":"ping"}\n')
            line = s.line()
            assert b'"id":' + rid + b"," in line, (rid, line)
            s.send(b'{"jsonrpc":"2.0","id":' + rid + b',"method":"tools/call","params":{"name":"nope"}}\n')
            line = s.line()
            assert b'"id":' + rid + b"," in line and b"-32602" in line, (rid, line)
    finally:
        s.close()
        shutil.rmtree(d)


def test_progress_tokens_echoed_exactly():
    """A tools/call's progressToken comes back in its notifications exactly as sent, as ids do."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ELPIS_", "XDG_"))}
    environ["ELPIS_CONFIG"] = empty_config("protocol")
    s = started(None, [build_path("bin", "elpis"), "--model", build_path("models", "tiny-chat.gguf")], environ)
    try:
        for n, tok in enumerate([b"12345678901234567890", b"1e400", b"-0", b"1.50", b'"caf\\u00e9"']):
            s.send(b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"generate","_meta":'
                   b'{"progressToken":%s},"arguments":{"messages":[{"role":"user","content":"hi"}],'
                   b'"max_tokens":4,"temperature":0}}}\n' % (n + 1, tok))
            notes = []
            while True:
                line = s.line()
                if b'"method":"notifications/progress"' not in line:
                    break
                notes.append(line)
            assert b'"id":%d,' % (n + 1) in line and b'"result"' in line, line
            assert notes, "no progress for token %r" % tok
            for line in notes:
                assert b'"progressToken":' + tok + b"," in line, (tok, line)
    finally:
        s.close()


def cli(db, *args, stdin=None):
    p = subprocess.run([BIN, "--db", db] + list(args), input=stdin, capture_output=True, env=env(), timeout=60)
    assert p.returncode == 0, (args, p.stderr.decode(errors="replace"))
    return p.stdout.decode()


def test_export_import_keeps_milliseconds():
    d = tempfile.mkdtemp(prefix="protocol-")
    try:
        a, b = os.path.join(d, "a.db"), os.path.join(d, "b.db")
        s = started(a)
        for i in range(20):
            assert "result" in s.call(40 + i, "store_memory", {"content": "fact number %d about tea" % i})
        s.close()
        first = [json.loads(x) for x in cli(a, "export").splitlines()]
        f = os.path.join(d, "export.jsonl")
        with open(f, "w") as out:
            out.write("".join(json.dumps(r) + "\n" for r in first))
        cli(b, "import", f)
        second = {r["id"]: r for r in map(json.loads, cli(b, "export").splitlines())}
        assert len(first) == 20 and len(second) == 20
        keys = [k for k in first[0] if k.endswith("_at") and isinstance(first[0][k], str)]
        assert "created_at" in keys, first[0]
        for r in first:
            for k in keys:
                assert second[r["id"]][k] == r[k], (k, r[k], second[r["id"]][k])
    finally:
        shutil.rmtree(d)
