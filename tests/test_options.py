"""One CLI vocabulary: every renamed option's old spelling still works, gives the same value
with a deprecation note, and is gone from --help."""

import pytest

from wifisense.cli import build_parser
from wifisense.options import RENAMED

# (command words, the arguments the command requires, the parsed attribute, a value)
COMMANDS = {
    "ingest caption": (["--rx", "a.dat", "--out", "o.h5"], "rate", "8"),
    "inspect": (["f.dat"], "rate", "100"),
    "caption predict": (["--run", "r", "--rx", "a.dat"], "rate_hz", "20"),
    "simulate actions": ([], "image_size", "16"),
    "ingest multiband": (["--csi", "c.dat", "--snr", "s.csv", "--positions", "p.csv", "--out", "o.h5"], None, "1.5"),
    "track predict": (["--run", "r"], "csi_format", "nexmon"),
}
ATTRIBUTES = {"--time-offset-snr": "time_offset_snr", "--time-offset-positions": "time_offset_positions"}


@pytest.mark.parametrize("command,old", sorted(RENAMED), ids=lambda v: str(v).replace(" ", "-"))
def test_old_spelling_works_with_a_note_and_is_hidden(command, old, capsys):
    new = RENAMED[(command, old)]
    required, attribute, value = COMMANDS[command]
    attribute = attribute or ATTRIBUTES[old]
    words = command.split()
    parsed_new = build_parser().parse_args([*words, *required, new, value])
    assert capsys.readouterr().err == ""
    parsed_old = build_parser().parse_args([*words, *required, old, value])
    assert getattr(parsed_old, attribute) == getattr(parsed_new, attribute) == type(getattr(parsed_new, attribute))(value)
    err = capsys.readouterr().err
    assert f"{old} is deprecated" in err and f"use {new}" in err
    with pytest.raises(SystemExit):
        build_parser().parse_args([*words, "--help"])
    shown = capsys.readouterr().out
    assert new in shown and f"{old} " not in shown and f"{old}\n" not in shown


def _parsers(parser, words=()):
    yield words, parser
    for action in parser._actions:
        if isinstance(action, __import__("argparse")._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*words, name))


def test_every_sub_command_shows_each_default_and_device_means_the_same():
    import argparse

    missing, devices = [], set()
    for words, parser in _parsers(build_parser()):
        if not words:
            continue
        text = parser.format_help()
        for action in parser._actions:
            if action.dest == "device":
                devices.add((action.default, action.help))
            shows = action.option_strings and action.nargs != 0 and action.default not in (None, argparse.SUPPRESS,
                                                                                            [], "")
            if shows and "default" not in (parser._get_formatter()._get_help_string(action) or ""):
                missing.append(f"{' '.join(words)} {action.option_strings[0]}")
        assert "%(default)" not in text
    assert missing == []
    assert len(devices) == 1 and next(iter(devices))[0] == "auto"


def test_logger_tensorboard_writes_event_files_or_names_the_missing_package(tmp_path, capsys):
    import importlib.util

    from wifisense.cli import main
    from wifisense.io.store import write_multiband_store
    from wifisense.sim.trajectories import simulate_trajectories, trajectory_config

    store = tmp_path / "m.h5"
    write_multiband_store(store, simulate_trajectories(trajectory_config("default", ["duration_s=60"]), seed=1,
                                                       progress=False))
    code = main(["track", "train", "--data", str(store), "--model", "linear-int", "--bands", "snr", "--run",
                 str(tmp_path / "run"), "--epochs", "1", "--no-eval", "--logger", "tensorboard", "-q"])
    if importlib.util.find_spec("tensorboard") is None:
        assert code == 2 and "pip install tensorboard" in capsys.readouterr().err
    else:
        assert code == 0 and any((tmp_path / "run" / "tensorboard").iterdir())
    assert main(["track", "train", "--data", str(store), "--model", "linear-int", "--bands", "snr", "--run",
                 str(tmp_path / "run2"), "--epochs", "1", "--no-eval", "-q"]) == 0
    assert (tmp_path / "run2" / "metrics.csv").is_file() and not (tmp_path / "run2" / "tensorboard").exists()
