"""Track training: CAE pretraining on a store's CSI frames, then NDF or a baseline on windows, via the shared Trainer.

Run-directory layout (one tree per store)::

    RUN/cae/                 pretrained CSI autoencoder (config.json, model.safetensors) + embedding cache
    RUN/<model>/             one track model: config.json ("task" holds everything eval/predict need),
                             model.safetensors (best validation mean error), state.pt, metrics.json

``train_model`` looks for the CAE at ``--cae``, then ``RUN/cae`` and ``RUN/../cae``, and
pretrains one into ``RUN/cae`` when none exists, so every model of a tree shares one CAE.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wifisense.errors import ConfigError
from wifisense.overrides import merge_dotted, parse_assignments
import wifisense.track.data as track_data
from wifisense.training.checkpoint import finished_summary, run_status
from wifisense.track.config import (
    MODEL_NAMES,
    TrackConfig,
    load_track_config,
    read_task,
    track_config_from_dict,
)

log = logging.getLogger(__name__)

CAE_DIR_NAME = "cae"


# --------------------------------------------------------------------------- configs


def apply_overrides(config: TrackConfig, overrides: dict | list[str] | None) -> TrackConfig:
    """Override config fields: a nested dict, or ``["section.key=value", ...]`` (value parsed as JSON)."""
    if not overrides:
        return config
    if not isinstance(overrides, dict):
        overrides = parse_assignments(overrides, example="model.latent_dim=16")
    return track_config_from_dict(merge_dotted(config.to_dict(), overrides), "track config with overrides")


def resolve_config(preset: str = "tiny", overrides: dict | list[str] | None = None) -> TrackConfig:
    return apply_overrides(load_track_config(preset), overrides)


def normalise_model_name(name: str) -> str:
    """CLI spelling (``linear-int``) -> factory name (``linear_int``)."""
    canonical = name.replace("-", "_").lower()
    if canonical not in MODEL_NAMES:
        raise ConfigError(f"unknown track model {name!r}; choose one of "
                          f"{', '.join(n.replace('_', '-') for n in MODEL_NAMES)}")
    return canonical


def parse_bands(bands) -> tuple[str, ...]:
    if isinstance(bands, str):
        bands = [b.strip() for b in bands.split(",") if b.strip()]
    bands = tuple(bands)
    if not bands or any(b not in ("csi", "snr") for b in bands) or len(set(bands)) != len(bands):
        raise ConfigError(f"--bands must be csi, snr or csi,snr; got {','.join(bands) or 'nothing'}")
    return bands


# --------------------------------------------------------------------------- CAE


def pretrain_cae(store: str | os.PathLike, run_dir: str | os.PathLike, preset: str = "tiny",
                 overrides: dict | list[str] | None = None, epochs: int = 5, batch_size: int = 256,
                 lr: float = 3e-3, seed: int = 0, device: str = "auto", val_fraction: float = 0.1,
                 quiet: bool = False) -> Path:
    """Pretrain the CSI autoencoder on every calibrated CSI frame of ``store``; returns the CAE directory.

    ``run_dir`` is the run tree (the CAE goes to ``run_dir/cae``) or a directory named ``cae``.
    The CAE is self-supervised (no positions), so it sees the frames of all windows; a random
    ``val_fraction`` of frames picks the best weights. Frames are standardised per channel.
    """
    import torch

    from wifisense.io.store import read_multiband_store
    from wifisense.training import TrainConfig, Trainer, build_loader, seed_everything

    cae_dir = Path(run_dir)
    if cae_dir.name != CAE_DIR_NAME:
        cae_dir = cae_dir / CAE_DIR_NAME
    config = resolve_config(preset, overrides)
    ds = read_multiband_store(store)
    frames = track_data.csi_frames(track_data.calibrate_csi(ds.csi_x, ds.subcarriers))
    scaler = track_data.FrameScaler.fit(frames)
    frames = torch.from_numpy(scaler(frames))
    cae_cfg = config.cae
    cae_cfg.in_channels, cae_cfg.length = int(frames.shape[1]), int(frames.shape[2])
    seed_everything(seed)
    from wifisense.track.cae import CSIAutoencoder

    model = CSIAutoencoder(cae_cfg.in_channels, cae_cfg.length, cae_cfg.embed_dim, cae_cfg.channels,
                           cae_cfg.kernel_size)
    order = np.random.default_rng(seed).permutation(len(frames))
    n_val = max(1, round(val_fraction * len(frames)))
    train_set = torch.utils.data.TensorDataset(frames[order[n_val:]])
    val_set = torch.utils.data.TensorDataset(frames[order[:n_val]])
    train_loader = build_loader(train_set, batch_size, shuffle=True, seed=seed)
    val_loader = build_loader(val_set, 4 * batch_size, shuffle=False, seed=seed)

    def step_fn(model, batch):
        (x,) = batch
        recon, _ = model(x)
        return torch.nn.functional.mse_loss(recon, x), {}

    def scheduler(optimizer, steps):
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)

    task = {"kind": "track-cae", "store": str(Path(store).resolve()),
            "store_fingerprint": track_data.store_fingerprint(store), "cae": asdict(cae_cfg),
            "frame_scaler": asdict(scaler), "csi_shape": list(ds.csi_x.shape[1:]),
            "subcarriers": np.asarray(ds.subcarriers).tolist(), "frames": len(frames)}
    status = run_status(cae_dir, epochs, None, task=task)
    if status == "done":
        log.info("CAE already pretrained in %s; reusing it", cae_dir)
        return cae_dir
    trainer = Trainer(model, step_fn=step_fn, optimizer=lambda params: torch.optim.Adam(params, lr=lr),
                      scheduler=scheduler, train_loader=train_loader, val_loader=val_loader,
                      config=TrainConfig(epochs=epochs, seed=seed, device=device, run_dir=str(cae_dir),
                                         quiet=quiet, grad_clip=1.0, log_every=max(1, len(train_loader))),
                      run_config=task)
    if status == "partial":
        log.info("resuming the interrupted CAE pretraining in %s", cae_dir)
    summary = trainer.fit(resume=status == "partial")
    log.info("CAE pretrained: best val MSE %.4g -> %s", summary["best"]["value"], cae_dir)
    return cae_dir


def find_cae(run_dir: str | os.PathLike, cae: str | os.PathLike | None = None) -> Path | None:
    """The CAE directory to use: ``cae`` if given, else ``run_dir/cae`` or ``run_dir/../cae`` if present.

    Only a CAE whose pretraining finished counts: a half-trained one (killed part-way, with
    weights from some epoch) is never used as if it were done; its pretraining resumes.
    """
    if cae is not None:
        path = Path(cae)
        if not (path / "model.safetensors").is_file():
            raise ConfigError(f"{path}: no pretrained CAE there (run `wifisense track pretrain-cae` first)")
        if finished_summary(path) is None:
            raise ConfigError(f"{path}: the CAE's pretraining did not finish; run `wifisense track pretrain-cae` "
                              "on it again to complete it")
        return path
    for path in (Path(run_dir) / CAE_DIR_NAME, Path(run_dir).parent / CAE_DIR_NAME):
        if finished_summary(path) is not None:
            return path
    return None


# --------------------------------------------------------------------------- data


@dataclass
class PreparedData:
    """Everything a track model is trained or evaluated on."""

    datasets: dict[str, track_data.TrackWindowDataset]
    normalisers: track_data.Normalisers
    query_t: np.ndarray
    csi_dim: int | None
    snr_dim: int | None
    meta: dict[str, Any]


def prepare_data(store: str | os.PathLike, bands, split: str, window_s: float = 5.0, step_s: float | None = None,
                 query_hz: float = 10.0, seed: int = 0, cae_dir: str | os.PathLike | None = None,
                 normalisers: track_data.Normalisers | None = None, device: str = "cpu",
                 input_scaling: str = track_data.DEFAULT_INPUT_SCALING) -> PreparedData:
    """Read the store, embed CSI (cached), cut and split windows, fit (or reuse) the [0, 1] normalisers."""
    from wifisense.io.store import read_multiband_store

    bands = parse_bands(bands)
    ds = read_multiband_store(store)
    if "snr" in bands and ds.snr_x is None:
        raise ConfigError(f"{store}: the store carries CSI only (no /snr), so a model on the snr band cannot "
                          "train or run on it; use --bands csi")
    spec = track_data.parse_split(split)
    windows = track_data.split_windows(spec, ds, window_s, step_s=step_s, query_hz=query_hz, seed=seed)
    embeddings = None
    if "csi" in bands:
        if cae_dir is None:
            raise ConfigError("the csi band needs a pretrained CAE directory")
        cae_shape = read_task(cae_dir).get("csi_shape")
        if cae_shape != list(ds.csi_x.shape[1:]):
            raise ConfigError(f"{cae_dir}: the CAE was pretrained on CSI frames {cae_shape} "
                              f"(subcarriers, rx, tx) but {store} has {list(ds.csi_x.shape[1:])}; "
                              "pretrain a CAE on this store (wifisense track pretrain-cae)")
        embeddings = track_data.cached_embeddings(store, ds.csi_x, ds.subcarriers, cae_dir, device=device)
    snr_x = ds.snr_x.astype(np.float32) if "snr" in bands else None
    if normalisers is None:
        normalisers = track_data.fit_normalisers(windows["train"], embeddings, snr_x, input_scaling)
    streams = track_data.TrackStreams(
        csi_t=ds.csi_t if embeddings is not None else None,
        csi=normalisers.csi(embeddings) if embeddings is not None else None,
        snr_t=ds.snr_t if snr_x is not None else None,
        snr=normalisers.snr(snr_x) if snr_x is not None else None, bands=bands)
    datasets = {name: track_data.TrackWindowDataset(w, streams, normalisers.xy) for name, w in windows.items()}
    meta = {"csi_shape": list(ds.csi_x.shape[1:]), "subcarriers": np.asarray(ds.subcarriers).tolist(),
            "snr_beams": int(ds.snr_x.shape[1]) if ds.snr_x is not None else 0, "room": np.asarray(ds.room).tolist(),
            "windows": {name: len(w) for name, w in windows.items()}}
    return PreparedData(datasets, normalisers, windows["train"].query_t,
                        embeddings.shape[1] if embeddings is not None else None,
                        int(ds.snr_x.shape[1]) if snr_x is not None else None, meta)


def store_windows(store: str | os.PathLike, split: str, window_s: float = 5.0, step_s: float | None = None,
                  query_hz: float = 10.0, seed: int = 0) -> dict[str, track_data.Windows]:
    """The split's windows of a store, as :func:`prepare_data` cuts them, without preparing any
    input (no CAE, no normalisers): what the trivial reference row and the figures need."""
    from wifisense.io.store import read_multiband_store

    return track_data.split_windows(track_data.parse_split(split), read_multiband_store(store), window_s,
                                    step_s=step_s, query_hz=query_hz, seed=seed)


def model_config_for_data(config: TrackConfig, prepared: PreparedData) -> TrackConfig:
    """Input sizes come from the data: CSI embedding size and number of beams."""
    if prepared.csi_dim is not None:
        config.model.csi_dim = int(prepared.csi_dim)
    if prepared.snr_dim is not None:
        config.model.snr_dim = int(prepared.snr_dim)
    return config


# --------------------------------------------------------------------------- steps


def make_step_fn(weights):
    from wifisense.track.losses import track_loss

    def step_fn(model, batch):
        output = model(batch)
        loss, parts = track_loss(output, batch, weights)
        return loss, parts

    return step_fn


def make_eval_fn(weights, xy_scaler: track_data.MinMax):
    """Validation: the loss terms and the mean Euclidean error in metres over real query points."""
    from wifisense.track.losses import coordinate_error, track_loss

    def eval_fn(model, batches):
        totals: dict[str, float] = {}
        n_batches, error_sum, error_count = 0, 0.0, 0
        for batch in batches:
            output = model(batch, reconstruct=True)     # the validation loss includes the ELBO's reconstruction terms
            loss, parts = track_loss(output, batch, weights)
            for name, value in {"loss": loss, **parts}.items():
                totals[name] = totals.get(name, 0.0) + float(value)
            n_batches += 1
            errors = coordinate_error(xy_scaler.inverse(output.xy.float()),
                                      xy_scaler.inverse(batch.target_xy.float()), batch.query_mask)
            error_sum += float(errors.sum())
            error_count += int(errors.numel())
        means = {name: value / max(n_batches, 1) for name, value in totals.items()}
        means["error_m"] = error_sum / max(error_count, 1) if error_count else float("nan")
        return means

    return eval_fn


def build_model(task: dict):
    """The untrained model a run's task settings describe."""
    from wifisense.track.factory import create_track_model

    config = track_config_from_dict(task["config"])
    return create_track_model(task["model"], bands=task["bands"], fusion=task["fusion"], config=config), config


# --------------------------------------------------------------------------- training


def training_step(config: TrackConfig, window: float, step: float | None = None) -> float | None:
    """Step between training windows: ``step`` if given, else a config's ``data.train_step_s``
    (capped at the window), else None: back-to-back, non-overlapping windows, as in the NDF
    paper (the shipped presets set no step).

    Overlapping training windows (opt-in; cut inside the training part only, see
    ``split_windows``) give every model the same ~window/step times more, shifted training
    windows; validation and test windows stay back-to-back and disjoint from them.
    """
    if step is not None:
        return float(step)
    preset_step = config.data.get("train_step_s")
    if preset_step is None:
        return None
    if not float(preset_step) > 0:
        raise ConfigError(f"data.train_step_s must be > 0 seconds, got {preset_step!r}")
    return min(float(preset_step), float(window))


def train_model(store: str | os.PathLike, model_name: str = "ndf", bands=("csi", "snr"), fusion: str = "mlp",
                split: str = "random", window: float = 5.0, run_dir: str | os.PathLike = "runs/track",
                preset: str = "tiny", overrides: dict | list[str] | None = None, epochs: int | None = None,
                seed: int = 0, device: str = "auto", cae: str | os.PathLike | None = None,
                step: float | None = None, query_hz: float = 10.0, batch_size: int | None = None,
                cae_epochs: int = 5, quiet: bool = False, restart: bool = False, logger: str = "csv") -> dict:
    """Train one track model on ``store`` with the shared Trainer; returns the Trainer's summary.

    Resumable: a run killed part-way continues exactly from its last checkpoint, and a run
    already finished with this setting is kept (``restart`` retrains it from scratch).

    Adamax + OneCycle from the preset's ``optim`` section; the best weights on validation mean
    error (metres) are kept in ``run_dir/model.safetensors``. When the CSI band is used and no
    CAE is found (see :func:`find_cae`), one is pretrained into ``run_dir/cae`` first.
    """
    from wifisense.track.factory import create_track_model, make_optimizer
    from wifisense.training import TrainConfig, Trainer, build_loader, seed_everything
    from wifisense.training.device import select_device

    model_name = normalise_model_name(model_name)
    bands = parse_bands(bands)
    config = resolve_config(preset, overrides)
    run_dir = Path(run_dir)
    cae_dir = None
    if "csi" in bands:
        cae_dir = find_cae(run_dir, cae)
        if cae_dir is None:
            log.info("no pretrained CAE found; pretraining one into %s", run_dir / CAE_DIR_NAME)
            cae_dir = pretrain_cae(store, run_dir, preset=preset, overrides=overrides, epochs=cae_epochs,
                                   seed=seed, device=device, quiet=quiet)
    data_device = str(select_device(device))
    step = training_step(config, window, step)
    prepared = prepare_data(store, bands, split, window, step_s=step, query_hz=query_hz, seed=seed,
                            cae_dir=cae_dir, device=data_device,
                            input_scaling=config.data.get("input_scaling", track_data.DEFAULT_INPUT_SCALING))
    config = model_config_for_data(config, prepared)
    epochs = epochs or config.optim.epochs
    batch_size = batch_size or config.optim.batch_size

    seed_everything(seed)
    model = create_track_model(model_name, bands=bands, fusion=fusion, config=config)
    collate = track_data.make_collate(prepared.query_t, bands)
    train_loader = build_loader(prepared.datasets["train"], batch_size, shuffle=True, seed=seed, collate_fn=collate)
    val_loader = build_loader(prepared.datasets["val"], batch_size, shuffle=False, seed=seed, collate_fn=collate)
    optimizer, scheduler = make_optimizer(model, config.optim, steps_per_epoch=len(train_loader), epochs=epochs)
    task = {"kind": "track", "store": str(Path(store).resolve()), "model": model_name, "bands": list(bands),
            "fusion": fusion, "split": track_data.parse_split(split).to_string(), "window_s": float(window),
            "step_s": step, "query_hz": float(query_hz), "seed": seed,
            "cae_dir": str(Path(cae_dir).resolve()) if cae_dir is not None else None,
            "config": config.to_dict(), "normalisers": prepared.normalisers.to_dict(), **prepared.meta}
    status = "new" if restart else run_status(run_dir, epochs, None, task=task)
    if status == "done":
        log.info("%s: already trained with this setting; kept (--restart retrains it)", run_dir)
        return {**finished_summary(run_dir), "skipped": True}
    trainer = Trainer(model, step_fn=make_step_fn(config.loss), optimizer=optimizer, scheduler=scheduler,
                      train_loader=train_loader, val_loader=val_loader,
                      eval_fn=make_eval_fn(config.loss, prepared.normalisers.xy),
                      config=TrainConfig(epochs=epochs, seed=seed, device=device, run_dir=str(run_dir),
                                         monitor="val_error_m", grad_clip=config.optim.grad_clip, quiet=quiet,
                                         log_every=max(1, len(train_loader)), tensorboard=logger == "tensorboard"),
                      run_config=task)
    if status == "partial":
        log.info("%s: resuming the interrupted training", run_dir)
    return trainer.fit(resume=status == "partial")
