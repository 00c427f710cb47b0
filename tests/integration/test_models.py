"""`psyche model pull` and `psyche model list` (issue 9 item 5) against a
local HTTP server on 127.0.0.1 that serves the test model with Range support,
can cut a transfer mid-way, and fakes the Hugging Face API
(PSYCHE_HF_ENDPOINT). No internet; real binary, real HTTP over libcurl."""
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading

from mcp import build_path

PSYCHE = build_path("bin", "psyche")
MODEL = build_path("models", "tiny-chat.gguf")
REPO = "test/Tiny-GGUF"
GATED = "test/Gated-GGUF"  # answers 401 without "Authorization: Bearer sekrit"


class Server:
    """Serves MODEL under /files/<name> and a fake Hugging Face repository.
    cut: bytes after which the next model response is cut (once)."""

    def __init__(self):
        with open(MODEL, "rb") as f:
            self.model = f.read()
        self.cut = None
        self.ignore_range = False  # answer 200 with the whole file, as some servers do
        self.ranges = []  # the Range header of each model request ("" when none)
        self.hf_sha = {}  # file name -> the sha256 the API announces
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                srv.handle(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.handle_error = lambda request, address: None  # a client that hangs up early is no error here
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def listing(self):
        names = ["README.md", "tiny-chat-Q4_K_M.gguf", "tiny-chat-Q8_0.gguf", "mmproj-tiny-Q8_0.gguf",
                 "big-Q5_K_M-00002-of-00002.gguf", "big-Q5_K_M-00001-of-00002.gguf", "a-Q6_K.gguf", "b-Q6_K.gguf",
                 "c-Q3_K_M-00001-of-00003.gguf", "c-Q3_K_M-00002-of-00003.gguf"]  # c: a part is missing
        sib = [{"rfilename": n} for n in names]
        for s in sib:
            if s["rfilename"].endswith(".gguf"):
                sha = self.hf_sha.get(s["rfilename"], hashlib.sha256(self.model).hexdigest())
                s["size"] = len(self.model)
                s["lfs"] = {"sha256": sha, "size": len(self.model), "pointerSize": 135}
        return json.dumps({"id": REPO, "siblings": sib}).encode()

    def handle(self, h):
        path = h.path.split("?")[0]
        if GATED in path:
            if h.headers.get("Authorization") != "Bearer sekrit":
                return self.send(h, 401, b"gated", "text/plain")
            path = path.replace(GATED, REPO)
        if path == "/api/models/" + REPO:
            return self.send(h, 200, self.listing(), "application/json")
        if path.startswith("/%s/resolve/main/" % REPO):  # as Hugging Face does: a redirect to a CDN
            h.send_response(302)
            h.send_header("Location", "/files/" + path.rsplit("/", 1)[1])
            h.send_header("Content-Length", "0")
            return h.end_headers()
        if path == "/files/not-a-model.gguf":
            return self.send(h, 200, b"<html>sign in first</html>" * 100, "text/html")
        if path.startswith("/files/") and path.endswith(".gguf"):
            return self.send_model(h)
        self.send(h, 404, b"Entry not found", "text/plain")

    def send(self, h, code, body, ctype):
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def send_model(self, h):
        rng = h.headers.get("Range") or ""
        self.ranges.append(rng)
        start = int(rng[len("bytes="):].split("-")[0]) if rng.startswith("bytes=") and not self.ignore_range else 0
        body = self.model[start:]
        h.send_response(206 if start else 200)
        if start:
            h.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(self.model) - 1, len(self.model)))
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Content-Type", "application/octet-stream")
        h.end_headers()
        if self.cut is not None:  # the connection drops mid-way
            h.wfile.write(body[:self.cut])
            h.wfile.flush()
            self.cut = None
            h.close_connection = True
            return
        h.wfile.write(body)


class Home:
    """A user with empty XDG folders."""

    def __init__(self, server):
        self.dir = tempfile.mkdtemp(prefix="psyche-models-")
        self.env = dict(os.environ, HOME=self.dir, XDG_CACHE_HOME=os.path.join(self.dir, "cache"),
                        XDG_CONFIG_HOME=os.path.join(self.dir, "config"), PSYCHE_HF_ENDPOINT=server.url)
        self.env.pop("PSYCHE_CONFIG", None)
        self.models = os.path.join(self.dir, "cache", "psyche", "models")
        self.config = os.path.join(self.dir, "config", "psyche", "psyche.toml")

    def run(self, *args):
        return subprocess.run([PSYCHE, "model"] + list(args), cwd=self.dir, env=self.env, capture_output=True,
                              text=True, timeout=60)

    def read(self, *parts):
        with open(os.path.join(*parts), "rb") as f:
            return f.read()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def with_home(fn):
    def wrapper():
        srv = Server()
        home = Home(srv)
        try:
            fn(srv, home)
        finally:
            home.cleanup()
            srv.stop()
    wrapper.__name__ = fn.__name__
    return wrapper


@with_home
def test_pull_by_url_downloads_checks_and_writes_the_config(srv, home):
    out = home.run("pull", srv.url + "/files/tiny-chat.gguf")
    assert out.returncode == 0, out.stderr
    path = os.path.join(home.models, "tiny-chat.gguf")
    assert out.stdout.strip() == path, out.stdout
    assert home.read(path) == srv.model
    assert os.listdir(home.models) == ["tiny-chat.gguf"]  # no .part left
    assert home.read(home.config).decode() == '[model]\npath = "%s"\n' % path
    assert srv.ranges == [""]
    assert "psyche: 100% (" in out.stderr and "\r" not in out.stderr, out.stderr  # plain progress lines off a terminal


@with_home
def test_an_interrupted_download_resumes_with_a_range(srv, home):
    srv.cut = 5000000
    url = srv.url + "/files/tiny-chat.gguf"
    out = home.run("pull", url)
    assert out.returncode == 1, out.stderr
    assert "run the same command again" in out.stderr, out.stderr
    part = os.path.join(home.models, "tiny-chat.gguf.part")
    assert os.path.getsize(part) == 5000000
    assert not os.path.exists(home.config)
    out = home.run("pull", url)
    assert out.returncode == 0, out.stderr
    assert srv.ranges == ["", "bytes=5000000-"], srv.ranges
    assert home.read(home.models, "tiny-chat.gguf") == srv.model
    assert not os.path.exists(part)


@with_home
def test_a_server_that_ignores_the_range_restarts_the_file(srv, home):
    srv.cut = 3000000
    url = srv.url + "/files/tiny-chat.gguf"
    assert home.run("pull", url).returncode == 1
    srv.ignore_range = True
    out = home.run("pull", url)
    assert out.returncode == 0, out.stderr
    assert srv.ranges == ["", "bytes=3000000-", ""], srv.ranges  # refused by libcurl, then from the start
    assert "cannot resume" in out.stderr, out.stderr
    assert home.read(home.models, "tiny-chat.gguf") == srv.model  # not the first 3 MB twice


@with_home
def test_hf_token_opens_a_gated_repository(srv, home):
    out = home.run("pull", "--hf", GATED)
    assert out.returncode == 1 and "HTTP 401" in out.stderr and "HF_TOKEN" in out.stderr, out.stderr
    home.env["HF_TOKEN"] = "sekrit"
    out = home.run("pull", "--hf", GATED)
    assert out.returncode == 0, out.stderr
    assert home.read(home.models, "tiny-chat-Q4_K_M.gguf") == srv.model


@with_home
def test_a_full_disk_says_so(srv, home):
    os.makedirs(home.models)
    os.symlink("/dev/full", os.path.join(home.models, "tiny-chat.gguf.part"))  # every write: ENOSPC
    out = home.run("pull", srv.url + "/files/tiny-chat.gguf")
    assert out.returncode == 1, out.stderr
    assert "the disk is full" in out.stderr and "free some space" in out.stderr, out.stderr
    assert not os.path.exists(home.config)


@with_home
def test_a_sha256_mismatch_is_refused_and_nothing_is_kept(srv, home):
    out = home.run("pull", srv.url + "/files/tiny-chat.gguf", "--sha256", "ab" * 32)
    assert out.returncode == 1, out.stderr
    assert "checksum mismatch" in out.stderr and hashlib.sha256(srv.model).hexdigest() in out.stderr, out.stderr
    assert os.listdir(home.models) == [] and not os.path.exists(home.config)
    good = hashlib.sha256(srv.model).hexdigest().upper()  # any case
    out = home.run("pull", srv.url + "/files/tiny-chat.gguf", "--sha256", good)
    assert out.returncode == 0, out.stderr
    # a wrong --sha256 for a model already there downloads again, and keeps the one there
    out = home.run("pull", srv.url + "/files/tiny-chat.gguf", "--sha256", "cd" * 32)
    assert out.returncode == 1 and "checksum mismatch" in out.stderr, out.stderr
    assert os.listdir(home.models) == ["tiny-chat.gguf"] and home.read(home.models, "tiny-chat.gguf") == srv.model


@with_home
def test_hf_picks_the_quantisation_and_checks_the_announced_sha(srv, home):
    out = home.run("pull", "--hf", REPO)  # default Q4_K_M
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == os.path.join(home.models, "tiny-chat-Q4_K_M.gguf")
    out = home.run("pull", "--hf", REPO + ":q8_0")  # case-insensitive; the mmproj file is not taken
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == os.path.join(home.models, "tiny-chat-Q8_0.gguf")
    assert "tiny-chat-Q8_0.gguf" in home.read(home.config).decode()
    srv.hf_sha["tiny-chat-Q4_K_M.gguf"] = "00" * 32
    os.unlink(os.path.join(home.models, "tiny-chat-Q4_K_M.gguf"))
    out = home.run("pull", "--hf", REPO + ":Q4_K_M")
    assert out.returncode == 1 and "checksum mismatch" in out.stderr, out.stderr


@with_home
def test_hf_downloads_every_part_of_a_split_model(srv, home):
    out = home.run("pull", "--hf", REPO + ":Q5_K_M")
    assert out.returncode == 0, out.stderr
    first = os.path.join(home.models, "big-Q5_K_M-00001-of-00002.gguf")
    assert out.stdout.strip() == first and "2 parts" in out.stderr, (out.stdout, out.stderr)
    assert sorted(os.listdir(home.models)) == ["big-Q5_K_M-00001-of-00002.gguf", "big-Q5_K_M-00002-of-00002.gguf"]
    assert first in home.read(home.config).decode()  # llama.cpp opens the first part and finds the rest
    out = home.run("pull", "--hf", REPO + ":Q5_K_M", "--sha256", "ab" * 32)
    assert out.returncode == 1 and "2 parts" in out.stderr, out.stderr


@with_home
def test_hf_errors_say_what_exists(srv, home):
    out = home.run("pull", "--hf", REPO + ":Q2_K")
    assert out.returncode == 3, out.stderr
    assert "tiny-chat-Q4_K_M.gguf" in out.stderr and "Q2_K" in out.stderr, out.stderr
    out = home.run("pull", "--hf", REPO + ":Q3_K_M")  # parts of a split model, one missing
    assert out.returncode == 3 and "several .gguf files" in out.stderr, out.stderr
    assert "c-Q3_K_M-00002-of-00003.gguf" in out.stderr, out.stderr
    out = home.run("pull", "--hf", REPO + ":Q6_K")
    assert out.returncode == 3 and "several .gguf files" in out.stderr and "b-Q6_K.gguf" in out.stderr, out.stderr
    out = home.run("pull", "--hf", REPO + ":b-Q6_K.gguf")  # a whole name picks one
    assert out.returncode == 0, out.stderr
    out = home.run("pull", "--hf", "test/Missing-GGUF")
    assert out.returncode == 3 and "no repository test/Missing-GGUF" in out.stderr, out.stderr
    for bad in ("no-slash", "/repo", "user/", "a/b/c", "a/b/c:Q4_K_M"):
        out = home.run("pull", "--hf", bad)
        assert out.returncode == 2 and "USER/REPO" in out.stderr, (bad, out.stderr)
    out = home.run("pull", srv.url + "/files/.hidden.gguf")  # never saved as a dot file (nor "..")
    assert out.returncode == 1 and "refusing to save" in out.stderr, out.stderr


@with_home
def test_http_404_and_a_file_that_is_not_gguf(srv, home):
    out = home.run("pull", srv.url + "/files/missing.bin")
    assert out.returncode == 3 and "HTTP 404" in out.stderr, out.stderr
    out = home.run("pull", srv.url + "/files/not-a-model.gguf")
    assert out.returncode == 1 and "not a GGUF model file" in out.stderr, out.stderr
    assert os.listdir(home.models) == [] and not os.path.exists(home.config)
    out = home.run("pull", "--sha256", "12", srv.url + "/files/tiny-chat.gguf")
    assert out.returncode == 2 and "64 hexadecimal digits" in out.stderr, out.stderr


@with_home
def test_the_config_keeps_everything_but_the_path(srv, home):
    os.makedirs(os.path.dirname(home.config))
    before = ('# my psyche\n[model]\n# which one\npath = "/old/model.gguf"\n\n'
              '[idle]\nenabled = false  # quiet please\n')
    with open(home.config, "w") as f:
        f.write(before)
    out = home.run("pull", srv.url + "/files/tiny-chat.gguf")
    assert out.returncode == 0, out.stderr
    path = os.path.join(home.models, "tiny-chat.gguf")
    assert home.read(home.config).decode() == before.replace("/old/model.gguf", path)
    # a config that does not parse is left as it is; the model stays downloaded
    with open(home.config, "w") as f:
        f.write("[model\n")
    out = home.run("pull", srv.url + "/files/tiny-chat.gguf")
    assert out.returncode == 1 and "psyche.toml:1" in out.stderr, out.stderr
    assert home.read(home.config) == b"[model\n" and os.path.exists(path)


@with_home
def test_list_shows_models_sizes_and_the_configured_one(srv, home):
    out = home.run("list")
    assert out.returncode == 0 and "No models downloaded yet" in out.stdout, out.stdout
    assert home.run("pull", "--hf", REPO + ":Q8_0").returncode == 0
    assert home.run("pull", srv.url + "/files/tiny-chat.gguf").returncode == 0
    srv.cut = 1000
    assert home.run("pull", srv.url + "/files/other.gguf").returncode == 1
    out = home.run("list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    size = "%.1f MB" % (len(srv.model) / 1e6)
    assert any(ln.startswith("* tiny-chat.gguf ") and size in ln for ln in lines), out.stdout
    assert any(ln.startswith("  tiny-chat-Q8_0.gguf ") and size in ln for ln in lines), out.stdout
    assert any(ln.startswith("  other.gguf.part ") and "partial" in ln for ln in lines), out.stdout
    assert "Configured: %s" % os.path.join(home.models, "tiny-chat.gguf") in out.stdout


HINT = "psyche model pull --hf Qwen/Qwen2.5-3B-Instruct-GGUF"


def test_with_no_model_the_one_line_names_model_pull():
    from test_psyche import Env, run_p
    env = Env(children_restart_retry_s=60)
    env.env["PSYCHE_MODEL_PATH"] = ""  # the real elpis with no model at all
    try:
        out = run_p(env, "hi", "--no-memory", timeout=45)
        assert out.returncode == 3, (out.returncode, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1 and HINT in out.stderr, out.stderr
        env.env["PSYCHE_MODEL_PATH"] = os.path.join(env.dir, "nope.gguf")  # a missing file: refused at once
        out = run_p(env, "hi", "--no-memory", timeout=45)
        assert out.returncode == 3 and HINT in out.stderr, (out.returncode, out.stderr)
    finally:
        env.cleanup()


def test_a_pulled_model_is_used_from_any_folder():
    from test_psyche import Env, run_p
    srv = Server()
    env = Env()
    del env.env["PSYCHE_MODEL_PATH"]  # only the user's config names the model
    env.env.update(XDG_CONFIG_HOME=os.path.join(env.dir, "config"), XDG_CACHE_HOME=os.path.join(env.dir, "cache"),
                   PSYCHE_HF_ENDPOINT=srv.url)
    try:
        out = subprocess.run([PSYCHE, "model", "pull", "--hf", REPO], cwd=env.ws, env=env.env, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        out = run_p(env, "hello", "--no-memory", timeout=120)
        assert out.returncode == 0, (out.returncode, out.stderr)
        assert out.stdout.strip(), out.stdout
    finally:
        env.cleanup()
        srv.stop()


@with_home
def test_a_terminal_gets_a_progress_bar(srv, home):
    import pty
    master, slave = pty.openpty()
    chunks = []

    def drain():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    proc = subprocess.run([PSYCHE, "model", "pull", srv.url + "/files/tiny-chat.gguf"], cwd=home.dir, env=home.env,
                          stdout=subprocess.PIPE, stderr=slave, text=True, timeout=60)
    os.close(slave)
    t.join(10)
    os.close(master)
    err = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, err
    assert "\r[" in err and "100% " in err and "psyche: 10% (" not in err, repr(err)  # a bar, not lines
