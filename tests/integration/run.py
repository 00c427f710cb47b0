"""Runs every test_* function of tests/integration/test_*.py (or the files
named on the command line) and prints 'N passed, N failed' at the end."""
import importlib.util
import os
import sys
import time
import traceback

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)


def main(argv):
    files = argv or sorted(f for f in os.listdir(here) if f.startswith("test_") and f.endswith(".py"))
    only = os.environ.get("TEST_FILTER")
    passed = failed = 0
    failures = []
    for f in files:
        path = f if os.path.isabs(f) else os.path.join(here, os.path.basename(f))
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception:
            failed += 1
            failures.append((name, traceback.format_exc()))
            print("FAIL %s (import)" % name, flush=True)
            continue
        for t in sorted(n for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n))):
            if only and only not in "%s.%s" % (name, t):
                continue
            t0 = time.monotonic()
            try:
                getattr(mod, t)()
                passed += 1
                print("ok   %s.%s (%.1fs)" % (name, t, time.monotonic() - t0), flush=True)
            except Exception:
                failed += 1
                failures.append(("%s.%s" % (name, t), traceback.format_exc()))
                print("FAIL %s.%s (%.1fs)" % (name, t, time.monotonic() - t0), flush=True)
    for n, tb in failures:
        print("\n==== %s\n%s" % (n, tb))
    print("integration: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
