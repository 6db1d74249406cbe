"""WiFi2Cap training, stage by stage, on the shared Trainer; and loading a finished run back.

Stages (each a resumable sub-run ``RUN/<stage>/`` of :class:`wifisense.training.Trainer`):

- ``s1``   video-text teacher: symmetric InfoNCE video <-> caption, plus the mirror hinge
           (eq. 3: flipped frames vs direction-swapped captions) when mirror is teacher/full;
- ``s2-1`` CSI student <-> the frozen teacher's video embedding (InfoNCE);
- ``s2-2`` CSI student <-> caption embedding (InfoNCE) plus the text-only mirror hinge
           (eq. 7) when mirror is full. Without a stage-1 teacher the text projection
           trains here too (a random projection would otherwise define the space);
- ``s3``   prefix MLP over the frozen LM from the frozen student's embedding (LM loss);
- ``csi-lm`` (baseline): student + prefix MLP trained together by the LM loss only;
- ``no-csi`` (reference): the prefix MLP over the frozen LM given one constant (zero)
           embedding for every clip, i.e. the language prior: the caption a model that
           ignores the CSI writes. It shows at a glance whether a model uses its input.

Only trainable parts are saved: each stage's ``model.safetensors`` holds tensors named
``student.*``, ``teacher.*`` (temporal Transformer, projections and a trainable frame
encoder; never the frozen CLIP/MiniLM towers) and ``prefix.*`` (the prefix MLP; never the
LM), plus the stage's loss temperature. A component is loaded from every earlier stage
that has it, in stage order, so the latest stage that trained a part wins.

A run directory::

    RUN/config.json       resolved model config, stages, training settings, data path
    RUN/preprocess.json   input geometry + normalisation fitted on the training split
    RUN/lm/               the offline LM (tokenizer + small GPT-2) when lm = "offline"
    RUN/<stage>/          the Trainer's files for each stage
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wifisense.caption.config import (
    MINILM_ALIASES,
    OFFLINE_LM,
    CaptionModelConfig,
    _apply_overrides,
    _from_dict,
    load_caption_config,
    validate_caption_config,
)
from wifisense.caption.data import (
    INPUT_SPEC_FILE,
    CaptionInputSpec,
    ClipCollate,
    caption_dataset,
    check_store_matches,
    fit_input_spec,
    store_has,
    store_split_sizes,
)
from wifisense.caption.mirror import has_direction, swap_directions
from wifisense.errors import ConfigError, StoreError
from wifisense.overrides import parse_assignments

log = logging.getLogger(__name__)

STAGES = ("s1", "s2-1", "s2-2", "s3")
BASELINE_STAGES = {"csi-lm": ("csi-lm",), "no-csi": ("no-csi",)}
ALL_STAGE_NAMES = STAGES + ("csi-lm", "no-csi")
RUN_CONFIG_FILE = "config.json"
LM_DIR = "lm"
RUN_KIND = "wifisense-caption-run"
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
DEFAULT_LR = {"s1": 5e-4, "s2-1": 2e-3, "s2-2": 2e-3, "s3": 2e-3, "csi-lm": 2e-3, "no-csi": 2e-3}
WEIGHT_DECAY = 0.01
WARMUP_FRACTION = 0.05
GRAD_CLIP = 1.0
CONTRASTIVE_STAGES = ("s1", "s2-1", "s2-2")
# Which model parts a stage trains (the rest of what it uses is frozen).
STAGE_TRAINS = {"s1": ("teacher",), "s2-1": ("student",), "s2-2": ("student",), "s3": ("prefix",),
                "csi-lm": ("student", "prefix"), "no-csi": ("prefix",)}


# --------------------------------------------------------------------------- settings


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
    augment: bool = True      # random circular time shift of training clips (CSI stages)

    def stage_epochs(self, stage: str) -> int:
        return int(self.epochs.get(stage, DEFAULT_STAGE_EPOCHS.get(stage, DEFAULT_EPOCHS)))

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
    names = [s.strip().lower() for s in text.split(",") if s.strip()]
    if names in ([], ["all"]):
        return STAGES
    unknown = [s for s in names if s not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage(s) {', '.join(unknown)} in --stages; choose from all, {', '.join(STAGES)}")
    return tuple(s for s in STAGES if s in names)


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
        device=args.device, seed=args.seed, restart=args.restart, quiet=bool(getattr(args, "quiet", False)))


# --------------------------------------------------------------------------- trainable parts


def teacher_parts(teacher) -> nn.ModuleDict:
    """The teacher's trainable modules (the frozen CLIP / sentence towers are left out)."""
    parts = {"temporal": teacher.temporal, "video_projection": teacher.video_projection,
             "text_projection": teacher.text_projection}
    if teacher.text_pooling is not None:
        parts["text_pooling"] = teacher.text_pooling
    if not teacher.frame_encoder_frozen:
        parts["frame_encoder"] = teacher.frame_encoder
    return nn.ModuleDict(parts)


def set_trainable(module: nn.Module, trainable: bool) -> nn.Module:
    module.requires_grad_(trainable)
    module.train(trainable)
    return module


def _stage_weights(run: Path, stage: str) -> Path:
    return run / stage / "model.safetensors"


def load_components(targets: dict[str, nn.Module], run: Path, stages: Sequence[str]) -> dict[str, set[str]]:
    """Load ``targets`` (``{"student": ..., "teacher": ..., "prefix": ...}``) from the stages' weights, in order.

    Returns, per target, the parameter names that were found. A tensor in a file whose
    name does not exist in the target (or has another shape) is a ConfigError.
    """
    from safetensors.torch import load_file

    found: dict[str, set[str]] = {name: set() for name in targets}
    for stage in stages:
        path = _stage_weights(run, stage)
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


COMPONENT_HINT = {"student": "train stage s2-1 or s2-2 (or --baseline csi-lm) first",
                  "teacher": "train stage s1 first (or use --stages s2-2,s3)",
                  "prefix": "train stage s3 (or --baseline csi-lm) first"}


# --------------------------------------------------------------------------- the stage models


def pick_captions(captions: Sequence[Sequence[str]], draws: Sequence[float] | None) -> list[str]:
    """One caption per clip: the paraphrase ``draws`` (one float in ``[0, 1)`` per clip) points at, else the first.

    While training, ``draws`` is the batch's ``caption_draw``, which the training collate
    derives from (seed, epoch, clip index) (see ``caption.data.clip_uniforms``), so the
    pick needs no RNG here and a resumed run picks exactly what the interrupted one did.
    """
    if draws is None:
        return [c[0] for c in captions]
    return [c[min(int(u * len(c)), len(c) - 1)] for u, c in zip(draws, captions)]


def in_batch_match_accuracy(a: torch.Tensor, b: torch.Tensor, class_id: torch.Tensor) -> torch.Tensor:
    """Fraction of rows of ``a`` whose most similar row of ``b`` has the same class (paraphrase duplicates count)."""
    best = (a @ b.t()).argmax(dim=1)
    return (class_id[best] == class_id).float().mean()


def class_aware_info_nce(a: torch.Tensor, b: torch.Tensor, groups: torch.Tensor,
                         temperature: float | torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE where every column of the same group (class) as the row is a positive.

    The target of row i is uniform over the columns j with ``groups[j] == groups[i]``
    (i itself included), so two clips of one class in a batch are not pushed apart as
    negatives. With all groups distinct this is exactly the usual symmetric InfoNCE. Under
    torch.distributed both sides and the groups are all-gathered and each rank scores its
    local rows against all columns (the convention of ``nn.contrastive.ContrastiveLoss``).
    """
    import torch.nn.functional as F

    from wifisense.nn.contrastive import _distributed_active

    if _distributed_active():
        from wifisense.training.distributed import all_gather_with_grad
        a_all, b_all = all_gather_with_grad(a), all_gather_with_grad(b)
        groups_all = all_gather_with_grad(groups.to(torch.float64)).round().to(groups.dtype)
    else:
        a_all, b_all, groups_all = a, b, groups
    positives = (groups[:, None] == groups_all[None, :]).to(a.dtype)
    targets = positives / positives.sum(dim=1, keepdim=True)

    def cross_entropy(logits: torch.Tensor) -> torch.Tensor:
        return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()

    return 0.5 * (cross_entropy(a @ b_all.t() / temperature) + cross_entropy(b @ a_all.t() / temperature))


def _direction_mask(captions: Sequence[str], device) -> torch.Tensor:
    return torch.tensor([has_direction(c) for c in captions], dtype=torch.bool, device=device)


class StageModel(nn.Module):
    """A stage's trainable parts as registered submodules; frozen helpers in ``self.frozen`` (not saved).

    ``forward(batch) -> (loss, metrics)`` so the Trainer's ``step_fn`` only calls the
    model, as DDP requires.
    """

    def __init__(self, stage: str, parts: dict[str, nn.Module], frozen: dict[str, Any]):
        super().__init__()
        self.stage = stage
        for name, module in parts.items():
            self.add_module(name, module)
        self.frozen = frozen

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return getattr(self, "_" + self.stage.replace("-", "_"))(batch)

    def _captions(self, batch: dict) -> list[str]:
        """A random paraphrase per clip while training (the training loader's ``caption_draw``), else the first."""
        return pick_captions(batch["captions"], batch["caption_draw"] if self.training else None)

    def _csi_embedding(self, batch: dict) -> torch.Tensor:
        return self.student(batch["amplitude"], batch["phase"], batch["rx_valid"])

    def _contrastive(self, a: torch.Tensor, b: torch.Tensor, batch: dict) -> torch.Tensor:
        if self.frozen.get("class_aware"):
            return class_aware_info_nce(a, b, batch["class_id"].to(a.device), self.loss.temperature)
        return self.loss(a, b)

    def _s1(self, batch):
        teacher, mirror = self.frozen["teacher"], self.mirror
        captions = self._captions(batch)
        ids = batch["index"].tolist()
        video = teacher.encode_video(batch["frames"], ids)
        text = teacher.encode_text(captions)
        nce = self._contrastive(video, text, batch)
        metrics = {"infonce": nce.detach(), "match_acc": in_batch_match_accuracy(video, text, batch["class_id"])}
        loss = nce
        if mirror.mode != "none":
            flipped = teacher.encode_video(batch["frames"], ids, flip=True)
            mirrored = teacher.encode_text([swap_directions(c) for c in captions])
            hinge = mirror.teacher_loss(video, text, flipped, mirrored, _direction_mask(captions, video.device))
            loss = loss + hinge
            metrics["mirror"] = hinge.detach()
        return loss, metrics

    def _s2_1(self, batch):
        csi = self._csi_embedding(batch)
        video = self.frozen["video_table"][batch["index"]].to(csi)
        nce = self._contrastive(csi, video, batch)
        return nce, {"infonce": nce.detach(), "match_acc": in_batch_match_accuracy(csi, video, batch["class_id"])}

    def _s2_2(self, batch):
        teacher, mirror = self.frozen["teacher"], self.mirror
        csi = self._csi_embedding(batch)
        captions = self._captions(batch)
        text = teacher.encode_text(captions)
        nce = self._contrastive(csi, text, batch)
        metrics = {"infonce": nce.detach(), "match_acc": in_batch_match_accuracy(csi, text, batch["class_id"])}
        loss = nce
        if mirror.mode == "full":
            mirrored = teacher.encode_text([swap_directions(c) for c in captions])
            hinge = mirror.student_loss(csi, text, mirrored, _direction_mask(captions, csi.device))
            loss = loss + hinge
            metrics["mirror"] = hinge.detach()
        return loss, metrics

    def _s3(self, batch):
        embedding = self.frozen["csi_table"][batch["index"]].to(self.frozen["device"])
        loss = self.frozen["prefix_lm"].caption_loss(embedding, self._captions(batch))
        return loss, {}

    def _csi_lm(self, batch):
        embedding = self._csi_embedding(batch)
        loss = self.frozen["prefix_lm"].caption_loss(embedding, self._captions(batch))
        return loss, {}

    def _no_csi(self, batch):
        captions = self._captions(batch)
        embedding = constant_embedding(len(captions), self.frozen["embed_dim"], self.frozen["device"])
        return self.frozen["prefix_lm"].caption_loss(embedding, captions), {}


def constant_embedding(batch_size: int, embed_dim: int, device) -> torch.Tensor:
    """The no-csi reference's input: one and the same (zero) embedding for every clip."""
    return torch.zeros(batch_size, embed_dim, device=device)


def _call_model(model: nn.Module, batch: dict):
    return model(batch)


# --------------------------------------------------------------------------- optimisation


def make_optimizer_factory(lr: float, weight_decay: float = WEIGHT_DECAY):
    """AdamW; no decay on biases, norms and temperatures (tensors with fewer than 2 dims)."""
    def factory(params: list[nn.Parameter]) -> torch.optim.Optimizer:
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                  {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    return factory


def warmup_cosine_factory(warmup_fraction: float = WARMUP_FRACTION, floor: float = 0.05):
    """Linear warm-up then cosine decay to ``floor`` x peak, as a LambdaLR over ``n`` steps.

    A LambdaLR keeps no step total in its state, so a run resumed with more epochs
    simply follows the longer schedule.
    """
    def factory(optimizer: torch.optim.Optimizer, n: int):
        warmup = max(1, round(warmup_fraction * n))

        def scale(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, n - warmup))
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, scale)
    return factory


# --------------------------------------------------------------------------- the pipeline


class CaptionPipeline:
    """Trains the selected stages of one run directory (see the module docstring)."""

    def __init__(self, settings: CaptionTrainSettings):
        from wifisense.training import init_distributed, select_device

        self.settings = settings
        self.run = Path(settings.run)
        self.data = str(Path(settings.data).resolve())
        self.dist = init_distributed()
        self.device = select_device(settings.device)
        self._teacher = None
        self._prefix_lm = None
        self._validate_store()
        self._check_stage_plan()
        self.spec = self._input_spec()
        self.config = self._model_config()

    # ---- set-up

    def _validate_store(self) -> None:
        from wifisense.io.store import store_kind

        if not Path(self.data).is_file():
            raise ConfigError(f"--data {self.settings.data}: no such file")
        if store_kind(self.data) != "caption":
            raise StoreError(self.data, None, "is not a caption store (`wifisense simulate actions` writes one)")
        sizes = store_split_sizes(self.data)
        if not sizes.get("train"):
            raise StoreError(self.data, "/splits/train", f"missing or empty; caption training needs a train split "
                             f"(store has {sorted(sizes)})")
        self.has_val = bool(sizes.get("val"))
        needs_frames = [s for s in self.settings.stages if s in ("s1", "s2-1")]
        if needs_frames and not store_has(self.data, "frames"):
            raise StoreError(self.data, "/frames", f"missing; stage(s) {', '.join(needs_frames)} need video frames "
                             "(use --stages s2-2,s3 or --baseline csi-lm for CSI-only stores)")

    def _check_stage_plan(self) -> None:
        """Fail before training anything when a selected stage needs a part no stage provides."""
        needs = {"s2-1": ("teacher", ("s1",)), "s3": ("student", ("s2-1", "s2-2"))}
        for stage in self.settings.stages:
            if stage not in needs:
                continue
            part, providers = needs[stage]
            planned = [p for p in providers if p in self.settings.stages]
            trained = [p for p in providers if _stage_weights(self.run, p).is_file()]
            if not planned and not trained:
                raise ConfigError(f"stage {stage} needs a trained {part} from stage {' or '.join(providers)}: add it "
                                  f"to --stages or train it into {self.run} first")

    def _main(self) -> bool:
        return self.dist.is_main

    def _barrier(self) -> None:
        from wifisense.training.distributed import barrier
        barrier()

    def _input_spec(self) -> CaptionInputSpec:
        path = self.run / INPUT_SPEC_FILE
        if not path.is_file() and self._main():
            self.run.mkdir(parents=True, exist_ok=True)
            spec = fit_input_spec(self.data, "train")
            spec.save(path)
            log.info("fitted the input normalisation on %d training clips -> %s", spec.num_fit_clips, path)
        self._barrier()
        spec = CaptionInputSpec.load(path)
        check_store_matches(self.data, spec)
        return spec

    def _model_config(self) -> CaptionModelConfig:
        s = self.settings
        config = load_caption_config(s.preset, s.overrides)
        # The data fixes these shapes; a preset's value that disagrees is replaced (and said so).
        shapes = {"student.in_channels": self.spec.num_antenna_pairs, "student.num_receivers": self.spec.num_receivers}
        if store_has(self.data, "frames"):
            from wifisense.io.store import open_store
            with open_store(self.data) as f:
                shapes["teacher.num_frames"] = int(f["frames"].shape[1])
        current = config.to_dict()
        changes = {}
        for key, value in shapes.items():
            section, name = key.split(".")
            if current[section][name] != value:
                changes[key] = value
                log.info("%s = %s from the data (preset had %s)", key, value, current[section][name])
        if changes:
            config = _from_dict(CaptionModelConfig, _apply_overrides(current, changes), "caption config")
            validate_caption_config(config)
        if s.baseline is not None and config.loss.mirror_mode != "none":
            config = _from_dict(CaptionModelConfig, _apply_overrides(config.to_dict(), {"loss.mirror_mode": "none"}),
                                "caption config")
        self._check_previous_run(config)
        return config

    def _check_previous_run(self, config: CaptionModelConfig) -> None:
        path = self.run / RUN_CONFIG_FILE
        if not path.is_file():
            return
        previous = json.loads(path.read_text())
        if previous.get("kind") != RUN_KIND:
            raise ConfigError(f"{path}: not a caption run; choose another --run directory")
        if previous.get("baseline") != self.settings.baseline:
            raise ConfigError(f"{self.run}: was trained with baseline={previous.get('baseline')!r}; "
                              f"use another --run for baseline={self.settings.baseline!r}")
        old, new = _flatten(previous["model"]), _flatten(config.to_dict())
        differ = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if differ:
            raise ConfigError(f"{self.run}: was trained with another model config ({', '.join(differ[:4])} differ: "
                              f"{[old.get(k) for k in differ[:4]]} vs {[new.get(k) for k in differ[:4]]}); "
                              "use another --run directory")

    def write_run_config(self) -> None:
        s = self.settings
        payload = {
            "kind": RUN_KIND, "version": 1, "data": self.data, "preset": s.preset,
            "model": self.config.to_dict(), "stages": list(s.stages), "baseline": s.baseline,
            "lm_path": LM_DIR if self.config.prefix_lm.lm == OFFLINE_LM else self.config.prefix_lm.lm,
            "input_spec": INPUT_SPEC_FILE,
            "train": {"epochs": {st: s.stage_epochs(st) for st in s.stages}, "lr": {st: s.stage_lr(st) for st in s.stages},
                      "batch_size": s.batch_size, "max_steps": s.max_steps, "patience": s.patience,
                      "seed": s.seed, "device": s.device, "workers": s.workers, "augment": s.augment},
        }
        if self._main():
            from wifisense.training.checkpoint import write_json
            self.run.mkdir(parents=True, exist_ok=True)
            write_json(self.run / RUN_CONFIG_FILE, payload)

    # ---- shared parts

    def teacher(self):
        """The teacher (built once per process; stages reload its trained parts from files)."""
        if self._teacher is None:
            from wifisense.caption.teacher import CaptionTeacher
            with no_loading_bars():
                self._teacher = CaptionTeacher(self.config.teacher, self.config.embed_dim).to(self.device)
        return self._teacher

    def lm_path(self) -> str:
        lm = self.config.prefix_lm.lm
        return str(self.run / LM_DIR) if lm == OFFLINE_LM else lm

    def prefix_lm(self):
        if self._prefix_lm is None:
            if self.config.prefix_lm.lm == OFFLINE_LM:
                self._train_offline_lm()
            from wifisense.caption.prefix_lm import PrefixLM
            p = self.config.prefix_lm
            with no_loading_bars():
                self._prefix_lm = PrefixLM.from_pretrained(self.lm_path(), self.config.embed_dim,
                                                           prefix_length=p.prefix_length, hidden_dim=p.hidden_dim,
                                                           max_caption_tokens=p.max_caption_tokens).to(self.device)
        return self._prefix_lm

    def _train_offline_lm(self) -> None:
        from wifisense.caption.offline_lm import train_caption_lm

        out = self.run / LM_DIR
        if not (out / "config.json").is_file() and self._main():
            captions = training_captions(self.data)
            o, p = self.config.offline_lm, self.config.prefix_lm
            log.info("training the offline caption LM on %d training captions -> %s", len(captions), out)
            with no_loading_bars():
                train_caption_lm(captions, out, vocab_size=o.vocab_size, n_layer=o.n_layer, n_embd=o.n_embd,
                                 n_head=o.n_head, n_positions=o.n_positions, max_prefix_length=p.prefix_length,
                                 steps=o.steps, batch_size=o.batch_size, learning_rate=o.learning_rate,
                                 max_caption_tokens=p.max_caption_tokens, seed=self.settings.seed,
                                 progress=not self.settings.quiet and sys.stderr.isatty())
        self._barrier()

    def new_student(self):
        from wifisense.caption.student import CSIStudent
        return CSIStudent.from_config(self.config.student, self.config.embed_dim).to(self.device)

    def new_loss(self, stage: str) -> nn.Module:
        from wifisense.nn.contrastive import ContrastiveLoss
        return ContrastiveLoss(self.config.loss.temperature, self.config.loss.learnable_temperature)

    def new_mirror(self) -> nn.Module:
        from wifisense.caption.mirror import MirrorConsistencyLoss
        loss = self.config.loss
        return MirrorConsistencyLoss(loss.mirror_mode, loss.mirror_margin, loss.mirror_weight)

    def earlier_stages(self, stage: str) -> list[str]:
        """Stages whose weights ``stage`` builds on (the baseline builds on none)."""
        return list(STAGES[:STAGES.index(stage)]) if stage in STAGES else []

    # ---- data

    def loader(self, split: str, *, csi: bool, frames: bool, shuffle: bool, drop_last: bool,
               augment: bool = False):
        from wifisense.training import build_loader

        dataset = caption_dataset(self.data, split, csi=csi, frames=frames)
        batch = max(1, min(self.settings.batch_size, len(dataset)))
        # A training loader (augment) draws its paraphrase picks and time shifts from (seed, epoch, clip).
        collate = ClipCollate(self.spec, time_shift=augment and csi and self.settings.augment,
                              seed=self.settings.seed if augment else None)
        return build_loader(dataset, batch, shuffle=shuffle, seed=self.settings.seed, drop_last=drop_last,
                            num_workers=self.settings.workers, collate_fn=collate,
                            pin_memory=self.device.type == "cuda")

    @torch.no_grad()
    def embedding_table(self, encode, splits: Sequence[str], *, csi: bool, frames: bool) -> torch.Tensor:
        """``encode(batch) -> [B, E]`` over ``splits``, as a table indexed by store clip index (on the device)."""
        from wifisense.io.store import open_store
        from wifisense.training import move_to_device

        with open_store(self.data) as f:
            num_clips = int(f["csi"].shape[0])
        table = torch.zeros(num_clips, self.config.embed_dim, device=self.device)
        for split in splits:
            loader = self.loader(split, csi=csi, frames=frames, shuffle=False, drop_last=False)
            for batch in loader:
                batch = move_to_device(batch, self.device)
                table[batch["index"]] = encode(batch).float()
        return table

    # ---- stages

    def build_stage(self, stage: str) -> tuple[StageModel, Any, Any]:
        """The stage's model (earlier stages' weights loaded, frozen parts frozen) and its loaders."""
        earlier = self.earlier_stages(stage)
        splits = ["train", "val"] if self.has_val else ["train"]
        contrastive = stage in CONTRASTIVE_STAGES
        frames = stage == "s1"
        csi = stage in ("s2-1", "s2-2", "csi-lm")
        parts: dict[str, nn.Module] = {}
        frozen: dict[str, Any] = {"device": self.device, "class_aware": self.config.loss.class_aware}
        if stage == "s1":
            teacher = self.teacher()
            parts = {"teacher": set_trainable(teacher_parts(teacher), True), "loss": self.new_loss(stage),
                     "mirror": self.new_mirror()}
            frozen["teacher"] = teacher
        elif stage == "s2-1":
            teacher = self.teacher()
            tparts = teacher_parts(teacher)
            require_complete(load_components({"teacher": tparts}, self.run, earlier), {"teacher": tparts}, self.run,
                             COMPONENT_HINT)
            set_trainable(tparts, False)
            teacher.eval()
            frozen["video_table"] = self.embedding_table(
                lambda b: teacher.encode_video(b["frames"], b["index"].tolist()), splits, csi=False, frames=True)
            parts = {"student": self.new_student(), "loss": self.new_loss(stage)}
        elif stage == "s2-2":
            teacher = self.teacher()
            tparts = teacher_parts(teacher)
            student = self.new_student()
            found = load_components({"teacher": tparts, "student": student}, self.run, earlier)
            set_trainable(tparts, False)
            teacher.eval()
            parts = {"student": student, "loss": self.new_loss(stage), "mirror": self.new_mirror()}
            if not found["teacher"]:
                # No stage-1 teacher: the caption side of the space is learnt here.
                text_head = {"text_projection": teacher.text_projection}
                if teacher.text_pooling is not None:
                    text_head["text_pooling"] = teacher.text_pooling
                parts["teacher"] = set_trainable(nn.ModuleDict(text_head), True)
                log.info("s2-2: no stage-1 teacher in %s; the text projection trains with the student", self.run)
            frozen["teacher"] = teacher
        elif stage == "s3":
            student = self.new_student()
            require_complete(load_components({"student": student}, self.run, earlier), {"student": student}, self.run,
                             COMPONENT_HINT)
            set_trainable(student, False)
            frozen["csi_table"] = self.embedding_table(
                lambda b: student(b["amplitude"], b["phase"], b["rx_valid"]), splits, csi=True, frames=False)
            prefix_lm = self.prefix_lm()
            parts = {"prefix": set_trainable(prefix_lm.prefix_mapper, True)}
            frozen["prefix_lm"] = prefix_lm
        elif stage == "csi-lm":
            prefix_lm = self.prefix_lm()
            parts = {"student": self.new_student(), "prefix": set_trainable(prefix_lm.prefix_mapper, True)}
            frozen["prefix_lm"] = prefix_lm
        elif stage == "no-csi":
            prefix_lm = self.prefix_lm()
            parts = {"prefix": set_trainable(prefix_lm.prefix_mapper, True)}
            frozen.update(prefix_lm=prefix_lm, embed_dim=self.config.embed_dim)
        else:
            raise ConfigError(f"unknown stage {stage!r}")
        model = StageModel(stage, parts, frozen)
        train_loader = self.loader("train", csi=csi, frames=frames, shuffle=True, drop_last=contrastive, augment=True)
        val_loader = self.loader("val", csi=csi, frames=frames, shuffle=False, drop_last=False) if self.has_val else None
        return model, train_loader, val_loader

    def train_config(self, stage: str):
        from wifisense.training import TrainConfig
        s = self.settings
        return TrainConfig(epochs=s.stage_epochs(stage), max_steps=s.max_steps, grad_clip=GRAD_CLIP,
                           monitor="val_loss", mode="min", patience=s.patience if self.has_val else None,
                           log_every=10, device=s.device, seed=s.seed, run_dir=str(self.run / stage), quiet=s.quiet)

    def stage_status(self, stage: str) -> str:
        """``"done"`` (finished with the same epochs/max_steps), ``"partial"`` (state to resume from) or ``"new"``."""
        stage_dir = self.run / stage
        summary, config = stage_dir / "metrics.json", stage_dir / "config.json"
        if summary.is_file() and config.is_file() and (stage_dir / "model.safetensors").is_file():
            done = json.loads(summary.read_text()).get("stop_reason")
            recorded = json.loads(config.read_text()).get("train", {})
            wanted = self.train_config(stage)
            same_plan = recorded.get("epochs") == wanted.epochs and recorded.get("max_steps") == wanted.max_steps
            if done and (same_plan or done == "early_stopping"):
                return "done"
        return "partial" if (stage_dir / "state.pt").is_file() else "new"

    def run_stage(self, stage: str, fresh: bool) -> dict[str, Any]:
        from wifisense.training import Trainer, seed_everything

        status = "new" if fresh else self.stage_status(stage)
        if status == "done":
            log.info("stage %s: already finished in %s; skipping (--restart retrains it)", stage, self.run / stage)
            return {"stage": stage, "skipped": True, **json.loads((self.run / stage / "metrics.json").read_text())}
        if fresh and (self.run / stage).exists() and self._main():
            shutil.rmtree(self.run / stage)
        self._barrier()
        log.info("stage %s: %s", stage, "resuming" if status == "partial" else "training")
        seed_everything(self.settings.seed)
        model, train_loader, val_loader = self.build_stage(stage)
        trainer = Trainer(model, step_fn=_call_model, optimizer=make_optimizer_factory(self.settings.stage_lr(stage)),
                          train_loader=train_loader, val_loader=val_loader, config=self.train_config(stage),
                          scheduler=warmup_cosine_factory(),
                          run_config={"stage": stage, "trains": list(STAGE_TRAINS[stage]),
                                      "mirror_mode": self.config.loss.mirror_mode, "data": self.data,
                                      "augment": self.settings.augment,
                                      "lr": self.settings.stage_lr(stage), "batch_size": self.settings.batch_size})
        summary = trainer.fit(resume=status == "partial")
        return {"stage": stage, "skipped": False, **summary}

    def train(self) -> dict[str, Any]:
        """Run every selected stage; a stage that trains makes later selected stages retrain from scratch."""
        self.write_run_config()
        results = {}
        upstream_changed = False
        for stage in self.settings.stages:
            result = self.run_stage(stage, fresh=self.settings.restart or upstream_changed)
            results[stage] = result
            upstream_changed = upstream_changed or not result["skipped"]
        trained = [STAGES.index(s) for s, r in results.items() if s in STAGES and not r["skipped"]]
        for stage in STAGES:
            if trained and stage not in results and STAGES.index(stage) > min(trained) and (self.run / stage).is_dir():
                log.warning("stage %s in %s was trained on earlier weights that have just changed; retrain it "
                            "(--stages %s)", stage, self.run, stage)
        return results


@contextlib.contextmanager
def no_loading_bars():
    """Silence transformers' per-checkpoint "Loading weights" / "Writing model shards" bars (restored after)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def training_captions(store: str | os.PathLike) -> list[str]:
    """Every caption (all paraphrases) of the training split: the offline LM's corpus."""
    from wifisense.io.store import open_store

    with open_store(store, kind="caption") as f:
        rows = sorted(f["splits"]["train"][()].tolist())
        table = f["captions"].asstr()[rows]
    return [c for row in table.tolist() for c in row if c]


def train_caption(settings: CaptionTrainSettings) -> dict[str, Any]:
    """Train a caption run (see the module docstring); returns each stage's Trainer summary."""
    return CaptionPipeline(settings).train()


def train_from_args(args: argparse.Namespace) -> int:
    from wifisense.training import is_main_process

    settings = settings_from_args(args)
    results = train_caption(settings)
    if not is_main_process():
        return 0
    for stage, result in results.items():
        state = "already finished" if result["skipped"] else f"{result['steps']} steps, {result['stop_reason']}"
        best = result.get("best", {}) or {}
        value = best.get("value")
        print(f"{stage}: {state}" + (f", best {best.get('metric')} {value:.4f}" if value is not None else "")
              + f" -> {Path(settings.run) / stage}")
    return 0


# --------------------------------------------------------------------------- loading a finished run


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
    stages = [s for s in ALL_STAGE_NAMES if _stage_weights(run, s).is_file()]
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
    found = load_components(targets, run, stages)
    required = {k: v for k, v in targets.items() if k != "teacher" and not (k == "student" and blind)}
    require_complete(found, required, run, COMPONENT_HINT)
    if teacher is not None and "text_projection.weight" not in found["teacher"]:
        teacher = None    # no trained caption side (e.g. stages s2-1,s3 only): no text space to compare in
    for module in (student, prefix_lm, teacher):
        if module is not None:
            freeze(module.to(target))
    return CaptionRun(run, config, spec, payload, student, prefix_lm, teacher, target)
