"""Subcarrier index sets for 802.11n (pilots, nulls, Intel 5300 groups) and selecting subcarriers by index."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from wifisense.signal._backend import host_array, namespace

# 802.11n HT20 (64-point FFT): data and pilots on -28..-1, 1..28; pilots at +-7, +-21.
HT20_PILOT_SUBCARRIERS = np.array([-21, -7, 7, 21])
# DC plus the guard bands at both edges of the FFT.
HT20_NULL_SUBCARRIERS = np.array([-32, -31, -30, -29, 0, 29, 30, 31])
# 802.11n HT40 (128-point FFT): data and pilots on -58..-2, 2..58; pilots at +-11, +-25, +-53.
HT40_PILOT_SUBCARRIERS = np.array([-53, -25, -11, 11, 25, 53])
HT40_NULL_SUBCARRIERS = np.concatenate([np.arange(-64, -58), [-1, 0, 1], np.arange(59, 64)])

# The 30 subcarrier groups the Intel 5300 CSI Tool reports (802.11n grouping Ng = 2 at 20 MHz,
# Ng = 4 at 40 MHz).
INTEL5300_SUBCARRIERS_20MHZ = np.concatenate(
    [np.arange(-28, 0, 2), [-1], np.arange(1, 28, 2), [28]])
INTEL5300_SUBCARRIERS_40MHZ = np.concatenate([np.arange(-58, 0, 4), np.arange(2, 59, 4)])


def pilot_and_null_subcarriers(bandwidth_mhz: int) -> np.ndarray:
    """The 802.11n pilot and null (DC, guard) subcarrier indices for 20 or 40 MHz."""
    if bandwidth_mhz == 20:
        return np.union1d(HT20_PILOT_SUBCARRIERS, HT20_NULL_SUBCARRIERS)
    if bandwidth_mhz == 40:
        return np.union1d(HT40_PILOT_SUBCARRIERS, HT40_NULL_SUBCARRIERS)
    raise ValueError(f"no 802.11n pilot/null table for {bandwidth_mhz} MHz (have 20 and 40)")


def _infer_bandwidth_mhz(subcarriers: np.ndarray) -> int:
    widest = int(np.max(np.abs(subcarriers))) if subcarriers.size else 0
    if widest <= 32:
        return 20
    if widest <= 64:
        return 40
    raise ValueError(
        f"subcarrier indices reach {widest}; pass drop= explicitly for bandwidths above 40 MHz")


def select_subcarriers(csi, subcarriers, keep: Iterable[int], axis: int = -3):
    """Keep the subcarriers whose index is in ``keep``, in their original order.

    Returns ``(csi_kept, subcarriers_kept)``; the indices come back as a NumPy array.
    """
    indices = host_array(subcarriers).reshape(-1)
    if csi.shape[axis] != indices.size:
        raise ValueError(
            f"subcarriers has {indices.size} entries but axis {axis} of the CSI has {csi.shape[axis]}")
    positions = np.flatnonzero(np.isin(indices, np.asarray(list(keep))))
    return namespace(csi).take(csi, positions, axis), indices[positions]


def drop_subcarriers(csi, subcarriers, drop: Iterable[int] | None = None, axis: int = -3):
    """Remove the subcarriers whose index is in ``drop`` (pilots, guards, DC by default).

    With ``drop=None`` the 802.11n pilot and null set is used for 20 MHz when every
    index is within +-32, else for 40 MHz when within +-64. Returns
    ``(csi_kept, subcarriers_kept)``.
    """
    indices = host_array(subcarriers).reshape(-1)
    if drop is None:
        drop = pilot_and_null_subcarriers(_infer_bandwidth_mhz(indices))
    keep = np.setdiff1d(indices, np.asarray(list(drop)))
    return select_subcarriers(csi, indices, keep, axis)
