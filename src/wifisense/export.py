"""``wifisense export RUN --out DIR``: a trained model as a self-contained, shareable folder.

Track runs (``wifisense track train``) export to a folder that ``Tracker.from_pretrained``
loads, caption runs (``wifisense caption train``) to one that ``Captioner.from_pretrained``
loads, with no access to the run or its store (see ``wifisense.track.pretrained`` and
``wifisense.caption.captioner``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from wifisense.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser(
        "export", help="save a trained model as a self-contained folder (weights, config, model card)",
        description="Write a finished run as a folder a Hugging Face Hub repository can hold: "
        "model.safetensors, config.json (settings, normalisation, test metrics), the CSI autoencoder "
        "or the offline LM when used, and README.md (a model card). Load it with "
        "wifisense.Tracker.from_pretrained(DIR) or wifisense.Captioner.from_pretrained(DIR).")
    p.add_argument("run", metavar="RUN", help="a finished `wifisense track train` or `caption train` run directory")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = Path(args.run) / "config.json"
    if not config.is_file():
        raise ConfigError(f"{args.run}: no config.json; is it a finished training run directory?")
    from wifisense.caption.run import RUN_KIND as CAPTION_RUN

    payload = json.loads(config.read_text())
    if payload.get("kind") == CAPTION_RUN:
        from wifisense.caption.captioner import save_pretrained as save_caption

        out = save_caption(args.run, args.out, overwrite=args.overwrite)
        print(f"exported {args.run} -> {out} (load with wifisense.Captioner.from_pretrained)")
        return 0
    kind = payload.get("task", {}).get("kind")
    if kind == "track":
        from wifisense.track.pretrained import save_pretrained

        out = save_pretrained(args.run, args.out, overwrite=args.overwrite)
        print(f"exported {args.run} -> {out} (load with wifisense.Tracker.from_pretrained)")
        return 0
    raise ConfigError(f"{args.run}: runs of kind {kind or payload.get('kind')!r} cannot be exported; "
                      "`wifisense export` handles track model runs and caption runs")
