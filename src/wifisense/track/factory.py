"""Building track models and their optimiser from a config: ``create_track_model`` and ``make_optimizer``.

Model names are ``config.MODEL_NAMES``: NDF (``ndf``), the single-band latent ODE (``ddnd``) and
the baselines (``linear_int``, ``nearest_int``, ``rnn_decay``, ``rnn_dt``).
"""

from __future__ import annotations

import torch

from wifisense.errors import ConfigError
import wifisense.track.baselines as baselines
import wifisense.track.ndf as ndf
from wifisense.track.config import MODEL_NAMES, OptimConfig, TrackConfig, TrackModelConfig


def create_track_model(name: str, bands=("csi", "snr"), fusion: str = "mlp",
                       config: TrackConfig | TrackModelConfig | None = None):
    """Build a track model by name: one of MODEL_NAMES, on the given bands ("csi", "snr").

    ``fusion`` ("mlp", "pairwise", "weighted") is used by "ndf" with two bands. "ddnd" is the
    single-band latent ODE and needs exactly one band.
    """
    model_config = config.model if isinstance(config, TrackConfig) else (config or TrackModelConfig())
    bands = tuple(bands)
    if not bands or any(b not in ("csi", "snr") for b in bands) or len(set(bands)) != len(bands):
        raise ConfigError(f"bands must be a non-empty subset of ('csi', 'snr'), got {bands}")
    if fusion not in ("mlp", "pairwise", "weighted"):
        raise ConfigError(f"unknown fusion {fusion!r}; choose one of mlp, pairwise, weighted")
    if name == "ndf":
        return ndf.NeuralDynamicFusion(model_config, bands=bands, fusion=fusion, t0=model_config.z0_time)
    if name == "ddnd":
        if len(bands) != 1:
            raise ConfigError(f"ddnd is single-band; got bands {bands}")
        return ndf.DDND(model_config, band=bands[0], t0=model_config.z0_time)
    classes = {"linear_int": baselines.LinearInt, "nearest_int": baselines.NearestInt,
               "rnn_decay": baselines.RNNDecay, "rnn_dt": baselines.RNNDeltaT}
    if name not in classes:
        raise ConfigError(f"unknown track model {name!r}; choose one of {list(MODEL_NAMES)}")
    return classes[name](model_config, bands=bands)


def make_optimizer(model, optim: OptimConfig, steps_per_epoch: int, epochs: int | None = None):
    """Adamax over the trainable parameters with a OneCycleLR schedule (step it every batch)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adamax(params, lr=optim.max_lr, weight_decay=optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=optim.max_lr, epochs=epochs or optim.epochs,
        steps_per_epoch=max(1, steps_per_epoch), pct_start=optim.pct_start)
    return optimizer, scheduler
