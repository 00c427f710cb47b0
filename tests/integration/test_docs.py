"""The documentation that is generated from the code must match it."""
import os
import subprocess
import tempfile

from mcp import BUILD, ROOT


def test_configuration_reference_is_current():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "configuration.md")
        subprocess.run([os.path.join(ROOT, "scripts", "gen-config-docs.sh"), BUILD, out], check=True,
                       capture_output=True, cwd=ROOT)
        with open(out) as f:
            want = f.read()
    with open(os.path.join(ROOT, "docs", "configuration.md")) as f:
        have = f.read()
    assert have == want, "docs/configuration.md is out of date: run scripts/gen-config-docs.sh"


def test_config_files_parse_and_match_defaults():
    # Each shipped configs/<program>.toml must load (no unknown keys) in its program.
    for prog in ("elpis", "mnemosyne", "psyche"):
        r = subprocess.run([os.path.join(ROOT, BUILD, "bin", prog) if not os.path.isabs(BUILD) else
                            os.path.join(BUILD, "bin", prog), "--print-config", "--config",
                            os.path.join(ROOT, "configs", prog + ".toml")], capture_output=True, text=True)
        assert r.returncode == 0, "%s rejects configs/%s.toml: %s" % (prog, prog, r.stderr)
