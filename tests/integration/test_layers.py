"""psyche's files call only the layers below them: no circles in the call
graph between the objects (tests/check_layers.py, from `nm`)."""
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
build = os.environ.get("BUILD", "build")
check = os.path.join(root, "tests", "check_layers.py")
objdir = os.path.join(root, build, "obj", "psyche")


def run(*args):
    return subprocess.run([sys.executable, check, objdir, *args], capture_output=True, text=True)


def test_agent_layers_have_no_circles():
    # The TUI has its own check (test_tui.py); main is the top of everything.
    r = run("--exclude", "tui*", "--exclude", "main")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no circles" in r.stdout, r.stdout


def _objects(d, sources):
    for name, code in sources.items():
        src = os.path.join(d, name + ".c")
        with open(src, "w") as fh:
            fh.write(code)
        subprocess.run(["cc", "-c", src, "-o", os.path.join(d, name + ".o")], check=True)


def test_the_check_finds_a_circle_around_a_loop():
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        _objects(d, {"top": "int mid(void); int top(void) { return mid(); }\n",
                     "mid": "int low(void); int mid(void) { return low(); }\n",
                     "low": "int low(void) { return 1; }\n"})
        r = subprocess.run([sys.executable, check, d], capture_output=True, text=True)
        assert r.returncode == 0 and "3 files, no circles" in r.stdout, r.stdout + r.stderr
        _objects(d, {"low": "int top(void); int low(void) { return top(); }\n"})
        r = subprocess.run([sys.executable, check, d], capture_output=True, text=True)
        assert r.returncode == 1, r.stdout
        assert "circle between low.c, mid.c, top.c" in r.stdout, r.stdout
        assert "low.c calls top.c: top" in r.stdout, r.stdout
