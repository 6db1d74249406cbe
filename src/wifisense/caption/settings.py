"""How to train a caption run: the stage names, default epochs and learning rates, and the CLI's parsing of them."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wifisense.caption.config import MINILM_ALIASES
from wifisense.errors import ConfigError
from wifisense.overrides import parse_assignments

# The pipeline's stages in training order (each one's declaration is in caption.stages).
STAGES = ("s1", "s2-1", "s2-2", "s3")
BASELINE_STAGES = {"csi-lm": ("csi-lm",), "no-csi": ("no-csi",)}
ALL_STAGE_NAMES = STAGES + ("csi-lm", "no-csi")
DEFAULT_EPOCHS = 10
# Per stage; the student stages are the costly ones on a CPU (see README / issue 3 for timings).
# The student is the costly part on a CPU, and with time-shift augmentation it keeps
# improving on held-out clips for ~20 epochs, so s2-2 (the caption space the LM reads)
# gets most of them; the csi-lm baseline trains its student for as many epochs as the
# full pipeline's s2-1 + s2-2 together, so the comparison is at equal student training.
# s3 reads a frozen embedding table (~3.5 s per 10 epochs on the demo store) and needs
# thousands of optimizer steps to learn the side word (left/right): the class words are
# learnt first and the side, carried by a small component of the embedding, much later.
# On a one-position store whose students separate the sides on validation clips (own vs
# mirrored caption 100% full / 96% none), 40 epochs (320 steps) still wrote "left" 144 times
# and "right" 33 on training clips (references 77 / 94; validation direction accuracy
# 0.60 / 0.56); 400 epochs (3,200 steps) wrote both (train 1.00 / 0.97, validation 0.96 /
# 0.96). Larger stores need fewer epochs for as many steps (--stage-epochs s3=N).
# s1 is cheap (~2 s an epoch on the tiny preset) but its text head needs ~200 steps to pull a
# caption away from its left/right swap: on the demo store (230 training clips) 6 epochs left
# them at cosine 0.97 with a mean teacher margin of 0.03 (< m = 0.2); 30 epochs gave cosine
# 0.59 and a margin above m for 97% of training / 80% of validation clips.
# no-csi reads captions only, like s3, and gets s3's budget (the LM side is trained as long).
DEFAULT_STAGE_EPOCHS = {"s1": 30, "s2-1": 6, "s2-2": 16, "s3": 400, "csi-lm": 22, "no-csi": 400}
# The epochs above were tuned on a store of ~230 training clips: 8 optimiser steps per epoch
# at batch 32. On a smaller store the same epochs are far fewer steps (50 training clips: 2
# per epoch, 1 for the contrastive stages that drop a short batch), which left a real
# 5-class set at chance (issue 16: class top-1 0.20 with the default s2-2, 0.60 with 150
# epochs). So a stage whose epochs are not given trains at least these steps: the default
# epochs on the store they were tuned on. Larger stores keep the default epochs.
TUNED_STEPS_PER_EPOCH = 8
DEFAULT_STAGE_STEPS = {stage: epochs * TUNED_STEPS_PER_EPOCH for stage, epochs in DEFAULT_STAGE_EPOCHS.items()}
# Convergence-based budgets (issue 16). The epochs above came from the simulator's store; on
# real stores the validation loss of the students was still falling at the end of them (the
# CSI->LM baseline's lowest at 0.89-1.00 of its steps on every real split, S2-2's at 0.94-1.00
# on WiAR), while S3 and the no-CSI reference had theirs at 5-40 % of their thousands of steps
# (measured in session 12 over CSI-HAR, WiAR and stability-csi-har studies, 3 seeds each).
# With four times the student steps the held-out-user CSI-HAR runs reached lower validation
# losses in every stage (S2-2 2.18-2.25 vs 2.26-2.33, CSI->LM 0.33-0.37 vs 0.47-0.54, S3
# 0.28-0.29 vs 0.32-0.33). So a stage whose epochs are not given, on a store with a
# validation split, trains until its validation loss stops improving:
#   * its step cap is the planned steps above (default epochs, raised to DEFAULT_STAGE_STEPS
#     on a small store) times STEP_CAP_FACTOR, and for S3 / no-CSI at most MAX_LM_STEPS
#     (they read a frozen embedding table: steps, not passes over the data, are what count);
#   * it validates every 1/VALIDATIONS_PER_CAP of the cap and stops after DEFAULT_PATIENCE
#     validations (a quarter of the cap) without a new best, keeping the best weights; the
#     warm-up + cosine schedule spans the cap, and after LR_DROP_AFTER validations without a
#     new best the learning rate drops to LR_DROP_FACTOR of the schedule's. Without the drop,
#     S2-2 on the simulator's demo store (starting from a trained S2-1) sat on a noisy plateau
#     at the still-high rate and stopped at step 264 of 960 with the weights of step 24
#     (validation loss 2.87; the demo's fixed 300 steps then, annealed, reach 2.77).
# Replayed on the recorded curves of those studies, this rule stopped within 0.01 of each
# run's lowest validation loss, S3 and no-CSI after about half of their steps.
# Given epochs (--epochs / --stage-epochs, the demo's budgets) keep the fixed plan; so does
# a store without a validation split (nothing to stop on).
STEP_CAP_FACTOR = {"s2-1": 4, "s2-2": 4, "csi-lm": 4}
MAX_LM_STEPS = 4 * DEFAULT_STAGE_STEPS["s3"]
VALIDATIONS_PER_CAP = 40
DEFAULT_PATIENCE = 10
LR_DROP_AFTER = 5
LR_DROP_FACTOR = 0.3
BUDGET_POLICY = "converge-2"   # enters the ablation's stage keys: a new rule retrains, never reuses
# --epochs help of `caption train` and `caption ablate`: the real defaults, one per stage.
EPOCHS_HELP = ("epochs of every stage, as a fixed plan (default: each stage trains until its validation loss "
               "stops improving, for at most its default epochs ("
               + ", ".join(f"{stage} {n}" for stage, n in DEFAULT_STAGE_EPOCHS.items())
               + "; on a small store at least " + ", ".join(f"{stage} {n}" for stage, n in DEFAULT_STAGE_STEPS.items())
               + " optimiser steps), times " + ", ".join(f"{n} for {stage}" for stage, n in STEP_CAP_FACTOR.items())
               + ", and at most " + f"{MAX_LM_STEPS} steps for s3 and no-csi; without a validation split the "
               "default epochs are the plan)")


@dataclass(frozen=True)
class StageBudget:
    """How long one stage trains: what the Trainer's config gets."""

    epochs: int
    max_steps: int | None
    eval_every: int | None   # None: validate at each epoch's end
    patience: int | None     # None: no early stopping
    lr_drop_after: int | None  # validations without improvement before the learning rate drops; None: never
    policy: str              # "fixed" (epochs given, or no validation split) or BUDGET_POLICY


DEFAULT_LR = {"s1": 5e-4, "s2-1": 2e-3, "s2-2": 2e-3, "s3": 2e-3, "csi-lm": 2e-3, "no-csi": 2e-3}


@dataclass
class CaptionTrainSettings:
    """How to train a caption run: everything ``wifisense caption train`` takes."""

    data: str
    run: str
    preset: str = "tiny"
    stages: tuple[str, ...] = STAGES
    baseline: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)   # model config, dotted keys
    epochs: dict[str, int] = field(default_factory=dict)      # per stage; missing -> DEFAULT_EPOCHS
    lr: dict[str, float] = field(default_factory=dict)        # per stage; missing -> DEFAULT_LR
    max_steps: int | None = None
    batch_size: int = 32
    patience: int | None = None
    workers: int = 0
    device: str = "auto"
    seed: int = 0
    restart: bool = False
    quiet: bool = False
    logger: str = "csv"       # "tensorboard" also writes event files
    augment: bool = True      # random circular time shift of training clips (CSI stages)

    def stage_epochs(self, stage: str, steps_per_epoch: int | None = None) -> int:
        """The stage's epochs: as given, else its default, raised on a small store (``steps_per_epoch``
        known) to reach ``DEFAULT_STAGE_STEPS`` optimiser steps."""
        if stage == "no-csi" and stage not in self.epochs and "s3" in self.epochs:
            stage = "s3"   # the language-prior reference trains its prefix as long as s3 does
        if stage in self.epochs:
            return int(self.epochs[stage])
        epochs = DEFAULT_STAGE_EPOCHS.get(stage, DEFAULT_EPOCHS)
        if steps_per_epoch and stage in DEFAULT_STAGE_STEPS:
            epochs = max(epochs, -(-DEFAULT_STAGE_STEPS[stage] // int(steps_per_epoch)))
        return int(epochs)

    def epochs_given(self, stage: str) -> bool:
        return stage in self.epochs or (stage == "no-csi" and "s3" in self.epochs)

    def budget_policy(self, stage: str) -> str:
        """``"fixed"`` where the stage's epochs are given, else the convergence rule's name."""
        return "fixed" if self.epochs_given(stage) else BUDGET_POLICY

    def stage_budget(self, stage: str, steps_per_epoch: int, has_val: bool) -> StageBudget:
        """The stage's budget on a store with ``steps_per_epoch`` optimiser steps an epoch (see
        BUDGET_POLICY above): a fixed plan where its epochs are given or there is no validation
        split, else a step cap with early stopping on validation loss."""
        spe = max(int(steps_per_epoch), 1)
        epochs = self.stage_epochs(stage, spe)
        if self.epochs_given(stage) or not has_val:
            return StageBudget(epochs, self.max_steps, None, self.patience if has_val else None, None, "fixed")
        cap = epochs * spe * STEP_CAP_FACTOR.get(stage, 1)
        if stage in ("s3", "no-csi"):
            cap = min(cap, MAX_LM_STEPS)
        if self.max_steps is not None:
            cap = min(cap, int(self.max_steps))
        return StageBudget(epochs=-(-cap // spe), max_steps=cap, eval_every=max(1, cap // VALIDATIONS_PER_CAP),
                           patience=self.patience or DEFAULT_PATIENCE, lr_drop_after=LR_DROP_AFTER,
                           policy=BUDGET_POLICY)

    def stage_lr(self, stage: str) -> float:
        return float(self.lr.get(stage, DEFAULT_LR[stage]))


def parse_stages(text: str, baseline: str | None = None) -> tuple[str, ...]:
    """``"all"`` or ``"s1,s2-1,..."`` -> stages in canonical order; a baseline replaces them."""
    if baseline is not None:
        if baseline not in BASELINE_STAGES:
            raise ConfigError(f"unknown --baseline {baseline!r}; known: {', '.join(BASELINE_STAGES)}")
        if text.strip() not in ("", "all"):
            raise ConfigError(f"--baseline {baseline} trains its own stage; drop --stages {text}")
        return BASELINE_STAGES[baseline]
    return parse_name_list(text, STAGES, "stage", "--stages")


def parse_name_list(text: str, choices: tuple[str, ...], what: str, option: str) -> tuple[str, ...]:
    """``"a,b"`` (any case), ``"all"`` or empty -> the chosen names in the order of ``choices``;
    a ConfigError names the unknown ones, ``option`` and the choices."""
    names = [s.strip().lower() for s in text.split(",") if s.strip()]
    if names in ([], ["all"]):
        return choices
    unknown = [s for s in names if s not in choices]
    if unknown:
        raise ConfigError(f"unknown {what}(s) {', '.join(unknown)} in {option}; "
                          f"choose from all, {', '.join(choices)}")
    return tuple(s for s in choices if s in names)


def parse_stage_values(text: str, kind: type = int, option: str = "--stage-epochs") -> dict[str, Any]:
    """``"s1=3,s3=5"`` -> ``{"s1": 3, "s3": 5}``."""
    out: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in ALL_STAGE_NAMES:
            raise ConfigError(f"{option}: {item!r} is not STAGE=VALUE with a stage from {', '.join(ALL_STAGE_NAMES)}")
        try:
            out[name] = kind(value)
        except ValueError:
            raise ConfigError(f"{option}: {item!r}: {value!r} is not a {kind.__name__}") from None
    return out


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["student.resnet_width=8", "teacher.text_model=minilm"]`` -> dict (values as JSON, else text)."""
    return parse_assignments(items, example="student.resnet_width=8")


def encoder_overrides(lm: str | None = None, text_encoder: str | None = None, frame_encoder: str | None = None,
                      mirror: str | None = None) -> dict[str, Any]:
    """Model-config overrides for the CLI's --lm / --text-encoder / --frame-encoder / --mirror.

    A text or frame encoder whose name contains "clip" (or a directory holding a CLIP
    config) is a CLIP checkpoint; the teacher uses one ``clip_model`` for both towers.
    """
    out: dict[str, Any] = {}
    if lm:
        out["prefix_lm.lm"] = lm
    if mirror:
        out["loss.mirror_mode"] = mirror
    clip_models = []
    if frame_encoder:
        if frame_encoder.lower() == "cnn":
            out["teacher.frame_encoder"] = "cnn"
        else:
            out["teacher.frame_encoder"] = "clip"
            clip_models.append(frame_encoder)
    if text_encoder:
        if text_encoder.lower() == "clip" or _is_clip(text_encoder):
            out["teacher.text_encoder"] = "clip"
            if text_encoder.lower() != "clip":
                clip_models.append(text_encoder)
        else:
            out["teacher.text_encoder"] = "minilm" if text_encoder in MINILM_ALIASES else "sentence"
            out["teacher.text_model"] = text_encoder
    if len(set(clip_models)) > 1:
        raise ConfigError(f"the teacher uses one CLIP checkpoint for both towers; got --frame-encoder "
                          f"{frame_encoder} and --text-encoder {text_encoder}")
    if clip_models:
        out["teacher.clip_model"] = clip_models[0]
    return out


def _is_clip(name: str) -> bool:
    config = Path(name) / "config.json"
    if config.is_file():
        try:
            return json.loads(config.read_text()).get("model_type") == "clip"
        except (OSError, json.JSONDecodeError):
            return False
    return "clip" in name.lower()


def settings_from_args(args: argparse.Namespace) -> CaptionTrainSettings:
    stages = parse_stages(args.stages, args.baseline)
    epochs = {s: args.epochs for s in ALL_STAGE_NAMES} if args.epochs is not None else {}
    epochs.update(parse_stage_values(args.stage_epochs))
    overrides = encoder_overrides(args.lm, args.text_encoder, args.frame_encoder, args.mirror)
    overrides.update(parse_overrides(args.overrides))
    return CaptionTrainSettings(
        data=args.data, run=args.run, preset=args.preset, stages=stages, baseline=args.baseline,
        overrides=overrides, epochs=epochs, lr={s: args.lr for s in ALL_STAGE_NAMES} if args.lr else {},
        max_steps=args.max_steps, batch_size=args.batch_size, patience=args.patience, workers=args.workers,
        device=args.device, seed=args.seed, restart=args.restart, quiet=bool(getattr(args, "quiet", False)),
        logger=getattr(args, "logger", "csv"))
