"""The shared training loop: one ``Trainer`` for every stage and baseline of both tasks.

A task supplies a model, an optimizer, data loaders and a ``step_fn(model, batch) ->
(loss, metrics)``; the Trainer does the rest: device and mixed precision, DDP under
torchrun, gradient clipping, LR schedules, periodic validation with early stopping,
progress bar, CSV/JSONL/TensorBoard logs and a run directory that can be resumed::

    run_dir/
      config.json        resolved TrainConfig + the task's own settings + runtime facts
      model.safetensors  best weights on validation (latest weights when there is no validation)
      last.safetensors   weights at the latest checkpoint
      state.pt           everything needed to continue bit-exactly (written atomically)
      metrics.csv/jsonl  one row per train log and per validation
      metrics.json       final summary (also returned by ``fit``)
      tensorboard/       event files when ``tensorboard=True``

Checkpoints are written at every validation point (``eval_every`` steps, else each
epoch end) and at the last step. Only global rank 0 writes files.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

from wifisense.errors import ConfigError
from wifisense.training.checkpoint import (BEST_WEIGHTS_FILE, CONFIG_FILE, FINAL_METRICS_FILE, LAST_WEIGHTS_FILE,
                                           STATE_FILE, load_state, save_state, save_weights, write_json)
from wifisense.training.device import move_to_device, select_device, select_precision
from wifisense.training.distributed import all_gather_objects, all_reduce_mean, barrier, init_distributed
from wifisense.training.logs import MetricsLogger, format_metrics, log
from wifisense.training.seeding import capture_rng_state, restore_rng_state, seed_everything

StepFn = Callable[[nn.Module, Any], "tuple[torch.Tensor, Mapping[str, float | torch.Tensor]]"]
EvalFn = Callable[[nn.Module, Iterable], Mapping[str, float]]
OptimizerFactory = Callable[[list[nn.Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer, int], Any]

STATE_FORMAT_VERSION = 1


@dataclass
class TrainConfig:
    """How to train (not what): every field is recorded in the run's config.json."""

    epochs: int = 10
    max_steps: int | None = None  # stop at whichever of epochs / max_steps comes first
    grad_clip: float | None = None  # max global L2 norm of the gradients
    monitor: str = "val_loss"  # validation metric for best weights and early stopping
    mode: Literal["min", "max"] = "min"
    patience: int | None = None  # validations without improvement before stopping; None: never
    min_delta: float = 0.0  # an improvement must beat the best by more than this
    # Every lr_drop_after validations without improvement, multiply the learning rate by
    # lr_drop_factor (on top of the scheduler); None: never. With patience, a run at a
    # plateau first anneals, then stops: a long warm-up + cosine schedule keeps the rate high
    # for long, and the noise of a plateau at a high rate otherwise stops a run before it
    # has annealed (issue 16).
    lr_drop_after: int | None = None
    lr_drop_factor: float = 0.3
    eval_every: int | None = None  # validate (and checkpoint) every N steps; None: each epoch end
    log_every: int = 50  # steps between train-metric rows
    scheduler_interval: Literal["step", "epoch"] = "step"  # ReduceLROnPlateau always steps per validation
    amp: bool = True  # mixed precision on CUDA (bf16, else fp16 + GradScaler); ignored on CPU/MPS
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps (under torchrun use auto or cuda: one GPU per rank)
    seed: int = 0
    run_dir: str | None = None  # None: write nothing (e.g. hyper-parameter search trials)
    tensorboard: bool = False
    quiet: bool = False  # no progress bar
    find_unused_parameters: bool = False  # DDP option for models with branches unused in a step

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.max_steps is None or self.max_steps >= 1, "max_steps must be >= 1 or None"),
            (self.grad_clip is None or self.grad_clip > 0, "grad_clip must be > 0 or None"),
            (self.mode in ("min", "max"), "mode must be 'min' or 'max'"),
            (self.patience is None or self.patience >= 1, "patience must be >= 1 or None"),
            (self.eval_every is None or self.eval_every >= 1, "eval_every must be >= 1 or None"),
            (self.lr_drop_after is None or self.lr_drop_after >= 1, "lr_drop_after must be >= 1 or None"),
            (0 < self.lr_drop_factor < 1, "lr_drop_factor must be in (0, 1)"),
            (self.log_every >= 1, "log_every must be >= 1"),
            (self.scheduler_interval in ("step", "epoch"), "scheduler_interval must be 'step' or 'epoch'"),
        ]
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise ConfigError("training config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"training config: unknown field(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        return cls(**values)


class Trainer:
    """Trains ``model`` with ``step_fn`` on ``train_loader``; ``fit()`` runs it.

    Args:
        model: the module to train; moved to the chosen device (and wrapped in DDP when
            WORLD_SIZE > 1). Call ``seed_everything`` before building it.
        step_fn: ``step_fn(model, batch) -> (loss, metrics)``. ``batch`` is already on the
            device; ``loss`` is a scalar tensor; ``metrics`` maps names to floats or 0-d
            tensors (tensors avoid a GPU sync per step). In training ``model`` is the DDP
            wrapper, in evaluation the bare module: call ``model(...)`` (its forward), not
            other methods, so DDP synchronises gradients.
        optimizer: an optimizer, or a factory ``f(trainable_parameters) -> Optimizer``.
        train_loader: a sized iterable of batches; use ``build_loader`` for shuffling that
            resumes exactly and shards across ranks. Its sampler, batch sampler and
            collate_fn get ``set_epoch(epoch)`` before each epoch when they have it.
        config: a ``TrainConfig``.
        val_loader: batches for validation; ``None`` disables best-model tracking and early
            stopping (``model.safetensors`` is then the latest weights).
        eval_fn: ``eval_fn(model, batches) -> {name: float}`` run under ``torch.no_grad()``
            and autocast, with batches already moved to the device; default: the mean of
            ``step_fn``'s loss and metrics over the validation batches. Results are averaged
            across ranks and logged with a ``val_`` prefix (so monitor ``"val_<name>"``).
        scheduler: an LR scheduler, or a factory ``f(optimizer, n) -> scheduler`` where ``n``
            is how many times it will be stepped (total optimizer steps for
            ``scheduler_interval="step"``, epochs for ``"epoch"``), which is what OneCycleLR's
            ``total_steps`` needs. ReduceLROnPlateau is stepped with the monitored value.
        run_config: the task's own settings, recorded in config.json under ``"task"``.
    """

    def __init__(self, model: nn.Module, *, step_fn: StepFn, optimizer: Optimizer | OptimizerFactory,
                 train_loader: Iterable, config: TrainConfig, val_loader: Iterable | None = None,
                 eval_fn: EvalFn | None = None, scheduler: Any | SchedulerFactory | None = None,
                 run_config: Mapping[str, Any] | None = None):
        if config.patience is not None and val_loader is None:
            raise ConfigError("training config: patience (early stopping) needs a validation loader")
        self.config = config
        self.step_fn = step_fn
        self.eval_fn = eval_fn or self._mean_step_metrics
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.run_config = dict(run_config or {})
        self.run_dir = Path(config.run_dir) if config.run_dir else None

        self.dist = init_distributed()
        self.device = select_device(config.device)
        self.precision = select_precision(self.device, config.amp)
        self.model = model.to(self.device)
        self.train_model = self._wrap_for_data_parallel(self.model)
        self.trainable_parameters = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = optimizer if isinstance(optimizer, Optimizer) else optimizer(self.trainable_parameters)
        self.scaler = self.precision.grad_scaler()

        self.steps_per_epoch = _number_of_batches(train_loader)
        self.total_steps = config.epochs * self.steps_per_epoch
        if config.max_steps is not None:
            self.total_steps = min(self.total_steps, config.max_steps)
        self.planned_epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        self.scheduler = self._build_scheduler(scheduler)

        # Progress; all of it goes into state.pt.
        self.step = 0
        self.epoch = 0  # completed epochs
        self.batches_done_in_epoch = 0
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.evals_without_improvement = 0
        self.lr_drops = 0
        self.last_val_metrics: dict[str, float] = {}
        self.last_train_metrics: dict[str, float] = {}
        self._epoch_start_torch_rng: torch.Tensor | None = None
        self._rng_to_restore: dict[str, Any] | None = None
        # Training metrics since the last log line; part of the state, so a resumed run logs
        # the same averages as an uninterrupted one even when a checkpoint falls between logs.
        self._train_window = _MetricWindow()

    # ------------------------------------------------------------------ the loop

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train until the planned steps are done or early stopping; returns the final summary.

        ``resume=True`` loads ``run_dir/state.pt`` and continues exactly where the last
        checkpoint left off: same weights, optimizer, scheduler, scaler, counters, RNG states
        and position in the epoch's data order.
        """
        cfg = self.config
        if resume:
            self._load_checkpoint()
        else:
            # Per-rank seed: dropout masks differ between ranks; data order comes from the sampler.
            seed_everything(cfg.seed + self.dist.rank)
        writes_files = self.run_dir is not None and self.dist.is_main
        if writes_files:
            write_json(self.run_dir / CONFIG_FILE, self.resolved_config())
        logger = MetricsLogger(self.run_dir if writes_files else None, tensorboard=cfg.tensorboard and writes_files,
                               resume_step=self.step if resume else None)
        progress = _progress_bar(self.total_steps, self.step, enabled=self.dist.is_main and not cfg.quiet)
        window = self._train_window
        stop_reason = self._planned_stop()
        started = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        self.train_model.train()
        try:
            while stop_reason is None:
                progress.set_description(f"epoch {self.epoch + 1}/{self.planned_epochs}")
                for batch in self._epoch_batches():
                    loss, metrics = self._train_step(batch)
                    window.add(loss, metrics)
                    self.step += 1
                    self.batches_done_in_epoch += 1
                    progress.update()
                    epoch_ended = self.batches_done_in_epoch == self.steps_per_epoch
                    if epoch_ended:
                        self._end_epoch()
                    if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                        self._log_train(window, logger, progress)
                    if self._validation_due(epoch_ended):
                        if self._validate_and_checkpoint(logger, progress):
                            stop_reason = "early_stopping"
                    stop_reason = stop_reason or self._planned_stop()
                    if stop_reason or epoch_ended:
                        break
                else:
                    raise RuntimeError(f"train_loader yielded {self.batches_done_in_epoch} batches in epoch "
                                       f"{self.epoch + 1} but len() promised {self.steps_per_epoch}")
            if window.count:
                self._log_train(window, logger, progress)
        finally:
            progress.close()
            logger.close()

        summary = {
            "stop_reason": stop_reason,
            "steps": self.step,
            "epochs": round(self.step / self.steps_per_epoch, 4),
            "best": {"metric": cfg.monitor, "value": self.best_value, "step": self.best_step},
            "lr_drops": self.lr_drops,
            "val": self.last_val_metrics,
            "train": self.last_train_metrics,
            "train_seconds": round(time.perf_counter() - started, 3),  # this invocation only
            "device": str(self.device),
            "world_size": self.dist.world_size,
        }
        if writes_files:
            write_json(self.run_dir / FINAL_METRICS_FILE, summary)
        barrier()  # other ranks return only once rank 0's files are complete
        return summary

    def _train_step(self, batch: Any) -> tuple[torch.Tensor, Mapping[str, Any]]:
        batch = move_to_device(batch, self.device)
        with self.precision.autocast():
            loss, metrics = self.step_fn(self.train_model, batch)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the fp16-scaled ones
            grad_norm = nn.utils.clip_grad_norm_(self.trainable_parameters, self.config.grad_clip)
            metrics = {**metrics, "grad_norm": grad_norm}
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None and self._scheduler_interval == "step":
            self.scheduler.step()
        return loss.detach(), metrics

    def _end_epoch(self) -> None:
        self.epoch += 1
        self.batches_done_in_epoch = 0
        if self.scheduler is not None and self._scheduler_interval == "epoch":
            self.scheduler.step()

    def _planned_stop(self) -> str | None:
        patience = self.config.patience
        if patience is not None and self.evals_without_improvement >= patience:
            return "early_stopping"  # only reached when resuming a run that had already stopped
        if self.step >= self.total_steps:
            return "epochs" if self.epoch >= self.config.epochs else "max_steps"
        return None

    def _validation_due(self, epoch_ended: bool) -> bool:
        every = self.config.eval_every
        periodic = (self.step % every == 0) if every is not None else epoch_ended
        return periodic or self.step >= self.total_steps

    def _epoch_batches(self) -> Iterator:
        """This epoch's batch iterator, fast-forwarded after a resume."""
        # The samplers' order, and a collate_fn's augmentation drawn from (seed, epoch, sample),
        # are functions of the epoch. Set before iter(): that is when workers get their copies.
        for name in ("sampler", "batch_sampler", "collate_fn"):
            part = getattr(self.train_loader, name, None)
            if hasattr(part, "set_epoch"):
                part.set_epoch(self.epoch)
        rng_at_checkpoint, self._rng_to_restore = self._rng_to_restore, None
        if rng_at_checkpoint is not None and self.batches_done_in_epoch > 0:
            # Resuming mid-epoch: a DataLoader draws its shuffle and worker seeds from the
            # global torch RNG when iterated, so rebuild the iterator from the RNG state the
            # interrupted epoch began with, skip the batches already trained on (they are
            # loaded and dropped), then continue from the RNG state at the checkpoint.
            torch.set_rng_state(self._epoch_start_torch_rng)
            batches = iter(self.train_loader)
            for _ in itertools.islice(batches, self.batches_done_in_epoch):
                pass
            restore_rng_state(rng_at_checkpoint)
            return batches
        if rng_at_checkpoint is not None:
            restore_rng_state(rng_at_checkpoint)
        self._epoch_start_torch_rng = torch.get_rng_state()
        return iter(self.train_loader)

    # ------------------------------------------------------------------ validation

    def evaluate(self, loader: Iterable | None = None) -> dict[str, float]:
        """Run ``eval_fn`` on ``loader`` (default: the validation loader), averaged across ranks."""
        loader = self.val_loader if loader is None else loader
        if loader is None:
            return {}
        self.model.eval()
        try:
            with torch.no_grad(), self.precision.autocast():
                metrics = self.eval_fn(self.model, _BatchesOnDevice(loader, self.device))
        finally:
            self.train_model.train()
        return all_reduce_mean({name: float(value) for name, value in metrics.items()})

    def _mean_step_metrics(self, model: nn.Module, batches: Iterable) -> dict[str, float]:
        # The default eval_fn: every batch counts equally (a short last batch is not down-weighted).
        window = _MetricWindow()
        for batch in batches:
            loss, metrics = self.step_fn(model, batch)
            window.add(loss, metrics)
        return window.pop_means()

    def _validate_and_checkpoint(self, logger: MetricsLogger, progress) -> bool:
        """Validate, track the best value, save a checkpoint; True when early stopping should stop."""
        cfg = self.config
        val = {f"val_{name}": value for name, value in self.evaluate().items()}
        improved = self.val_loader is None  # without validation, "best" is simply the latest
        stop = False
        if val:
            if cfg.monitor not in val:
                raise ConfigError(f"training config: monitor {cfg.monitor!r} is not among the validation "
                                  f"metrics ({', '.join(sorted(val))})")
            value = val[cfg.monitor]
            improved = self._is_improvement(value)
            if improved:
                self.best_value, self.best_step = value, self.step
                self.evals_without_improvement = 0
            else:
                self.evals_without_improvement += 1
                stop = cfg.patience is not None and self.evals_without_improvement >= cfg.patience
                drop_after = cfg.lr_drop_after
                if drop_after is not None and self.evals_without_improvement % drop_after == 0 and not stop:
                    self._drop_lr(cfg.lr_drop_factor)
            if isinstance(self.scheduler, ReduceLROnPlateau):
                self.scheduler.step(value)
            self.last_val_metrics = val
            row = {"step": self.step, "epoch": self._fractional_epoch(), **val}
            logger.log(row)
            if self.dist.is_main:
                _announce(progress, format_metrics(row) + (" *" if improved else ""))
        self._save_checkpoint(save_best=improved)
        return stop

    def _drop_lr(self, factor: float) -> None:
        """Scale the learning rate by ``factor`` now and for the rest of the schedule: the
        scheduler's base rates too, which LambdaLR-style schedulers recompute the rate from."""
        self.lr_drops += 1
        for group in self.optimizer.param_groups:
            group["lr"] *= factor
        if self.scheduler is not None and hasattr(self.scheduler, "base_lrs"):
            self.scheduler.base_lrs = [lr * factor for lr in self.scheduler.base_lrs]

    def _is_improvement(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best_value is None:
            return True
        if self.config.mode == "min":
            return value < self.best_value - self.config.min_delta
        return value > self.best_value + self.config.min_delta

    def _log_train(self, window: _MetricWindow, logger: MetricsLogger, progress) -> None:
        means = all_reduce_mean(window.pop_means())
        if not math.isfinite(means["loss"]):
            raise FloatingPointError(f"training loss became {means['loss']} by step {self.step}; if the data "
                                     "is finite (`wifisense validate STORE`), training diverged: lower the "
                                     "learning rate or set grad_clip")
        self.last_train_metrics = {f"train_{name}": value for name, value in means.items()}
        row = {"step": self.step, "epoch": self._fractional_epoch(),
               "lr": self.optimizer.param_groups[0]["lr"], **self.last_train_metrics}
        logger.log(row)
        progress.set_postfix(loss=f"{means['loss']:.4g}", refresh=False)
        if progress.disable and self.dist.is_main:
            log.info(format_metrics(row))

    def _fractional_epoch(self) -> float:
        return round(self.step / self.steps_per_epoch, 4)

    # ------------------------------------------------------------------ checkpoints

    def resolved_config(self) -> dict[str, Any]:
        """What config.json holds: the TrainConfig, the task's settings and runtime facts."""
        from wifisense.version import __version__

        return {
            "train": self.config.to_dict(),
            "task": self.run_config,
            "runtime": {"device": str(self.device), "precision": self.precision.name,
                        "world_size": self.dist.world_size, "steps_per_epoch": self.steps_per_epoch,
                        "total_steps": self.total_steps, "torch": torch.__version__, "wifisense": __version__},
        }

    def _save_checkpoint(self, save_best: bool) -> None:
        if self.run_dir is None:
            return
        # Every rank's RNG goes into the state (a collective, so every rank calls it).
        rng_per_rank = all_gather_objects({"current": capture_rng_state(),
                                           "epoch_start_torch": self._epoch_start_torch_rng})
        if not self.dist.is_main:
            return
        metadata = {"step": str(self.step), "epoch": str(self._fractional_epoch())}
        save_weights(self.model, self.run_dir / LAST_WEIGHTS_FILE, metadata)
        if save_best:
            save_weights(self.model, self.run_dir / BEST_WEIGHTS_FILE, metadata)
        # The weights go into state.pt as well, so one atomic rename always leaves a
        # consistent (weights, optimizer, counters) set, whenever the process dies.
        save_state(self.run_dir / STATE_FILE, {
            "format_version": STATE_FORMAT_VERSION,
            "step": self.step,
            "epoch": self.epoch,
            "batches_done_in_epoch": self.batches_done_in_epoch,
            "best_value": self.best_value,
            "best_step": self.best_step,
            "evals_without_improvement": self.evals_without_improvement,
            "lr_drops": self.lr_drops,
            "last_val_metrics": self.last_val_metrics,
            "last_train_metrics": self.last_train_metrics,
            "world_size": self.dist.world_size,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict(),
            "rng": rng_per_rank,
            "train_window": {"sums": dict(self._train_window.sums), "count": self._train_window.count},
        })

    def _load_checkpoint(self) -> None:
        if self.run_dir is None:
            raise ConfigError("training config: resume needs run_dir")
        state = load_state(self.run_dir / STATE_FILE)
        if state.get("format_version") != STATE_FORMAT_VERSION:
            raise ConfigError(f"{self.run_dir / STATE_FILE}: state format {state.get('format_version')} "
                              f"is not {STATE_FORMAT_VERSION}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        for name in ("step", "epoch", "batches_done_in_epoch", "best_value", "best_step",
                     "evals_without_improvement", "last_val_metrics", "last_train_metrics"):
            setattr(self, name, state[name])
        self.lr_drops = state.get("lr_drops", 0)   # absent in states written before LR drops existed
        window = state.get("train_window")  # absent in states written before it was kept
        if window is not None:
            self._train_window.sums, self._train_window.count = dict(window["sums"]), window["count"]
        if len(state["rng"]) == self.dist.world_size:
            own = state["rng"][self.dist.rank]
            self._rng_to_restore, self._epoch_start_torch_rng = own["current"], own["epoch_start_torch"]
        else:
            warnings.warn(f"resuming a {len(state['rng'])}-process run on {self.dist.world_size} processes: "
                          "data order and random streams will not continue exactly", stacklevel=3)
            seed_everything(self.config.seed + self.dist.rank + self.step)
            self._epoch_start_torch_rng = torch.get_rng_state()

    # ------------------------------------------------------------------ set-up helpers

    def _wrap_for_data_parallel(self, model: nn.Module) -> nn.Module:
        if not self.dist.is_distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids,
                                       find_unused_parameters=self.config.find_unused_parameters)

    def _build_scheduler(self, scheduler: Any) -> Any:
        if scheduler is None:
            return None
        is_instance = hasattr(scheduler, "step") and hasattr(scheduler, "state_dict")
        if not is_instance:
            times_stepped = self.total_steps if self.config.scheduler_interval == "step" else self.planned_epochs
            scheduler = scheduler(self.optimizer, times_stepped)
        return scheduler

    @property
    def _scheduler_interval(self) -> str:
        return "validation" if isinstance(self.scheduler, ReduceLROnPlateau) else self.config.scheduler_interval


class _MetricWindow:
    """Running sums of the loss and step metrics since the last time they were read."""

    def __init__(self) -> None:
        self.sums: dict[str, Any] = {}
        self.count = 0

    def add(self, loss: torch.Tensor, metrics: Mapping[str, Any]) -> None:
        for name, value in {"loss": loss, **metrics}.items():
            value = value.detach().float() if isinstance(value, torch.Tensor) else float(value)
            self.sums[name] = self.sums[name] + value if name in self.sums else value
        self.count += 1

    def pop_means(self) -> dict[str, float]:
        means = {name: float(total) / self.count for name, total in self.sums.items()} if self.count else {}
        self.sums, self.count = {}, 0
        return means


class _BatchesOnDevice:
    """Iterates a loader with every batch moved to ``device`` (what eval_fn receives)."""

    def __init__(self, loader: Iterable, device: torch.device):
        self.loader = loader
        self.device = device

    def __iter__(self) -> Iterator:
        return (move_to_device(batch, self.device) for batch in self.loader)

    def __len__(self) -> int:
        return len(self.loader)


def _number_of_batches(loader: Iterable) -> int:
    try:
        count = len(loader)
    except TypeError as error:
        raise ConfigError("train_loader must have a length (batches per epoch)") from error
    if count < 1:
        raise ConfigError("train_loader has no batches (dataset smaller than one batch with drop_last?)")
    return count


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    # disable=None lets tqdm switch itself off when stderr is not a terminal (logs, CI).
    return tqdm(total=total, initial=initial, disable=None if enabled else True, unit="step",
                dynamic_ncols=True, leave=False)


def _announce(progress, message: str) -> None:
    if progress.disable:
        log.info(message)
    else:
        progress.write(message)
