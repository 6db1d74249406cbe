"""Device choice, mixed precision and moving batches onto the chosen device."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any

import torch

from wifisense.errors import ConfigError


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def select_device(spec: str = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N" | "mps"`` into an available ``torch.device``.

    ``auto`` prefers CUDA, then MPS, then CPU. A bare ``cuda`` (or ``auto`` on a CUDA
    machine) means the *current* CUDA device, which ``init_distributed`` sets to the
    process's LOCAL_RANK, so each torchrun worker lands on its own GPU.
    """
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not _mps_available():
            raise ConfigError("device 'mps' was requested but torch.backends.mps.is_available() is False")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r} was requested but CUDA is not available "
                              f"(torch {torch.__version__}); use --device cpu or auto")
        if spec == "cuda":
            return torch.device("cuda", torch.cuda.current_device())
        index_text = spec.split(":", 1)[1]
        if not index_text.isdigit():
            raise ConfigError(f"device {spec!r}: the CUDA index must be a non-negative integer")
        index = int(index_text)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) are visible")
        return torch.device("cuda", index)
    raise ConfigError(f"device {spec!r} is not one of auto, cpu, cuda, cuda:N, mps")


@dataclass(frozen=True)
class Precision:
    """Which autocast dtype the forward pass uses; ``dtype=None`` means plain float32."""

    device_type: str
    dtype: torch.dtype | None = None

    @property
    def needs_grad_scaler(self) -> bool:
        # Only float16 has a narrow enough exponent range to need loss scaling.
        return self.dtype == torch.float16

    @property
    def name(self) -> str:
        return "fp32" if self.dtype is None else {torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler that is a no-op unless float16 autocast is on."""
        return torch.amp.GradScaler(self.device_type, enabled=self.needs_grad_scaler)


def select_precision(device: torch.device, amp: bool = True) -> Precision:
    """Mixed precision on CUDA only: bf16 where the GPU supports it, else fp16 (with a GradScaler).

    CPU always runs float32 (CPU autocast is slower than fp32 for these small models) and
    so does MPS, whose autocast we cannot test on the project machines.
    """
    if amp and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return Precision(device.type, dtype)
    return Precision(device.type, None)


def move_to_device(batch: Any, device: torch.device, non_blocking: bool = True) -> Any:
    """Move every tensor in a (nested) batch to ``device``; other values pass through.

    Handles tensors, mappings (returned as plain dicts), lists, tuples, named tuples, dataclasses and any object with a
    ``.to(device)`` method (e.g. a transformers ``BatchEncoding``).
    """
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        return {k: move_to_device(v, device, non_blocking) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(move_to_device(v, device, non_blocking) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device, non_blocking) for v in batch)
    if is_dataclass(batch) and not isinstance(batch, type):
        return replace(batch, **{f.name: move_to_device(getattr(batch, f.name), device, non_blocking)
                                 for f in fields(batch) if f.init})
    if hasattr(batch, "to") and callable(batch.to):
        return batch.to(device)
    return batch
