"""60 GHz (802.11ad) sector patterns and the per-sector SNR a sector sweep reports.

One end of the link sweeps ``M`` sector patterns, the other receives with a quasi-omni
pattern; a sweep reports the SNR of every sector it decoded. Both patterns are azimuth
gain curves in the frame of the device that carries them, so a device that turns (a
router riding on a robot) turns its patterns with it. Patterns come from a
:class:`SectorCodebook`, one of:

* ``talon_like_codebook``: a parametric codebook with the statistics of a commodity
  802.11ad router (TP-Link Talon AD7200, measured by Steinmetzer et al. 2017): broad,
  irregular sectors whose peaks cover almost the whole circle, ~13 dB range per sector,
  ~4 dB spread between sectors at one azimuth, and a quasi-omni pattern that is far from
  omni (~12.6 dB max-min);
* ``load_sector_patterns``: measured patterns in the Talon tools CSV layout
  (``pan_rad,snr_mean,snr_low,snr_high``, one file per sector, ``..._rx.csv`` for the
  quasi-omni pattern), so users can plug in their own measurements;
* ``ula_codebook``: an idealised phased uniform linear array (array factor, cos^q element,
  coarse phase shifters), the textbook model.

The channel (``beam_snr``): line of sight and first-order wall reflections (image
method, :mod:`wifisense.sim.channel`) with Friis loss and oxygen absorption; paths add
in power (a 1.76 GHz wide sweep frame averages the phase of paths metres apart); diffuse
scattered power reaches every sector through its mean gain; Rician small-scale fading
per sector and sweep; optional human-blockage events on the line of sight (24-26 dB
measured); slow shadowing common to all sectors; per-reading noise; 0.25 dB reporting
steps; sectors not decoded in a sweep (below the detection threshold, or lost) are
missing values (NaN), never zeros.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from dataclasses import dataclass

import numpy as np

from wifisense.errors import CaptureError
from wifisense.sim.channel import Room, image_sources, wavelength

AZIMUTH_GRID = np.linspace(-np.pi, np.pi, 720, endpoint=False)   # 0.5 deg


def wrap_rad(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped to [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


@dataclass
class SectorCodebook:
    """Azimuth gain patterns of a sweeping device and of its peer's quasi-omni receiver.

    azimuth_rad:   float [A] ascending grid in [-pi, pi) (device frame: 0 = boresight)
    gain_dbi:      float [M, A] gain of each sector pattern
    quasi_omni_dbi: float [A] gain of the quasi-omni receive pattern
    names:         one label per sector (e.g. the firmware sector id)
    """

    azimuth_rad: np.ndarray
    gain_dbi: np.ndarray
    quasi_omni_dbi: np.ndarray
    names: list[str]

    def __post_init__(self) -> None:
        a = self.azimuth_rad
        if a.ndim != 1 or self.gain_dbi.shape != (len(self.names), a.size) \
                or self.quasi_omni_dbi.shape != a.shape:
            raise ValueError(f"codebook shapes disagree: azimuth {a.shape}, gain {self.gain_dbi.shape}, "
                             f"quasi-omni {self.quasi_omni_dbi.shape}, {len(self.names)} names")

    @property
    def num_sectors(self) -> int:
        return self.gain_dbi.shape[0]

    def peak_azimuth_deg(self) -> np.ndarray:
        """Device-frame azimuth (degrees) of each sector's strongest gain: ``[M]``."""
        return np.degrees(self.azimuth_rad[np.argmax(self.gain_dbi, axis=1)])

    def sector_gain(self, azimuth_rad: np.ndarray) -> np.ndarray:
        """Gain (dBi) of every sector towards device-frame azimuths ``[...]``: ``[..., M]``."""
        az = np.asarray(azimuth_rad, dtype=np.float64)
        return np.stack([np.interp(az, self.azimuth_rad, g, period=2 * np.pi) for g in self.gain_dbi],
                        axis=-1)

    def omni_gain(self, azimuth_rad: np.ndarray) -> np.ndarray:
        """Gain (dBi) of the quasi-omni pattern towards device-frame azimuths ``[...]``."""
        return np.interp(np.asarray(azimuth_rad, dtype=np.float64), self.azimuth_rad,
                         self.quasi_omni_dbi, period=2 * np.pi)

    def mean_linear_gain(self) -> tuple[np.ndarray, float]:
        """Azimuth-mean linear gain of each sector ``[M]`` and of the quasi-omni pattern:
        what a sector collects of power arriving evenly from all directions (diffuse)."""
        return (np.mean(10 ** (self.gain_dbi / 10), axis=1),
                float(np.mean(10 ** (self.quasi_omni_dbi / 10))))


def codebook_statistics(codebook: SectorCodebook) -> dict[str, float]:
    """The figures ``../shared/data/talon/README.md`` gives for the measured Talon patterns.

    peak_min_deg / peak_max_deg: range of the sectors' peak azimuths; sector_range_db: peak
    minus 5th percentile per sector (median over sectors); sector_spread_db: std across
    sectors at one azimuth (median over azimuths); omni_range_db: quasi-omni max - min.
    """
    g = codebook.gain_dbi
    peaks = codebook.peak_azimuth_deg()
    return {
        "sectors": float(codebook.num_sectors),
        "peak_min_deg": float(peaks.min()), "peak_max_deg": float(peaks.max()),
        "sector_range_db": float(np.median(g.max(axis=1) - np.percentile(g, 5, axis=1))),
        "sector_spread_db": float(np.median(np.std(g, axis=0))),
        "omni_range_db": float(np.ptp(codebook.quasi_omni_dbi)),
    }


def _smooth_periodic(rng: np.random.Generator, n: int, harmonics: int, std: float) -> np.ndarray:
    """``[n, A]`` smooth random periodic curves over AZIMUTH_GRID with standard deviation ~std."""
    k = np.arange(1, harmonics + 1)
    amp = rng.normal(0.0, 1.0, (n, harmonics)) / np.sqrt(k)            # more weight on slow ripple
    phase = rng.uniform(0, 2 * np.pi, (n, harmonics))
    curves = np.sum(amp[..., None] * np.cos(k[None, :, None] * AZIMUTH_GRID + phase[..., None]), axis=1)
    return std * curves / curves.std(axis=1, keepdims=True)


def talon_like_codebook(num_sectors: int = 36, seed: int = 0, peak_gain_dbi: float = 15.0,
                        omni_gain_dbi: float = 0.0) -> SectorCodebook:
    """A parametric codebook with the measured statistics of a commodity 802.11ad router.

    Each sector: one broad main lobe (Gaussian in angle, 40-80 deg std) towards a direction
    spread over -160..150 deg, two to four side lobes 2-9 dB down at random directions, a
    floor 11-15 dB below the peak, a peak 0-3 dB below the strongest sector's, and a smooth
    ripple (irregular patterns from coarse phase shifters and the housing). The quasi-omni
    receive pattern is a smooth ripple with ~12.6 dB max-min. The shape parameters were
    chosen so ``codebook_statistics`` matches the measured Talon figures (median sector range
    13.2 dB, spread across sectors 4.1 dB; checked in tests over several seeds). The codebook
    is a property of the device, not of a run: ``seed`` picks one.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 60]))
    az = AZIMUTH_GRID
    centres = np.sort(rng.uniform(np.radians(-160), np.radians(150), num_sectors))
    power = np.zeros((num_sectors, az.size))
    for m, centre in enumerate(centres):
        width = np.radians(rng.uniform(40, 80))
        lobes = [(centre, 1.0, width)]
        for _ in range(int(rng.integers(2, 5))):
            lobes.append((rng.uniform(-np.pi, np.pi), 10 ** (-rng.uniform(2, 9) / 10),
                          np.radians(rng.uniform(12, 30))))
        for direction, level, w in lobes:
            power[m] += level * np.exp(-0.5 * (wrap_rad(az - direction) / w) ** 2)
        power[m] += 10 ** (-rng.uniform(11, 15) / 10)
    gain = 10 * np.log10(power / power.max(axis=1, keepdims=True))
    gain = gain + rng.uniform(-3, 0, (num_sectors, 1)) + _smooth_periodic(rng, num_sectors, 10, 1.5)
    gain = gain - gain.max() + peak_gain_dbi
    omni = _smooth_periodic(rng, 1, 6, 3.3)[0]
    omni = omni - np.median(omni) + omni_gain_dbi
    return SectorCodebook(az.copy(), gain, omni, [f"{m:02d}" for m in range(num_sectors)])


def ula_codebook(num_sectors: int = 36, sector_deg: tuple[float, float] = (-52.5, 52.5),
                 num_elements: int = 16, element_spacing_wl: float = 0.5, phase_bits: int | None = 2,
                 element_gain_dbi: float = 5.0, element_exponent: float = 1.2,
                 back_lobe_db: float = -25.0, omni_gain_dbi: float = 0.0) -> SectorCodebook:
    """An idealised phased-ULA codebook with an isotropic peer (the textbook model)."""
    steer = np.linspace(*sector_deg, num_sectors)
    gain = beam_gain_db(steer, np.degrees(AZIMUTH_GRID), num_elements=num_elements,
                        element_spacing_wl=element_spacing_wl, phase_bits=phase_bits,
                        element_gain_dbi=element_gain_dbi, element_exponent=element_exponent,
                        back_lobe_db=back_lobe_db).T
    return SectorCodebook(AZIMUTH_GRID.copy(), gain, np.full(AZIMUTH_GRID.shape, omni_gain_dbi),
                          [f"{a:+.1f}deg" for a in steer])


def _read_pattern_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(azimuth [n], mean SNR dB [n]) of one measured pattern file, rows without a value dropped."""
    try:
        with open(path, encoding="utf-8") as f:
            header = f.readline().strip().split(",")
            rows = [line.rstrip("\n").split(",") for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise CaptureError(path, f"cannot read the pattern file ({exc})") from exc
    if header[:2] != ["pan_rad", "snr_mean"]:
        raise CaptureError(path, f"expected the header 'pan_rad,snr_mean,snr_low,snr_high', got {','.join(header)!r}")
    pan, snr = [], []
    for i, row in enumerate(rows, start=2):
        if len(row) < 2:
            raise CaptureError(path, f"line {i}: expected at least 2 columns, got {len(row)}")
        if row[1].strip() == "":
            continue     # no measurement at this angle
        try:
            pan.append(float(row[0]))
            snr.append(float(row[1]))
        except ValueError as exc:
            raise CaptureError(path, f"line {i}: pan_rad and snr_mean must be numbers ({exc})") from exc
    pan_a, snr_a = np.asarray(pan), np.asarray(snr)
    if pan_a.size < 3 or not (np.all(np.isfinite(pan_a)) and np.all(np.isfinite(snr_a))):
        raise CaptureError(path, f"need at least 3 finite (pan_rad, snr_mean) rows, got {pan_a.size}")
    order = np.argsort(wrap_rad(pan_a))
    return wrap_rad(pan_a)[order], snr_a[order]


def load_sector_patterns(folder: str | os.PathLike, peak_gain_dbi: float = 15.0,
                         omni_gain_dbi: float = 0.0) -> SectorCodebook:
    """Measured patterns from ``folder``: ``*_sector_<id>.csv`` files, ``*_sector_rx.csv`` optional.

    Values are SNR in dB at the measurement distance, so only their differences are used:
    sectors are shifted together so the strongest reading is ``peak_gain_dbi``; the
    quasi-omni pattern so its median is ``omni_gain_dbi`` (isotropic when absent). Angles
    without a measurement are filled by periodic linear interpolation.
    """
    files = sorted(glob.glob(os.path.join(os.fspath(folder), "*sector_*.csv")))
    if not files:
        raise CaptureError(folder, "no '*sector_<id>.csv' pattern files "
                           "(columns pan_rad,snr_mean,snr_low,snr_high, one file per sector)")
    sectors, omni, names = [], None, []
    for path in files:
        name = re.search(r"sector_([^/\\]+)\.csv$", path).group(1)
        pan, snr = _read_pattern_csv(path)
        curve = np.interp(AZIMUTH_GRID, pan, snr, period=2 * np.pi)
        if name == "rx":
            omni = curve
        else:
            sectors.append(curve)
            names.append(name)
    if not sectors:
        raise CaptureError(folder, "only a quasi-omni 'rx' pattern, no sector patterns")
    order = np.argsort([int(n) if n.isdigit() else 10 ** 6 for n in names], kind="stable")
    gain = np.stack(sectors)[order]
    gain = gain - gain.max() + peak_gain_dbi
    omni = (np.zeros(AZIMUTH_GRID.shape) if omni is None else omni - np.median(omni)) + omni_gain_dbi
    return SectorCodebook(AZIMUTH_GRID.copy(), gain, omni, [names[i] for i in order])


@dataclass
class BeamConfig:
    """60 GHz link budget, impairments and reporting; every knob has a physical default.

    The trajectory simulator builds it from its own flat config (``TrajectoryConfig.beam_config``)
    so every field can be set with ``--set``.
    """

    sweep_side: str = "client"        # "client": the robot's device sweeps; "ap": the AP sweeps
    carrier_hz: float = 60.48e9        # 802.11ad channel 2
    tx_power_dbm: float = 10.0
    bandwidth_hz: float = 1.76e9
    noise_figure_db: float = 10.0
    wall_reflection: float = 0.35      # amplitude; ~9 dB reflection loss of drywall/glass
    oxygen_db_per_km: float = 15.0
    diffuse_db: float = -15.0          # scattered power relative to the isotropic LOS power
    fading: bool = True                # Rician small-scale fading per sector and sweep
    rician_k_db: float = 10.0
    shadowing_std_db: float = 1.5      # slow, common to all sectors
    shadowing_correlation_s: float = 2.0
    measurement_noise_std_db: float = 0.7   # fast, independent per sector and sweep
    floor_db: float = -10.0            # lowest reportable SNR: lower readings are floored...
    detect_db: float = -7.0            # ...and readings below this are not decoded: missing
    #                                    (detect_db = floor_db: nothing goes missing this way)
    miss_prob: float = 0.02            # a decodable sector still missing from a sweep
    step_db: float | None = 0.25       # reporting resolution (None = continuous)
    blockage_rate_hz: float = 0.0      # human-blockage events on the line of sight (Poisson)
    blockage_s: tuple[float, float] = (0.5, 2.0)
    blockage_db: float = 25.0          # 24-26 dB measured for a person crossing a 60 GHz LOS
    blockage_ramp_s: float = 0.15


def beam_gain_db(pattern_angles_deg: np.ndarray, angle_deg: np.ndarray, *,
                 num_elements: int = 16, element_spacing_wl: float = 0.5,
                 phase_bits: int | None = None, element_gain_dbi: float = 5.0,
                 element_exponent: float = 1.2, back_lobe_db: float = -25.0) -> np.ndarray:
    """Gain (dBi) of each phased-ULA beam pattern towards each direction: ``[..., M]``.

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
    d = np.asarray(points)[..., :2] - np.asarray(origin)[..., :2]
    return np.degrees(np.arctan2(d[..., 1], d[..., 0]))


def blockage_loss_db(times_s: np.ndarray, cfg: BeamConfig, rng: np.random.Generator) -> np.ndarray:
    """Extra line-of-sight loss ``[T]`` (dB) from people crossing it: Poisson events, each a
    trapezoid of depth ``blockage_db`` with ``blockage_ramp_s`` edges."""
    t = np.asarray(times_s, dtype=np.float64)
    loss = np.zeros(t.shape)
    if cfg.blockage_rate_hz <= 0 or t.size == 0:
        return loss
    start = float(t.min())
    while True:
        start += rng.exponential(1.0 / cfg.blockage_rate_hz)
        if start > t.max():
            return loss
        end = start + rng.uniform(*cfg.blockage_s)
        edge = np.minimum(t - start, end - t) / max(cfg.blockage_ramp_s, 1e-9)
        loss = np.maximum(loss, cfg.blockage_db * np.clip(edge, 0.0, 1.0))
        start = end


def beam_snr(client_xy: np.ndarray, client_heading_rad: np.ndarray, ap_pos: np.ndarray,
             ap_orientation_deg: float, codebook: SectorCodebook, room: Room | None = None,
             cfg: BeamConfig | None = None, rng: np.random.Generator | None = None,
             times_s: np.ndarray | None = None, client_height: float = 0.3,
             mount_deg: float = 0.0) -> np.ndarray:
    """Reported SNR (dB) of every sector in each sweep: ``float32 [T, M]``, NaN = not reported.

    Args:
        client_xy: positions of the device on the robot ``[T, 2]`` (or ``[T, 3]``).
        client_heading_rad: its heading ``[T]`` (counter-clockwise from +x); the client's
            pattern boresight is heading + ``mount_deg``.
        ap_pos, ap_orientation_deg: access point position ``[3]`` and boresight azimuth.
        codebook: sector patterns of the sweeping side and the peer's quasi-omni pattern.
        room: adds first-order wall reflections (``cfg.wall_reflection``); None = LOS only.
        cfg: link budget and impairments (default :class:`BeamConfig`); ``cfg.sweep_side``
            says which end sweeps.
        rng: random source for fading, shadowing, noise, blockage and misses; None =
            noise-free (still floored/thresholded and quantised, nothing missing at random).
        times_s: sweep times ``[T]`` for time-correlated shadowing and blockage.
    """
    cfg = BeamConfig() if cfg is None else cfg
    if cfg.sweep_side not in ("client", "ap"):
        raise ValueError(f"sweep_side must be 'client' or 'ap', got {cfg.sweep_side!r}")
    ap = np.asarray(ap_pos, dtype=np.float64)
    client = np.asarray(client_xy, dtype=np.float64)
    if client.ndim != 2 or client.shape[1] not in (2, 3):
        raise ValueError(f"client_xy must be [T, 2] or [T, 3], got {client.shape}")
    if client.shape[1] == 2:
        client = np.c_[client, np.full(len(client), client_height)]
    heading = np.broadcast_to(np.asarray(client_heading_rad, dtype=np.float64), (len(client),))
    if room is not None:
        # one image map per wall: the image of the client seen from the AP and the image of the
        # AP seen from the client describe the same reflected path from both ends
        walls = dataclasses.replace(room, wall_reflection=cfg.wall_reflection, floor_ceiling=False)
        client_images = image_sources(client, walls, order=1, include_source=True)
        ap_images = image_sources(ap[None], walls, order=1, include_source=True).positions[0]   # [P, 3]
        sources, coefs = client_images.positions, client_images.coefficients     # [T, P, 3], [P]
    else:
        sources, coefs, ap_images = client[:, None, :], np.ones(1), ap[None]
    dist = np.linalg.norm(sources - ap, axis=-1)                                  # [T, P]
    lam = float(wavelength(cfg.carrier_hz))
    path_db = (20 * np.log10(np.abs(coefs) * lam / (4 * np.pi * dist))
               - cfg.oxygen_db_per_km * dist / 1000.0)
    at_ap = wrap_rad(np.radians(bearing_deg(ap, sources) - ap_orientation_deg))   # [T, P]
    at_client = wrap_rad(np.radians(bearing_deg(client[:, None, :], ap_images[None]))
                         - (heading + np.radians(mount_deg))[:, None])            # [T, P]
    sweep_az, peer_az = (at_client, at_ap) if cfg.sweep_side == "client" else (at_ap, at_client)
    times = (np.arange(len(client)) * cfg.shadowing_correlation_s if times_s is None
             else np.asarray(times_s, dtype=np.float64))
    if rng is not None and cfg.blockage_rate_hz > 0:
        path_db[:, 0] -= blockage_loss_db(times, cfg, rng)
    gain = codebook.sector_gain(sweep_az) + codebook.omni_gain(peer_az)[..., None]  # [T, P, M]
    specular_mw = np.sum(10 ** ((cfg.tx_power_dbm + path_db[..., None] + gain) / 10), axis=1)   # [T, M]
    # diffuse power arrives from everywhere: each sector collects it through its mean gain
    mean_sector, mean_omni = codebook.mean_linear_gain()
    los_iso_mw = 10 ** ((cfg.tx_power_dbm + 20 * np.log10(lam / (4 * np.pi * dist[:, :1]))) / 10)
    diffuse_mw = los_iso_mw * 10 ** (cfg.diffuse_db / 10) * mean_sector * mean_omni        # [T, M]
    if rng is not None and cfg.fading:
        k = 10 ** (cfg.rician_k_db / 10)
        scatter = (rng.normal(size=specular_mw.shape) + 1j * rng.normal(size=specular_mw.shape)) / np.sqrt(2)
        specular_mw = specular_mw * np.abs(np.sqrt(k / (k + 1)) + scatter / np.sqrt(k + 1)) ** 2
        diffuse_mw = diffuse_mw * rng.exponential(size=diffuse_mw.shape)
    noise_dbm = -174.0 + 10 * np.log10(cfg.bandwidth_hz) + cfg.noise_figure_db
    snr = 10 * np.log10(specular_mw + diffuse_mw) - noise_dbm
    if rng is not None:
        snr = snr + smooth_noise(times, cfg.shadowing_std_db, cfg.shadowing_correlation_s, rng)[:, None]
        snr = snr + rng.normal(0.0, cfg.measurement_noise_std_db, snr.shape)
    snr = np.maximum(snr, cfg.floor_db)
    if cfg.step_db:
        snr = np.round(snr / cfg.step_db) * cfg.step_db
    missing = snr < cfg.detect_db
    if rng is not None and cfg.miss_prob > 0:
        missing |= rng.random(snr.shape) < cfg.miss_prob
    return np.where(missing, np.nan, snr).astype(np.float32)
