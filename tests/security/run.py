"""Runs every test_* function of tests/security/test_*.py and prints
'security: N passed, N failed, N skipped'. --fallback: bubblewrap has been
made unavailable (PSYCHE_BWRAP points nowhere); the tests check that the
report says so and that the Landlock fallback still holds what it promises."""
import importlib.util
import os
import sys
import time
import traceback

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)


def main(argv):
    if "--fallback" in argv:
        os.environ["SECURITY_FALLBACK"] = "1"
        argv = [a for a in argv if a != "--fallback"]
    import host  # noqa: E402  (after SECURITY_FALLBACK is set)
    files = argv or sorted(f for f in os.listdir(here) if f.startswith("test_") and f.endswith(".py"))
    only = os.environ.get("TEST_FILTER")
    passed = failed = skipped = 0
    failures = []
    for f in files:
        path = os.path.join(here, os.path.basename(f))
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception:
            failed += 1
            failures.append((name, traceback.format_exc()))
            continue
        for t in sorted(n for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n))):
            if only and only not in "%s.%s" % (name, t):
                continue
            t0 = time.monotonic()
            try:
                getattr(mod, t)()
                passed += 1
                print("ok   %s.%s (%.1fs)" % (name, t, time.monotonic() - t0), flush=True)
            except host.Skip as e:
                skipped += 1
                print("skip %s.%s: %s" % (name, t, e), flush=True)
            except Exception:
                failed += 1
                failures.append(("%s.%s" % (name, t), traceback.format_exc()))
                print("FAIL %s.%s (%.1fs)" % (name, t, time.monotonic() - t0), flush=True)
    for n, tb in failures:
        print("\n==== %s\n%s" % (n, tb))
    mode = "security-fallback" if os.environ.get("SECURITY_FALLBACK") == "1" else "security"
    print("%s: %d passed, %d failed, %d skipped" % (mode, passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
