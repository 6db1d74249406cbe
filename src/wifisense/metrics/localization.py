"""Localisation metrics: Euclidean position errors in metres, their summary (mean, median, 90th percentile, RMSE),
CDF, and a window's error split into where the window is (centroid) and how it moves (shape)."""

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


def window_error_parts(pred_xy: Any, true_xy: Any, mask: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each window's error in two parts (metres): ``(centroid [W], shape [W])``.

    ``pred_xy`` / ``true_xy`` are ``[W, Q, 2]`` positions at a window's query points and
    ``mask`` ``[W, Q]`` marks the real ones. *Centroid*: the distance between the window's mean
    predicted and mean true position, i.e. where the window is. *Shape*: the mean distance
    between prediction and truth once each is centred on its own mean, i.e. how the motion
    inside the window is drawn. A prediction that follows the path exactly but is offset by d
    has centroid d and shape 0; one that sits still at the true mean has centroid 0 and shape
    equal to the path's spread. Separating the two tells a model that localises badly from one
    that tracks motion badly (the point-wise mean error mixes them).
    """
    pred, true = _as_numpy(pred_xy), _as_numpy(true_xy)
    mask = _as_numpy(mask).astype(bool)
    if pred.shape != true.shape or pred.ndim != 3 or mask.shape != pred.shape[:2]:
        raise ValueError(f"expected [W, Q, D] positions and a [W, Q] mask, got {pred.shape}, {true.shape} "
                         f"and {mask.shape}")
    counts = mask.sum(axis=1)
    if (counts == 0).any():
        raise ValueError(f"{int((counts == 0).sum())} window(s) have no query point to score")
    weights = mask[..., None] / counts[:, None, None]
    pred_mean, true_mean = (pred * weights).sum(axis=1), (true * weights).sum(axis=1)
    centroid = np.linalg.norm(pred_mean - true_mean, axis=-1)
    centred = np.linalg.norm((pred - pred_mean[:, None]) - (true - true_mean[:, None]), axis=-1)
    shape = (centred * mask).sum(axis=1) / counts
    return centroid, shape


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
