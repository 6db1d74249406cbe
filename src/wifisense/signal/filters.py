"""Outlier removal (Hampel filter) and normalisation of CSI features along time."""

from __future__ import annotations

import numpy as np

from wifisense.errors import ConfigError
from wifisense.signal._backend import namespace

# MAD -> standard deviation for Gaussian data (1 / Phi^-1(3/4)).
MAD_TO_SIGMA = 1.4826


def _reflected_window_indices(length: int, window: int) -> np.ndarray:
    """``[length, window]`` indices of centred windows, mirrored at the ends (no edge repeat).

    Mirroring keeps every window full-length, so each has a true (odd-count) median even
    at the first and last samples; it works for any ``length``, also shorter than a window.
    """
    half = window // 2
    raw = np.arange(length)[:, None] + np.arange(-half, half + 1)[None, :]
    if length == 1:
        return np.zeros_like(raw)
    period = 2 * (length - 1)
    folded = np.mod(raw, period)
    return np.where(folded > length - 1, period - folded, folded)


def _hampel_real(x, window: int, n_sigmas: float, axis: int):
    xp = namespace(x)
    series = xp.moveaxis(x, axis, -1)
    # A window longer than the series would mirror some samples several times and bias
    # its median; shrink it to the longest odd length that fits (none below 3).
    length = series.shape[-1]
    window = min(window, length if length % 2 else length - 1)
    if window < 3:
        return x, xp.abs(x) < 0  # all False
    # Gathering mirrored window indices gives the same [..., T, window] view that
    # sliding_window_view / Tensor.unfold would, with the edge handling built in, in
    # one code path for both backends.
    indices = xp.constant(_reflected_window_indices(series.shape[-1], window), series, real=False)
    windows = series[..., indices]
    median = xp.median_last(windows)
    mad = xp.median_last(xp.abs(windows - median[..., None]))
    outlier = xp.abs(series - median) > n_sigmas * MAD_TO_SIGMA * mad
    filtered = xp.where(outlier, median, series)
    return xp.moveaxis(filtered, -1, axis), xp.moveaxis(outlier, -1, axis)


def hampel(x, window: int = 7, n_sigmas: float = 3.0, axis: int = 0, return_mask: bool = False):
    """Hampel filter along ``axis`` (time): replace outliers by their window median.

    A sample is an outlier when it is more than ``n_sigmas`` robust standard deviations
    (``1.4826 * MAD`` of its window) from its window median. Windows are centred, of odd
    length ``window`` (shortened to fit series shorter than it), mirrored at both ends.
    Samples in a constant stretch (MAD 0) are replaced only if they differ from the median.

    Complex input is filtered on its real and imaginary parts independently (each is a
    real signal with its own outliers); filter ``amplitude(csi)`` instead to judge
    outliers by magnitude.

    Args:
        x: real or complex array / Tensor, any shape.
        window: odd window length in samples (>= 3).
        n_sigmas: threshold in robust standard deviations (> 0).
        axis: the time axis.
        return_mask: also return the boolean outlier mask (for complex input, True where
            either part was replaced).
    """
    if not isinstance(window, (int, np.integer)) or window < 3 or window % 2 == 0:
        raise ConfigError(f"hampel window must be an odd integer >= 3, got {window!r}")
    if not n_sigmas > 0:
        raise ConfigError(f"hampel n_sigmas must be > 0, got {n_sigmas!r}")
    xp = namespace(x)
    x = xp.to_float(xp.asarray(x))
    if xp.is_complex(x):
        real, real_mask = _hampel_real(xp.real(x), window, n_sigmas, axis)
        imag, imag_mask = _hampel_real(xp.imag(x), window, n_sigmas, axis)
        filtered, mask = xp.complex(real, imag), real_mask | imag_mask
    else:
        filtered, mask = _hampel_real(x, window, n_sigmas, axis)
    return (filtered, mask) if return_mask else filtered


def normalize(x, method: str = "zscore", axis=0, eps: float = 1e-8):
    """Normalise ``x`` over ``axis`` (an int, a tuple, or None for all elements).

    ``"zscore"``: ``(x - mean) / (std + eps)`` (population std); ``"minmax"``:
    ``(x - min) / (max - min + eps)`` into [0, 1]. The default ``axis=0`` normalises
    every feature over time in ``[T, ...]`` data. ``minmax`` needs real input.
    """
    xp = namespace(x)
    x = xp.to_float(xp.asarray(x))
    if method == "zscore":
        mean = xp.mean(x, axis, keepdims=True)
        return (x - mean) / (xp.std(x, axis, keepdims=True) + eps)
    if method == "minmax":
        if xp.is_complex(x):
            raise ValueError("minmax normalisation needs real input; take amplitude() first")
        low = xp.amin(x, axis, keepdims=True)
        return (x - low) / (xp.amax(x, axis, keepdims=True) - low + eps)
    raise ConfigError(f"unknown normalisation method {method!r} (use 'zscore' or 'minmax')")
