"""Shared geometric multipath channel model: LOS, wall images, point scatterers, NIC impairments.

Every simulator builds its CSI here so the physics is written once:

* :func:`channel_response` sums propagation paths -- line of sight, wall (and optionally
  floor/ceiling) reflections found with the image method, and tx -> point scatterer -> rx
  paths -- each as ``g * lambda * exp(-j 2 pi f d / c)`` with the exact path length ``d``.
  Amplitudes follow free-space (Friis) spreading: ``gamma / (4 pi d)`` for LOS and wall
  images, ``sqrt(RCS) / ((4 pi)^1.5 d1 d2)`` for bistatic point scatterers. A body part
  that moves by ``delta`` along its bistatic path therefore turns the CSI phase by
  ``2 pi f delta / c`` on every subcarrier.
* :func:`apply_impairments` adds what a real NIC adds per packet (random common phase
  from CFO, random linear phase slope over subcarriers from STO/SFO, AGC gain jitter,
  AWGN) so that sanitisation and calibration in ``wifisense.signal`` actually matter.
* :func:`packet_times` makes irregular, monotonic packet timestamps with dropped packets.

Axis order is the project's: CSI is complex ``[T, S, Nrx, Ntx]`` (time, subcarrier,
receive antenna, transmit antenna). Positions are metres in room coordinates
``(x, y, z)`` with the floor at ``z = 0``. All randomness comes from a caller-supplied
``numpy.random.Generator``, so results are deterministic per seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from wifisense.signal.subcarriers import INTEL5300_SUBCARRIERS_20MHZ as _INTEL5300_20

SPEED_OF_LIGHT = 299_792_458.0  # m/s

# Intel 5300 CSI tool reports 30 grouped subcarriers (20 MHz, HT, grouping Ng = 2).
INTEL5300_SUBCARRIERS_20MHZ = _INTEL5300_20.astype(np.int32)
# 802.11n HT20 data + pilot subcarriers (-28..28 without DC): 56 tones.
HT20_SUBCARRIERS = np.array([k for k in range(-28, 29) if k != 0], dtype=np.int32)

# 802.11ac VHT80 channel state reported with grouping Ng = 4 (as a compressed beamforming
# report or a CSI tool that decimates): -122, -120, -116, ..., -4, -2, 2, 4, ..., 120, 122.
VHT80_NG4_SUBCARRIERS = np.array(sorted({-122, -2, 2, 122} | set(range(-120, -3, 4))
                                        | set(range(4, 121, 4))), dtype=np.int32)

# Bound on complex elements of one [t, P, S, Nrx, Ntx] block, to keep memory ~100 MB.
_MAX_BLOCK_ELEMENTS = 4_000_000


# ----------------------------------------------------------------------------- config


@dataclass
class Room:
    """An axis-aligned box room: walls at ``x0, x1`` (x) and ``y0, y1`` (y), floor z=0.

    Reflection coefficients are real amplitude factors applied per bounce (sign included;
    a negative value models the phase inversion of a good conductor).
    """

    x0: float = 0.0
    y0: float = 0.0
    x1: float = 8.0
    y1: float = 6.0
    height: float = 3.0
    wall_reflection: float = 0.5
    floor_reflection: float = 0.3
    ceiling_reflection: float = 0.3
    floor_ceiling: bool = False   # include floor/ceiling images by default?

    def __post_init__(self) -> None:
        if not (self.x1 > self.x0 and self.y1 > self.y0 and self.height > 0):
            raise ValueError(f"room must have x1 > x0, y1 > y0, height > 0; got {self}")

    @property
    def bounds(self) -> np.ndarray:
        """``float32 [4]`` ``(x0, y0, x1, y1)``, as stored in ``/meta/room``."""
        return np.array([self.x0, self.y0, self.x1, self.y1], dtype=np.float32)

    def contains(self, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Bool ``[...]``: whether ``points [..., 2 or 3]`` lie inside (x, y only)."""
        p = np.asarray(points)
        return ((p[..., 0] >= self.x0 + margin) & (p[..., 0] <= self.x1 - margin)
                & (p[..., 1] >= self.y0 + margin) & (p[..., 1] <= self.y1 - margin))


@dataclass
class ImpairmentConfig:
    """Per-packet NIC impairments; set a field to 0 / False / None to switch it off.

    Attributes:
        snr_db: AWGN level relative to ``noise_reference_power`` or, when that is None,
            to the mean power of the array passed in (after AGC); ``None`` adds no noise.
        cfo: random common phase per packet, uniform in [0, 2 pi), shared by all
            antennas of the device (residual carrier frequency offset).
        sto_slope_std: std of a random linear phase slope over the subcarrier index,
            radians per subcarrier index, per packet, shared by all antennas (STO/SFO).
        rx_chain_phase: a fixed random phase per receive chain (constant over time),
            as Intel 5300 style NICs show after every reset.
        agc_jitter_db: std of a per-packet gain (dB) shared by all antennas.
        packet_loss: fraction of packets dropped (used by :func:`packet_times`).
        timestamp_jitter_s: std of timestamp jitter (used by :func:`packet_times`).
        noise_reference_power: fixed ``|H|^2`` level that ``snr_db`` refers to, so a
            recording simulated in chunks (or a moving target) keeps one thermal noise
            floor; ``None`` uses the mean power of each call's input.
    """

    snr_db: float | None = 25.0
    cfo: bool = True
    sto_slope_std: float = 0.05
    rx_chain_phase: bool = False
    agc_jitter_db: float = 0.5
    packet_loss: float = 0.02
    timestamp_jitter_s: float = 2e-3
    noise_reference_power: float | None = None


@dataclass
class Scatterers:
    """Point scatterers: static ``positions [K, 3]`` or moving ``[T, K, 3]`` (metres).

    ``amplitudes`` are complex ``sqrt(RCS)`` in metres (``|a|^2`` is the bistatic radar
    cross-section in m^2; the angle is a reflection phase): a scalar, ``[K]`` or ``[T, K]``.
    A human body part is roughly 0.05-0.5 m^2, furniture 0.5-5 m^2.
    """

    positions: np.ndarray
    amplitudes: np.ndarray | complex | float = 1.0

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=np.float64)
        if self.positions.ndim not in (2, 3) or self.positions.shape[-1] != 3:
            raise ValueError(f"scatterer positions must be [K, 3] or [T, K, 3], "
                             f"got {self.positions.shape}")
        self.amplitudes = np.asarray(self.amplitudes, dtype=np.complex128)
        k = self.positions.shape[-2]
        if self.amplitudes.ndim == 0:
            self.amplitudes = np.full(k, self.amplitudes, dtype=np.complex128)
        if self.amplitudes.shape[-1] != k or self.amplitudes.ndim > 2:
            raise ValueError(f"scatterer amplitudes must be scalar, [K] or [T, K] with K={k}, "
                             f"got {self.amplitudes.shape}")


# ----------------------------------------------------------------------------- geometry


def wavelength(freq_hz: np.ndarray | float) -> np.ndarray:
    """Free-space wavelength in metres."""
    return SPEED_OF_LIGHT / np.asarray(freq_hz, dtype=np.float64)


def subcarrier_frequencies(carrier_hz: float, subcarrier_indices: Sequence[int] | np.ndarray,
                           spacing_hz: float = 312.5e3) -> np.ndarray:
    """Absolute frequency ``float64 [S]`` of each OFDM subcarrier index (e.g. -28..28)."""
    return carrier_hz + np.asarray(subcarrier_indices, dtype=np.float64) * spacing_hz


def linear_array(center: Sequence[float], num_elements: int, spacing_m: float,
                 azimuth_deg: float = 0.0) -> np.ndarray:
    """Antenna positions ``[N, 3]`` of a horizontal uniform linear array.

    The array axis points along ``azimuth_deg`` (counter-clockwise from +x) and the
    elements are centred on ``center``; e.g. spacing = half a wavelength.
    """
    center = np.asarray(center, dtype=np.float64)
    axis = np.array([np.cos(np.radians(azimuth_deg)), np.sin(np.radians(azimuth_deg)), 0.0])
    offsets = (np.arange(num_elements) - (num_elements - 1) / 2) * spacing_m
    return center + offsets[:, None] * axis


class ImageSources(NamedTuple):
    """Virtual sources of the image method.

    ``positions [..., P, 3]`` (leading axes as the source), ``coefficients [P]`` (product of
    reflection coefficients along each path), ``orders [P]`` (number of bounces; 0 = the
    source itself when requested).
    """

    positions: np.ndarray
    coefficients: np.ndarray
    orders: np.ndarray


def _room_planes(room: Room, floor_ceiling: bool) -> list[tuple[int, float, float]]:
    """Reflecting planes as (axis, coordinate, reflection coefficient)."""
    planes = [(0, room.x0, room.wall_reflection), (0, room.x1, room.wall_reflection),
              (1, room.y0, room.wall_reflection), (1, room.y1, room.wall_reflection)]
    if floor_ceiling:
        planes += [(2, 0.0, room.floor_reflection), (2, room.height, room.ceiling_reflection)]
    return planes


def image_sources(tx_pos: np.ndarray, room: Room, order: int = 1,
                  floor_ceiling: bool | None = None,
                  include_source: bool = False) -> ImageSources:
    """Image-method virtual transmitters of ``tx_pos [..., 3]`` in a box room.

    Mirroring the source across a wall gives a virtual source whose straight-line distance
    to any receiver equals the length of the reflected path, and whose direction seen
    from the receiver is the reflected path's angle of arrival. In a box room with both
    ends inside, every image up to any order is a valid path.

    Args:
        tx_pos: source positions ``[..., 3]``.
        room: the room.
        order: maximum number of bounces (0 gives no images; 1 = first-order reflections).
        floor_ceiling: also mirror across floor (z=0) and ceiling (z=height); ``None``
            uses ``room.floor_ceiling``.
        include_source: put the source itself first (order 0, coefficient 1).

    Returns:
        :class:`ImageSources` with positions ``[..., P, 3]``; P = 4 (or 6 with floor and
        ceiling) for ``order=1``.
    """
    tx_pos = np.asarray(tx_pos, dtype=np.float64)
    planes = _room_planes(room, room.floor_ceiling if floor_ceiling is None else floor_ceiling)
    # Each image is an affine map per axis, x' = sign * x + offset; sequences of bounces
    # that reduce to the same map (e.g. x0 then y0 vs y0 then x0) are the same image.
    seen: dict[tuple, int] = {}
    maps: list[tuple[np.ndarray, np.ndarray, float, int]] = []
    if include_source:
        maps.append((np.ones(3), np.zeros(3), 1.0, 0))
    frontier = [(np.ones(3), np.zeros(3), 1.0, -1)]
    for bounce in range(1, order + 1):
        next_frontier = []
        for sign, offset, coef, last in frontier:
            for i, (axis, coord, gamma) in enumerate(planes):
                if i == last:  # reflecting twice in a row across one plane undoes it
                    continue
                s, o = sign.copy(), offset.copy()
                s[axis], o[axis] = -s[axis], 2 * coord - o[axis]
                key = tuple(np.round(np.concatenate([s, o]), 9))
                if key in seen or (np.all(s == 1) and np.allclose(o, 0)):
                    continue
                seen[key] = len(maps)
                maps.append((s, o, coef * gamma, bounce))
                next_frontier.append((s, o, coef * gamma, i))
        frontier = next_frontier
    if not maps:
        return ImageSources(np.zeros(tx_pos.shape[:-1] + (0, 3)), np.zeros(0), np.zeros(0, int))
    signs = np.stack([m[0] for m in maps])      # [P, 3]
    offsets = np.stack([m[1] for m in maps])    # [P, 3]
    positions = tx_pos[..., None, :] * signs + offsets
    return ImageSources(positions, np.array([m[2] for m in maps]),
                        np.array([m[3] for m in maps], dtype=int))


# ----------------------------------------------------------------------------- channel


def _with_time_axis(x: np.ndarray, base_ndim: int, name: str) -> np.ndarray:
    """Add a length-1 leading time axis when ``x`` has no time axis."""
    x = np.asarray(x)
    if x.ndim == base_ndim:
        return x[None]
    if x.ndim == base_ndim + 1:
        return x
    raise ValueError(f"{name} must have {base_ndim} or {base_ndim + 1} dims, got {x.shape}")


def _sum_paths(gain: np.ndarray, length: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """``H[t, s, r, n] = lambda_s * sum_p gain[t,p,r,n] * exp(-j 2 pi f_s length[t,p,r,n] / c)``.

    Chunked over time to bound memory. The phase is reduced modulo one cycle in float64
    before the float32 cos/sin, so millimetre path changes stay exact at GHz carriers.
    """
    t, p, r, n = gain.shape
    s = freqs.shape[0]
    out = np.empty((t, s, r, n), dtype=np.complex64)
    step = max(1, _MAX_BLOCK_ELEMENTS // max(1, p * s * r * n))
    lam = wavelength(freqs).astype(np.float32)[None, :, None, None]
    for start in range(0, t, step):
        stop = min(t, start + step)
        cycles = length[start:stop, :, None] * (freqs[None, None, :, None, None] / SPEED_OF_LIGHT)
        phase = (np.mod(cycles, 1.0) * (-2 * np.pi)).astype(np.float32)  # [t, P, S, R, N]
        g = gain[start:stop, :, None].astype(np.complex64)
        paths = g * (np.cos(phase) + 1j * np.sin(phase)).astype(np.complex64)
        out[start:stop] = paths.sum(axis=1) * lam
    return out


def _specular_paths(tx: np.ndarray, rx: np.ndarray, room: Room | None, include_los: bool,
                    reflection_order: int, floor_ceiling: bool | None):
    """LOS + image paths: gains and lengths ``[t, P, Nrx, Ntx]`` for tx ``[t, Ntx, 3]``."""
    if room is not None and reflection_order > 0:
        images = image_sources(tx, room, reflection_order, floor_ceiling, include_source=include_los)
    elif include_los:
        images = ImageSources(tx[..., None, :], np.ones(1), np.zeros(1, int))
    else:
        return None
    src = images.positions                                   # [t, Ntx, P, 3]
    # [t, P, Nrx, Ntx]: distance from every virtual source to every rx antenna
    d = np.linalg.norm(src.transpose(0, 2, 1, 3)[:, :, None, :, :] - rx[:, None, :, None, :],
                       axis=-1)
    gain = images.coefficients[None, :, None, None] / (4 * np.pi * d)
    return gain, d


def _scatterer_paths(tx: np.ndarray, rx: np.ndarray, sc: Scatterers):
    """tx -> scatterer -> rx paths: gains and lengths ``[t, K, Nrx, Ntx]``."""
    pos = _with_time_axis(sc.positions, 2, "scatterer positions")        # [t, K, 3]
    amp = _with_time_axis(sc.amplitudes, 1, "scatterer amplitudes")      # [t, K]
    d_tx = np.linalg.norm(pos[:, :, None, :] - tx[:, None, :, :], axis=-1)  # [t, K, Ntx]
    d_rx = np.linalg.norm(pos[:, :, None, :] - rx[:, None, :, :], axis=-1)  # [t, K, Nrx]
    length = d_rx[:, :, :, None] + d_tx[:, :, None, :]
    gain = amp[:, :, None, None] / ((4 * np.pi) ** 1.5 * d_rx[:, :, :, None] * d_tx[:, :, None, :])
    return gain, length


def channel_response(tx_pos: np.ndarray, rx_pos: np.ndarray, freqs: np.ndarray,
                     room: Room | None = None,
                     scatterers: Scatterers | Sequence[Scatterers] | None = None,
                     static_scatterers: Scatterers | Sequence[Scatterers] | None = None,
                     tx_antennas: np.ndarray | None = None, *,
                     include_los: bool = True, reflection_order: int = 1,
                     floor_ceiling: bool | None = None) -> np.ndarray:
    """Noise-free channel frequency response ``complex64 [T, S, Nrx, Ntx]``.

    Sum over paths of ``g * lambda_s * exp(-j 2 pi f_s d / c)`` with exact path lengths:

    * LOS: ``g = 1 / (4 pi d)`` (Friis amplitude; ``|H|^2`` is the free-space power gain),
    * wall images (``room`` given, ``reflection_order >= 1``): ``g = gamma / (4 pi d)``,
    * point scatterers: ``g = a / ((4 pi)^1.5 d_tx d_rx)`` with ``d = d_tx + d_rx`` and
      ``a = sqrt(RCS)`` (bistatic radar equation, amplitude form).

    Anything may move: a leading time axis ``T`` on ``tx_pos``, ``rx_pos`` or scatterer
    positions/amplitudes makes that part time-varying; parts without one are computed
    once and broadcast (cheap for static backgrounds).

    Args:
        tx_pos: transmitter reference position ``[3]`` or ``[T, 3]``.
        rx_pos: receive antenna positions ``[Nrx, 3]`` or ``[T, Nrx, 3]``.
        freqs: subcarrier frequencies ``[S]`` in Hz (see :func:`subcarrier_frequencies`).
        room: box room for wall reflections; ``None`` = free space.
        scatterers: moving (or static) point scatterers, e.g. body parts.
        static_scatterers: more point scatterers, e.g. furniture; same type, kept
            separate only for readability at call sites.
        tx_antennas: transmit antenna offsets ``[Ntx, 3]`` from ``tx_pos`` (default one
            antenna at ``tx_pos``).
        include_los: include the direct path (set False e.g. when a wall blocks it).
        reflection_order: image-method order (0 = no wall reflections).
        floor_ceiling: also reflect off floor/ceiling; ``None`` uses ``room.floor_ceiling``.

    Returns:
        ``complex64 [T, S, Nrx, Ntx]`` with ``T = 1`` when nothing varies in time.
    """
    freqs = np.asarray(freqs, dtype=np.float64)
    if freqs.ndim != 1:
        raise ValueError(f"freqs must be [S], got {freqs.shape}")
    tx_ref = _with_time_axis(np.asarray(tx_pos, dtype=np.float64), 1, "tx_pos")   # [t, 3]
    offsets = np.zeros((1, 3)) if tx_antennas is None else np.asarray(tx_antennas, np.float64)
    if offsets.ndim != 2 or offsets.shape[1] != 3:
        raise ValueError(f"tx_antennas must be [Ntx, 3], got {offsets.shape}")
    tx = tx_ref[:, None, :] + offsets[None]                                        # [t, Ntx, 3]
    rx = _with_time_axis(np.asarray(rx_pos, dtype=np.float64), 2, "rx_pos")       # [t, Nrx, 3]

    groups: list[Scatterers] = []
    for item in (scatterers, static_scatterers):
        if item is None:
            continue
        groups.extend([item] if isinstance(item, Scatterers) else list(item))

    lengths = [tx.shape[0], rx.shape[0]]
    for sc in groups:
        lengths += [sc.positions.shape[0] if sc.positions.ndim == 3 else 1,
                    sc.amplitudes.shape[0] if sc.amplitudes.ndim == 2 else 1]
    num_t = max(lengths)
    if any(n not in (1, num_t) for n in lengths):
        raise ValueError(f"time axes disagree: lengths {sorted(set(lengths))}")

    # Geometry (tx/rx) either varies in time or not; scatterer groups may add their own T.
    geometry_moves = tx.shape[0] > 1 or rx.shape[0] > 1
    h = np.zeros((1, freqs.size, rx.shape[1], tx.shape[1]), dtype=np.complex64)
    specular = _specular_paths(tx, rx, room, include_los, reflection_order, floor_ceiling)
    if specular is not None:
        h = h + _sum_paths(*specular, freqs)
    for sc in groups:
        sc_moves = sc.positions.ndim == 3 or sc.amplitudes.ndim == 2
        if not (geometry_moves or sc_moves):
            h = h + _sum_paths(*_scatterer_paths(tx, rx, sc), freqs)
            continue
        # broadcast everything to T so each path gets its own exact length per packet
        tx_t = np.broadcast_to(tx, (num_t,) + tx.shape[1:])
        rx_t = np.broadcast_to(rx, (num_t,) + rx.shape[1:])
        h = h + _sum_paths(*_scatterer_paths(tx_t, rx_t, sc), freqs)
    if h.shape[0] != num_t:
        h = np.broadcast_to(h, (num_t,) + h.shape[1:])
    return np.ascontiguousarray(h, dtype=np.complex64)


# ----------------------------------------------------------------------------- impairments


def apply_impairments(h: np.ndarray, subcarrier_indices: Sequence[int] | np.ndarray,
                      cfg: ImpairmentConfig, rng: np.random.Generator) -> np.ndarray:
    """What one receiving NIC does to a clean channel ``h [T, S, Nrx, Ntx]``.

    Per packet (all antennas of the device share one oscillator and one AGC):
    ``h' = g_t * exp(j (phi_t + k * beta_t + psi_r)) * h + noise`` with a random common
    phase ``phi_t`` (CFO), a random slope ``beta_t`` over the subcarrier index ``k``
    (STO/SFO), a fixed phase ``psi_r`` per receive chain (if enabled), an AGC gain
    ``g_t`` (log-normal, ``agc_jitter_db``) and complex AWGN at ``snr_db`` relative to the
    mean power of the gained channel (or ``cfg.noise_reference_power``). Because
    ``phi_t`` and ``beta_t`` are shared by the antennas, conjugate multiplication across
    antennas cancels them exactly (without noise). Simulate several receivers by calling
    this once per receiver.

    Returns a new ``complex64`` array of the same shape.
    """
    h = np.asarray(h)
    if h.ndim != 4:
        raise ValueError(f"h must be [T, S, Nrx, Ntx], got {h.shape}")
    num_t, num_s, num_rx, _ = h.shape
    k = np.asarray(subcarrier_indices, dtype=np.float64)
    if k.shape != (num_s,):
        raise ValueError(f"subcarrier_indices must have shape ({num_s},), got {k.shape}")
    phase = np.zeros((num_t, num_s, num_rx, 1))
    if cfg.cfo:
        phase += rng.uniform(0.0, 2 * np.pi, num_t)[:, None, None, None]
    if cfg.sto_slope_std:
        phase += (rng.normal(0.0, cfg.sto_slope_std, num_t)[:, None] * k)[:, :, None, None]
    if cfg.rx_chain_phase:
        phase += rng.uniform(0.0, 2 * np.pi, num_rx)[None, None, :, None]
    gain_db = (rng.normal(0.0, cfg.agc_jitter_db, num_t) if cfg.agc_jitter_db
               else np.zeros(num_t))
    factor = (10 ** (gain_db / 20))[:, None, None, None] * np.exp(1j * phase)
    out = h.astype(np.complex128) * factor
    if cfg.snr_db is not None:
        signal_power = (float(np.mean(np.abs(out) ** 2)) if cfg.noise_reference_power is None
                        else cfg.noise_reference_power)
        noise_std = np.sqrt(signal_power / 10 ** (cfg.snr_db / 10) / 2)
        out = out + noise_std * (rng.standard_normal(out.shape)
                                 + 1j * rng.standard_normal(out.shape))
    return out.astype(np.complex64)


def packet_times(duration_s: float, rate_hz: float, jitter_s: float = 0.0, loss: float = 0.0,
                 rng: np.random.Generator | None = None, start_s: float = 0.0) -> np.ndarray:
    """Irregular packet timestamps ``float64 [N]`` in ``[start_s, start_s + duration_s)``.

    A nominal grid at ``rate_hz`` gets Gaussian jitter (std ``jitter_s``, clipped to
    0.45 of a period so the order never changes) and each packet is dropped with
    probability ``loss``. The result is strictly increasing; its mean rate is
    ``rate_hz * (1 - loss)``.
    """
    if rate_hz <= 0 or duration_s <= 0:
        raise ValueError(f"rate_hz and duration_s must be positive, got {rate_hz}, {duration_s}")
    if not 0.0 <= loss < 1.0:
        raise ValueError(f"loss must be in [0, 1), got {loss}")
    rng = np.random.default_rng() if rng is None else rng
    period = 1.0 / rate_hz
    nominal = np.arange(int(np.ceil(duration_s * rate_hz))) * period
    bound = 0.45 * period
    jitter = np.clip(rng.normal(0.0, jitter_s, nominal.size), -bound, bound) if jitter_s else 0.0
    t = nominal + jitter + (bound if jitter_s else 0.0)  # shift so t >= 0 stays in range
    keep = rng.random(nominal.size) >= loss
    t = t[keep & (t < duration_s)]
    return start_s + t
