"""Optuna search over the NDF ELBO loss weights, with trials pruned on their per-epoch validation error.

The coordinate weight is fixed at 1; the reconstruction and KL weights of each used band are
searched on log scales (TPE sampler, seeded). Every trial trains the model with the same
pipeline as ``track train`` (Adamax + OneCycle on the shared Trainer, same windows and
normalisers) and is scored by its best validation mean error in metres.

Pruning: the shared Trainer has no epoch callback, but it calls the ``eval_fn`` it is given at
every validation, which is once per epoch. The objective wraps the track evaluation function
so that each call also reports that epoch's validation error to the trial and raises
``optuna.TrialPruned`` when the MedianPruner says so; the exception leaves ``Trainer.fit``
like any other error (trials write no run directory, so nothing is left half-written).

Outputs: ``OUT`` (a complete track config with the best weights, usable as
``track train --preset OUT``) and ``OUT`` with suffix ``.tune.json`` (every trial's weights,
state and value). With ``storage`` (an SQLite file) a study can be resumed or extended.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from pathlib import Path

from wifisense.errors import ConfigError

log = logging.getLogger(__name__)

# log-uniform search ranges; the coordinate weight stays 1, so these are relative to it
RECON_RANGE = (1e-2, 10.0)
KL_RANGE = (1e-5, 1.0)
TUNABLE_MODELS = ("ndf", "ddnd")      # the baselines have no reconstruction or KL terms


def search_space(bands) -> dict[str, tuple[float, float]]:
    """Weight name -> (low, high) of the log-uniform range, for the terms the bands have."""
    space = {}
    for band in bands:
        space[f"recon_{band}"] = RECON_RANGE
        space[f"kl_{band}"] = KL_RANGE
    return space


def storage_url(storage: str | os.PathLike | None) -> str | None:
    """An Optuna storage URL: kept as is when it has a scheme, a file path becomes ``sqlite:///ABS``."""
    if storage is None:
        return None
    text = str(storage)
    return text if "://" in text else f"sqlite:///{Path(text).resolve()}"


def _validation_reporter(eval_fn, trial):
    """Wrap an ``eval_fn`` so each call (one per epoch) reports ``error_m`` and may prune the trial."""
    import optuna

    calls = {"epoch": 0}

    def reporting_eval_fn(model, batches):
        metrics = eval_fn(model, batches)
        calls["epoch"] += 1
        error = float(metrics["error_m"])
        trial.report(error, calls["epoch"])
        if trial.should_prune():
            raise optuna.TrialPruned(f"validation error {error:.3f} m at epoch {calls['epoch']}")
        return metrics

    return reporting_eval_fn


def _train_trial(trial, prepared, base_config, model_name: str, bands, fusion: str, epochs: int | None,
                 seed: int, device: str) -> float:
    """Train one model with the trial's loss weights; returns its best validation mean error (m)."""
    import math

    import wifisense.track.data as track_data
    from wifisense.track.factory import create_track_model, make_optimizer
    from wifisense.track.train import make_eval_fn, make_step_fn, model_config_for_data
    from wifisense.training import TrainConfig, Trainer, build_loader, seed_everything

    weights = {name: trial.suggest_float(name, low, high, log=True)
               for name, (low, high) in search_space(bands).items()}
    config = dataclasses.replace(base_config, loss=dataclasses.replace(base_config.loss, coord=1.0, **weights),
                                 model=dataclasses.replace(base_config.model))
    config = model_config_for_data(config, prepared)
    epochs = epochs or config.optim.epochs
    seed_everything(seed)
    model = create_track_model(model_name, bands=bands, fusion=fusion, config=config)
    collate = track_data.make_collate(prepared.query_t, bands)
    batch_size = config.optim.batch_size
    train_loader = build_loader(prepared.datasets["train"], batch_size, shuffle=True, seed=seed, collate_fn=collate)
    val_loader = build_loader(prepared.datasets["val"], batch_size, shuffle=False, seed=seed, collate_fn=collate)
    optimizer, scheduler = make_optimizer(model, config.optim, steps_per_epoch=len(train_loader), epochs=epochs)
    eval_fn = _validation_reporter(make_eval_fn(config.loss, prepared.normalisers.xy), trial)
    trainer = Trainer(model, step_fn=make_step_fn(config.loss), optimizer=optimizer, scheduler=scheduler,
                      train_loader=train_loader, val_loader=val_loader, eval_fn=eval_fn,
                      config=TrainConfig(epochs=epochs, seed=seed, device=device, run_dir=None,
                                         monitor="val_error_m", grad_clip=config.optim.grad_clip, quiet=True,
                                         log_every=max(1, len(train_loader))))
    best = trainer.fit()["best"]["value"]
    return best if best is not None and math.isfinite(best) else float("inf")


def tune_loss_weights(store, out: str | os.PathLike = "tuned_track.json", trials: int = 20,
                      epochs: int | None = None, model: str = "ndf", bands=("csi", "snr"), fusion: str = "mlp",
                      split: str = "random", window: float = 5.0, preset: str = "tiny", overrides=None,
                      seed: int = 0, device: str = "auto", storage=None, study_name: str | None = None,
                      cae=None, quiet: bool = False, cae_epochs: int = 5) -> dict:
    """Search the loss weights with Optuna; write the best into a track config at ``out``.

    Returns ``{"config": path, "summary": path, "best_value": metres, "best_weights": {...},
    "trials": {"complete": n, "pruned": n, "failed": n}}`` (the summary file has every trial).
    """
    import optuna
    from tqdm.auto import tqdm

    from wifisense.track.data import DEFAULT_INPUT_SCALING
    from wifisense.track.train import (
        find_cae,
        normalise_model_name,
        parse_bands,
        prepare_data,
        pretrain_cae,
        resolve_config,
    )
    from wifisense.training.checkpoint import write_json
    from wifisense.training.device import select_device

    model_name = normalise_model_name(model)
    if model_name not in TUNABLE_MODELS:
        raise ConfigError(f"--model {model}: only {', '.join(TUNABLE_MODELS)} have reconstruction and KL terms "
                          "whose weights can be tuned (a baseline's loss is the coordinate term alone)")
    if trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {trials}")
    bands = parse_bands(bands)
    out = Path(out)
    if out.suffix != ".json":
        raise ConfigError(f"{out}: the tuned config must be a .json file (so --preset takes it as a path)")
    base_config = resolve_config(preset, overrides)
    cae_dir = None
    if "csi" in bands:
        cae_dir = find_cae(out.parent, cae)
        if cae_dir is None:
            cae_dir = pretrain_cae(store, out.parent, preset=preset, overrides=overrides, epochs=cae_epochs,
                                   seed=seed, device=device, quiet=quiet)
    device = str(select_device(device))
    prepared = prepare_data(store, bands, split, window, seed=seed, cae_dir=cae_dir, device=device,
                            input_scaling=base_config.data.get("input_scaling", DEFAULT_INPUT_SCALING))

    if quiet:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = study_name or f"track-{model_name}-{'+'.join(bands)}-{fusion}-{split}-w{window:g}-{Path(str(preset)).stem}"
    total_epochs = epochs or base_config.optim.epochs
    study = optuna.create_study(
        direction="minimize", study_name=name, storage=storage_url(storage), load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        # a few full trials before pruning, and no pruning in the noisy first epochs
        pruner=optuna.pruners.MedianPruner(n_startup_trials=min(3, max(trials - 1, 1)),
                                           n_warmup_steps=max(1, total_epochs // 4)))
    bar = tqdm(total=trials, desc="tune trials", unit="trial", disable=quiet, file=sys.stderr)

    def on_trial_end(study, trial):
        bar.update()
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if complete:
            bar.set_postfix(best_m=f"{study.best_value:.3f}", last=trial.state.name.lower())

    try:
        study.optimize(lambda trial: _train_trial(trial, prepared, base_config, model_name, bands, fusion, epochs,
                                                  seed, device),
                       n_trials=trials, callbacks=[on_trial_end], catch=())
    finally:
        bar.close()

    states = optuna.trial.TrialState
    counts = {label: sum(t.state == state for t in study.trials)
              for label, state in (("complete", states.COMPLETE), ("pruned", states.PRUNED), ("failed", states.FAIL))}
    if counts["complete"] == 0:
        raise ConfigError(f"no tuning trial completed ({counts}); run more trials or epochs")
    best_weights = {"coord": 1.0, **study.best_params}
    tuned = dataclasses.replace(base_config, loss=dataclasses.replace(base_config.loss, **best_weights))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, tuned.to_dict())
    summary_path = out.with_suffix(".tune.json")
    result = {"config": str(out), "summary": str(summary_path), "best_value": study.best_value,
              "best_weights": best_weights, "trials": counts}
    write_json(summary_path, {
        **result, "study": name, "storage": storage_url(storage), "store": str(Path(store).resolve()),
        "model": model_name, "bands": list(bands), "fusion": fusion, "split": split, "window_s": window,
        "preset": str(preset), "overrides": overrides, "epochs": total_epochs, "seed": seed,
        "search_space": {k: list(v) for k, v in search_space(bands).items()},
        "all_trials": [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
                        "epochs_reported": len(t.intermediate_values)} for t in study.trials]})
    return result
