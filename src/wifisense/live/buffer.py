"""A fixed-size ring of CSI packets: bounded memory however long a live source runs."""

from __future__ import annotations

import numpy as np


class PacketRing:
    """The last ``capacity`` packets of one source: times ``[capacity]`` and CSI ``[capacity, *shape]``.

    Preallocated once, so memory stays flat; a push over capacity overwrites the oldest
    packet and counts it in ``overwritten``. ``window(seconds)`` returns the packets of the
    last ``seconds`` (by packet time) in arrival order, as copies.
    """

    def __init__(self, capacity: int, shape: tuple[int, ...], dtype=np.complex64):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity, self.shape = int(capacity), tuple(shape)
        self._t = np.zeros(self.capacity, np.float64)
        self._x = np.zeros((self.capacity, *self.shape), dtype)
        self.pushed = 0
        self.overwritten = 0

    def __len__(self) -> int:
        return min(self.pushed, self.capacity)

    def push(self, t: float, csi: np.ndarray) -> None:
        if csi.shape != self.shape:
            raise ValueError(f"packet CSI shape {csi.shape} differs from the ring's {self.shape}")
        slot = self.pushed % self.capacity
        self.overwritten += self.pushed >= self.capacity
        self._t[slot] = t
        self._x[slot] = csi
        self.pushed += 1

    def _order(self) -> np.ndarray:
        n = len(self)
        start = self.pushed - n
        return (start + np.arange(n)) % self.capacity

    def latest_time(self) -> float | None:
        return float(self._t[(self.pushed - 1) % self.capacity]) if self.pushed else None

    def window(self, seconds: float, end: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(times ``[n]``, CSI ``[n, *shape]``) of the packets with ``end - seconds < t <= end``
        (``end``: the latest packet's time)."""
        order = self._order()
        t = self._t[order]
        if end is None:
            end = float(t[-1]) if t.size else 0.0
        keep = order[(t > end - seconds) & (t <= end)]
        return self._t[keep].copy(), self._x[keep].copy()
