"""Command-line options renamed for one vocabulary across commands, and their old spellings.

``add_old_spelling(parser, action, "--old")`` keeps ``--old`` working for the option that
``action`` (what ``parser.add_argument`` returned for the new name) defines: hidden from
``--help``, same destination and type, and a one-line deprecation note on stderr when used.
argparse cannot mark an option string deprecated before Python 3.13, hence this helper.

Renamed options (old -> new), listed by ``wifisense --help`` users in the README:

- ``ingest caption --rate`` -> ``--clip-rate`` (clip sample rate; ``--rate`` meant the packet
  rate elsewhere)
- ``inspect --rate``, ``caption predict --rate`` -> ``--packet-rate`` (as in ``ingest``)
- ``simulate actions --image-size`` -> ``--frame-size`` (as in ``ingest caption``)
- ``ingest multiband --time-offset-snr`` -> ``--snr-offset`` (as in ``track predict``), and
  ``--time-offset-positions`` -> ``--positions-offset``
- ``track predict --csi-format`` -> ``--format`` (as everywhere else)
"""

from __future__ import annotations

import argparse
import sys

RENAMED = {
    ("ingest caption", "--rate"): "--clip-rate",
    ("inspect", "--rate"): "--packet-rate",
    ("caption predict", "--rate"): "--packet-rate",
    ("simulate actions", "--image-size"): "--frame-size",
    ("ingest multiband", "--time-offset-snr"): "--snr-offset",
    ("ingest multiband", "--time-offset-positions"): "--positions-offset",
    ("track predict", "--csi-format"): "--format",
}


class _OldSpelling(argparse.Action):
    """Stores like the renamed option it stands for, after saying the new name."""

    def __init__(self, option_strings, dest, new: str, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: note: {option_string} is deprecated and will be removed; use {self.new}",
              file=sys.stderr)
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


def add_old_spelling(parser: argparse.ArgumentParser, action: argparse.Action, *old: str) -> None:
    """Accept ``old`` option strings for ``action`` (hidden from --help, with a deprecation note)."""
    flag = action.nargs == 0
    parser.add_argument(*old, dest=action.dest, action=_OldSpelling, new=action.option_strings[0],
                        nargs=0 if flag else action.nargs, const=action.const if flag else None,
                        type=None if flag else action.type, metavar=action.metavar,
                        default=argparse.SUPPRESS, help=argparse.SUPPRESS)


DEVICE_HELP = "auto | cpu | cuda | cuda:N | mps (default: %(default)s)"


def add_device_option(parser: argparse.ArgumentParser) -> argparse.Action:
    """``--device`` as every command spells it: ``auto`` picks CUDA, then MPS, then the CPU."""
    return parser.add_argument("--device", default="auto", help=DEVICE_HELP)


def _with_default(action: argparse.Action, text: str | None) -> str | None:
    """``text`` plus "(default: X)" unless it says its default already or there is none to say."""
    if text == argparse.SUPPRESS or not action.option_strings or action.nargs == 0:
        return text
    if action.default in (None, argparse.SUPPRESS, "") or action.default == [] or "default" in (text or ""):
        return text
    return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Shows every option's default in --help, for options whose help does not say it."""

    def _get_help_string(self, action):
        return _with_default(action, action.help)


class RawDescriptionDefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The same, for parsers whose description or epilog is laid out by hand."""

    def _get_help_string(self, action):
        return _with_default(action, action.help)


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """Make ``parser`` show every option's default (keeping a hand-laid-out description raw)."""
    raw = issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter)
    parser.formatter_class = RawDescriptionDefaultsHelpFormatter if raw else DefaultsHelpFormatter
    for action in parser._actions:  # argparse prints no help line at all for help=None
        if action.help is None and _with_default(action, None) is not None:
            action.help = _with_default(action, None)


LOGGERS = ("csv", "tensorboard")


def add_logger_option(parser: argparse.ArgumentParser) -> argparse.Action:
    """``--logger``: CSV/JSONL metrics are always written; ``tensorboard`` adds event files."""
    return parser.add_argument("--logger", choices=LOGGERS, default="csv",
                               help="csv: RUN/metrics.csv and metrics.jsonl; tensorboard: also event files in "
                               "RUN/tensorboard (needs `pip install tensorboard`) (default: %(default)s)")
