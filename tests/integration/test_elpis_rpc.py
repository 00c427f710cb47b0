"""elpis with [model] rpc_servers: the layers on two llama.cpp rpc-server
processes on loopback, started here, give the same text at temperature 0 as
the local backend; --doctor reports each server's memory and share (issue 11
item 2).

Needs an RPC-enabled elpis: make test builds build/rpc/bin/elpis against the
RPC-enabled libraries of scripts/build-llama-tools.sh (stage rpc-build)."""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp import Client, ROOT, build_path, empty_config, free_port  # noqa: E402

ELPIS = build_path("bin", "elpis")
RPC_ELPIS = os.environ.get("ELPIS_RPC_BIN") or os.path.join(ROOT, "build", "rpc", "bin", "elpis")
MODEL = build_path("models", "tiny-chat.gguf")
HOW = ("make BUILD=build/rpc LLAMA_RPC=1 LLAMA_PREFIX=$(scripts/build-llama-tools.sh) build/rpc/bin/elpis "
       "(make test does)")

_EMPTY_CONFIG = empty_config("rpc")


def rpc_server_bin():
    p = subprocess.run([os.path.join(ROOT, "scripts", "build-llama-tools.sh"), "--print-prefix"],
                       capture_output=True, text=True, check=True).stdout.strip()
    b = os.path.join(p, "bin", "rpc-server")
    assert os.path.exists(b) and os.path.exists(RPC_ELPIS), "the RPC build is missing: " + HOW
    return b


class RpcServers:
    def __init__(self, n=2):
        self.procs, self.endpoints = [], []
        for _ in range(n):
            port = free_port()
            self.procs.append(subprocess.Popen([rpc_server_bin(), "-H", "127.0.0.1", "-p", str(port), "-t", "1"],
                                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
            self.endpoints.append("127.0.0.1:%d" % port)
        deadline = time.monotonic() + 60
        for ep in self.endpoints:
            host, port = ep.split(":")
            while True:
                try:
                    socket.create_connection((host, int(port)), 1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "rpc-server did not listen on " + ep
                    time.sleep(0.1)

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


PROMPTS = ["Tell me about rivers", "What is 2 + 2?"]


def texts(binary, env):
    e = {"ELPIS_CONFIG": _EMPTY_CONFIG, "ELPIS_MODEL_SLOTS": "1"}
    e.update(env)
    c = Client([binary, "--model", MODEL], env=e)
    try:
        assert "result" in c.initialize(), c.stderr_tail()
        return [c.ok("generate", {"messages": [{"role": "user", "content": p}], "max_tokens": 24,
                                  "temperature": 0})["content"] for p in PROMPTS], c.stderr_tail(1 << 16)
    finally:
        assert c.close() == 0, c.stderr_tail()


def test_layers_on_two_rpc_servers_give_the_local_text():
    rpc = RpcServers(2)
    try:
        want, _ = texts(ELPIS, {})
        got, log = texts(RPC_ELPIS, {"ELPIS_MODEL_RPC_SERVERS": ",".join(rpc.endpoints)})
        assert got == want, (got, want)
        assert "offloading all layers to 2 rpc-server" in log, log
    finally:
        rpc.stop()


def test_doctor_reports_each_server():
    rpc = RpcServers(2)
    try:
        r = subprocess.run([RPC_ELPIS, "--doctor", "--model", MODEL],
                           env=dict(os.environ, ELPIS_CONFIG=_EMPTY_CONFIG,
                                    ELPIS_MODEL_RPC_SERVERS=",".join(rpc.endpoints)),
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r
        assert "== rpc servers (2; 2 of 2 layers offloaded" in r.stdout, r.stdout
        for ep in rpc.endpoints:
            line = [ln for ln in r.stdout.splitlines() if ln.startswith(ep)]
            assert line and "free of" in line[0] and "layers" in line[0], r.stdout
        assert "unencrypted" in r.stdout
    finally:
        rpc.stop()


def test_a_server_that_does_not_answer_is_named():
    ep = "127.0.0.1:%d" % free_port()
    rpc_server_bin()
    r = subprocess.run([RPC_ELPIS, "--model", MODEL], env=dict(os.environ, ELPIS_CONFIG=_EMPTY_CONFIG,
                                                               ELPIS_MODEL_RPC_SERVERS=ep),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and ep in r.stderr and "rpc-server" in r.stderr, r.stderr


def test_a_build_without_rpc_says_how_to_get_it():
    r = subprocess.run([ELPIS, "--model", MODEL], env=dict(os.environ, ELPIS_CONFIG=_EMPTY_CONFIG,
                                                           ELPIS_MODEL_RPC_SERVERS="127.0.0.1:50052"),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    if "rpc=on" in subprocess.run([ELPIS, "--version"], capture_output=True, text=True).stdout:
        return  # this build has RPC (make LLAMA_RPC=1): covered above
    assert r.returncode == 1 and "LLAMA_RPC=1" in r.stderr, r.stderr
