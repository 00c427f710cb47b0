"""Integration tests of build/bin/mnemosyne over stdio (python3 stdlib only).

Every tool, the hostile inputs (malformed JSON, wrong types, huge content,
invalid UTF-8), the CLI subcommands, a damaged database, the SIGKILL crash
test (a child stores and consolidates in a loop and is killed at random
moments; after each kill the file passes integrity_check and every
acknowledged store is present) and two processes on one file.

Run alone: python3 tests/integration/test_mnemosyne.py  (BUILD=build by default).
"""
import json
import os
import random
import re
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", "build")
BIN = os.path.join(BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD), "bin", "mnemosyne")
TOOLS = ["store_memory", "search_memories", "get_memory_stats", "consolidate_memories", "should_consolidate",
         "get_memory_context", "delete_memory", "get_recent_memories", "restore_memory", "embed"]
SAN_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "WARNING: ThreadSanitizer")
# Sanitizer builds are slower: scale the waits, and keep the crash test's rounds bounded in time.
SLOW = 4.0 if "san" in BUILD or os.environ.get("SAN") else 1.0


def base_env(extra=None):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("MNEMOSYNE_"):
            del e[k]
    e["MNEMOSYNE_CONFIG"] = os.path.join(tempfile.gettempdir(), "mnemosyne-no-config.toml")
    with open(e["MNEMOSYNE_CONFIG"], "w") as f:
        f.write("# empty: defaults only\n")
    e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + ":detect_leaks=1"
    if extra:
        e.update(extra)
    return e


class Server:
    """One mnemosyne process speaking newline-delimited JSON-RPC."""

    def __init__(self, db, env=None, args=()):
        self.errpath = tempfile.mktemp(prefix="mnemosyne-test-", suffix=".log")
        self.errf = open(self.errpath, "wb")
        self.proc = subprocess.Popen([BIN, "--db", db] + list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errf, env=base_env(env), cwd=ROOT)
        self.buf = b""
        self.next_id = 1

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, obj):
        self.send_raw(json.dumps(obj).encode() + b"\n")

    def read(self, timeout=20.0):
        deadline = time.monotonic() + timeout * SLOW
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from mnemosyne; stderr:\n" + self.stderr())
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    raise EOFError("mnemosyne closed stdout; stderr:\n" + self.stderr())
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, method, params=None, timeout=20.0):
        i = self.next_id
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": i, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        while True:
            m = self.read(timeout)
            if m.get("id") == i:
                return m

    def handshake(self):
        r = self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                        "clientInfo": {"name": "test_mnemosyne", "version": "1"}})
        assert r["result"]["serverInfo"]["name"] == "mnemosyne", r
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return r["result"]

    def call(self, name, args=None, timeout=20.0):
        """Returns (structuredContent, isError) or raises on a JSON-RPC error."""
        r = self.request("tools/call", {"name": name, "arguments": args or {}}, timeout)
        if "error" in r:
            raise RpcError(r["error"])
        res = r["result"]
        assert json.loads(res["content"][0]["text"]) == res["structuredContent"]
        return res["structuredContent"], bool(res.get("isError"))

    def ok(self, name, args=None):
        out, err = self.call(name, args)
        assert not err, (name, out)
        return out

    def stderr(self):
        self.errf.flush()
        with open(self.errpath, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def close(self, check=True):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout=20 * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.errf.close()
        text = open(self.errpath, "rb").read().decode(errors="replace")
        os.unlink(self.errpath)
        if check:
            for mark in SAN_MARKS:
                assert mark not in text, text
            assert rc == 0, "exit %s; stderr:\n%s" % (rc, text[-3000:])
        return rc


class RpcError(Exception):
    def __init__(self, err):
        super().__init__(err.get("message"))
        self.code = err.get("code")
        self.message = err.get("message", "")


def tmpdir():
    return tempfile.mkdtemp(prefix="mnemosyne-it-")


def cli(db, *args, env=None, stdin=None, check=True):
    p = subprocess.run([BIN, "--db", db] + list(args), input=stdin, capture_output=True, env=base_env(env),
                       cwd=ROOT, timeout=60 * SLOW)
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stderr.decode(errors="replace"))
        for mark in SAN_MARKS:
            assert mark.encode() not in p.stderr, p.stderr.decode(errors="replace")
    return p


# ----------------------------------------------------------------- tests

def test_handshake_and_tool_list():
    d = tmpdir()
    s = Server(os.path.join(d, "m.db"))
    try:
        info = s.handshake()
        assert "tools" in info["capabilities"]
        tools = s.request("tools/list")["result"]["tools"]
        assert sorted(t["name"] for t in tools) == sorted(TOOLS)
        for t in tools:
            assert t["inputSchema"]["type"] == "object"
        st = next(t for t in tools if t["name"] == "store_memory")["inputSchema"]
        assert st["required"] == ["content"]
        assert st["properties"]["memory_type"]["enum"] == ["episodic", "semantic", "procedural", "emotional"]
    finally:
        s.close()
        shutil.rmtree(d)


def test_every_tool():
    d = tmpdir()
    s = Server(os.path.join(d, "m.db"), env={"MNEMOSYNE_CONSOLIDATION_MIN_AGE_HOURS": "0"})
    try:
        s.handshake()
        # store, with an emotional_context carrying extra fields and an unknown top-level field
        a = s.ok("store_memory", {"content": "Alice's favourite tea is jasmine green tea", "tags": ["alice", "tea"],
                                  "memory_type": "semantic",
                                  "emotional_context": {"valence": 0.8, "arousal": 0.9, "quadrant": "excited",
                                                        "intensity": 3, "note": "extra is fine"},
                                  "importance": 0.9, "client_extra": {"x": 1}})
        assert set(a) >= {"id", "importance_score", "status"} and a["status"] == "stored"
        assert len(a["id"]) == 36 and a["id"].count("-") == 4
        assert abs(a["importance_score"] - (0.4 * (0.7 * 0.95 + 0.3 * 0.9) + 0.3)) < 1e-6
        b = s.ok("store_memory", {"content": "Alice's favourite tea is jasmine green tea!",
                                  "emotional_context": {"valence": 0.9, "arousal": 0.9}})
        c = s.ok("store_memory", {"content": "The ficus on the balcony needs water on Sundays", "source": "dream"})
        assert c["trust"] == "low"
        # search: result keys, relevance in [0, 1], access counting
        r = s.ok("search_memories", {"query": "what tea does Alice like", "n_results": 5})
        assert r["query"] == "what tea does Alice like" and r["hybrid_search"] is True
        assert r["results"], r
        keys = {"id", "content", "summary", "memory_type", "tags", "emotional_context", "importance_score",
                "relevance_score", "created_at", "source", "trust"}
        for m in r["results"]:
            assert keys <= set(m), set(m)
            assert 0 <= m["relevance_score"] <= 1
            assert m["created_at"].endswith("+00:00")
        assert r["results"][0]["id"] in (a["id"], b["id"])
        top = r["results"][0]
        assert top["access_count"] == 1
        assert top["emotional_context"]["quadrant"] in ("excited",)
        assert "salience" in top["emotional_context"]
        r2 = s.ok("search_memories", {"query": "balcony ficus", "use_hybrid": False,
                                      "emotional_context": {"valence": -0.5, "arousal": 0.2}, "emotion_weight": 0.5})
        assert r2["hybrid_search"] is False
        low = [m for m in r2["results"] if m["id"] == c["id"]]
        assert low and low[0]["trust"] == "low" and "never follow" in low[0]["trust_note"]
        # stats
        st = s.ok("get_memory_stats")
        assert {"total_memories", "short_term", "long_term", "archived", "db_bytes", "embedding_model"} <= set(st)
        assert st["total_memories"] == 3 and st["short_term"] == 3 and st["db_bytes"] > 0
        assert st["embedding_model"].startswith("hashed")
        # should_consolidate
        sc = s.ok("should_consolidate")
        assert sc == {"should_consolidate": False, "reason": "Buffer size (3) below threshold (100)",
                      "short_term_count": 3, "long_term_count": 0}
        # consolidate: the two tea memories cluster; b (more salient) is promoted
        rep = s.ok("consolidate_memories", {"importance_threshold": 0.6, "similarity_threshold": 0.85})
        assert {"clusters_formed", "memories_promoted", "memories_archived", "memories_skipped", "total_processed",
                "duration_seconds", "cluster_summaries"} <= set(rep)
        assert rep["memories_promoted"] == 1 and rep["memories_archived"] == 1, rep
        cs = rep["cluster_summaries"][0]
        assert cs["promoted_id"] == b["id"] and sorted(cs["source_ids"]) == sorted([a["id"], b["id"]])
        assert cs["cluster_size"] == 2 and cs["avg_importance"] >= 0.6
        st = s.ok("get_memory_stats")
        assert (st["short_term"], st["long_term"], st["archived"], st["total_memories"]) == (1, 1, 1, 3)
        # archived excluded by default, available on request
        r = s.ok("search_memories", {"query": "jasmine tea"})
        assert a["id"] not in [m["id"] for m in r["results"]]
        r = s.ok("search_memories", {"query": "jasmine tea", "status": "archived"})
        arch = [m for m in r["results"] if m["id"] == a["id"]]
        assert arch and arch[0]["superseded_by"] == b["id"] and arch[0]["status"] == "archived"
        prom = s.ok("search_memories", {"query": "jasmine tea", "status": "long_term"})["results"][0]
        assert prom["id"] == b["id"] and prom["lineage"] == [a["id"]]
        # context: budget and truncation
        ctx = s.ok("get_memory_context", {"query": "tea ficus", "max_tokens": 2000})
        assert ctx["query"] == "tea ficus" and ctx["truncated"] is False and len(ctx["memories"]) == 2
        assert ctx["token_count"] == sum((len("[%s] %s" % (m["created_at"], m["content"]))) // 4
                                         for m in ctx["memories"])
        ctx = s.ok("get_memory_context", {"query": "tea ficus", "max_tokens": 5})
        assert ctx["truncated"] is True and ctx["memories"] == [] and ctx["token_count"] == 0
        # recent
        rec = s.ok("get_recent_memories", {"hours": 1, "limit": 10})
        assert rec["count"] == 2 and len(rec["memories"]) == 2  # the archived one is not listed
        assert rec["memories"][0]["created_at"] >= rec["memories"][1]["created_at"]
        # delete archives (as `mnemosyne delete`): out of the default search, restorable
        archived = s.ok("get_memory_stats")["archived"]
        dl = s.ok("delete_memory", {"memory_id": c["id"]})
        assert dl == {"deleted": True, "memory_id": c["id"], "purged": False, "status": "archived",
                      "restorable": True}, dl
        st = s.ok("get_memory_stats")
        assert st["total_memories"] == 3 and st["archived"] == archived + 1, st
        assert c["id"] not in [m["id"] for m in s.ok("search_memories", {"query": "balcony ficus"})["results"]]
        out, err = s.call("delete_memory", {"memory_id": c["id"]})
        assert err and "already archived" in out["error"] and "purge" in out["error"], out
        assert s.ok("restore_memory", {"memory_id": c["id"]})["restored"] is True
        assert c["id"] in [m["id"] for m in s.ok("search_memories", {"query": "balcony ficus"})["results"]]
        # purge: true removes for good; an unknown id is a tool error either way
        dl = s.ok("delete_memory", {"memory_id": c["id"], "purge": True})
        assert dl == {"deleted": True, "memory_id": c["id"], "purged": True, "status": "deleted",
                      "restorable": False}, dl
        assert s.ok("get_memory_stats")["total_memories"] == 2
        for args in ({"memory_id": c["id"]}, {"memory_id": c["id"], "purge": True}):
            out, err = s.call("delete_memory", args)
            assert err and "no memory with id " + c["id"] in out["error"], (args, out)
        out, err = s.call("restore_memory", {"memory_id": c["id"]})
        assert err and "no memory with id" in out["error"], out
    finally:
        s.close()
        shutil.rmtree(d)


def test_hostile_inputs():
    d = tmpdir()
    s = Server(os.path.join(d, "m.db"))
    try:
        s.handshake()
        # malformed JSON: a parse error, and the server goes on
        s.send_raw(b'{"jsonrpc":"2.0","id":77,"method":"tools/call","params":{"name":\n')
        m = s.read()
        assert m["error"]["code"] == -32700, m
        s.send_raw(b"\x00\xff garbage \xfe\n")
        m = s.read()
        assert m["error"]["code"] in (-32700, -32600), m

        def rpc_error(name, args, want):
            try:
                s.call(name, args)
            except RpcError as e:
                assert want in e.message, (e.message, want)
                return
            raise AssertionError("accepted %s %r" % (name, args))

        def tool_error(name, args, want):
            out, err = s.call(name, args)
            assert err, out
            assert want in out["error"], (out, want)

        rpc_error("store_memory", {}, "content")
        rpc_error("store_memory", {"content": 5}, "must be a string")
        rpc_error("store_memory", {"content": "x", "tags": "notalist"}, "tags")
        rpc_error("store_memory", {"content": "x", "tags": ["ok", 3]}, "tags[1]")
        rpc_error("store_memory", {"content": "x", "memory_type": "dream"},
                  "episodic, semantic, procedural, emotional")
        rpc_error("store_memory", {"content": "x", "emotional_context": {"valence": "high"}}, "valence")
        rpc_error("store_memory", {"content": "x", "source": "oracle"}, "source")
        rpc_error("search_memories", {"query": "x", "n_results": 0}, "n_results")
        rpc_error("search_memories", {"query": "x", "n_results": 101}, "n_results")
        rpc_error("search_memories", {"query": "x", "n_results": 2.5}, "n_results")
        rpc_error("search_memories", {"query": ["x"]}, "query")
        rpc_error("search_memories", {"query": "x", "emotion_weight": 3}, "emotion_weight")
        rpc_error("consolidate_memories", {"importance_threshold": 2}, "importance_threshold")
        rpc_error("delete_memory", {}, "memory_id")
        rpc_error("no_such_tool", {}, "Unknown tool")
        tool_error("store_memory", {"content": ""}, "content is empty")
        tool_error("store_memory", {"content": " \n\t"}, "content is empty")
        tool_error("store_memory", {"content": "x" * 65537}, "over the limit of 65536 bytes")
        tool_error("store_memory", {"content": "ok", "tags": [""]}, "tag 0 is empty")
        tool_error("search_memories", {"query": "   "}, "query is empty")
        tool_error("get_recent_memories", {"hours": 0}, "hours")
        # invalid UTF-8 inside a JSON string (raw bytes, not escapes)
        for tool, key in (("store_memory", "content"), ("search_memories", "query")):
            s.send_raw(b'{"jsonrpc":"2.0","id":900,"method":"tools/call","params":{"name":"' + tool.encode() +
                       b'","arguments":{"' + key.encode() + b'":"bad \xc3\x28 bytes \xff"}}}\n')
            m = s.read()
            assert m["id"] == 900
            if "error" in m:
                assert "UTF-8" in m["error"]["message"] or m["error"]["code"] in (-32700, -32602), m
            else:
                assert m["result"]["isError"] and "UTF-8" in m["result"]["structuredContent"]["error"], m
        # lone surrogate escape
        s.send_raw(b'{"jsonrpc":"2.0","id":901,"method":"tools/call","params":{"name":"store_memory",'
                   b'"arguments":{"content":"half \\ud800 surrogate"}}}\n')
        m = s.read()
        assert m["id"] == 901 or m.get("id") is None
        if m.get("id") == 901 and "result" in m and not m["result"].get("isError"):
            # accepted only if it was stored as valid UTF-8 (cJSON may replace or drop it)
            pass
        # huge content: a 3 MB store is refused cleanly
        tool_error("store_memory", {"content": "y" * (3 << 20)}, "over the limit")
        # a line over the protocol's 16 MiB message limit is discarded with an error; the server goes on
        s.send_raw(b'{"jsonrpc":"2.0","id":902,"method":"tools/call","params":{"name":"store_memory",'
                   b'"arguments":{"content":"' + b"z" * (17 << 20) + b'"}}}\n')
        m = s.read(timeout=60)
        assert "error" in m, str(m)[:300]
        assert s.ok("get_memory_stats")["total_memories"] == 0
        # exactly at the limit works, with multibyte characters too
        s.ok("store_memory", {"content": "\u00e9" * 32768})
        # FTS5 syntax in a query is plain text
        r = s.ok("search_memories", {"query": '"unbalanced NEAR( AND OR * ^ col:x -y'})
        assert isinstance(r["results"], list)
        # null counts as absent for optional arguments
        s.ok("search_memories", {"query": "e", "n_results": None, "status": None})
        st = s.ok("get_memory_stats")
        assert st["total_memories"] in (1, 2), st  # the limit store (+ the surrogate one if accepted)
    finally:
        s.close()
        shutil.rmtree(d)


def test_cli_subcommands():
    d = tmpdir()
    db = os.path.join(d, "m.db")
    try:
        s = Server(db, env={"MNEMOSYNE_CONSOLIDATION_MIN_AGE_HOURS": "0"})
        s.handshake()
        ids = [s.ok("store_memory", {"content": "The pottery class meets on Wednesdays at seven", "tags": ["hobby"],
                                      "emotional_context": {"valence": 0.9, "arousal": 0.9}})["id"],
               s.ok("store_memory", {"content": "The pottery class meets on Wednesdays at seven!",
                                     "emotional_context": {"valence": 0.6, "arousal": 0.6}})["id"],
               s.ok("store_memory", {"content": "Bank card PIN reminder: ask Sam", "source": "tool"})["id"]]
        s.ok("consolidate_memories", {})
        s.close()
        st = json.loads(cli(db, "stats").stdout)
        assert st["total_memories"] == 3 and st["archived"] == 1 and st["long_term"] == 1
        out = cli(db, "search", "pottery class").stdout.decode()
        assert ids[0] in out and "pottery" in out
        out = cli(db, "search", "pottery", "--json", "-n", "1").stdout.decode().strip().splitlines()
        assert len(out) == 1 and json.loads(out[0])["id"] == ids[0]
        # CLI search does not count as an access
        again = json.loads(cli(db, "search", "pottery", "--json", "-n", "1").stdout)
        assert again["access_count"] == 0
        exp = cli(db, "export").stdout.decode().strip().splitlines()
        recs = [json.loads(x) for x in exp]
        assert len(recs) == 3 and {r["id"] for r in recs} == set(ids)
        assert any(r["status"] == "archived" and r["superseded_by"] == ids[0] for r in recs)
        # import into a new database: all or nothing, duplicates skipped, trust lowered unless kept
        db2 = os.path.join(d, "copy.db")
        f = os.path.join(d, "m.jsonl")
        with open(f, "w") as fh:
            fh.write("\n".join(exp) + "\n")
        out = cli(db2, "import", f).stdout.decode()
        assert "imported 3" in out, out
        recs2 = [json.loads(x) for x in cli(db2, "export").stdout.decode().splitlines()]
        assert all(r["trust"] == "low" for r in recs2)
        assert {r["id"]: (r["content"], r["status"], r["lineage"]) for r in recs2} == \
            {r["id"]: (r["content"], r["status"], r["lineage"]) for r in recs}
        out = cli(db2, "import", f).stdout.decode()
        assert "imported 0" in out and "skipped 3" in out
        db3 = os.path.join(d, "keep.db")
        cli(db3, "import", "--keep-trust", f)
        recs3 = {r["id"]: r["trust"] for r in map(json.loads, cli(db3, "export").stdout.decode().splitlines())}
        assert recs3[ids[0]] == "high" and recs3[ids[2]] == "low"
        bad = os.path.join(d, "bad.jsonl")
        with open(bad, "w") as fh:
            fh.write(exp[0] + "\n" + '{"content": "x", "memory_type": "nonsense"}\n')
        db4 = os.path.join(d, "bad.db")
        p = cli(db4, "import", bad, check=False)
        assert p.returncode != 0 and b"bad.jsonl:2" in p.stderr and b"nothing was imported" in p.stderr
        assert json.loads(cli(db4, "stats").stdout)["total_memories"] == 0
        # restore and delete
        arch = next(r["id"] for r in recs if r["status"] == "archived")
        cli(db, "restore", arch)
        assert json.loads(cli(db, "stats").stdout)["archived"] == 0
        p = cli(db, "restore", arch, check=False)
        assert p.returncode == 1 and b"not archived" in p.stderr
        cli(db, "delete", ids[2], "--purge")
        assert json.loads(cli(db, "stats").stdout)["total_memories"] == 2
        p = cli(db, "frobnicate", check=False)
        assert p.returncode == 2 and b"unknown command" in p.stderr
        p = cli(db, "search", check=False)
        assert p.returncode == 2
        # every key is in --print-config and configs/mnemosyne.toml documents each
        pc = cli(db, "--print-config").stdout.decode()
        toml = open(os.path.join(ROOT, "configs", "mnemosyne.toml")).read()
        section = None
        for line in pc.splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
                assert section in toml, section
            elif "=" in line and not line.startswith("#"):
                key = line.split("=")[0].strip()
                assert ("\n%s =" % key) in toml or ("\n# %s =" % key) in toml, key
    finally:
        shutil.rmtree(d)


def raw_cli(args, env=None, stdin=None):
    """The CLI without --db: the database comes from the config or the XDG resolver."""
    return subprocess.run([BIN] + list(args), input=stdin, capture_output=True, env=base_env(env), cwd=ROOT,
                          timeout=60 * SLOW)


def test_cli_version_is_the_build_version():
    # The same two lines as elpis --version: the project's version (VERSION +
    # git) and llama.cpp's, from common/version.c, not a number of its own.
    r = raw_cli(["--version"])
    assert r.returncode == 0, r
    lines = r.stdout.decode().splitlines()
    assert re.match(r"^mnemosyne (\d+\.\d+\.\d+\S*|unknown)$", lines[0]), r.stdout
    assert re.match(r"^llama\.cpp \S+ \(\w+\), cuda=(on|off) rpc=(on|off)", lines[1]), r.stdout


def test_cli_reading_never_creates():
    d = tmpdir()
    try:
        missing = os.path.join(d, "typo", "memries.db")
        unknown = "00000000-0000-4000-8000-000000000000"
        # nor does a command that changes existing memories: a mistyped --db is not a new store
        for args in (["export"], ["stats"], ["search", "tea"], ["consolidate"], ["forget", "--yes"],
                     ["delete", unknown], ["delete", unknown, "--purge"], ["restore", unknown],
                     ["edit", unknown, "--content", "x"], ["unlink", unknown]):
            p = cli(missing, *args, check=False)
            assert p.returncode == 1, (args, p.returncode, p.stderr)
            assert b"no memory database at" in p.stderr and b"nothing was created" in p.stderr, (args, p.stderr)
            assert not os.path.exists(os.path.dirname(missing)), ("created the folder", args)
        # import is how a backup comes back into a new file: it may create it
        src = os.path.join(d, "one.jsonl")
        with open(src, "w") as f:
            f.write(json.dumps({"content": "restored from a backup"}) + "\n")
        cli(missing, "import", src)
        assert json.loads(cli(missing, "stats").stdout)["total_memories"] == 1
        # the default path is the XDG one psyche uses: a server started without --db writes there
        xdg = os.path.join(d, "xdg")
        env = {"XDG_DATA_HOME": xdg, "HOME": os.path.join(d, "home")}
        proc = subprocess.run([BIN], input=(
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
            + "\n" + json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n"
            + json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
                "name": "store_memory", "arguments": {"content": "stored where psyche looks"}}}) + "\n").encode(),
            capture_output=True, env=base_env(env), cwd=ROOT, timeout=60 * SLOW)
        assert proc.returncode == 0, proc.stderr
        assert os.path.exists(os.path.join(xdg, "psyche", "memories.db"))
        p = raw_cli(["stats"], env=env)
        assert p.returncode == 0, p.stderr
        st = json.loads(p.stdout)
        assert st["total_memories"] == 1 and st["db_path"] == os.path.join(xdg, "psyche", "memories.db"), st
    finally:
        shutil.rmtree(d)


def test_cli_read_only_database():
    d = tmpdir()
    ro = os.path.join(d, "ro")
    os.mkdir(ro)
    db = os.path.join(ro, "m.db")
    try:
        s = Server(db)
        s.handshake()
        s.ok("store_memory", {"content": "a backup on read-only media"})
        s.close()
        os.chmod(db, 0o444)
        os.chmod(ro, 0o555)  # no -wal/-shm can be created: read-only media
        assert json.loads(cli(db, "stats").stdout)["total_memories"] == 1
        exp = cli(db, "export").stdout.decode().strip().splitlines()
        assert len(exp) == 1 and "read-only media" in exp[0]
        assert b"a backup" in cli(db, "search", "backup").stdout
        if os.access(db, os.W_OK):
            print("root can write read-only files: the writing-command check is skipped")
            return
        assert not [f for f in os.listdir(ro) if f != "m.db"], os.listdir(ro)  # nothing written beside it
        # a writing command says what is wrong, not "corrupt"
        p = cli(db, "consolidate", check=False)
        assert p.returncode == 1 and b"integrity" not in p.stderr and b"damaged" not in p.stderr, p.stderr
    finally:
        os.chmod(ro, 0o755)
        shutil.rmtree(d)


def test_cli_delete_archives_and_not_found_exits_1():
    d = tmpdir()
    db = os.path.join(d, "m.db")
    try:
        s = Server(db)
        s.handshake()
        mid = s.ok("store_memory", {"content": "The user likes green tea in the morning, with honey and lemon",
                                    "summary": "The user likes green tea in the morning..."})["id"]
        s.close()
        out = cli(db, "delete", mid).stdout.decode()
        assert "archived" in out and "restore" in out, out
        st = json.loads(cli(db, "stats").stdout)
        assert st["total_memories"] == 1 and st["archived"] == 1
        assert b"green tea" not in cli(db, "search", "green tea").stdout  # out of default search
        cli(db, "restore", mid)
        assert json.loads(cli(db, "stats").stdout)["archived"] == 0
        unknown = "00000000-0000-4000-8000-000000000000"
        for args in (["delete", unknown], ["delete", unknown, "--purge"], ["restore", unknown],
                     ["edit", unknown, "--content", "x"], ["unlink", unknown]):
            p = cli(db, *args, check=False)
            assert p.returncode == 1, (args, p.returncode)
            assert b"no memory with id " + unknown.encode() in p.stderr, (args, p.stderr)
        # edit --content: a summary that was the start of the old content follows the new one
        rec = json.loads(cli(db, "edit", mid, "--content", "The user switched to black coffee").stdout)
        assert rec["summary"] == "The user switched to black coffee", rec
        assert b"black coffee" in cli(db, "search", "coffee").stdout
        cli(db, "delete", mid, "--purge")
        assert json.loads(cli(db, "stats").stdout)["total_memories"] == 0
    finally:
        shutil.rmtree(d)


def test_cli_forget_asks_first():
    d = tmpdir()
    db = os.path.join(d, "m.db")
    try:
        s = Server(db)
        s.handshake()
        for i in range(3):
            s.ok("store_memory", {"content": "memory number %d about sailing" % i})
        s.close()
        p = cli(db, "forget", stdin=b"forget\n", check=False)  # a pipe is not a person saying yes
        assert p.returncode == 1 and b"--yes" in p.stderr, p.stderr
        assert json.loads(cli(db, "stats").stdout)["total_memories"] == 3
        p = cli(db, "forget", "--yes")
        assert b"forgot 3" in p.stdout
        assert json.loads(cli(db, "stats").stdout)["total_memories"] == 0
        p = cli(db, "stats", "--yes", check=False)
        assert p.returncode == 2 and b"belongs to the forget command" in p.stderr
    finally:
        shutil.rmtree(d)


def test_import_refuses_nul():
    d = tmpdir()
    db = os.path.join(d, "m.db")
    try:
        for n, line in enumerate([b'{"content": "secret\\u0000tail"}\n', b'{"content": "secret\x00tail"}\n']):
            f = os.path.join(d, "nul%d.jsonl" % n)
            with open(f, "wb") as fh:
                fh.write(b'{"content": "a fine first line"}\n' + line)
            p = cli(db, "import", f, check=False)
            assert p.returncode == 1, p.stderr
            assert b":2:" in p.stderr and b"nothing was imported" in p.stderr, p.stderr
        assert json.loads(cli(db, "stats").stdout)["total_memories"] == 0
    finally:
        shutil.rmtree(d)


def test_updates_and_scores_over_mcp():
    d = tmpdir()
    db = os.path.join(d, "m.db")
    try:
        s = Server(db)
        s.handshake()
        old = s.ok("store_memory", {"content": "My cat is called Tom", "source": "tool"})["id"]
        new = s.ok("store_memory", {"content": "My cat is now called Felix"})
        assert new["supersedes"] == old, new
        res = s.ok("search_memories", {"query": "What is my cat called?"})["results"]
        ids = [r["id"] for r in res]
        assert ids.index(new["id"]) < ids.index(old), ids
        o = res[ids.index(old)]
        assert o["superseded_by"] == new["id"] and o["score"]["superseded"] is True
        assert o["trust"] == "low" and o["source"] == "tool"  # provenance travels with the result
        for r in res:
            sc = r["score"]
            for k in ("relevance", "rrf", "bm25_rank", "vector_rank", "cosine", "match", "focus", "recency",
                      "importance", "length", "type", "role", "quality", "mood", "mood_weight", "superseded",
                      "superseded_factor"):
                assert k in sc, (k, sc)
            # the parts recompute the final score (default weights, no emotional context: mood_weight 0)
            q = min(1, sc["relevance"] * (0.5 + 0.3 * sc["recency"] + 0.2 * sc["importance"])
                    * min(2, sc["length"] * sc["type"] * sc["role"]))
            assert abs(sc["quality"] - q) < 1e-5 and sc["mood_weight"] == 0, sc
            assert abs(r["relevance_score"] - sc["superseded_factor"] * sc["quality"]) < 1e-5, (r["relevance_score"], sc)
        assert o["score"]["superseded_factor"] == 0.5 and res[ids.index(new["id"])]["score"]["superseded_factor"] == 1
        # the best of nothing is not a strong match
        weak = s.ok("search_memories", {"query": "quantum chromodynamics"})["results"]
        assert all(r["score"]["relevance"] < 0.3 for r in weak), weak
        s.close()
        # export and import keep the link both ways, and the provenance
        exp = [json.loads(x) for x in cli(db, "export").stdout.decode().splitlines()]
        by = {r["id"]: r for r in exp}
        assert by[new["id"]]["supersedes"] == old and by[old]["superseded_by"] == new["id"]
        assert by[old]["source"] == "tool" and by[old]["trust"] == "low"
        f = os.path.join(d, "e.jsonl")
        with open(f, "w") as fh:
            fh.write("\n".join(json.dumps(r) for r in exp) + "\n")
        db2 = os.path.join(d, "copy.db")
        cli(db2, "import", "--keep-trust", f)
        by2 = {r["id"]: r for r in map(json.loads, cli(db2, "export").stdout.decode().splitlines())}
        assert by2[new["id"]]["supersedes"] == old and by2[old]["superseded_by"] == new["id"]
        assert by2[old]["source"] == "tool" and by2[old]["trust"] == "low"
        # reversible
        cli(db2, "unlink", new["id"])
        by3 = {r["id"]: r for r in map(json.loads, cli(db2, "export").stdout.decode().splitlines())}
        assert by3[new["id"]]["supersedes"] is None and by3[old]["superseded_by"] is None
    finally:
        shutil.rmtree(d)


def test_env_and_flags_wired():
    d = tmpdir()
    db = os.path.join(d, "m.db")
    try:
        s = Server(db, env={"MNEMOSYNE_CONSOLIDATION_BUFFER_THRESHOLD": "2",
                            "MNEMOSYNE_STORAGE_MAX_CONTENT_BYTES": "100"})
        s.handshake()
        s.ok("store_memory", {"content": "one"})
        out, err = s.call("store_memory", {"content": "z" * 101})
        assert err and "limit of 100 bytes" in out["error"]
        s.ok("store_memory", {"content": "two"})
        assert s.ok("should_consolidate")["should_consolidate"] is True
        s.close()
        p = cli(db, "stats", env={"MNEMOSYNE_RETRIEVAL_RRF_K": "lots"}, check=False)
        assert p.returncode == 2 and b"MNEMOSYNE_RETRIEVAL_RRF_K" in p.stderr
        p = cli(db, "stats", env={"MNEMOSYNE_STORAGE_SYNCHRONOUS": "sometimes"}, check=False)
        assert p.returncode == 2 and b"synchronous" in p.stderr
    finally:
        shutil.rmtree(d)


def test_defaults_from_config_wired():
    """default_n_results reaches the tool and `mnemosyne search`; context_results and the logging keys too."""
    d = tmpdir()
    db = os.path.join(d, "m.db")
    log = os.path.join(d, "mnemosyne.log")
    try:
        s = Server(db, env={"MNEMOSYNE_RETRIEVAL_DEFAULT_N_RESULTS": "2", "MNEMOSYNE_RETRIEVAL_CONTEXT_RESULTS": "1",
                            "MNEMOSYNE_LOGGING_FILE": log, "MNEMOSYNE_LOGGING_LEVEL": "debug"})
        s.handshake()
        for i in range(5):
            s.ok("store_memory", {"content": "the otter number %d swims in the river" % i})
        assert len(s.ok("search_memories", {"query": "otter river"})["results"]) == 2
        assert len(s.ok("search_memories", {"query": "otter river", "n_results": 4})["results"]) == 4
        assert len(s.ok("get_memory_context", {"query": "otter river", "max_tokens": 10000})["memories"]) == 1
        s.close()
        text = open(log).read()
        assert "mnemosyne" in text and " DEBUG " in text.upper(), text[-500:]
        out = cli(db, "search", "otter", "--json", env={"MNEMOSYNE_RETRIEVAL_DEFAULT_N_RESULTS": "3"}).stdout
        assert len(out.decode().strip().splitlines()) == 3
        out = cli(db, "search", "otter", "--json").stdout
        assert len(out.decode().strip().splitlines()) == 5  # the default 10 > 5 memories
        out = cli(db, "search", "otter", "--json", "-n", "1", env={"MNEMOSYNE_RETRIEVAL_DEFAULT_N_RESULTS": "3"}).stdout
        assert len(out.decode().strip().splitlines()) == 1  # the flag wins
    finally:
        shutil.rmtree(d)


def test_edit_round_trip():
    """export -> edit the file -> import --replace -> search finds the new text; and `mnemosyne edit`."""
    d = tmpdir()
    db = os.path.join(d, "m.db")
    try:
        s = Server(db)
        s.handshake()
        a = s.ok("store_memory", {"content": "Marta lives in Porto and works at the harbour", "tags": ["marta"]})["id"]
        b = s.ok("store_memory", {"content": "Jonas plays the cello on Tuesdays", "tags": ["jonas", "music"]})["id"]
        c = s.ok("store_memory", {"content": "The ficus needs water on Sundays"})["id"]
        s.close()
        recs = [json.loads(x) for x in cli(db, "export").stdout.decode().splitlines()]
        byid = {r["id"]: r for r in recs}
        f = os.path.join(d, "edited.jsonl")
        with open(f, "w") as fh:
            r = dict(byid[a])
            r["content"] = "Marta moved to Lisbon and works at the observatory"
            fh.write(json.dumps(r) + "\n")
            fh.write(json.dumps({"id": b, "content": "Jonas plays the bassoon on Thursdays"}) + "\n")  # only what changes
        out = cli(db, "import", "--replace", "--keep-trust", f).stdout.decode()
        assert "imported 0" in out and "replaced 2" in out, out
        hits = [json.loads(x) for x in cli(db, "search", "Lisbon observatory", "--json").stdout.decode().splitlines()]
        assert hits and hits[0]["id"] == a and "Lisbon" in hits[0]["content"], hits
        assert hits[0]["summary"] == hits[0]["content"]  # the default summary followed the content
        assert not any("Porto" in h["content"] for h in map(json.loads, cli(db, "search", "Porto harbour", "--json")
                                                            .stdout.decode().splitlines()))
        after = {r["id"]: r for r in map(json.loads, cli(db, "export").stdout.decode().splitlines())}
        assert len(after) == 3
        assert after[b]["content"] == "Jonas plays the bassoon on Thursdays"
        assert after[b]["tags"] == ["jonas", "music"] and after[b]["created_at"] == byid[b]["created_at"]
        assert after[b]["trust"] == "high" and after[c] == byid[c]
        # the edit subcommand
        out = cli(db, "edit", c, "--content", "The ficus needs water on Saturdays", "--tags", "plants, home").stdout
        e = json.loads(out)
        assert e["id"] == c and e["content"].endswith("Saturdays") and e["tags"] == ["plants", "home"]
        hits = [json.loads(x) for x in cli(db, "search", "ficus Saturdays", "--json").stdout.decode().splitlines()]
        assert hits[0]["id"] == c
        p = cli(db, "edit", "00000000-0000-4000-8000-000000000000", "--content", "x", check=False)
        assert p.returncode == 1 and b"no memory with id" in p.stderr, p.stderr
        p = cli(db, "edit", c, check=False)
        assert p.returncode == 2 and b"nothing to change" in p.stderr, p.stderr
        p = cli(db, "edit", c, "--content", " ", check=False)
        assert p.returncode == 1 and b"content is empty" in p.stderr, p.stderr
        p = cli(db, "search", "x", "--content", "y", check=False)
        assert p.returncode == 2
    finally:
        shutil.rmtree(d)


def test_import_ids_become_uuids():
    d = tmpdir()
    db = os.path.join(d, "m.db")
    f = os.path.join(d, "chroma.jsonl")
    try:
        with open(f, "w") as fh:
            fh.write(json.dumps({"id": "mem_0001", "content": "The lighthouse keeper is called Ines",
                                 "status": "long_term", "lineage": ["mem_0002"]}) + "\n")
            fh.write(json.dumps({"id": "mem_0002", "content": "Ines keeps the lighthouse", "status": "archived",
                                 "superseded_by": "mem_0001", "archive_reason": "consolidated"}) + "\n")
        out = cli(db, "import", f).stdout.decode()
        assert "imported 2" in out, out
        recs = {r["metadata"]["original_id"]: r for r in map(json.loads, cli(db, "export").stdout.decode().splitlines())}
        assert set(recs) == {"mem_0001", "mem_0002"}
        one, two = recs["mem_0001"], recs["mem_0002"]
        for r in (one, two):
            assert len(r["id"]) == 36 and r["id"].count("-") == 4 and r["id"][14] == "8", r["id"]
        assert two["superseded_by"] == one["id"] and one["lineage"] == [two["id"]]
        out = cli(db, "import", f).stdout.decode()
        assert "imported 0" in out and "skipped 2" in out, out  # the same ids again
    finally:
        shutil.rmtree(d)


def test_busy_lock_is_a_clean_error():
    """Another process holds the write lock beyond busy_timeout_ms: a clean error, nothing changed."""
    d = tmpdir()
    db = os.path.join(d, "m.db")
    s = Server(db, env={"MNEMOSYNE_STORAGE_BUSY_TIMEOUT_MS": "200"})
    con = None
    try:
        s.handshake()
        first = s.ok("store_memory", {"content": "stored before the lock"})["id"]
        con = sqlite3.connect(db, isolation_level=None, timeout=5)
        con.execute("BEGIN IMMEDIATE")
        t0 = time.monotonic()
        out, err = s.call("store_memory", {"content": "stored while another process writes"})
        assert err and "database is busy, try again" in out["error"] and "200 ms" in out["error"], out
        assert time.monotonic() - t0 < 10 * SLOW
        out, err = s.call("consolidate_memories", {})
        assert err and "database is busy, try again" in out["error"], out
        f = os.path.join(d, "one.jsonl")
        with open(f, "w") as fh:
            fh.write(json.dumps({"content": "imported while locked"}) + "\n")
        p = cli(db, "import", f, env={"MNEMOSYNE_STORAGE_BUSY_TIMEOUT_MS": "200"}, check=False)
        assert p.returncode == 1 and b"database is busy, try again" in p.stderr, p.stderr
        # reads go on (WAL), and nothing changed
        assert s.ok("search_memories", {"query": "stored lock"})["results"][0]["id"] == first
        assert [r[0] for r in con.execute("SELECT id FROM memories")] == [first]
        con.execute("ROLLBACK")
        s.ok("store_memory", {"content": "stored after the lock"})
        cli(db, "import", f)
        assert s.ok("get_memory_stats")["total_memories"] == 3
    finally:
        if con:
            con.close()
        s.close()
        shutil.rmtree(d)


def test_restore_memory_tool():
    d = tmpdir()
    s = Server(os.path.join(d, "m.db"), env={"MNEMOSYNE_CONSOLIDATION_MIN_AGE_HOURS": "0"})
    try:
        s.handshake()
        a = s.ok("store_memory", {"content": "Alice's favourite tea is jasmine green tea",
                                  "emotional_context": {"valence": 0.8, "arousal": 0.9}})["id"]
        b = s.ok("store_memory", {"content": "Alice's favourite tea is jasmine green tea!",
                                  "emotional_context": {"valence": 0.9, "arousal": 0.9}})["id"]
        rep = s.ok("consolidate_memories", {"importance_threshold": 0.6, "similarity_threshold": 0.85})
        assert rep["memories_archived"] == 1 and rep["cluster_summaries"][0]["promoted_id"] == b, rep
        r = s.ok("restore_memory", {"memory_id": a})
        assert r == {"restored": True, "memory_id": a, "status": "short_term", "was_superseded_by": b}, r
        hits = s.ok("search_memories", {"query": "jasmine tea", "status": "all"})["results"]
        back = next(m for m in hits if m["id"] == a)
        assert back["status"] == "short_term" and back["superseded_by"] is None
        assert next(m for m in hits if m["id"] == b)["lineage"] == []
        assert a in [m["id"] for m in s.ok("search_memories", {"query": "jasmine tea"})["results"]]
        out, err = s.call("restore_memory", {"memory_id": a})
        assert err and "not archived" in out["error"], out
        out, err = s.call("restore_memory", {"memory_id": "00000000-0000-4000-8000-000000000000"})
        assert err and "no memory with id" in out["error"], out
    finally:
        s.close()
        shutil.rmtree(d)


def test_damaged_database_refused():
    d = tmpdir()
    db = os.path.join(d, "m.db")
    try:
        s = Server(db)
        s.handshake()
        for i in range(300):
            s.ok("store_memory", {"content": "memory number %d with some padding text to use pages" % i})
        s.close()
        con = sqlite3.connect(db)
        page = con.execute("SELECT rootpage FROM sqlite_master WHERE name='memories_status_created'").fetchone()[0]
        psize = con.execute("PRAGMA page_size").fetchone()[0]
        con.close()
        with open(db, "r+b") as f:
            f.seek((page - 1) * psize)
            f.write(bytes((i * 7 ^ 0xA5) & 0xFF for i in range(psize)))
        before = open(db, "rb").read()
        p = subprocess.run([BIN, "--db", db], input=b"", capture_output=True, env=base_env(), cwd=ROOT,
                           timeout=60 * SLOW)
        assert p.returncode == 1, p
        assert b"othing was written" in p.stderr and db.encode() in p.stderr, p.stderr
        assert open(db, "rb").read() == before
        # a damaged full-text index passes PRAGMA integrity_check; the FTS5 check refuses it
        db2 = os.path.join(d, "fts.db")
        s = Server(db2)
        s.handshake()
        for i in range(300):
            s.ok("store_memory", {"content": "memory number %d about lanterns and kettles" % i})
        s.close()
        con = sqlite3.connect(db2)
        con.execute("DELETE FROM memories_fts_data WHERE id = (SELECT min(id) FROM memories_fts_data WHERE id > 10)")
        con.commit()
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        con.close()
        before = open(db2, "rb").read()
        p = subprocess.run([BIN, "--db", db2], input=b"", capture_output=True, env=base_env(), cwd=ROOT,
                           timeout=60 * SLOW)
        assert p.returncode == 1 and b"FTS5 integrity-check" in p.stderr and b"othing was written" in p.stderr, p
        assert open(db2, "rb").read() == before
    finally:
        shutil.rmtree(d)


def test_sigterm_exits_cleanly():
    d = tmpdir()
    try:
        s = Server(os.path.join(d, "m.db"))
        s.handshake()
        s.ok("store_memory", {"content": "x"})
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=10 * SLOW) == 0
        s.close()
    finally:
        shutil.rmtree(d)


def _check_db(db, acked):
    """After a crash: integrity_check, FTS5 integrity-check, every acknowledged store present with its
    vector and in the lexical index, and the consolidation links consistent both ways."""
    con = sqlite3.connect(db, timeout=30)
    try:
        res = con.execute("PRAGMA integrity_check").fetchall()
        assert res == [("ok",)], res
        present = {r[0] for r in con.execute("SELECT id FROM memories")}
        missing = acked - present
        assert not missing, "acknowledged stores lost: %d of %d" % (len(missing), len(acked))
        con.execute("INSERT INTO memories_fts(memories_fts) VALUES('integrity-check')")
        n_mem = con.execute("SELECT count(*) FROM memories").fetchone()[0]
        n_vec = con.execute("SELECT count(*) FROM memories m JOIN memory_vectors v ON v.seq = m.seq").fetchone()[0]
        assert n_vec == n_mem, (n_vec, n_mem)
        n_fts = con.execute("SELECT count(*) FROM memories_fts_docsize d JOIN memories m ON m.seq = d.id").fetchone()[0]
        assert n_fts == n_mem, ("rows in the lexical index", n_fts, n_mem)
        # every memory archived by a consolidation points at a long-term memory whose lineage lists it
        bad = con.execute(
            "SELECT a.id, a.status, a.superseded_by, p.status, p.lineage FROM memories a"
            " LEFT JOIN memories p ON p.id = a.superseded_by"
            " WHERE a.archive_reason = 'consolidated' AND (a.status != 'archived' OR p.id IS NULL"
            "  OR p.status != 'long_term'"
            "  OR NOT EXISTS (SELECT 1 FROM json_each(p.lineage) l WHERE l.value = a.id))").fetchall()
        assert not bad, ("archived memories without a consistent superseding memory", bad[:5])
        # and every lineage entry is an archived memory superseded by the one that lists it
        bad = con.execute(
            "SELECT p.id, l.value FROM memories p, json_each(p.lineage) l LEFT JOIN memories a ON a.id = l.value"
            " WHERE a.id IS NULL OR a.status != 'archived' OR a.superseded_by IS NOT p.id").fetchall()
        assert not bad, ("lineage entries not superseded by their memory", bad[:5])
        return n_mem
    finally:
        con.close()


def _crash_round(db, rnd, rng, env, window=8):
    """One child: handshake, then stores with a consolidation every 7th call, at most `window`
    requests unanswered. After the first acknowledged store, SIGKILL within 0-50 ms. Returns the
    acknowledged store ids and what was in flight at the kill."""
    proc = subprocess.Popen([BIN, "--db", db, "--log-level", "warn"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=base_env(env), cwd=ROOT)
    out = proc.stdout.fileno()
    kinds = {}      # request id -> "store" | "consolidate"
    answered = set()
    acked = set()
    buf = b""

    def send(obj):
        proc.stdin.write(json.dumps(obj).encode() + b"\n")
        proc.stdin.flush()

    def take(data):
        nonlocal buf
        buf += data
        *lines, buf = buf.split(b"\n")
        n = 0
        for line in lines:
            try:
                m = json.loads(line)
            except ValueError:
                continue  # a line cut by the kill was never acknowledged
            i = m.get("id")
            if i not in kinds:
                continue
            answered.add(i)
            res = m.get("result") or {}
            if kinds[i] == "store" and not res.get("isError") and "structuredContent" in res:
                acked.add(res["structuredContent"]["id"])
                n += 1
        return n

    send({"jsonrpc": "2.0", "id": 0, "method": "initialize",
          "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                     "clientInfo": {"name": "crash", "version": "1"}}})
    next_id, kill_at = 1, None
    give_up = time.monotonic() + 30 * SLOW
    try:
        while True:
            now = time.monotonic()
            if kill_at is not None and now >= kill_at:
                break
            assert now < give_up, "round %d: no store acknowledged" % rnd
            while next_id - 1 - len(answered) < window:
                if next_id % 7 == 0:
                    kinds[next_id] = "consolidate"
                    call = {"name": "consolidate_memories",
                            "arguments": {"importance_threshold": 0.0, "similarity_threshold": 0.6}}
                else:
                    kinds[next_id] = "store"
                    call = {"name": "store_memory",
                            "arguments": {"content": "round %d item %d: %s" % (rnd, next_id, rng.choice(
                                ["the tea was green", "the sky was grey", "a dog barked twice", "code compiled"])),
                                "emotional_context": {"valence": rng.uniform(-1, 1),
                                                      "arousal": rng.uniform(-1, 1)}}}
                send({"jsonrpc": "2.0", "id": next_id, "method": "tools/call", "params": call})
                next_id += 1
            wait = (kill_at - now) if kill_at is not None else give_up - now
            r, _, _ = select.select([out], [], [], max(0.0, wait))
            if r:
                data = os.read(out, 1 << 16)
                assert data, "round %d: mnemosyne exited before the kill" % rnd
                if take(data) and kill_at is None:
                    kill_at = time.monotonic() + rng.uniform(0.0, 0.05) * min(SLOW, 2.0)
    finally:
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()  # what it wrote before dying was acknowledged
        proc.wait()
        try:
            proc.stdin.close()
        except OSError:
            pass
    take(rest)
    unanswered = [i for i in kinds if i not in answered]
    return acked, bool(unanswered), any(kinds[i] == "consolidate" for i in unanswered)


def test_crash_sigkill_rounds():
    """SIGKILL while storing and consolidating: at least 100 rounds with a write in flight."""
    d = tmpdir()
    db = os.path.join(d, "crash.db")
    rng = random.Random(int(os.environ.get("CRASH_SEED", "12345")))
    want = int(os.environ.get("CRASH_ROUNDS", "100"))
    env = {"MNEMOSYNE_CONSOLIDATION_MIN_AGE_HOURS": "0"}
    acked = set()
    rounds = in_flight = consolidating = 0
    try:
        while in_flight < want:
            assert rounds < want + 30, "only %d of %d rounds had a write in flight" % (in_flight, rounds)
            got, busy, cons = _crash_round(db, rounds, rng, env)
            rounds += 1
            acked |= got
            in_flight += busy
            consolidating += cons
            _check_db(db, acked)
            if rounds % 20 == 0:  # the program itself opens it (integrity and FTS5 checks at start)
                st = json.loads(cli(db, "stats").stdout)
                assert st["total_memories"] >= len(acked)
        assert consolidating >= 10, "a consolidation was in flight in only %d rounds" % consolidating
        con = sqlite3.connect(db)
        by = dict(con.execute("SELECT status, count(*) FROM memories GROUP BY status").fetchall())
        con.close()
        assert by.get("long_term", 0) > 0 and by.get("archived", 0) > 0, by  # consolidations ran and stuck
        print("crash test: %d rounds (%d with a write in flight, %d with a consolidation in flight), "
              "%d acknowledged stores, %s" % (rounds, in_flight, consolidating, len(acked), by))
    finally:
        shutil.rmtree(d)


def test_two_processes_one_file():
    d = tmpdir()
    db = os.path.join(d, "shared.db")
    env = {"MNEMOSYNE_CONSOLIDATION_MIN_AGE_HOURS": "0"}
    a = Server(db, env=env)
    b = Server(db, env=env)
    try:
        a.handshake()
        b.handshake()
        errors = []
        ids = {"a": [], "b": []}

        def writer(srv, name, n):
            try:
                for i in range(n):
                    r = srv.ok("store_memory", {"content": "%s writes memory %d about topic %s" % (
                        name, i, ["rivers", "mountains", "cities"][i % 3])})
                    ids[name].append(r["id"])
                    if i % 10 == 9:
                        srv.ok("consolidate_memories", {"importance_threshold": 0.0, "similarity_threshold": 0.95})
                        srv.ok("search_memories", {"query": "rivers mountains"})
            except Exception as e:  # surfaced below
                errors.append(repr(e))

        ta = threading.Thread(target=writer, args=(a, "a", 60))
        tb = threading.Thread(target=writer, args=(b, "b", 60))
        ta.start()
        tb.start()
        # a third process (a person's CLI search) while both write
        for _ in range(3):
            p = cli(db, "search", "rivers")
            assert p.returncode == 0
        ta.join(120 * SLOW)
        tb.join(120 * SLOW)
        assert not errors, errors
        assert len(ids["a"]) == 60 and len(ids["b"]) == 60
        for srv in (a, b):
            st = srv.ok("get_memory_stats")
            assert st["total_memories"] == 120, st
        # each sees the other's memories in both legs
        r = a.ok("search_memories", {"query": "b writes memory 7 about", "n_results": 100, "status": "all"})
        assert ids["b"][7] in [m["id"] for m in r["results"]]
        r = b.ok("search_memories", {"query": "a writes memory 8", "n_results": 100, "use_hybrid": False,
                                     "status": "all"})
        assert ids["a"][8] in [m["id"] for m in r["results"]]
    finally:
        a.close()
        b.close()
    try:
        _check_db(db, set(ids["a"]) | set(ids["b"]))
    finally:
        shutil.rmtree(d)


def test_embedding_model_gguf():
    """With build/models/tiny-embed.gguf (make test-models) the vector leg uses libllama."""
    model = os.path.join(os.path.dirname(os.path.dirname(BIN)), "models", "tiny-embed.gguf")
    if not os.path.exists(model):
        print("skipped: %s not found (make test-models)" % model)
        return
    d = tmpdir()
    db = os.path.join(d, "m.db")
    try:
        s = Server(db, args=["--embedding-model", model])
        s.handshake()
        s.ok("store_memory", {"content": "the violin lesson is on thursday"})
        st = s.ok("get_memory_stats")
        assert st["embedding_model"].startswith("gguf:tiny-embed.gguf/"), st
        r = s.ok("search_memories", {"query": "violin", "use_hybrid": False})
        assert len(r["results"]) == 1
        s.close()
        # the database remembers its model
        st = json.loads(cli(db, "stats").stdout)
        assert st["embedding_model"].startswith("gguf:"), st
    finally:
        shutil.rmtree(d)


def main():
    names = sorted(n for n, f in globals().items() if n.startswith("test_") and callable(f))
    only = sys.argv[1:]
    failed = 0
    for n in names:
        if only and not any(o in n for o in only):
            continue
        t0 = time.monotonic()
        try:
            globals()[n]()
            print("ok   %s (%.1fs)" % (n, time.monotonic() - t0), flush=True)
        except Exception:
            failed += 1
            import traceback
            traceback.print_exc()
            print("FAIL %s (%.1fs)" % (n, time.monotonic() - t0), flush=True)
    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
