"""``wifisense ingest``: turn real captures into a dataset store (placeholder, being written)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=["caption", "multiband"], help="which store to build")


def run(args: argparse.Namespace) -> int:
    from wifisense.errors import ConfigError

    raise ConfigError("wifisense ingest is not implemented yet")
