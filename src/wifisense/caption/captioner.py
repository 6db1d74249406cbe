"""Shareable caption models: ``save_pretrained`` (a finished run as a self-contained folder)
and ``Captioner`` (load such a folder, or a run, and caption CSI).

An exported folder holds what captioning needs and nothing else: ``model.safetensors``
(the student's and the prefix MLP's trained tensors, merged from the run's stages),
``config.json`` (the run's resolved model config, with ``lm_path`` pointing inside the
folder), ``preprocess.json`` (input geometry and normalisation), ``lm/`` (the offline LM,
when the run used it; a hub LM is named and loaded from the hub or its cache) and
``README.md`` (a model card with the run's test metrics). It loads with no access to the
run or its store, through the same ``load_caption_run`` the CLI uses, so the folder can be
shared as a Hugging Face Hub repository.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from wifisense.caption.data import INPUT_SPEC_FILE, prepare_inputs
from wifisense.caption.run import (EXPORTED_WEIGHTS, LM_DIR, RUN_CONFIG_FILE, CaptionRun, load_caption_run,
                                   read_run_config)
from wifisense.errors import ConfigError
from wifisense.io.atomic import atomic_folder

EXPORT_FORMAT = 1
CARD_FILE = "README.md"
CARD_METRICS = ("BLEU-4", "METEOR", "ROUGE-L", "CIDEr")


class Captioner:
    """A trained caption model: ``Captioner.from_pretrained(DIR).caption(csi)``."""

    def __init__(self, run: CaptionRun):
        self.run = run

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: str = "auto") -> Captioner:
        """Load an exported folder (``wifisense export``) or a finished caption run directory."""
        return cls(load_caption_run(path, device=device, with_teacher=False))

    @property
    def spec(self):
        """What the model takes: ``spec.clip_shape`` ``(R, T, A, S)``, ``spec.sample_rate_hz``, ..."""
        return self.run.spec

    @torch.no_grad()
    def caption(self, csi, rx_valid=None, beams: int = 1) -> str | list[str]:
        """Caption complex CSI ``[R, T, A, S]`` (one clip: a string) or ``[B, R, T, A, S]`` (a list).

        ``rx_valid`` (``[R]`` or ``[B, R]``, default all True) marks receivers that are missing.
        The clip must have the trained shape (see :attr:`spec`).
        """
        csi = np.asarray(csi) if not torch.is_tensor(csi) else csi
        single = csi.ndim == 4
        batch = csi[None] if single else csi
        if tuple(batch.shape[1:]) != tuple(self.spec.clip_shape):
            raise ConfigError(f"CSI of shape [R, T, A, S] = {list(batch.shape[1:])}; the model takes "
                              f"{list(self.spec.clip_shape)}")
        valid = np.ones(batch.shape[:2], bool) if rx_valid is None else np.asarray(rx_valid, bool).reshape(batch.shape[:2])
        amplitude, phase, valid = prepare_inputs(batch, valid, self.spec)
        captions = self.run.caption(self.run.embed(amplitude, phase, valid), num_beams=beams)
        return captions[0] if single else captions

    def caption_captures(self, rx_paths: Sequence[str | os.PathLike | None], *, format: str = "auto",
                         start_s: float = 0.0, beams: int = 1, **hints) -> str:
        """Caption one clip made from one capture file per receiver (``None`` for a missing one)."""
        from wifisense.caption.predict import predict_captures

        return predict_captures(self.run, rx_paths, format=format, start_s=start_s, beams=beams, **hints)


# --------------------------------------------------------------------------- export


def save_pretrained(run_dir: str | os.PathLike, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a finished caption run as a self-contained folder (see the module docstring)."""
    from safetensors.torch import save_file

    from wifisense.version import __version__

    run, out = Path(run_dir), Path(out_dir)
    payload = read_run_config(run)
    if payload.get("exported"):
        raise ConfigError(f"{run}: is already an exported model; copy the folder instead")
    loaded = load_caption_run(run, device="cpu", with_teacher=False)   # a ConfigError names a missing part
    tensors = {f"prefix.{k}": v for k, v in loaded.prefix_lm.prefix_mapper.state_dict().items()}
    if not loaded.blind:
        tensors.update({f"student.{k}": v for k, v in loaded.student.state_dict().items()})
    lm = payload.get("lm_path") or loaded.config.prefix_lm.lm
    local_lm = (run / lm) if (run / lm).is_dir() else None
    test = _test_metrics(run)
    exported = {**payload, "data": None, "lm_path": LM_DIR if local_lm is not None else lm,
                "exported": {"format_version": EXPORT_FORMAT, "wifisense": __version__,
                             "from_store": payload.get("data"), "test": test}}
    with atomic_folder(out, overwrite) as staging:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(staging / EXPORTED_WEIGHTS))
        shutil.copyfile(run / payload.get("input_spec", INPUT_SPEC_FILE), staging / INPUT_SPEC_FILE)
        exported["input_spec"] = INPUT_SPEC_FILE
        if local_lm is not None:
            shutil.copytree(local_lm, staging / LM_DIR)
        (staging / RUN_CONFIG_FILE).write_text(json.dumps(exported, indent=1) + "\n")
        (staging / CARD_FILE).write_text(model_card(exported, loaded))
    return out


def _test_metrics(run: Path) -> dict | None:
    """The run's test metrics from ``caption eval --split test`` (None when it was not run)."""
    path = run / "metrics.json"
    if not path.is_file():
        return None
    test = json.loads(path.read_text()).get("test")
    if not test:
        return None
    direction = test.get("direction") or {}
    return {**{name: (test.get("captions") or {}).get(name) for name in CARD_METRICS},
            "direction_accuracy": direction.get("accuracy"), "direction_clips": direction.get("n_considered"),
            "direction_chance": direction.get("chance"), "clips": test.get("num_clips")}


def model_card(exported: dict, loaded: CaptionRun) -> str:
    """The README.md of an exported caption model."""
    spec, test = loaded.spec, exported["exported"]["test"]
    r, t, a, s = spec.clip_shape
    kind = {None: "WiFi2Cap (full pipeline)", "csi-lm": "CSI->LM baseline",
            "no-csi": "no-CSI reference (language prior only)"}.get(exported.get("baseline"), exported.get("baseline"))
    lines = [
        "---", "library_name: wifisense", "tags: [wifi-sensing, csi, captioning]", "---", "",
        f"# {kind} caption model", "",
        f"Writes a sentence describing a person's action from {spec.clip_seconds:g} s of Wi-Fi CSI: "
        f"{r} receivers x {a} antenna pairs x {s} subcarriers at {spec.sample_rate_hz:g} Hz "
        f"(`[R, T, A, S] = [{r}, {t}, {a}, {s}]`), {spec.feature_mode} features.", "",
        "```python", "from wifisense import Captioner", "",
        "captioner = Captioner.from_pretrained(\"path/to/this/folder\")",
        "captioner.caption_captures([\"rx1.dat\", \"rx2.dat\", \"rx3.dat\"])   # one capture per receiver",
        "```", "",
        "## Training data", "",
        f"- store: `{exported['exported'].get('from_store')}` ({spec.num_fit_clips} training clips); "
        f"stages {', '.join(exported.get('stages') or [])}; LM `{exported['lm_path']}`", "",
        "## Test metrics", "",
    ]
    if test is None:
        lines.append("Not evaluated: run `wifisense caption eval --run RUN --split test` before exporting "
                     "to record them.")
    else:
        def fmt(value):
            return "n/a" if value is None else f"{value:.3f}"
        lines += ["| " + " | ".join(CARD_METRICS) + " | direction accuracy (chance) | test clips |",
                  "|" + "---|" * (len(CARD_METRICS) + 2),
                  "| " + " | ".join(fmt(test[m]) for m in CARD_METRICS)
                  + f" | {fmt(test['direction_accuracy'])} ({fmt(test['direction_chance'])}) | {test['clips']} |"]
    lines += [
        "", "## Limitations", "",
        "- Valid only for the room, device placement and radios of the training data; a new environment "
        "needs new training data.",
        "- The captures' receivers, antenna pairs, subcarriers and rate must match the training data "
        "(checked on input).", ""]
    return "\n".join(lines)
