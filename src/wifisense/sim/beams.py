"""60 GHz (802.11ad-like) directional beam patterns and the beam-SNR a sector sweep reports.

An access point sweeps ``M`` beam patterns (sectors) made by a phased uniform linear
array; each pattern has a main lobe steered to one angle and array-factor side lobes
(uniform weighting gives the classic -13 dB first side lobe; coarse phase shifters, as in
commodity 802.11ad radios, make them irregular). The SNR of each sector towards a
target combines the line-of-sight path and first-order wall reflections (image method
from :mod:`wifisense.sim.channel`), Friis path loss and oxygen absorption at 60 GHz,
thermal noise, slow shadowing and per-measurement noise, then the radio's SNR floor and
reporting step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from wifisense.sim.channel import Room, image_sources, wavelength


@dataclass
class BeamConfig:
    """60 GHz link budget and sector codebook; every knob has a realistic default."""

    num_beams: int = 36
    sector_deg: tuple[float, float] = (-52.5, 52.5)  # steering range around boresight
    num_elements: int = 16
    element_spacing_wl: float = 0.5
    phase_bits: int | None = 2           # phase-shifter resolution; None = ideal phases
    element_gain_dbi: float = 5.0
    element_exponent: float = 1.2        # element pattern cos(theta)^q
    back_lobe_db: float = -25.0          # floor of the element pattern behind the array
    carrier_hz: float = 60.48e9          # 802.11ad channel 2
    tx_power_dbm: float = 10.0
    target_gain_dbi: float = 0.0         # quasi-omni antenna on the target
    bandwidth_hz: float = 1.76e9
    noise_figure_db: float = 10.0
    wall_reflection: float = 0.35        # amplitude; ~9 dB reflection loss of drywall/glass
    oxygen_db_per_km: float = 15.0
    shadowing_std_db: float = 1.5        # slow, common to all beams
    shadowing_correlation_s: float = 2.0
    measurement_noise_std_db: float = 0.7  # fast, independent per beam and sweep
    snr_floor_db: float = -10.0
    snr_step_db: float | None = 0.25     # reporting resolution (None = continuous)

    def steering_angles_deg(self) -> np.ndarray:
        """``float32 [M]`` steering angle of each beam, relative to the array boresight."""
        return np.linspace(*self.sector_deg, self.num_beams).astype(np.float32)


def beam_gain_db(pattern_angles_deg: np.ndarray, angle_deg: np.ndarray, *,
                 num_elements: int = 16, element_spacing_wl: float = 0.5,
                 phase_bits: int | None = None, element_gain_dbi: float = 5.0,
                 element_exponent: float = 1.2, back_lobe_db: float = -25.0) -> np.ndarray:
    """Gain (dBi) of each beam pattern towards each direction: ``[..., M]``.

    Args:
        pattern_angles_deg: steering angles ``[M]`` (degrees from boresight).
        angle_deg: directions ``[...]`` (degrees from boresight, azimuth).
        num_elements, element_spacing_wl: the uniform linear array.
        phase_bits: quantise the steering phases to this many bits (None = exact).
        element_gain_dbi, element_exponent, back_lobe_db: element pattern
            ``element_gain_dbi + 10 q log10(cos theta)``, floored at ``back_lobe_db``
            below the peak.

    The array factor is normalised so a beam's peak gain is ``element_gain_dbi +
    10 log10(N)`` (full array gain) when it points at boresight.
    """
    steer = np.radians(np.asarray(pattern_angles_deg, dtype=np.float64))
    theta = np.radians(np.asarray(angle_deg, dtype=np.float64))
    n = np.arange(num_elements)
    phases = -2 * np.pi * element_spacing_wl * n[None, :] * np.sin(steer)[:, None]  # [M, N]
    if phase_bits is not None:
        step = 2 * np.pi / 2 ** phase_bits
        phases = np.round(phases / step) * step
    weights = np.exp(1j * phases) / np.sqrt(num_elements)                          # [M, N]
    steering_vector = np.exp(2j * np.pi * element_spacing_wl * n * np.sin(theta)[..., None])
    array_factor = np.abs(steering_vector @ weights.T) ** 2                         # [..., M]
    cos_theta = np.cos(theta)[..., None]
    element_db = np.where(cos_theta > 0,
                          10 * element_exponent * np.log10(np.clip(cos_theta, 1e-12, None)),
                          back_lobe_db)
    element_db = np.maximum(element_db, back_lobe_db)
    return element_gain_dbi + element_db + 10 * np.log10(np.maximum(array_factor, 1e-12))


def smooth_noise(times_s: np.ndarray, std: float, correlation_s: float,
                 rng: np.random.Generator) -> np.ndarray:
    """A slowly varying Gaussian process ``[T]``: knots every ``correlation_s``, linear interp."""
    times_s = np.asarray(times_s, dtype=np.float64)
    if times_s.size == 0 or std == 0:
        return np.zeros(times_s.shape)
    start, stop = float(times_s.min()), float(times_s.max())
    knots = np.arange(start, stop + correlation_s, correlation_s)
    if knots.size < 2:
        knots = np.array([start, start + correlation_s])
    return np.interp(times_s, knots, rng.normal(0.0, std, knots.size))


def bearing_deg(origin: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Azimuth (degrees, counter-clockwise from +x) from ``origin`` to ``points [..., 2+]``."""
    d = np.asarray(points)[..., :2] - np.asarray(origin)[:2]
    return np.degrees(np.arctan2(d[..., 1], d[..., 0]))


def _wrap_deg(angle: np.ndarray) -> np.ndarray:
    return (np.asarray(angle) + 180.0) % 360.0 - 180.0


def beam_snr(ap_pos: np.ndarray, ap_orientation_deg: float, target_pos: np.ndarray,
             room: Room | None = None, cfg: BeamConfig | None = None,
             rng: np.random.Generator | None = None, times_s: np.ndarray | None = None,
             target_height: float = 0.3) -> np.ndarray:
    """Reported SNR (dB) of every beam pattern towards targets: ``float32 [T, M]``.

    Args:
        ap_pos: access-point array position ``[3]``.
        ap_orientation_deg: azimuth of the array boresight (degrees from +x).
        target_pos: target positions ``[T, 2]`` (``target_height`` added) or ``[T, 3]``.
        room: adds first-order wall reflections (with ``cfg.wall_reflection``); None = LOS only.
        cfg: link budget and codebook (default :class:`BeamConfig`).
        rng: random source for shadowing and measurement noise; ``None`` = noise-free
            (no shadowing, no measurement noise, still floored and quantised).
        times_s: sample times ``[T]``, so shadowing is correlated in time; ``None`` treats
            the samples as ``correlation_s`` apart.

    Paths add incoherently (power sum): a sector sweep averages over a frame, and at
    5 mm wavelength the coherent phase would be pure noise at pose accuracy.
    """
    cfg = BeamConfig() if cfg is None else cfg
    ap_pos = np.asarray(ap_pos, dtype=np.float64)
    target = np.asarray(target_pos, dtype=np.float64)
    if target.ndim != 2 or target.shape[1] not in (2, 3):
        raise ValueError(f"target_pos must be [T, 2] or [T, 3], got {target.shape}")
    if target.shape[1] == 2:
        target = np.c_[target, np.full(len(target), target_height)]
    if room is not None:
        reflecting = dataclasses.replace(room, wall_reflection=cfg.wall_reflection,
                                         floor_ceiling=False)
        images = image_sources(target, reflecting, order=1, include_source=True)
        sources, coefs = images.positions, images.coefficients                 # [T, P, 3], [P]
    else:
        sources, coefs = target[:, None, :], np.ones(1)
    dist = np.linalg.norm(sources - ap_pos, axis=-1)                             # [T, P]
    lam = float(wavelength(cfg.carrier_hz))
    path_gain_db = (20 * np.log10(np.abs(coefs) * lam / (4 * np.pi * dist))
                    - cfg.oxygen_db_per_km * dist / 1000.0)
    angle = _wrap_deg(bearing_deg(ap_pos, sources) - ap_orientation_deg)          # [T, P]
    gain = beam_gain_db(cfg.steering_angles_deg(), angle, num_elements=cfg.num_elements,
                        element_spacing_wl=cfg.element_spacing_wl, phase_bits=cfg.phase_bits,
                        element_gain_dbi=cfg.element_gain_dbi,
                        element_exponent=cfg.element_exponent,
                        back_lobe_db=cfg.back_lobe_db)                           # [T, P, M]
    rx_dbm = cfg.tx_power_dbm + cfg.target_gain_dbi + path_gain_db[..., None] + gain
    rx_mw = np.sum(10 ** (rx_dbm / 10), axis=1)                                  # [T, M]
    noise_dbm = -174.0 + 10 * np.log10(cfg.bandwidth_hz) + cfg.noise_figure_db
    snr = 10 * np.log10(rx_mw) - noise_dbm
    if rng is not None:
        t = (np.arange(len(target)) * cfg.shadowing_correlation_s if times_s is None
             else np.asarray(times_s, dtype=np.float64))
        snr = snr + smooth_noise(t, cfg.shadowing_std_db, cfg.shadowing_correlation_s, rng)[:, None]
        snr = snr + rng.normal(0.0, cfg.measurement_noise_std_db, snr.shape)
    snr = np.maximum(snr, cfg.snr_floor_db)
    if cfg.snr_step_db:
        snr = np.round(snr / cfg.snr_step_db) * cfg.snr_step_db
    return snr.astype(np.float32)
