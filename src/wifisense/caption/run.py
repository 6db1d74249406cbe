"""A caption run directory: its files, the weights each stage saves, and loading a finished run back.

A run directory::

    RUN/config.json       resolved model config, stages, training settings, data path
    RUN/preprocess.json   input geometry + normalisation fitted on the training split
    RUN/lm/               the offline LM (tokenizer + small GPT-2) when lm = "offline"
    RUN/<stage>/          the Trainer's files for each stage

Only trainable parts are saved: each stage's ``model.safetensors`` holds tensors named
``student.*``, ``teacher.*`` (temporal Transformer, projections and a trainable frame
encoder; never the frozen CLIP/MiniLM towers) and ``prefix.*`` (the prefix MLP; never the
LM), plus the stage's loss temperature. A stage loads a component from the earlier stages
its declaration names for it (``caption.stages``) and a finished run from every stage that
has it, in stage order, so the latest stage that trained a part wins.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from wifisense.caption.config import CaptionModelConfig, _from_dict
from wifisense.caption.data import INPUT_SPEC_FILE, CaptionInputSpec
from wifisense.caption.pretrained import no_loading_bars
from wifisense.caption.settings import ALL_STAGE_NAMES
from wifisense.caption.stages import constant_embedding, teacher_parts
from wifisense.errors import ConfigError
from wifisense.training.checkpoint import finished_summary

RUN_CONFIG_FILE = "config.json"
LM_DIR = "lm"
EXPORTED_WEIGHTS = "model.safetensors"   # an exported folder's merged weights (caption.captioner)
RUN_KIND = "wifisense-caption-run"
COMPONENT_HINT = {"student": "train stage s2-1 or s2-2 (or --baseline csi-lm) first",
                  "teacher": "train stage s1 first (or use --stages s2-2,s3)",
                  "prefix": "train stage s3 (or --baseline csi-lm) first"}


# A stage is a run directory of the shared Trainer: finished means what it means there.
finished_stage_summary = finished_summary


def stage_weights(run: Path, stage: str) -> Path:
    return run / stage / "model.safetensors"


def load_components(targets: dict[str, nn.Module], run: Path, stages: Sequence[str],
                    files: Sequence[Path] = ()) -> dict[str, set[str]]:
    """Load ``targets`` (``{"student": ..., "teacher": ..., "prefix": ...}``) from the stages' weights, in order,
    then from ``files`` (an exported folder's merged weights).

    Returns, per target, the parameter names that were found. A tensor in a file whose
    name does not exist in the target (or has another shape) is a ConfigError.
    """
    from safetensors.torch import load_file

    found: dict[str, set[str]] = {name: set() for name in targets}
    for path in [stage_weights(run, stage) for stage in stages] + list(files):
        if not path.is_file():
            continue
        tensors = load_file(str(path))
        for name, module in targets.items():
            prefix = name + "."
            part = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            if not part:
                continue
            own = module.state_dict()
            bad = [k for k, v in part.items() if k not in own or own[k].shape != v.shape]
            if bad:
                raise ConfigError(f"{path}: {name} weights {bad[:4]} do not fit this model config; "
                                  "was the run trained with another preset or --set?")
            module.load_state_dict(part, strict=False)
            found[name] |= set(part)
    return found


def require_complete(found: dict[str, set[str]], targets: dict[str, nn.Module], run: Path,
                     hint: dict[str, str]) -> None:
    """ConfigError naming the missing component when a target was not (fully) loaded."""
    for name, module in targets.items():
        missing = set(module.state_dict()) - found[name]
        if missing:
            raise ConfigError(f"{run}: no trained {name} ({len(missing)} tensors missing, e.g. "
                              f"{min(missing)}); {hint.get(name, 'train its stage first')}")


@dataclass
class CaptionRun:
    """A trained run loaded for evaluation or prediction (models in eval mode on ``device``)."""

    path: Path
    config: CaptionModelConfig
    spec: CaptionInputSpec
    run_config: dict
    student: nn.Module
    prefix_lm: nn.Module
    teacher: nn.Module | None      # None for the csi-lm baseline (no text embedding space)
    device: torch.device

    @property
    def data(self) -> str:
        return self.run_config["data"]

    @property
    def blind(self) -> bool:
        """The no-csi reference: every clip gets the same constant embedding."""
        return self.run_config.get("baseline") == "no-csi"

    @torch.no_grad()
    def embed(self, amplitude: torch.Tensor, phase: torch.Tensor, rx_valid: torch.Tensor) -> torch.Tensor:
        if self.blind:
            return constant_embedding(amplitude.shape[0], self.config.embed_dim, self.device)
        return self.student(amplitude.to(self.device), phase.to(self.device), rx_valid.to(self.device))

    @torch.no_grad()
    def caption(self, embedding: torch.Tensor, num_beams: int = 1, max_new_tokens: int | None = None) -> list[str]:
        tokens = max_new_tokens or self.config.prefix_lm.max_caption_tokens
        return self.prefix_lm.generate(embedding, max_new_tokens=tokens, num_beams=num_beams)


def read_run_config(run: str | os.PathLike) -> dict:
    path = Path(run) / RUN_CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: missing; is {run} a run directory written by `wifisense caption train`?")
    payload = json.loads(path.read_text())
    if payload.get("kind") != RUN_KIND:
        raise ConfigError(f"{path}: not a caption run (kind {payload.get('kind')!r})")
    return payload


def load_caption_run(run: str | os.PathLike, device: str = "auto", with_teacher: bool = True) -> CaptionRun:
    """Load student, prefix LM (and, unless it is the csi-lm baseline, the teacher) of a trained run."""
    from wifisense.caption.prefix_lm import PrefixLM, freeze
    from wifisense.caption.student import CSIStudent
    from wifisense.caption.teacher import CaptionTeacher
    from wifisense.training import select_device

    run = Path(run)
    payload = read_run_config(run)
    config = _from_dict(CaptionModelConfig, payload["model"], str(run / RUN_CONFIG_FILE))
    spec = CaptionInputSpec.load(run / payload.get("input_spec", INPUT_SPEC_FILE))
    target = select_device(device)
    stages = [s for s in ALL_STAGE_NAMES if stage_weights(run, s).is_file()]
    lm = payload.get("lm_path") or config.prefix_lm.lm
    lm_path = str(run / lm) if (run / lm).is_dir() else lm
    p = config.prefix_lm
    with no_loading_bars():
        prefix_lm = PrefixLM.from_pretrained(lm_path, config.embed_dim, prefix_length=p.prefix_length,
                                             hidden_dim=p.hidden_dim, max_caption_tokens=p.max_caption_tokens)
    student = CSIStudent.from_config(config.student, config.embed_dim)
    targets: dict[str, nn.Module] = {"student": student, "prefix": prefix_lm.prefix_mapper}
    teacher = None
    blind = payload.get("baseline") == "no-csi"
    if with_teacher and payload.get("baseline") is None:
        with no_loading_bars():
            teacher = CaptionTeacher(config.teacher, config.embed_dim)
        targets["teacher"] = teacher_parts(teacher)
    found = load_components(targets, run, stages, files=[run / EXPORTED_WEIGHTS])
    required = {k: v for k, v in targets.items() if k != "teacher" and not (k == "student" and blind)}
    require_complete(found, required, run, COMPONENT_HINT)
    if teacher is not None and "text_projection.weight" not in found["teacher"]:
        teacher = None    # no trained caption side (e.g. stages s2-1,s3 only): no text space to compare in
    for module in (student, prefix_lm, teacher):
        if module is not None:
            freeze(module.to(target))
    return CaptionRun(run, config, spec, payload, student, prefix_lm, teacher, target)
