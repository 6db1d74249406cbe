"""The command line skeleton: version, help, one-line errors with a non-zero exit code."""

import subprocess
import sys

import pytest

from wifisense import __version__
from wifisense.cli import build_parser, main


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")

    def walk(p, path):
        for action in p._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, child in action.choices.items():
                    yield path + [name], child
                    yield from walk(child, path + [name])

    for path, child in walk(parser, []):
        with pytest.raises(SystemExit) as exc:
            main(path + ["--help"])
        assert exc.value.code == 0, path
        out = capsys.readouterr().out
        assert "usage: wifisense " + " ".join(path) in out, path
        # argparse %-formats argument help but not descriptions: a "%%" meant as "%" shows as-is
        assert "%%" not in out, path
    assert sub is not None


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "wifisense", "--version"],
                         capture_output=True, text=True, check=True)
    assert "wifisense" in out.stdout


def test_the_packages_export_their_public_names_without_importing_torch():
    import subprocess
    import sys

    code = ("import sys, wifisense, wifisense.sim, wifisense.caption, wifisense.track;"
            "assert 'torch' not in sys.modules, 'torch imported';"
            "names = {p.__name__: list(p.__all__) for p in (wifisense.sim, wifisense.caption, wifisense.track)};"
            "[getattr(sys.modules[m], n) for m, ns in names.items() for n in ns];"
            "print(sum(map(len, names.values())))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 25

    import wifisense.caption
    import wifisense.track
    from wifisense.caption.captioner import Captioner
    from wifisense.track.ndf import NeuralDynamicFusion

    assert wifisense.caption.Captioner is Captioner and wifisense.track.NeuralDynamicFusion is NeuralDynamicFusion
    assert "run_ablation" in dir(wifisense.caption)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        wifisense.track.nothing  # noqa: B018
