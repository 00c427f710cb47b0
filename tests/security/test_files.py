"""The file tools attacked: races, secrets under other names, the oracle,
and the direct attacks that already held (issue 8 rows 1, 6, 14, 15)."""
import ctypes
import os
import time
import multiprocessing

from host import Host, need_sandbox, output

OUTSIDE_TEXT = "OUTSIDE-SECRET-0451"


def _racer(ws, seconds):
    """Exchanges ws/d (a real folder) and ws/d.link (a symlink to outside)
    atomically (renameat2 RENAME_EXCHANGE), as fast as it can: d always
    exists, and is the folder or the symlink at any moment."""
    libc = ctypes.CDLL(None, use_errno=True)
    a, b = os.path.join(ws, "d").encode(), os.path.join(ws, "d.link").encode()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        libc.renameat2(-100, a, -100, b, 2)  # AT_FDCWD, RENAME_EXCHANGE


def _race(env):
    with Host(env=env) as h:
        os.makedirs(os.path.join(h.ws, "d"))
        with open(os.path.join(h.ws, "d", "victim"), "w") as f:
            f.write("inside\n")
        with open(os.path.join(h.outside, "victim"), "w") as f:
            f.write(OUTSIDE_TEXT + "\n")
        os.symlink(h.outside, os.path.join(h.ws, "d.link"))
        racer = multiprocessing.Process(target=_racer, args=(h.ws, 60))
        racer.start()
        leaks = refused = done = 0
        end = time.monotonic() + 3  # a bounded time, and at least 60 rounds
        try:
            i = 0
            while time.monotonic() < end or i < 60:
                i += 1
                r = h.call("create_file", file_path="d/x%d" % i, content="x")
                done += r["success"]
                refused += not r["success"]
                r = h.call("read_file", file_path="d/victim")
                if OUTSIDE_TEXT in (r.get("content") or ""):
                    leaks += 1
                h.call("edit_file", file_path="d/victim", old_string="inside", new_string="inside")
                r = h.call("list_directory", dir_path="d", recursive=True)
                r = h.call("search_codebase", pattern=OUTSIDE_TEXT)
                if r.get("match_count"):
                    leaks += 1
            print("     %d rounds: %d creates inside, %d refused by the race" % (i, done, refused))
        finally:
            racer.terminate()
            racer.join()
        escaped = sorted(n for n in os.listdir(h.outside) if n != "victim")
        with open(os.path.join(h.outside, "victim")) as f:
            assert f.read() == OUTSIDE_TEXT + "\n", "the outside file was changed"
        assert not escaped, "files created outside the workspace: %s" % escaped
        assert leaks == 0, "%d reads returned the outside file" % leaks


def test_swap_race_openat2():
    """Row 1: a folder swapped with a symlink while the tools run: 0 escapes."""
    _race({})


def test_swap_race_without_openat2():
    """Row 1, the fallback walk (forced as on a kernel without openat2)."""
    _race({"PSYCHE_NO_OPENAT2": "1"})


def test_direct_paths_hold():
    """`..`, absolute paths, /proc/self/root, a symlink to outside: refused."""
    with Host(files={"ok.txt": "fine\n"}) as h:
        with open(os.path.join(h.outside, "x"), "w") as f:
            f.write(OUTSIDE_TEXT)
        os.symlink(os.path.join(h.outside, "x"), os.path.join(h.ws, "link"))
        os.symlink(h.outside, os.path.join(h.ws, "dlink"))
        for p in ["../outside/x", os.path.join(h.outside, "x"), "/etc/passwd", "/proc/self/root/etc/passwd",
                  "link", "dlink/x", "/proc/self/environ", "ok.txt/../../outside/x"]:
            r = h.call("read_file", file_path=p)
            assert not r["success"], "read_file %s succeeded" % p
            assert OUTSIDE_TEXT not in str(r)
            if p not in ("link", "/proc/self/environ"):
                r = h.call("create_file", file_path=p + ".new", content="x")
                assert not r["success"], "create_file %s succeeded" % p
        assert h.call("create_file", file_path="dlink/new", content="x")["success"] is False
        assert os.listdir(h.outside) == ["x"]
        assert h.call("read_file", file_path="ok.txt")["content"] == "fine\n"


def test_secret_renamed_or_linked_stays_protected():
    """Row 6: `mv .env plain.txt`, `ln key.pem copy`: the secret stays unreadable."""
    with Host(files={".env": "AWS=env-secret-1\n", "server.key": "key-secret-2\n", "ok.txt": "ok\n"}) as h:
        need_sandbox(h)
        h.bash("mv .env plain.txt; ln server.key copy; cp server.key copy2; true")
        # the same done from outside the sandbox (a rename by another process)
        if os.path.exists(os.path.join(h.ws, ".env")):
            os.rename(os.path.join(h.ws, ".env"), os.path.join(h.ws, "plain.txt"))
        if not os.path.exists(os.path.join(h.ws, "copy")):
            os.link(os.path.join(h.ws, "server.key"), os.path.join(h.ws, "copy"))
        for name in ["plain.txt", "copy"]:
            r = h.call("read_file", file_path=name)
            assert not r["success"] and "secret" not in str(r.get("content")), (name, r)
            r = h.bash("cat %s" % name)
            assert "secret" not in output(r), (name, output(r))
        r = h.call("search_codebase", pattern="secret")
        assert r.get("match_count", 0) == 0, r
        assert h.call("read_file", file_path="ok.txt")["success"]


def test_20001_files_do_not_open_the_secrets():
    """Row 6: 20,001 files in the workspace do not make the secrets scan give up."""
    with Host(files={"deep/sub/.env": "TOKEN=deep-secret-3\n"}) as h:
        for i in range(20001):
            open(os.path.join(h.ws, "f%05d" % i), "w").close()
        os.link(os.path.join(h.ws, "deep/sub/.env"), os.path.join(h.ws, "deep/sub/innocent"))
        h.send({"rescan": True})
        need_sandbox(h)
        r = h.bash("cat deep/sub/.env deep/sub/innocent")
        assert "deep-secret" not in output(r), output(r)
        r = h.call("read_file", file_path="deep/sub/innocent")
        assert not r["success"], r
        assert h.report()["protections"]["secrets_hidden"]["on"]


def test_edit_file_is_no_oracle():
    """Row 15: edit_file on a protected file answers the same to a right and a wrong guess, leaves no .bak."""
    with Host(files={"server.key": "BEGIN KEY abc123\n", ".env": "PASSWORD=hunter2\n"}) as h:
        for name, right in [("server.key", "abc123"), (".env", "hunter2")]:
            good = h.call("edit_file", file_path=name, old_string=right, new_string="x")
            bad = h.call("edit_file", file_path=name, old_string="wrong-guess", new_string="x")
            assert not good["success"] and not bad["success"]
            assert good["error"] == bad["error"], (good["error"], bad["error"])
            assert not os.path.exists(os.path.join(h.ws, name + ".bak"))
        with open(os.path.join(h.ws, "server.key")) as f:
            assert f.read() == "BEGIN KEY abc123\n"


def test_pcre2_limit_is_an_error():
    """Row 14: a regex that hits PCRE2's match limit is a tool error, not '0 matches'."""
    with Host(files={"a.txt": "a" * 40 + "!\n"}) as h:
        r = h.call("search_codebase", pattern="(a+)+$")
        assert not r["success"], r
        assert "PCRE2" in r["error"] and "limit" in r["error"], r["error"]
        r = h.call("search_codebase", pattern="a+!")
        assert r["success"] and r["match_count"] == 1


def test_secret_folders_hidden_in_the_sandbox():
    """Folders of secrets (.aws, .ssh) and their contents are hidden, the rest of the workspace works."""
    with Host(files={".aws/config": "aws-secret-5\n", ".aws/sub/creds": "aws-secret-6\n",
                     "app/.ssh/id_rsa": "ssh-secret-7\n", "app/main.c": "int main;\n"}) as h:
        need_sandbox(h)
        r = h.bash("cat .aws/config .aws/sub/creds app/.ssh/id_rsa; cp -r .aws stolen; cat stolen/config; "
                   "cat app/main.c")
        assert "secret" not in output(r), output(r)
        assert "int main;" in r["stdout"], output(r)


def test_secrets_scan_fails_closed():
    """A tree the secrets scan cannot finish (deeper than 128 folders) closes reads and commands, never opens them."""
    with Host(files={"ok.txt": "ok\n"}) as h:
        d = h.ws
        for _ in range(130):
            d = os.path.join(d, "d")
            os.mkdir(d)
        with open(os.path.join(d, ".env"), "w") as f:
            f.write("deep-secret-8\n")
        h.send({"rescan": True})
        r = h.call("read_file", file_path="ok.txt")
        assert not r["success"] and "did not complete" in r["error"], r
        r = h.bash("find . -name .env -exec cat {} +")
        assert not r["success"] and "deep-secret" not in output(r), r
        assert not h.report()["protections"]["secrets_hidden"]["on"]
