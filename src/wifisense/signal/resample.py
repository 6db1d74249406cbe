"""Resampling irregular packet streams onto a uniform time grid, with a mask of gaps."""

from __future__ import annotations

import numpy as np

from wifisense.errors import ConfigError
from wifisense.signal._backend import along, host_array, namespace

RESAMPLE_METHODS = ("linear", "nearest")
# A grid point is a gap when its nearest packet is farther than this many grid periods.
DEFAULT_GAP_PERIODS = 2.5


def uniform_grid(t_start: float, t_end: float, rate_hz: float) -> np.ndarray:
    """Times ``t_start + n / rate_hz`` for every n that stays within ``t_end``."""
    if not rate_hz > 0:
        raise ConfigError(f"resampling rate must be > 0 Hz, got {rate_hz!r}")
    # The tiny slack keeps the last point when (t_end - t_start) * rate is integral
    # up to float rounding.
    count = int(np.floor((t_end - t_start) * rate_hz + 1e-9)) + 1
    return t_start + np.arange(max(count, 1)) / rate_hz


def resample_uniform(t, x, rate_hz: float | None = None, grid=None, max_gap: float | None = None,
                     method: str = "linear", axis: int = 0):
    """Put packets taken at irregular times ``t`` onto a uniform time grid.

    Args:
        t: packet times ``[T]`` in seconds, non-decreasing (NumPy or torch).
        x: values with ``T`` entries on ``axis`` (real or complex, any other axes).
        rate_hz: grid rate; the grid runs from ``t[0]`` to at most ``t[-1]``.
        grid: explicit grid times ``[G]`` instead of ``rate_hz`` (need not lie within t).
        max_gap: seconds; grid points whose nearest packet is farther are flagged.
            Default ``2.5 / rate`` (rate from ``rate_hz`` or the grid's median spacing).
            Unflagged linear values within ``max_gap`` of a gap still interpolate
            across it.
        method: ``"linear"`` interpolates between the two packets around each grid
            time (for complex data that is linear on real and imaginary parts) and holds
            the end values outside ``t``; ``"nearest"`` takes the closest packet as is,
            which keeps each packet's own phase structure intact (use it for complex
            CSI whose phase varies fast between packets).
        axis: the time axis of ``x``.

    Returns:
        ``(grid, x_uniform, gap_mask)``: grid times ``[G]`` (float64), values with ``G``
        entries on ``axis``, and a boolean ``[G]`` mask that is True at gaps. Arrays
        come back in the kind of ``x`` (torch on ``x``'s device for a Tensor).
    """
    if method not in RESAMPLE_METHODS:
        raise ConfigError(f"unknown resampling method {method!r} (use 'linear' or 'nearest')")
    xp = namespace(x)
    x = xp.to_float(xp.asarray(x))
    times = host_array(t, np.float64).reshape(-1)
    if times.size == 0:
        raise ValueError("cannot resample an empty packet stream")
    if times.size != x.shape[axis]:
        raise ValueError(f"t has {times.size} packets but axis {axis} of x has {x.shape[axis]}")
    if np.any(np.diff(times) < 0):
        raise ValueError("packet times must be non-decreasing")

    if grid is not None:
        grid_times = host_array(grid, np.float64).reshape(-1)
        spacing = np.median(np.diff(grid_times)) if grid_times.size > 1 else np.inf
        rate = 1.0 / spacing if spacing > 0 else None
    elif rate_hz is not None:
        grid_times = uniform_grid(times[0], times[-1], rate_hz)
        rate = rate_hz
    else:
        raise ConfigError("resample_uniform needs rate_hz or grid")
    if max_gap is None:
        max_gap = DEFAULT_GAP_PERIODS / rate if rate else np.inf

    # Packets left and right of every grid time (both clamp to the ends outside t).
    right = np.clip(np.searchsorted(times, grid_times, side="right"), 0, times.size - 1)
    left = np.clip(right - 1, 0, times.size - 1)
    dist_left = np.abs(grid_times - times[left])
    dist_right = np.abs(times[right] - grid_times)
    gap_mask = np.minimum(dist_left, dist_right) > max_gap

    if method == "nearest":
        nearest = np.where(dist_right < dist_left, right, left)
        x_uniform = xp.take(x, nearest, axis)
    else:
        span = times[right] - times[left]
        safe_span = np.where(span > 0, span, 1.0)
        # Grid times outside t give weights outside [0, 1]; clipping holds the end value.
        weight = np.clip(np.where(span > 0, (grid_times - times[left]) / safe_span, 0.0), 0.0, 1.0)
        weight = along(xp.constant(weight, x), x.ndim, axis)
        x_left, x_right = xp.take(x, left, axis), xp.take(x, right, axis)
        x_uniform = x_left + (x_right - x_left) * weight
    return xp.from_numpy(grid_times, x), x_uniform, xp.from_numpy(gap_mask, x)
