"""Captioning new data with a trained run: raw per-receiver captures, or clips of a store.

Raw captures go through ``wifisense.caption.data.clip_from_captures`` (align, resample to
the trained rate and length, match subcarriers and antenna pairs; a precise CaptureError
where no rule applies) and then the same preprocessing as training.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import torch

from wifisense.caption.data import (
    ClipCollate,
    caption_dataset,
    check_store_matches,
    clip_from_captures,
    prepare_inputs,
)
from wifisense.caption.run import CaptionRun, load_caption_run
from wifisense.errors import ConfigError


@torch.no_grad()
def predict_captures(run: CaptionRun, rx_paths: Sequence[str | os.PathLike | None], *, format: str = "auto",
                     start_s: float = 0.0, beams: int = 1, **hints) -> str:
    """The caption of one clip made from one capture per receiver (``None``/``"-"`` = missing receiver)."""
    if not start_s >= 0.0:
        # A clip before the first packet would be filled by repeating it (nearest-packet resampling).
        raise ConfigError(f"--start must be >= 0 seconds after the first packet, got {start_s:g}")
    csi, rx_valid = clip_from_captures(rx_paths, run.spec, format=format, start_s=start_s, **hints)
    amplitude, phase, valid = prepare_inputs(csi[None], rx_valid[None], run.spec)
    return run.caption(run.embed(amplitude, phase, valid), num_beams=beams)[0]


@torch.no_grad()
def predict_store(run: CaptionRun, store: str | os.PathLike, indices: Sequence[int], beams: int = 1) -> list[dict]:
    """Captions of store clips ``indices``: ``[{"index", "class", "prediction", "references"}]``."""
    check_store_matches(store, run.spec)
    dataset = caption_dataset(store, None, csi=True)
    bad = [i for i in indices if not 0 <= i < len(dataset)]
    if bad:
        raise ConfigError(f"{store}: clip index {bad[0]} is out of range (the store has {len(dataset)} clips)")
    batch = ClipCollate(run.spec)([dataset[i] for i in indices])
    predictions = run.caption(run.embed(batch["amplitude"], batch["phase"], batch["rx_valid"]), num_beams=beams)
    return [{"index": int(i), "class": dataset.class_names[int(c)], "prediction": p, "references": refs}
            for i, c, p, refs in zip(indices, batch["class_id"], predictions, batch["captions"])]


def predict_from_args(args: argparse.Namespace) -> int:
    if args.beams < 1:
        raise ConfigError(f"--beams must be >= 1, got {args.beams}")
    run = load_caption_run(args.run, args.device, with_teacher=False)
    if args.rx:
        print(_shown(predict_captures(run, args.rx, format=args.format, start_s=args.start, beams=args.beams,
                                      chip=args.chip, bw=args.bw, rate_hz=args.rate_hz,
                                      strict=args.strict or None)))
        return 0
    for row in predict_store(run, args.data, args.index, beams=args.beams):
        print(f"[{row['index']}] {_shown(row['prediction'])}")
        print(f"    truth ({row['class']}): {row['references'][0]}")
    return 0


EMPTY_CAPTION = "(empty caption: the model generated no words)"


def _shown(caption: str) -> str:
    # A blank line reads as "nothing happened"; an undertrained LM can end a caption at once.
    return caption if caption.strip() else EMPTY_CAPTION
