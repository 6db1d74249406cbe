"""Localisation metrics: Euclidean position errors in metres, their summary (mean, median, 90th percentile, RMSE) and CDF."""

from __future__ import annotations

from typing import Any

import numpy as np


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def localization_errors(pred_xy: Any, true_xy: Any, mask: Any = None) -> np.ndarray:
    """Euclidean distances between predicted and true positions (metres).

    ``pred_xy`` and ``true_xy`` are ``[..., 2]`` (or ``[..., 3]``) NumPy arrays or tensors of the
    same shape. Without ``mask`` the result has their leading shape (e.g. ``[B, T]`` for a
    batch of trajectories); with a boolean ``mask`` of that leading shape it is 1-D and holds
    the valid entries only, in row-major order (as ``errors[mask]``).
    """
    pred, true = _as_numpy(pred_xy), _as_numpy(true_xy)
    if pred.shape != true.shape or pred.ndim < 1:
        raise ValueError(f"predicted and true positions must have the same [..., 2] shape, got {pred.shape} and {true.shape}")
    errors = np.linalg.norm(pred - true, axis=-1)
    if mask is None:
        return errors
    mask = _as_numpy(mask).astype(bool)
    if mask.shape != errors.shape:
        raise ValueError(f"mask shape {mask.shape} does not match the positions' leading shape {errors.shape}")
    return errors[mask]


def _flat_finite(errors: Any) -> np.ndarray:
    errors = _as_numpy(errors).ravel()
    if errors.size == 0:
        raise ValueError("no errors to summarise")
    if not np.isfinite(errors).all():
        raise ValueError(f"{int((~np.isfinite(errors)).sum())} of {errors.size} errors are NaN or infinite")
    return errors


def error_summary(errors: Any) -> dict[str, float | int]:
    """``{"mean", "median", "p90", "rmse", "n"}`` of the errors (percentiles by linear interpolation, NumPy's default)."""
    errors = _flat_finite(errors)
    return {
        "mean": float(errors.mean()),
        "median": float(np.median(errors)),
        "p90": float(np.percentile(errors, 90)),
        "rmse": float(np.sqrt(np.mean(errors ** 2))),
        "n": int(errors.size),
    }


def error_cdf(errors: Any) -> tuple[np.ndarray, np.ndarray]:
    """Empirical CDF ``(x, F)``: sorted errors and the share of errors <= each, ending at 1."""
    x = np.sort(_flat_finite(errors))
    return x, np.arange(1, x.size + 1, dtype=np.float64) / x.size
