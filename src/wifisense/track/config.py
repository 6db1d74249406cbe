"""Track model configs (JSON presets -> dataclasses); the models are built from them in ``factory``.

Presets live in ``wifisense/configs/track/<name>.json`` (``tiny`` for tests and laptops,
``paper`` for the paper-scale model); ``load_track_config`` also takes a path to a JSON file.
Unknown keys are an error (:class:`ConfigError` naming the key), so typos never pass silently.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from wifisense.errors import ConfigError
from wifisense.overrides import is_config_file


@dataclass
class CAEConfig:
    """The CSI frame autoencoder (see :class:`wifisense.track.cae.CSIAutoencoder`)."""

    in_channels: int = 12          # 4 parts (real, imag, phase, magnitude) x 3 antenna pairs
    length: int = 30               # subcarriers per frame
    embed_dim: int = 16
    channels: list[int] = field(default_factory=lambda: [16, 32])
    kernel_size: int = 5


@dataclass
class TrackModelConfig:
    """Shapes of NDF and the baselines. Input sizes (csi_dim, snr_dim) come from the data."""

    csi_dim: int = 16                  # CSI embedding size per frame (= cae.embed_dim)
    snr_dim: int = 8                   # beam patterns M
    csi_latent_dim: int = 8
    snr_latent_dim: int = 8
    encoder_hidden_dim: int = 32       # ODE-RNN hidden state
    encoder_ode_hidden_dim: int = 32
    encoder_cell: str = "gru"          # "gru" or "lstm"
    encoder_euler_steps: int = 1       # Euler steps per gap between observations
    encoder_init_logvar: float = 0.0   # initial log-variance bias of q(z0)
    encoder_input_hidden: list[int] = field(default_factory=list)  # per-observation MLP before the cell
    ode_hidden_dim: int = 32           # latent ODE MLP width
    ode_layers: int = 2
    ode_linear: bool = False           # add a linear term A z to the latent vector field
    solver: str = "dopri5"
    rtol: float = 1e-3
    atol: float = 1e-4
    adjoint: bool = False
    ode_step_size: float | None = None  # step of fixed-step solvers ("rk4", "euler"); None = solver default
    recon_time_bins: int = 200         # reconstruction times rounded to 1/bins of the window (0 = exact)
    z0_time: float = 0.0               # window-normalised time of NDF's initial latent state (0 = window start)
    fusion_dim: int = 16
    fusion_hidden_dim: int = 32        # hidden width of the MLP / weighted fusions (0 = no hidden layer)
    decoder_hidden: list[int] = field(default_factory=lambda: [32])
    baseline_hidden_dim: int = 32      # GRU hidden size of RNN-Decay / RNN-dt
    baseline_mlp_hidden: list[int] = field(default_factory=lambda: [64, 64])


@dataclass
class LossWeights:
    """Weights of the ELBO terms (searched with Optuna in the paper)."""

    coord: float = 1.0
    recon_csi: float = 1.0
    recon_snr: float = 1.0
    kl_csi: float = 1e-3
    kl_snr: float = 1e-3


@dataclass
class OptimConfig:
    """Adamax with a OneCycle learning-rate schedule."""

    max_lr: float = 1e-2
    weight_decay: float = 0.0
    pct_start: float = 0.3
    epochs: int = 100
    batch_size: int = 32
    grad_clip: float = 1.0


@dataclass
class TrackConfig:
    """Everything the track models need; ``data`` is passed through untouched for the data code."""

    model: TrackModelConfig = field(default_factory=TrackModelConfig)
    cae: CAEConfig = field(default_factory=CAEConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _from_dict(cls, values: Any, where: str):
    """Build dataclass ``cls`` from a dict, recursing into nested dataclasses; reject unknown keys."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected an object, got {type(values).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys are {sorted(known)}")
    kwargs = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        if is_dataclass(default):
            kwargs[name] = _from_dict(type(default), value, f"{where}.{name}")
        else:
            kwargs[name] = value
    return cls(**kwargs)


def track_config_from_dict(values: dict, where: str = "track config") -> TrackConfig:
    return _from_dict(TrackConfig, values, where)


def load_track_config(name_or_path: str | os.PathLike = "tiny") -> TrackConfig:
    """A preset by name ("tiny", "paper") or a JSON file by path."""
    path = Path(name_or_path)
    if is_config_file(name_or_path, track_presets()):
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        text, where = path.read_text(), str(path)
    else:
        preset = resources.files("wifisense").joinpath("configs", "track", f"{name_or_path}.json")
        if not preset.is_file():
            raise ConfigError(f"unknown track preset {str(name_or_path)!r}; choose one of {track_presets()} "
                              "or give a path to a JSON file")
        text, where = preset.read_text(), f"track preset {name_or_path}"
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc})") from exc
    return track_config_from_dict(values, where)


def track_presets() -> list[str]:
    folder = resources.files("wifisense").joinpath("configs", "track")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


MODEL_NAMES = ("ndf", "ddnd", "linear_int", "nearest_int", "rnn_decay", "rnn_dt")


def read_task(run_dir: str | os.PathLike) -> dict:
    """The task settings a run recorded in its config.json."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{path}: not found; is {run_dir} a wifisense track run directory?")
    try:
        return json.loads(path.read_text())["task"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise ConfigError(f"{path}: not a run config ({exc})") from exc
