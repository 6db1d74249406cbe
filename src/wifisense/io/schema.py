"""In-memory forms of the two dataset kinds and the HDF5 schema they map to.

Simulators and ``wifisense ingest`` build these; ``wifisense.io.store`` writes, reads
and validates them. Axis orders are fixed:

Caption dataset (``kind = "caption"``), HDF5 layout::

    /                 attrs: schema="wifisense", schema_version, kind="caption", writer
    /csi              complex64 [N, R, T, A, S]   receivers, time, antenna pairs, subcarriers
                      or, with attr encoding="float16_scaled" (schema version 2), float16
                      [N, R, T, A, S, 2] (real, imaginary) times /csi_scale float32 [N, R]
                      (each clip and receiver scaled to a peak component of 1: half the
                      bytes, ~-66 dB quantisation noise; readers return complex64 either way)
    /rx_valid         bool      [N, R]            False where a receiver is missing (dropout)
    /gap_mask         bool      [N, R, T]         True where a time step had no packet (optional)
    /class_id         int32     [N]
    /captions         vlen str  [N, K]            K >= 1 captions per clip (paraphrases); a clip
                                                  with fewer than K ends in "" padding
    /position         float32   [N, 2]            person position in metres (NaN if unknown)
    /position_id      int32     [N]               grid cell id (-1 if unknown)
    /frames           uint8     [N, L, H, W, 3]   L RGB frames per clip (optional)
    /groups/<name>    int32     [N]               per-clip group columns, e.g. subject or session
                                                  (optional; ``split --by group:<name>``)
    /meta/class_names vlen str  [C]
    /meta/mirror_of   int32     [C]               class id of the mirrored action (itself if symmetric)
    /meta/subcarriers int32     [S]
    /meta/rx_positions float32  [R, 3]
    /meta/tx_position float32   [3]
    /meta             attrs: sample_rate_hz, clip_seconds, carrier_hz, bandwidth_mhz, source
    /splits/<name>    int64     [n]               sample indices, e.g. train / val / test
    (root attr extra_json: the dataset's free-form ``attrs`` as JSON; axis 0 of per-clip
    arrays is resizable so clips can be appended; /gap_mask and /frames are the only
    optional per-clip fields)

Multi-band stream dataset (``kind = "multiband"``): continuous streams, windows are cut
at load time::

    /csi/t            float64   [Nc]              seconds, strictly increasing
    /csi/x            complex64 [Nc, S, Nrx, Ntx] 5 GHz CSI
    /snr/t            float64   [Ns]              (both /snr fields or neither: a CSI-only store,
                                                  e.g. a public localisation data set)
    /snr/x            float32   [Ns, M]           60 GHz beam SNR in dB, one column per beam;
                                                  NaN = that beam sector was missing from the sweep
                                                  (a missing value, never an observed reading)
    /pose/t           float64   [Np]
    /pose/xy          float32   [Np, 2]           ground-truth position in metres
    /pose/heading     float32   [Np]              robot heading in radians, counter-clockwise from
                                                  +x, wrapped to (-pi, pi] (absent: unknown)
    /meta/subcarriers int32     [S]
    /meta/beam_angles_deg float32 [M]             beam pattern steering angles (optional)
    /meta/ap_position float32   [3]
    /meta/room        float32   [4]               x0, y0, x1, y1 in metres
    /meta/segments    float64   [K, 2]            optional: start and end (s) of each separate
                                                  recording, in time order, not overlapping;
                                                  windows never cross from one to the next
    /meta             attrs: csi_carrier_hz, snr_carrier_hz, csi_bandwidth_mhz, source
    /splits/<name>    int64     [n]               optional, indices into pose samples
    (NaN only where it means unknown: a missing beam sector in /snr/x, an unknown
    /meta/ap_position; /snr, /pose/heading, /meta/beam_angles_deg and /meta/segments are the
    only optional datasets)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SCHEMA_NAME = "wifisense"
# 1: the first layout; 2: adds the compact CSI encoding (a store uses version 2 only when
# its CSI is compact, so older wifisense versions still read every other store).
SCHEMA_VERSION = 2
CSI_ENCODINGS = ("complex64", "float16")
GROUPS = "groups"            # the HDF5 group of a caption store's per-clip group columns


@dataclass
class CaptionDataset:
    """Clips of multi-receiver CSI with captions (and optionally rendered frames)."""

    csi: np.ndarray                 # complex64 [N, R, T, A, S]
    rx_valid: np.ndarray            # bool [N, R]
    class_id: np.ndarray            # int32 [N]
    captions: list[list[str]]       # N lists of K >= 1 strings
    class_names: list[str]          # [C]
    mirror_of: np.ndarray           # int32 [C]
    subcarriers: np.ndarray         # int32 [S]
    sample_rate_hz: float
    clip_seconds: float
    rx_positions: np.ndarray        # float32 [R, 3]
    tx_position: np.ndarray         # float32 [3]
    position: np.ndarray | None = None      # float32 [N, 2]
    position_id: np.ndarray | None = None   # int32 [N]
    frames: np.ndarray | None = None        # uint8 [N, L, H, W, 3]
    gap_mask: np.ndarray | None = None      # bool [N, R, T]
    carrier_hz: float | None = None
    bandwidth_mhz: float | None = None
    splits: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = "simulated"
    attrs: dict = field(default_factory=dict)   # extra metadata (e.g. simulator config JSON)
    csi_encoding: str = "complex64"             # how /csi is stored: "complex64" or "float16" (compact)
    # per-clip integer group columns (/groups/NAME: subject, session, distance...) for `split group:NAME`
    groups: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class MultiBandDataset:
    """Asynchronous continuous streams: 5 GHz CSI, 60 GHz beam SNR, ground-truth positions."""

    csi_t: np.ndarray               # float64 [Nc]
    csi_x: np.ndarray               # complex64 [Nc, S, Nrx, Ntx]
    snr_t: np.ndarray | None        # float64 [Ns]; None (with snr_x): a CSI-only store
    snr_x: np.ndarray | None        # float32 [Ns, M], NaN where a beam sector was missing
    pose_t: np.ndarray              # float64 [Np]
    pose_xy: np.ndarray             # float32 [Np, 2]
    subcarriers: np.ndarray         # int32 [S]
    ap_position: np.ndarray         # float32 [3]
    room: np.ndarray                # float32 [4]
    pose_heading: np.ndarray | None = None      # float32 [Np] radians, CCW from +x, in (-pi, pi]
    beam_angles_deg: np.ndarray | None = None   # float32 [M]
    csi_carrier_hz: float | None = None
    snr_carrier_hz: float | None = None
    csi_bandwidth_mhz: float | None = None
    splits: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = "simulated"
    attrs: dict = field(default_factory=dict)
    segments: np.ndarray | None = None          # float64 [K, 2] separate recordings' (start, end)


def wrap_heading(radians) -> np.ndarray:
    """Angles in radians wrapped to (-pi, pi], the range ``/pose/heading`` stores."""
    radians = np.asarray(radians, dtype=np.float64)
    # pi - mod(pi - a, 2 pi) lands in (-pi, pi]: +pi stays +pi and -pi becomes +pi
    return np.pi - np.mod(np.pi - radians, 2 * np.pi)
