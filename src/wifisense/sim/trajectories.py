"""Robot-trajectory simulator for tracking: rectangular loops seen at 5 GHz (CSI) and 60 GHz (beam SNR).

A robot drives rectangular loops (several rectangles of varying size and offset, smooth
corners, per-loop speed, slowing down in turns) in a box room. A dual-band access point
sits in a corner:

* 5 GHz: a 4-antenna uniform linear array receives CSI from the robot's single
  transmit antenna through LOS, wall images and static furniture scatterers
  (:mod:`wifisense.sim.channel`), at tens of Hz with timestamp jitter, packet loss and
  NIC impairments;
* 60 GHz: a phased array sweeps ``M`` beam patterns and reports the SNR of each
  (:mod:`wifisense.sim.beams`) at a few Hz with irregular contention gaps;
* ground-truth positions at 10 Hz.

The three streams are asynchronous, exactly as ``wifisense.io.schema.MultiBandDataset``
stores them. A run is fully determined by its config and seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from dataclasses import dataclass

import numpy as np

from wifisense.errors import ConfigError
from wifisense.overrides import apply_overrides, fields_help
from wifisense.io.schema import MultiBandDataset, wrap_heading
import wifisense.sim.beams as beams
import wifisense.sim.channel as channel

SUBCARRIER_SETS = {
    "intel5300": channel.INTEL5300_SUBCARRIERS_20MHZ,   # 30 grouped tones
    "ht20": channel.HT20_SUBCARRIERS,                   # 56 tones
    "vht80_ng4": channel.VHT80_NG4_SUBCARRIERS,         # 64 grouped tones over 80 MHz
}


@dataclass
class TrajectoryConfig:
    """Every knob of the trajectory simulator (metres, seconds, Hz, dB)."""

    # room and access point
    room_size_m: tuple[float, float] = (8.0, 6.0)
    room_height_m: float = 3.0
    wall_reflection: float = 0.5            # 5 GHz amplitude reflection coefficient
    floor_ceiling: bool = True              # 5 GHz floor/ceiling images
    ap_position_m: tuple[float, float, float] = (0.25, 0.25, 1.5)   # a corner
    ap_orientation_deg: float = 45.0        # boresight of both AP arrays
    num_static_scatterers: int = 12         # furniture
    scatterer_rcs_m2: tuple[float, float] = (0.3, 3.0)
    # motion
    duration_s: float = 600.0
    wall_margin_m: float = 0.6              # rectangles keep this far from the walls
    rectangle_min_m: tuple[float, float] = (1.5, 1.2)
    rectangle_max_m: tuple[float, float] = (6.5, 4.6)
    laps_per_rectangle: tuple[int, int] = (1, 3)
    speed_mps: tuple[float, float] = (0.3, 0.8)   # per-loop cruise speed range
    corner_radius_m: float = 0.4
    max_lateral_accel_mps2: float = 0.5     # slows the robot in turns
    speed_smoothing_m: float = 0.6          # speed changes spread over this distance
    robot_height_m: float = 0.3
    # 5 GHz CSI (default: like the paper's ASUS RT-AC86U, 80 MHz, 4 receive chains)
    csi_carrier_hz: float = 5.21e9          # channel 42 (80 MHz)
    csi_bandwidth_mhz: float = 80.0
    csi_subcarriers: str = "vht80_ng4"      # one of SUBCARRIER_SETS
    csi_num_rx: int = 4
    csi_rate_hz: float = 30.0
    csi_timestamp_jitter_s: float = 3e-3
    csi_packet_loss: float = 0.03
    csi_snr_db: float = 25.0                # at the room's mean channel power
    csi_cfo: bool = True
    csi_sto_slope_std: float = 0.05
    csi_agc_jitter_db: float = 0.5
    csi_chain_phase: bool = True            # a fixed random phase per receive chain
    # slow per-chain phase drift (std), thermal. The one residual 5 GHz knob, fitted only to the
    # NDF paper's single-band CSI LinearInt/NearestInt errors (benchmarks/calibrate_track_sim.py,
    # simulator seeds 0-2, 30-min recordings, 150 epochs, standardised inputs): 1.0 rad gave
    # 1.41/1.46 m against the paper's 1.79/1.82 m (-21 %), 1.5 rad gives 1.64/1.66 m (-8 %).
    # With min-max inputs 0.3 rad gave 1.29/1.32 m; thermal noise (csi_snr_db 15 vs 25) and more
    # walking people (3 vs 1) moved them by under 3 %.
    csi_drift_phase_rad: float = 1.5
    csi_drift_gain_db: float = 0.5          # slow per-chain gain drift (std)
    csi_drift_correlation_s: float = 60.0
    num_people: int = 1                     # people walking in the room (moving scatterers)
    person_speed_mps: tuple[float, float] = (0.3, 1.0)
    person_rcs_m2: tuple[float, float] = (0.5, 1.5)
    person_pause_s: tuple[float, float] = (0.0, 10.0)   # standing still between walks
    # 60 GHz beam SNR (802.11ad sector sweep); see wifisense.sim.beams
    beam_sweep_side: str = "client"         # "client": the router on the robot sweeps and the AP
    #                                         receives quasi-omni; "ap": the AP sweeps
    beam_codebook: str = "talon-like"       # "talon-like", "ula", or a folder of measured
    #                                         pattern CSVs (pan_rad,snr_mean,snr_low,snr_high)
    beam_codebook_seed: int = 0             # which talon-like device
    num_beams: int = 36                     # sectors of talon-like / ula (a folder sets its own)
    beam_peak_gain_dbi: float = 15.0        # strongest sector's peak gain
    beam_omni_gain_dbi: float = 0.0         # median gain of the quasi-omni pattern
    beam_mount_deg: float = 0.0             # client boresight relative to the robot's heading
    beam_sector_deg: tuple[float, float] = (-52.5, 52.5)   # ula only: steering range
    beam_num_elements: int = 16             # ula only
    beam_phase_bits: int = 2                # ula only: phase-shifter resolution
    snr_rate_hz: float = 4.0
    snr_timestamp_jitter_s: float = 0.02
    snr_packet_loss: float = 0.02
    snr_gap_rate_hz: float = 0.08           # contention gaps per second (Poisson)
    snr_gap_s: tuple[float, float] = (0.5, 2.0)
    snr_carrier_hz: float = 60.48e9
    snr_tx_power_dbm: float = 10.0
    snr_bandwidth_hz: float = 1.76e9
    snr_noise_figure_db: float = 10.0
    snr_wall_reflection: float = 0.35
    snr_oxygen_db_per_km: float = 15.0
    snr_diffuse_db: float = -15.0
    snr_fading: bool = True
    snr_rician_k_db: float = 10.0
    snr_shadowing_std_db: float = 1.5
    snr_shadowing_correlation_s: float = 2.0
    snr_noise_std_db: float = 0.7
    snr_floor_db: float = -10.0             # lowest reportable SNR
    snr_detect_db: float = -7.0             # sectors below are not decoded: missing (NaN)
    snr_miss_prob: float = 0.02             # a decodable sector still missing from a sweep
    snr_step_db: float = 0.25               # reporting resolution (0 = continuous)
    snr_blockage_rate_hz: float = 0.0       # people crossing the 60 GHz line of sight
    snr_blockage_s: tuple[float, float] = (0.5, 2.0)
    snr_blockage_db: float = 25.0
    snr_blockage_ramp_s: float = 0.15
    # ground truth
    pose_rate_hz: float = 10.0
    # execution
    chunk_s: float = 30.0                   # CSI simulated this many seconds at a time

    @property
    def room(self) -> channel.Room:
        return channel.Room(0.0, 0.0, self.room_size_m[0], self.room_size_m[1],
                            height=self.room_height_m, wall_reflection=self.wall_reflection,
                            floor_ceiling=self.floor_ceiling)

    @property
    def subcarriers(self) -> np.ndarray:
        return SUBCARRIER_SETS[self.csi_subcarriers]

    def beam_config(self) -> beams.BeamConfig:
        """The 60 GHz link settings (every field comes from a ``snr_*`` / ``beam_*`` field here)."""
        return beams.BeamConfig(
            sweep_side=self.beam_sweep_side, carrier_hz=self.snr_carrier_hz,
            tx_power_dbm=self.snr_tx_power_dbm, bandwidth_hz=self.snr_bandwidth_hz,
            noise_figure_db=self.snr_noise_figure_db, wall_reflection=self.snr_wall_reflection,
            oxygen_db_per_km=self.snr_oxygen_db_per_km, diffuse_db=self.snr_diffuse_db,
            fading=self.snr_fading, rician_k_db=self.snr_rician_k_db,
            shadowing_std_db=self.snr_shadowing_std_db,
            shadowing_correlation_s=self.snr_shadowing_correlation_s,
            measurement_noise_std_db=self.snr_noise_std_db, detect_db=self.snr_detect_db,
            floor_db=self.snr_floor_db, miss_prob=self.snr_miss_prob,
            step_db=self.snr_step_db or None, blockage_rate_hz=self.snr_blockage_rate_hz,
            blockage_s=tuple(self.snr_blockage_s), blockage_db=self.snr_blockage_db,
            blockage_ramp_s=self.snr_blockage_ramp_s)

    def codebook(self) -> beams.SectorCodebook:
        """The sweeping side's sector patterns and the peer's quasi-omni pattern."""
        if self.beam_codebook == "talon-like":
            return beams.talon_like_codebook(self.num_beams, seed=self.beam_codebook_seed,
                                             peak_gain_dbi=self.beam_peak_gain_dbi,
                                             omni_gain_dbi=self.beam_omni_gain_dbi)
        if self.beam_codebook == "ula":
            return beams.ula_codebook(self.num_beams, tuple(self.beam_sector_deg),
                                      num_elements=self.beam_num_elements,
                                      phase_bits=self.beam_phase_bits,
                                      omni_gain_dbi=self.beam_omni_gain_dbi)
        return beams.load_sector_patterns(self.beam_codebook, peak_gain_dbi=self.beam_peak_gain_dbi,
                                          omni_gain_dbi=self.beam_omni_gain_dbi)

    def impairments(self) -> channel.ImpairmentConfig:
        return channel.ImpairmentConfig(
            snr_db=self.csi_snr_db, cfo=self.csi_cfo, sto_slope_std=self.csi_sto_slope_std,
            agc_jitter_db=self.csi_agc_jitter_db,
            packet_loss=self.csi_packet_loss, timestamp_jitter_s=self.csi_timestamp_jitter_s)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first field that cannot be used."""
        def need(ok: bool, name: str, why: str) -> None:
            if not ok:
                raise ConfigError(f"trajectory config: {name}={getattr(self, name)!r}: {why}")
        w, h = self.room_size_m
        need(w > 0 and h > 0, "room_size_m", "must be positive")
        need(self.duration_s > 0, "duration_s", "must be positive")
        for name in ("csi_rate_hz", "snr_rate_hz", "pose_rate_hz", "chunk_s"):
            need(getattr(self, name) > 0, name, "must be positive")
        need(0 < self.speed_mps[0] <= self.speed_mps[1], "speed_mps", "need 0 < min <= max")
        need(self.num_beams >= 1, "num_beams", "need at least one beam")
        need(self.csi_num_rx >= 1, "csi_num_rx", "need at least one antenna")
        need(self.csi_subcarriers in SUBCARRIER_SETS, "csi_subcarriers",
             f"choose one of {sorted(SUBCARRIER_SETS)}")
        need(0 <= self.csi_packet_loss < 1, "csi_packet_loss", "must be in [0, 1)")
        need(0 <= self.snr_packet_loss < 1, "snr_packet_loss", "must be in [0, 1)")
        need(0 < self.snr_gap_s[0] <= self.snr_gap_s[1], "snr_gap_s", "need 0 < min <= max")
        need(self.beam_sweep_side in ("client", "ap"), "beam_sweep_side", "choose client or ap")
        need(self.beam_codebook in ("talon-like", "ula") or os.path.isdir(self.beam_codebook),
             "beam_codebook", "choose talon-like, ula, or a folder of measured pattern CSVs")
        need(0 <= self.snr_miss_prob < 1, "snr_miss_prob", "must be in [0, 1)")
        need(self.snr_step_db >= 0, "snr_step_db", "must be >= 0 (0 = continuous)")
        need(self.snr_detect_db >= self.snr_floor_db, "snr_detect_db",
             f"must be >= snr_floor_db={self.snr_floor_db} (readings are floored, then thresholded)")
        need(self.snr_blockage_rate_hz >= 0, "snr_blockage_rate_hz", "must be >= 0")
        need(0 < self.snr_blockage_s[0] <= self.snr_blockage_s[1], "snr_blockage_s",
             "need 0 < min <= max")
        need(self.num_people >= 0, "num_people", "must be >= 0")
        need(0 < self.person_speed_mps[0] <= self.person_speed_mps[1], "person_speed_mps",
             "need 0 < min <= max")
        need(self.csi_drift_correlation_s > 0, "csi_drift_correlation_s", "must be positive")
        need(1 <= self.laps_per_rectangle[0] <= self.laps_per_rectangle[1],
             "laps_per_rectangle", "need 1 <= min <= max")
        room_inner = (w - 2 * self.wall_margin_m, h - 2 * self.wall_margin_m)
        need(all(0 < lo <= hi for lo, hi in zip(self.rectangle_min_m, self.rectangle_max_m)),
             "rectangle_min_m", "need 0 < rectangle_min_m <= rectangle_max_m")
        need(all(lo <= inner for lo, inner in zip(self.rectangle_min_m, room_inner)),
             "rectangle_min_m", f"does not fit the room minus margins {room_inner}")
        need(self.room.contains(np.asarray(self.ap_position_m)[None])[0], "ap_position_m",
             "must be inside the room")


# Named settings; a preset is a set of field values applied before --set.
TRAJECTORY_PRESETS: dict[str, dict] = {
    # beam SNR from a commodity 802.11ad router riding on the robot (its sectors turn with
    # it), 80 MHz 4-chain 5 GHz CSI with chain offsets, drift and a person walking around
    "default": {},
    # the earlier, fingerprint-like setting: an ideal 16-element ULA at the AP sweeps towards
    # an isotropic client, so beam SNR depends on position only; no fading, diffuse power or
    # missing sectors; 20 MHz Intel 5300 CSI in a static room without drift
    "fingerprint": {
        "beam_sweep_side": "ap", "beam_codebook": "ula", "snr_diffuse_db": float("-inf"),
        "snr_fading": False, "snr_detect_db": -10.0, "snr_miss_prob": 0.0,
        "csi_carrier_hz": 5.32e9, "csi_bandwidth_mhz": 20.0, "csi_subcarriers": "intel5300",
        "csi_chain_phase": False, "csi_drift_phase_rad": 0.0, "csi_drift_gain_db": 0.0,
        "num_people": 0,
    },
}


def trajectory_config(preset: str = "default", overrides: list[str] | None = None) -> TrajectoryConfig:
    """The config of a named preset with ``field=value`` overrides applied, validated."""
    if preset not in TRAJECTORY_PRESETS:
        raise ConfigError(f"unknown trajectory preset {preset!r}; choose one of {sorted(TRAJECTORY_PRESETS)}")
    cfg = apply_overrides(dataclasses.replace(TrajectoryConfig(), **TRAJECTORY_PRESETS[preset]), overrides)
    cfg.validate()
    return cfg


# ----------------------------------------------------------------------------- motion


def sample_loop_waypoints(cfg: TrajectoryConfig, rng: np.random.Generator,
                          min_length_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Corner waypoints ``[W, 2]`` of successive rectangular loops and the speed ``[W-1]``
    of each leg, until the path is at least ``min_length_m`` long.

    Each rectangle has a random size and offset inside the room (minus margins), starts at
    the corner nearest to where the robot is, runs clockwise or counter-clockwise for a
    random number of laps at one cruise speed; the robot drives straight to the next one.
    """
    w, h = cfg.room_size_m
    m = cfg.wall_margin_m
    lo, hi = np.asarray(cfg.rectangle_min_m), np.minimum(cfg.rectangle_max_m,
                                                          (w - 2 * m, h - 2 * m))
    points: list[np.ndarray] = []
    speeds: list[float] = []
    current = None
    length = 0.0
    while length < min_length_m:
        size = rng.uniform(lo, hi)
        origin = rng.uniform((m, m), (w - m - size[0], h - m - size[1]))
        corners = origin + np.array([[0, 0], [size[0], 0], [size[0], size[1]], [0, size[1]]])
        if rng.random() < 0.5:
            corners = corners[::-1]
        if current is not None:  # start at the nearest corner
            corners = np.roll(corners, -int(np.argmin(np.linalg.norm(corners - current, axis=1))),
                              axis=0)
        laps = int(rng.integers(cfg.laps_per_rectangle[0], cfg.laps_per_rectangle[1] + 1))
        loop = np.concatenate([np.tile(corners, (laps, 1)), corners[:1]])
        speed = float(rng.uniform(*cfg.speed_mps))
        if current is not None:
            speeds.append(speed)                 # the transfer leg to this rectangle
            length += float(np.linalg.norm(loop[0] - current))
        else:
            points.append(loop[:1])
        points.append(loop[1:])
        speeds.extend([speed] * (len(loop) - 1))
        length += float(np.sum(np.linalg.norm(np.diff(loop, axis=0), axis=1)))
        current = loop[-1]
    waypoints = np.concatenate(points)
    return waypoints, np.asarray(speeds)


def round_corners(waypoints: np.ndarray, radius: float, points_per_corner: int = 12
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Replace each interior corner by a quadratic Bezier fillet (tangent-continuous).

    Returns the dense polyline ``[P, 2]`` and, per point, the index of the waypoint leg it
    belongs to (fillet points take the leg they enter), so per-leg attributes follow.
    Zero-length legs are dropped first.
    """
    keep = np.r_[True, np.linalg.norm(np.diff(waypoints, axis=0), axis=1) > 1e-9]
    orig_index = np.flatnonzero(keep)
    wp = waypoints[keep]
    # kept leg j (wp[j] -> wp[j+1]) is the original leg that ends at wp[j+1]
    orig_leg = orig_index[1:] - 1
    if len(wp) < 3:
        return wp, np.zeros(len(wp), dtype=int)
    seg = np.diff(wp, axis=0)
    seg_len = np.linalg.norm(seg, axis=1)
    u = seg / seg_len[:, None]
    u_in, u_out = u[:-1], u[1:]                                   # [V, 2] at interior vertices
    cos_turn = np.clip(np.sum(u_in * u_out, axis=1), -1.0, 1.0)
    half_turn = np.arccos(cos_turn) / 2
    tangent = radius * np.tan(np.minimum(half_turn, np.radians(85)))
    tangent = np.minimum(tangent, 0.5 * np.minimum(seg_len[:-1], seg_len[1:]))
    vertex = wp[1:-1]
    a = vertex - u_in * tangent[:, None]
    b = vertex + u_out * tangent[:, None]
    tau = np.linspace(0.0, 1.0, points_per_corner)[None, :, None]
    curve = ((1 - tau) ** 2 * a[:, None] + 2 * tau * (1 - tau) * vertex[:, None]
             + tau ** 2 * b[:, None])                             # [V, n, 2]
    dense = np.concatenate([wp[:1], curve.reshape(-1, 2), wp[-1:]])
    # the start point and each fillet take the leg that leaves them; the end the last leg
    kept_leg = np.r_[0, np.repeat(np.arange(1, len(wp) - 1), points_per_corner), len(wp) - 2]
    return dense, orig_leg[kept_leg]


@dataclass
class RobotPath:
    """A time-parameterised path: position at any time by interpolation."""

    arc_m: np.ndarray        # [P] uniform arc-length grid
    xy: np.ndarray           # [P, 2] positions on the grid
    time_s: np.ndarray       # [P] time the robot reaches each grid point
    speed_mps: np.ndarray    # [P]
    heading_rad: np.ndarray  # [P] direction of travel (unwrapped, CCW from +x)

    @property
    def duration_s(self) -> float:
        return float(self.time_s[-1])

    def position(self, t: np.ndarray) -> np.ndarray:
        """Positions ``[N, 2]`` at times ``t [N]`` (clamped to the path)."""
        s = np.interp(t, self.time_s, self.arc_m)
        return np.stack([np.interp(s, self.arc_m, self.xy[:, 0]),
                         np.interp(s, self.arc_m, self.xy[:, 1])], axis=1)

    def heading(self, t: np.ndarray) -> np.ndarray:
        """Heading ``[N]`` (radians, CCW from +x, wrapped to (-pi, pi]) at times ``t [N]``:
        a wheeled robot faces where it drives, so its devices turn at every corner."""
        return wrap_heading(np.interp(np.interp(t, self.time_s, self.arc_m), self.arc_m,
                                      self.heading_rad))


def build_robot_path(cfg: TrajectoryConfig, rng: np.random.Generator,
                     step_m: float = 0.01) -> RobotPath:
    """Sample loops until they last ``cfg.duration_s`` and give them a speed profile.

    Speed = the leg's cruise speed, capped in turns by ``sqrt(a_lat / curvature)``; a
    moving minimum then moving average over ``speed_smoothing_m`` makes it smooth without
    ever exceeding the cap (so the robot brakes before a corner, not in it).
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    min_length = cfg.duration_s * cfg.speed_mps[1] * 1.05 + 5.0
    while True:
        waypoints, leg_speed = sample_loop_waypoints(cfg, rng, min_length)
        dense, legs = round_corners(waypoints, cfg.corner_radius_m)
        cum = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))]
        arc = np.arange(0.0, cum[-1], step_m)
        xy = np.stack([np.interp(arc, cum, dense[:, 0]), np.interp(arc, cum, dense[:, 1])], 1)
        cruise = leg_speed[legs[np.clip(np.searchsorted(cum, arc, side="right") - 1, 0,
                                        len(legs) - 1)]]
        heading = np.unwrap(np.arctan2(*np.gradient(xy, step_m, axis=0)[:, ::-1].T))
        # the fillets are polylines: average the heading over a few centimetres so the
        # curvature is the arc's, not the spikes at its sample points
        heading = uniform_filter1d(heading, max(1, int(round(0.1 / step_m))), mode="nearest")
        curvature = np.abs(np.gradient(heading, step_m))
        cap = np.minimum(cruise, np.sqrt(cfg.max_lateral_accel_mps2 / np.maximum(curvature, 1e-9)))
        window = max(1, int(round(cfg.speed_smoothing_m / step_m)))
        speed = uniform_filter1d(minimum_filter1d(cap, window, mode="nearest"), window,
                                 mode="nearest")
        speed = np.maximum(speed, 0.05)
        dt = step_m / (0.5 * (speed[1:] + speed[:-1]))
        time_s = np.r_[0.0, np.cumsum(dt)]
        if time_s[-1] >= cfg.duration_s:
            return RobotPath(arc, xy, time_s, speed, heading)
        min_length *= 1.5   # corners were slower than expected: sample a longer path


# ----------------------------------------------------------------------------- streams


def contention_gaps(duration_s: float, rate_hz: float, gap_s: tuple[float, float],
                    rng: np.random.Generator) -> np.ndarray:
    """Non-overlapping ``[G, 2]`` (start, end) intervals in which the 60 GHz link is busy."""
    if rate_hz <= 0:
        return np.zeros((0, 2))
    n = int(rng.poisson(rate_hz * duration_s * 1.5)) + 1
    lengths = rng.uniform(gap_s[0], gap_s[1], n)
    waits = rng.exponential(1.0 / rate_hz, n)
    starts = np.cumsum(waits) + np.r_[0.0, np.cumsum(lengths)[:-1]]
    gaps = np.stack([starts, starts + lengths], axis=1)
    return gaps[gaps[:, 0] < duration_s]


def remove_gaps(t: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """``t`` without the samples that fall inside any gap (gaps sorted, non-overlapping)."""
    if gaps.size == 0:
        return t
    i = np.searchsorted(gaps[:, 0], t, side="right") - 1
    inside = (i >= 0) & (t < gaps[np.maximum(i, 0), 1])
    return t[~inside]


def ap_geometry(cfg: TrajectoryConfig) -> tuple[np.ndarray, np.ndarray]:
    """AP position ``[3]`` and the 5 GHz receive antenna positions ``[Nrx, 3]``.

    The half-wavelength ULA lies across the boresight so its angle-of-arrival spans the room.
    """
    ap = np.asarray(cfg.ap_position_m, dtype=np.float64)
    spacing = 0.5 * float(channel.wavelength(cfg.csi_carrier_hz))
    rx = channel.linear_array(ap, cfg.csi_num_rx, spacing, cfg.ap_orientation_deg + 90.0)
    return ap, rx


def furniture(cfg: TrajectoryConfig, rng: np.random.Generator) -> channel.Scatterers:
    """Static point scatterers with random position, height, RCS and reflection phase."""
    w, h = cfg.room_size_m
    k = cfg.num_static_scatterers
    pos = rng.uniform((0.1, 0.1, 0.2), (w - 0.1, h - 0.1, 1.6), (k, 3))
    rcs = rng.uniform(*cfg.scatterer_rcs_m2, k)
    return channel.Scatterers(pos, np.sqrt(rcs) * np.exp(2j * np.pi * rng.random(k)))


@dataclass
class WalkingPeople:
    """People walking between random points (random waypoint model), each one moving
    point scatterer at torso height: ``knot_t [K, n]``, ``knot_xy [K, n, 2]``, ``amplitudes [K]``."""

    knot_t: list[np.ndarray]
    knot_xy: list[np.ndarray]
    amplitudes: np.ndarray
    height_m: float = 1.1

    def scatterers(self, t: np.ndarray) -> channel.Scatterers | None:
        """Their positions at times ``t [T]`` as moving scatterers ``[T, K, 3]`` (None if nobody)."""
        if not self.knot_t:
            return None
        pos = np.stack([np.stack([np.interp(t, kt, kxy[:, 0]), np.interp(t, kt, kxy[:, 1]),
                                  np.full(len(t), self.height_m)], axis=-1)
                        for kt, kxy in zip(self.knot_t, self.knot_xy)], axis=1)
        return channel.Scatterers(pos, self.amplitudes)


def walking_people(cfg: TrajectoryConfig, rng: np.random.Generator) -> WalkingPeople:
    """``cfg.num_people`` people walking in straight lines between uniform random points of
    the room at a per-walk speed, pausing between walks; amplitudes ``sqrt(RCS)``."""
    w, h = cfg.room_size_m
    knot_t, knot_xy = [], []
    for _ in range(cfg.num_people):
        t, xy = [0.0], [rng.uniform((0.3, 0.3), (w - 0.3, h - 0.3))]
        while t[-1] < cfg.duration_s:
            target = rng.uniform((0.3, 0.3), (w - 0.3, h - 0.3))
            t.append(t[-1] + float(np.linalg.norm(target - xy[-1])) / rng.uniform(*cfg.person_speed_mps))
            xy.append(target)
            t.append(t[-1] + rng.uniform(*cfg.person_pause_s))
            xy.append(target)
        knot_t.append(np.asarray(t))
        knot_xy.append(np.asarray(xy))
    rcs = rng.uniform(*cfg.person_rcs_m2, cfg.num_people)
    return WalkingPeople(knot_t, knot_xy, np.sqrt(rcs) * np.exp(2j * np.pi * rng.random(cfg.num_people)))


def chain_drift(cfg: TrajectoryConfig, times_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per receive chain complex factor ``[T, Nrx]``: a fixed random phase (if ``csi_chain_phase``)
    times a slow thermal phase and gain drift. Drawn for the whole recording at once, so a
    recording simulated in chunks has one drift (``apply_impairments`` is called per chunk)."""
    n_rx = cfg.csi_num_rx
    phase = np.zeros((len(times_s), n_rx))
    if cfg.csi_chain_phase:
        phase += rng.uniform(0.0, 2 * np.pi, n_rx)
    gain_db = np.zeros_like(phase)
    for r in range(n_rx):
        phase[:, r] += beams.smooth_noise(times_s, cfg.csi_drift_phase_rad, cfg.csi_drift_correlation_s, rng)
        gain_db[:, r] = beams.smooth_noise(times_s, cfg.csi_drift_gain_db, cfg.csi_drift_correlation_s, rng)
    return (10 ** (gain_db / 20) * np.exp(1j * phase)).astype(np.complex64)


def simulate_trajectories(cfg: TrajectoryConfig | None = None, seed: int = 0,
                          progress: bool = True) -> MultiBandDataset:
    """Simulate one run: CSI, beam-SNR and pose streams of a robot driving loops."""
    from tqdm.auto import tqdm

    cfg = TrajectoryConfig() if cfg is None else cfg
    cfg.validate()
    # independent streams per part, so changing e.g. the SNR rate leaves the path alone
    path_rng, scene_rng, csi_rng, snr_rng, people_rng, drift_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6))
    room = cfg.room
    path = build_robot_path(cfg, path_rng)
    ap, rx = ap_geometry(cfg)
    static = furniture(cfg, scene_rng)
    people = walking_people(cfg, people_rng)
    subcarriers = cfg.subcarriers
    freqs = channel.subcarrier_frequencies(cfg.csi_carrier_hz, subcarriers)

    def clean_csi(t: np.ndarray) -> np.ndarray:
        tx = np.c_[path.position(t), np.full(len(t), cfg.robot_height_m)]
        return channel.channel_response(tx, rx, freqs, room, scatterers=people.scatterers(t),
                                        static_scatterers=static)

    # one thermal noise floor for the whole run: SNR is defined at the mean power
    probe_t = np.linspace(0.0, cfg.duration_s, 200, endpoint=False)
    impair = dataclasses.replace(cfg.impairments(),
                                 noise_reference_power=float(np.mean(np.abs(clean_csi(probe_t)) ** 2)))

    csi_t = channel.packet_times(cfg.duration_s, cfg.csi_rate_hz, cfg.csi_timestamp_jitter_s,
                                 cfg.csi_packet_loss, csi_rng)
    drift = chain_drift(cfg, csi_t, drift_rng)                                   # [N, Nrx]
    csi_x = np.empty((len(csi_t), len(subcarriers), cfg.csi_num_rx, 1), dtype=np.complex64)
    bounds = np.searchsorted(csi_t, np.arange(0.0, cfg.duration_s + cfg.chunk_s, cfg.chunk_s))
    chunks = [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    for a, b in tqdm(chunks, desc="simulating 5 GHz CSI", unit="chunk", disable=not progress):
        h = clean_csi(csi_t[a:b]) * drift[a:b, None, :, None]
        csi_x[a:b] = channel.apply_impairments(h, subcarriers, impair, csi_rng)

    snr_t = channel.packet_times(cfg.duration_s, cfg.snr_rate_hz, cfg.snr_timestamp_jitter_s,
                                 cfg.snr_packet_loss, snr_rng)
    snr_t = remove_gaps(snr_t, contention_gaps(cfg.duration_s, cfg.snr_gap_rate_hz,
                                               cfg.snr_gap_s, snr_rng))
    beam_cfg = cfg.beam_config()
    codebook = cfg.codebook()
    snr_x = beams.beam_snr(path.position(snr_t), path.heading(snr_t), ap, cfg.ap_orientation_deg,
                           codebook, room, beam_cfg, snr_rng, times_s=snr_t,
                           client_height=cfg.robot_height_m, mount_deg=cfg.beam_mount_deg)
    # sector peak directions are fixed in the room only when the AP sweeps
    beam_angles = (codebook.peak_azimuth_deg() + cfg.ap_orientation_deg).astype(np.float32) \
        if cfg.beam_sweep_side == "ap" else None

    pose_t = np.arange(0.0, cfg.duration_s, 1.0 / cfg.pose_rate_hz)
    return MultiBandDataset(
        csi_t=csi_t, csi_x=csi_x, snr_t=snr_t, snr_x=snr_x,
        pose_t=pose_t, pose_xy=path.position(pose_t).astype(np.float32),
        pose_heading=path.heading(pose_t).astype(np.float32),
        subcarriers=subcarriers.astype(np.int32), ap_position=ap.astype(np.float32),
        room=room.bounds, beam_angles_deg=beam_angles,
        csi_carrier_hz=cfg.csi_carrier_hz, snr_carrier_hz=beam_cfg.carrier_hz,
        csi_bandwidth_mhz=cfg.csi_bandwidth_mhz, source="simulated",
        attrs={"simulator": "wifisense.sim.trajectories", "seed": int(seed),
               "config": dataclasses.asdict(cfg),
               "ap_orientation_deg": cfg.ap_orientation_deg,
               "beam_sweep_side": cfg.beam_sweep_side,
               "beam_sectors": codebook.names,
               "beam_angles_frame": ("sector peak azimuth in room coordinates, degrees from +x"
                                     if beam_angles is not None else
                                     "none: the sweeping client turns with the robot"),
               "csi_rx_positions": rx.tolist(),
               "static_scatterers": static.positions.tolist()},
    )


# ----------------------------------------------------------------------------- CLI


def add_arguments(parser) -> None:
    parser.add_argument("--out", required=True, metavar="STORE",
                        help="output HDF5 store (.h5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="seconds of driving (default 600)")
    parser.add_argument("--csi-rate", type=float, default=None, metavar="HZ",
                        help="5 GHz CSI packet rate (default 30)")
    parser.add_argument("--snr-rate", type=float, default=None, metavar="HZ",
                        help="60 GHz beam-SNR sweep rate (default 4)")
    parser.add_argument("--beams", type=int, default=None, metavar="M",
                        help="number of 60 GHz beam patterns (default 36)")
    parser.add_argument("--preset", default="default", choices=sorted(TRAJECTORY_PRESETS),
                        help="named setting: 'default' (a router on the robot sweeps 60 GHz "
                        "sectors that turn with it; 80 MHz 4-chain CSI) or 'fingerprint' (the "
                        "earlier position-only beam SNR and 20 MHz CSI) (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override any field listed below, e.g. --set "
                        "speed_mps=0.2,0.5 --set snr_blockage_rate_hz=0.05 (repeatable)")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = ("fields (--set FIELD=VALUE) with their defaults; see "
                     "wifisense.sim.trajectories.TrajectoryConfig for units:\n"
                     + fields_help(TrajectoryConfig()))
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def config_from_args(args) -> TrajectoryConfig:
    cfg = trajectory_config(getattr(args, "preset", "default"), args.set)
    flags = {"duration_s": args.duration, "csi_rate_hz": args.csi_rate,
             "snr_rate_hz": args.snr_rate, "num_beams": args.beams}
    cfg = dataclasses.replace(cfg, **{k: v for k, v in flags.items() if v is not None})
    cfg.validate()
    return cfg


def run_from_args(args) -> int:
    from wifisense.io.atomic import check_output_path
    from wifisense.io.store import write_multiband_store

    cfg = config_from_args(args)
    check_output_path(args.out, args.overwrite)  # before the simulation, not after it
    started = time.perf_counter()
    ds = simulate_trajectories(cfg, seed=args.seed, progress=not getattr(args, "quiet", False))
    out = write_multiband_store(args.out, ds, overwrite=args.overwrite)
    wall = time.perf_counter() - started
    size_mb = os.path.getsize(out) / 1e6
    print(f"wrote {out} ({size_mb:.1f} MB) in {wall:.1f} s: {len(ds.csi_t)} CSI packets, "
          f"{len(ds.snr_t)} beam-SNR sweeps, {len(ds.pose_t)} poses over {cfg.duration_s:g} s")
    return 0
