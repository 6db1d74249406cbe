"""The in-memory form of one CSI capture, whatever tool recorded it.

Axis order is fixed everywhere in wifisense: ``csi`` is complex ``[T, S, Nrx, Ntx]``
(time/packet, subcarrier, receive antenna, transmit antenna).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class CSIRecording:
    """One capture: complex CSI ``[T, S, Nrx, Ntx]`` with timestamps in seconds.

    Attributes:
        csi: complex64 ``[T, S, Nrx, Ntx]``.
        timestamps: float64 ``[T]`` seconds, monotonic non-decreasing, starting where the
            device clock says (not necessarily at 0).
        subcarriers: int ``[S]`` subcarrier indices relative to the carrier (e.g. -28..28).
        timestamps_derived: True when the format has no usable clock and ``timestamps``
            were made from a given packet rate (``rate_hz`` hint).
        bandwidth_mhz: channel bandwidth if known.
        carrier_hz: centre frequency if known.
        rssi: optional float ``[T, Nrx]`` in dBm (or device units), if the format has it.
        source: metadata: ``format`` (intel5300, atheros, nexmon, esp32, picoscenes,
            simulated), ``path``, device details and anything format specific.
    """

    csi: np.ndarray
    timestamps: np.ndarray
    subcarriers: np.ndarray
    timestamps_derived: bool = False
    bandwidth_mhz: float | None = None
    carrier_hz: float | None = None
    rssi: np.ndarray | None = None
    source: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.csi = np.asarray(self.csi)
        if self.csi.ndim != 4:
            raise ValueError(f"csi must be [T, S, Nrx, Ntx], got shape {self.csi.shape}")
        if not np.iscomplexobj(self.csi):
            raise ValueError(f"csi must be complex, got {self.csi.dtype}")
        self.csi = self.csi.astype(np.complex64, copy=False)
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64)
        self.subcarriers = np.asarray(self.subcarriers)
        if self.timestamps.shape != (self.csi.shape[0],):
            raise ValueError(
                f"timestamps must have shape ({self.csi.shape[0]},), got {self.timestamps.shape}")
        if self.subcarriers.shape != (self.csi.shape[1],):
            raise ValueError(
                f"subcarriers must have shape ({self.csi.shape[1]},), got {self.subcarriers.shape}")

    @property
    def num_packets(self) -> int:
        return int(self.csi.shape[0])

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return tuple(self.csi.shape)  # type: ignore[return-value]

    @property
    def duration_s(self) -> float:
        return float(self.timestamps[-1] - self.timestamps[0]) if self.num_packets > 1 else 0.0

    @property
    def rate_hz(self) -> float:
        """Mean packet rate over the recording (0 for fewer than two packets)."""
        d = self.duration_s
        return (self.num_packets - 1) / d if d > 0 else 0.0
