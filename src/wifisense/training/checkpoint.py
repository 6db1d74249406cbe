"""Run-directory files: safetensors weights, the atomically written resumable state, JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from wifisense.errors import ConfigError, OutputError
from wifisense.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text

# The names every run directory uses.
CONFIG_FILE = "config.json"
BEST_WEIGHTS_FILE = "model.safetensors"
LAST_WEIGHTS_FILE = "last.safetensors"
STATE_FILE = "state.pt"
FINAL_METRICS_FILE = "metrics.json"
WEIGHT_FILES = {"best": BEST_WEIGHTS_FILE, "last": LAST_WEIGHTS_FILE}


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare module inside a DistributedDataParallel (or DataParallel) wrapper."""
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


def save_weights(model: nn.Module, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write the model's state dict as safetensors, atomically.

    ``safetensors.torch.save_model`` (not ``save_file``) because it drops tied duplicates
    such as GPT-2's ``lm_head``/``wte`` that ``save_file`` refuses.
    """
    from safetensors import SafetensorError
    from safetensors.torch import save_model

    with atomic_path(path) as tmp:
        try:
            save_model(unwrap_model(model), str(tmp), metadata=metadata)
        except SafetensorError as error:  # its I/O errors (a full disk) are not OSErrors
            raise OutputError(path, f"cannot write the weights: {error}") from error


def load_weights(model: nn.Module, run_dir: str | os.PathLike, which: Literal["best", "last"] = "best",
                 strict: bool = True) -> nn.Module:
    """Load ``model.safetensors`` (``which="best"``) or ``last.safetensors`` from a run directory.

    ``run_dir`` may also be the path of a ``.safetensors`` file. Tensors are loaded onto the
    device the model's parameters are on. Returns the model for chaining.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    if which not in WEIGHT_FILES:
        raise ConfigError(f"which={which!r}: expected one of {', '.join(WEIGHT_FILES)}")
    run_path = Path(run_dir)
    path = run_path if run_path.is_file() else run_path / WEIGHT_FILES[which]
    if not path.is_file():
        raise ConfigError(f"{path}: no weights file; is {run_path} a finished training run directory?")
    module = unwrap_model(model)
    first = next(iter(module.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    try:
        missing, unexpected = load_model(module, str(path), strict=False, device=str(device))
    except (SafetensorError, OSError) as error:
        raise ConfigError(f"{path}: not a readable safetensors file ({error})") from error
    if strict and (missing or unexpected):
        raise ConfigError(f"{path}: weights do not fit this model "
                          f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
    return model


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write the resumable training state with ``torch.save``; a crash mid-write keeps the old file.

    Serialised in memory first: torch.save reports a full disk as an opaque RuntimeError,
    a plain file write as ENOSPC (one OutputError line, the previous state kept).
    """
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getbuffer())


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a state file written by ``save_state`` (tensors and plain types only, onto the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no training state to resume from")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or foreign files
        raise ConfigError(f"{path}: cannot be read as a training state ({error})") from error


def write_json(path: str | os.PathLike, payload: Any) -> None:
    """Write indented JSON atomically (non-finite floats as null, other objects such as paths as str)."""
    atomic_write_text(path, json.dumps(_finite_or_none(payload), indent=2, default=str) + "\n")


def _finite_or_none(value: Any) -> Any:
    # JSON has no NaN/Infinity; null keeps the file readable by every JSON parser.
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {str(k): _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


# The files a run directory holds once its Trainer.fit() has returned.
FINISHED_FILES = (FINAL_METRICS_FILE, BEST_WEIGHTS_FILE, CONFIG_FILE)


def finished_summary(run_dir: str | os.PathLike) -> dict | None:
    """The Trainer's summary (``metrics.json``) of a run that finished, else None.

    Finished means weights, config and a summary with a stop reason were written; a run
    killed part-way has at most ``state.pt`` and the last best weights. An unreadable
    summary raises (callers decide).
    """
    run_dir = Path(run_dir)
    if not all((run_dir / name).is_file() for name in FINISHED_FILES):
        return None
    summary = json.loads((run_dir / FINAL_METRICS_FILE).read_text())
    return summary if summary.get("stop_reason") else None


def run_status(run_dir: str | os.PathLike, epochs: int | None, max_steps: int | None = None,
               task: dict | None = None) -> Literal["done", "partial", "new"]:
    """Whether a run directory is finished for this plan, can be resumed, or starts afresh.

    ``"done"``: finished with the same ``epochs``/``max_steps`` (or stopped early, which a
    longer plan would not change). ``"partial"``: a resumable ``state.pt`` is there.
    ``"new"``: neither. With ``task`` given, a run directory recorded for a different task
    (another model, data or config) is a ConfigError rather than something to resume
    from or skip.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_FILE
    if task is not None and config_path.is_file() and (run_dir / STATE_FILE).is_file():
        recorded = json.loads(config_path.read_text()).get("task")
        if recorded is not None and json.loads(json.dumps(task)) != recorded:
            changed = sorted(k for k in set(recorded) | set(task) if recorded.get(k) != json.loads(json.dumps(task)).get(k))
            raise ConfigError(f"{run_dir} holds a run of a different setting (differs in {', '.join(changed)}); "
                              "give another run directory or start it afresh (--restart)")
    summary = finished_summary(run_dir)
    if summary is not None:
        recorded = json.loads(config_path.read_text()).get("train", {})
        same_plan = recorded.get("epochs") == epochs and recorded.get("max_steps") == max_steps
        if same_plan or summary["stop_reason"] == "early_stopping":
            return "done"
    return "partial" if (run_dir / STATE_FILE).is_file() else "new"
