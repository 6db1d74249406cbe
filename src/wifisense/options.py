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
