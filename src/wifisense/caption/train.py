"""Training a caption run: the stage-by-stage pipeline on the shared Trainer.

Each selected stage (declared in ``caption.stages``: s1, s2-1, s2-2, s3, or a baseline's
csi-lm / no-csi) is a resumable sub-run ``RUN/<stage>/`` of :class:`wifisense.training.Trainer`;
the run directory's layout and what each stage saves are described in ``caption.run``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wifisense.caption.config import (
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
    FEATURE_CACHE_BYTES,
    FeatureClips,
    feature_bytes,
    fit_input_spec,
    mirrored_dataset,
    store_has,
    store_split_sizes,
)
from wifisense.caption.pretrained import no_loading_bars
from wifisense.caption.run import (
    COMPONENT_HINT,
    LM_DIR,
    RUN_CONFIG_FILE,
    RUN_KIND,
    load_components,
    require_complete,
    stage_weights,
)
from wifisense.caption.settings import LR_DROP_FACTOR, STAGES, CaptionTrainSettings, settings_from_args
from wifisense.caption.stages import Stage, StageModel, declaration
from wifisense.errors import ConfigError, StoreError

log = logging.getLogger(__name__)

WEIGHT_DECAY = 0.01
WARMUP_FRACTION = 0.05
GRAD_CLIP = 1.0


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
        self._features: dict = {}     # (split, mirrored) -> FeatureClips or None (see _prepared_clips)
        self._validate_store()
        self._check_stage_plan()
        self.spec = self._input_spec()
        self.config = self._model_config()

    # ---- set-up

    def _validate_store(self) -> None:
        from wifisense.io.h5open import store_kind
        from wifisense.io.validate import check_store

        if not Path(self.data).is_file():
            raise ConfigError(f"--data {self.settings.data}: no such file")
        check_store(self.data)  # splits, class ids, finiteness... before any training
        if store_kind(self.data) != "caption":
            raise StoreError(self.data, None, "is not a caption store (`wifisense simulate actions` writes one)")
        sizes = store_split_sizes(self.data)
        if not sizes.get("train"):
            raise StoreError(self.data, "/splits/train", f"missing or empty; caption training needs a train split "
                             f"(store has {sorted(sizes)})")
        self.has_val = bool(sizes.get("val"))
        needs_frames = [s for s in self.settings.stages if declaration(s).reads_frames]
        if needs_frames and not store_has(self.data, "frames"):
            raise StoreError(self.data, "/frames", f"missing; stage(s) {', '.join(needs_frames)} need video frames "
                             "(use --stages s2-2,s3 or --baseline csi-lm for CSI-only stores)")

    def _check_stage_plan(self) -> None:
        """Fail before training anything when a selected stage needs a part no stage provides."""
        for stage in self.settings.stages:
            for part, providers in declaration(stage).needs.items():
                planned = [p for p in providers if p in self.settings.stages]
                trained = [p for p in providers if stage_weights(self.run, p).is_file()]
                if not planned and not trained:
                    raise ConfigError(f"stage {stage} needs a trained {part} from stage {' or '.join(providers)}: "
                                      f"add it to --stages or train it into {self.run} first")

    def _main(self) -> bool:
        return self.dist.is_main

    def _barrier(self) -> None:
        from wifisense.training.distributed import barrier
        barrier()

    def _input_spec(self) -> CaptionInputSpec:
        path = self.run / INPUT_SPEC_FILE
        if not path.is_file() and self._main():
            self.run.mkdir(parents=True, exist_ok=True)
            features = load_caption_config(self.settings.preset, self.settings.overrides).student.features
            if features == "auto":
                from wifisense.caption.probe import choose_feature_mode

                features, scores = choose_feature_mode(self.data)
                log.info("student.features auto -> %s (linear probe, validation class top-1: %s)", features,
                         ", ".join(f"{m} {v:.3f}" for m, v in scores.items()) or "no validation split")
            spec = fit_input_spec(self.data, "train", feature_mode=features)
            spec.save(path)
            log.info("fitted the input normalisation on %d training clips -> %s", spec.num_fit_clips, path)
        self._barrier()
        spec = CaptionInputSpec.load(path)
        check_store_matches(self.data, spec, validate=False)  # validated in _validate_store
        return spec

    def _model_config(self) -> CaptionModelConfig:
        s = self.settings
        config = load_caption_config(s.preset, s.overrides)
        # The data fixes these shapes; a preset's value that disagrees is replaced (and said so).
        # (the features too: a resumed run keeps those its preprocess.json was fitted with)
        shapes = {"student.in_channels": self.spec.feature_channels, "student.num_receivers": self.spec.num_receivers,
                  "student.features": self.spec.feature_mode}
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
            "train": {"epochs": {st: s.stage_epochs(st, self.steps_per_epoch(st)) for st in s.stages},
                      "budget": {st: asdict(self.stage_budget(st)) for st in s.stages},
                      "lr": {st: s.stage_lr(st) for st in s.stages},
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
                self._teacher = self._built_apart(
                    lambda: CaptionTeacher(self.config.teacher, self.config.embed_dim)).to(self.device)
        return self._teacher

    def _built_apart(self, make):
        """``make()`` under its own seeded CPU RNG.

        Shared parts are built once per process, by whichever stage needs them first. Built
        on the global RNG, their random init would shift the init of the stage's new parts
        by whether an earlier stage ran in this process or was skipped as finished, so a
        resumed run would not match an uninterrupted one. Apart, both are fixed by the seed.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.settings.seed)
            return make()

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
                self._prefix_lm = self._built_apart(lambda: PrefixLM.from_pretrained(
                    self.lm_path(), self.config.embed_dim, prefix_length=p.prefix_length, hidden_dim=p.hidden_dim,
                    max_caption_tokens=p.max_caption_tokens)).to(self.device)
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

    def new_loss(self) -> nn.Module:
        from wifisense.nn.contrastive import ContrastiveLoss
        return ContrastiveLoss(self.config.loss.temperature, self.config.loss.learnable_temperature)

    def new_mirror(self) -> nn.Module:
        from wifisense.caption.mirror import MirrorConsistencyLoss
        loss = self.config.loss
        return MirrorConsistencyLoss(loss.mirror_mode, loss.mirror_margin, loss.mirror_weight)

    def load_trained(self, stage: Stage, targets: dict[str, nn.Module]) -> dict[str, set[str]]:
        """Load each target from the stages ``stage`` declares for it; a part it needs must be complete.

        Returns, per target, the parameter names that were found (see ``run.load_components``).
        """
        found: dict[str, set[str]] = {}
        for name, module in targets.items():
            found |= load_components({name: module}, self.run, stage.providers(name))
        require_complete(found, {k: v for k, v in targets.items() if k in stage.needs}, self.run, COMPONENT_HINT)
        return found

    # ---- data

    def loader(self, split: str, *, csi: bool, frames: bool, shuffle: bool, drop_last: bool,
               augment: bool = False, noise_dim: int = 0, mirrored: bool = False):
        from wifisense.training import build_loader

        dataset = self._prepared_clips(split, mirrored) if csi and not frames else None
        if dataset is None:
            dataset = caption_dataset(self.data, split, csi=csi, frames=frames)
            if mirrored:
                dataset = mirrored_dataset(self.data, dataset)
        batch = max(1, min(self.settings.batch_size, len(dataset)))
        # A training loader (augment) draws its paraphrase picks and time shifts from (seed, epoch, clip).
        collate = ClipCollate(self.spec, time_shift=augment and csi and self.settings.augment,
                              seed=self.settings.seed if augment else None, noise_dim=noise_dim if augment else 0)
        # The student's BatchNorm cannot normalise a training batch of one clip (torch raises), so a
        # training split that would leave one clip over drops it (another one each epoch: shuffled).
        drop_last = drop_last or (augment and csi and len(dataset) % batch == 1)
        return build_loader(dataset, batch, shuffle=shuffle, seed=self.settings.seed, drop_last=drop_last,
                            num_workers=self.settings.workers, collate_fn=collate,
                            pin_memory=self.device.type == "cuda")

    def _prepared_clips(self, split: str, mirrored: bool = False):
        """The split's FeatureClips (prepared once per run, shared by its CSI stages; ``mirrored``:
        with their mirror images) when they fit in FEATURE_CACHE_BYTES and the loader has no
        worker processes; else None (streamed)."""
        key = (split, mirrored)
        if key in self._features:
            return self._features[key]
        prepared = None
        if self.settings.workers == 0:
            size = store_split_sizes(self.data).get(split, 0) * (2 if mirrored else 1)
            if feature_bytes(self.spec, size) <= FEATURE_CACHE_BYTES:
                prepared = FeatureClips(self.data, split, self.spec, mirrored=mirrored)
                log.info("prepared the inputs of %d %s clips%s once (%.0f MB in memory)", size, split,
                         " (with their mirror images)" if mirrored else "", feature_bytes(self.spec, size) / 1e6)
        self._features[key] = prepared
        return prepared

    @torch.no_grad()
    def embedding_table(self, encode, *, csi: bool, frames: bool) -> torch.Tensor:
        """``encode(batch) -> [B, E]`` over the training (and validation) clips, indexed by store clip index.

        The table is on the device; the rows of other splits' clips stay zero.
        """
        from wifisense.io.store import open_store
        from wifisense.training import move_to_device

        with open_store(self.data) as f:
            num_clips = int(f["csi"].shape[0])
        table = torch.zeros(num_clips, self.config.embed_dim, device=self.device)
        for split in ("train", "val") if self.has_val else ("train",):
            loader = self.loader(split, csi=csi, frames=frames, shuffle=False, drop_last=False)
            for batch in loader:
                batch = move_to_device(batch, self.device)
                table[batch["index"]] = encode(batch).float()
        return table

    # ---- stages

    def build_stage(self, stage: str) -> tuple[StageModel, Any, Any]:
        """The stage's model (earlier stages' weights loaded, frozen parts frozen) and its loaders."""
        declared = declaration(stage)
        parts, frozen = declared.build(self, declared)
        model = StageModel(stage, parts, {"device": self.device, "class_aware": self.config.loss.class_aware,
                                          "embedding_noise": self.config.prefix_lm.embedding_noise, **frozen})
        noisy = declared.embedding_noise and self.config.prefix_lm.embedding_noise > 0
        # mirror images where the stage trains the student on CSI and text (S2-1's targets are
        # each clip's own teacher embedding, which a mirror image does not have)
        mirrored = (self.config.student.mirror_augment and declared.csi and "student" in declared.trains
                    and not declared.frames_table)
        train_loader = self.loader("train", csi=declared.csi, frames=declared.frames, shuffle=True,
                                   drop_last=declared.contrastive, augment=True,
                                   noise_dim=self.config.embed_dim if noisy else 0, mirrored=mirrored)
        val_loader = self.loader("val", csi=declared.csi, frames=declared.frames, shuffle=False,
                                 drop_last=False) if self.has_val else None
        return model, train_loader, val_loader

    def steps_per_epoch(self, stage: str) -> int:
        """Optimiser steps in one epoch of the stage (its training clips, mirror images, batch, short-batch rule)."""
        declared = declaration(stage)
        clips = store_split_sizes(self.data).get("train", 0)
        if self.config.student.mirror_augment and declared.csi and "student" in declared.trains \
                and not declared.frames_table:
            clips *= 2
        batch = self.settings.batch_size * self.dist.world_size
        return max(clips // batch if declared.contrastive else -(-clips // batch), 1)

    def stage_budget(self, stage: str):
        """The stage's epochs, step cap, validation interval and patience on this store (settings.StageBudget)."""
        return self.settings.stage_budget(stage, self.steps_per_epoch(stage), self.has_val)

    def train_config(self, stage: str):
        from wifisense.training import TrainConfig
        s = self.settings
        budget = self.stage_budget(stage)
        return TrainConfig(epochs=budget.epochs, max_steps=budget.max_steps, grad_clip=GRAD_CLIP,
                           monitor="val_loss", mode="min", patience=budget.patience, eval_every=budget.eval_every,
                           lr_drop_after=budget.lr_drop_after, lr_drop_factor=LR_DROP_FACTOR,
                           log_every=10, device=s.device, seed=s.seed, run_dir=str(self.run / stage), quiet=s.quiet,
                           tensorboard=s.logger == "tensorboard")

    def stage_status(self, stage: str) -> str:
        """``"done"`` (finished with the same epochs/max_steps), ``"partial"`` (state to resume from) or ``"new"``."""
        from wifisense.training.checkpoint import run_status

        wanted = self.train_config(stage)
        return run_status(self.run / stage, wanted.epochs, wanted.max_steps)

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
                          run_config={"stage": stage, "trains": list(declaration(stage).trains),
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

