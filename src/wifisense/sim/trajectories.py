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

import dataclasses
import os
import time
from dataclasses import dataclass

import numpy as np

from wifisense.errors import ConfigError
from wifisense.overrides import apply_overrides
from wifisense.io.schema import MultiBandDataset
from wifisense.sim import beams, channel

SUBCARRIER_SETS = {
    "intel5300": channel.INTEL5300_SUBCARRIERS_20MHZ,   # 30 grouped tones
    "ht20": channel.HT20_SUBCARRIERS,                   # 56 tones
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
    # 5 GHz CSI
    csi_carrier_hz: float = 5.32e9          # channel 64
    csi_bandwidth_mhz: float = 20.0
    csi_subcarriers: str = "intel5300"      # one of SUBCARRIER_SETS
    csi_num_rx: int = 4
    csi_rate_hz: float = 30.0
    csi_timestamp_jitter_s: float = 3e-3
    csi_packet_loss: float = 0.03
    csi_snr_db: float = 25.0                # at the room's mean channel power
    csi_cfo: bool = True
    csi_sto_slope_std: float = 0.05
    csi_agc_jitter_db: float = 0.5
    # 60 GHz beam SNR
    num_beams: int = 36
    beam_sector_deg: tuple[float, float] = (-52.5, 52.5)
    beam_num_elements: int = 16
    beam_phase_bits: int = 2
    snr_rate_hz: float = 4.0
    snr_timestamp_jitter_s: float = 0.02
    snr_packet_loss: float = 0.02
    snr_gap_rate_hz: float = 0.08           # contention gaps per second (Poisson)
    snr_gap_s: tuple[float, float] = (0.5, 2.0)
    snr_shadowing_std_db: float = 1.5
    snr_noise_std_db: float = 0.7
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
        return beams.BeamConfig(
            num_beams=self.num_beams, sector_deg=tuple(self.beam_sector_deg),
            num_elements=self.beam_num_elements, phase_bits=self.beam_phase_bits,
            shadowing_std_db=self.snr_shadowing_std_db,
            measurement_noise_std_db=self.snr_noise_std_db)

    def impairments(self) -> channel.ImpairmentConfig:
        return channel.ImpairmentConfig(
            snr_db=self.csi_snr_db, cfo=self.csi_cfo, sto_slope_std=self.csi_sto_slope_std,
            agc_jitter_db=self.csi_agc_jitter_db, packet_loss=self.csi_packet_loss,
            timestamp_jitter_s=self.csi_timestamp_jitter_s)

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
        need(1 <= self.laps_per_rectangle[0] <= self.laps_per_rectangle[1],
             "laps_per_rectangle", "need 1 <= min <= max")
        room_inner = (w - 2 * self.wall_margin_m, h - 2 * self.wall_margin_m)
        need(all(0 < lo <= hi for lo, hi in zip(self.rectangle_min_m, self.rectangle_max_m)),
             "rectangle_min_m", "need 0 < rectangle_min_m <= rectangle_max_m")
        need(all(lo <= inner for lo, inner in zip(self.rectangle_min_m, room_inner)),
             "rectangle_min_m", f"does not fit the room minus margins {room_inner}")
        need(self.room.contains(np.asarray(self.ap_position_m)[None])[0], "ap_position_m",
             "must be inside the room")


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

    @property
    def duration_s(self) -> float:
        return float(self.time_s[-1])

    def position(self, t: np.ndarray) -> np.ndarray:
        """Positions ``[N, 2]`` at times ``t [N]`` (clamped to the path)."""
        s = np.interp(t, self.time_s, self.arc_m)
        return np.stack([np.interp(s, self.arc_m, self.xy[:, 0]),
                         np.interp(s, self.arc_m, self.xy[:, 1])], axis=1)


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
            return RobotPath(arc, xy, time_s, speed)
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


def simulate_trajectories(cfg: TrajectoryConfig | None = None, seed: int = 0,
                          progress: bool = True) -> MultiBandDataset:
    """Simulate one run: CSI, beam-SNR and pose streams of a robot driving loops."""
    from tqdm.auto import tqdm

    cfg = TrajectoryConfig() if cfg is None else cfg
    cfg.validate()
    # independent streams per part, so changing e.g. the SNR rate leaves the path alone
    path_rng, scene_rng, csi_rng, snr_rng = (np.random.default_rng(s) for s in
                                             np.random.SeedSequence(seed).spawn(4))
    room = cfg.room
    path = build_robot_path(cfg, path_rng)
    ap, rx = ap_geometry(cfg)
    static = furniture(cfg, scene_rng)
    subcarriers = cfg.subcarriers
    freqs = channel.subcarrier_frequencies(cfg.csi_carrier_hz, subcarriers)

    def clean_csi(t: np.ndarray) -> np.ndarray:
        tx = np.c_[path.position(t), np.full(len(t), cfg.robot_height_m)]
        return channel.channel_response(tx, rx, freqs, room, static_scatterers=static)

    # one thermal noise floor for the whole run: SNR is defined at the mean power
    probe_t = np.linspace(0.0, cfg.duration_s, 200, endpoint=False)
    impair = dataclasses.replace(cfg.impairments(),
                                 noise_reference_power=float(np.mean(np.abs(clean_csi(probe_t)) ** 2)))

    csi_t = channel.packet_times(cfg.duration_s, cfg.csi_rate_hz, cfg.csi_timestamp_jitter_s,
                                 cfg.csi_packet_loss, csi_rng)
    csi_x = np.empty((len(csi_t), len(subcarriers), cfg.csi_num_rx, 1), dtype=np.complex64)
    bounds = np.searchsorted(csi_t, np.arange(0.0, cfg.duration_s + cfg.chunk_s, cfg.chunk_s))
    chunks = [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    for a, b in tqdm(chunks, desc="simulating 5 GHz CSI", unit="chunk", disable=not progress):
        csi_x[a:b] = channel.apply_impairments(clean_csi(csi_t[a:b]), subcarriers, impair, csi_rng)

    snr_t = channel.packet_times(cfg.duration_s, cfg.snr_rate_hz, cfg.snr_timestamp_jitter_s,
                                 cfg.snr_packet_loss, snr_rng)
    snr_t = remove_gaps(snr_t, contention_gaps(cfg.duration_s, cfg.snr_gap_rate_hz,
                                               cfg.snr_gap_s, snr_rng))
    beam_cfg = cfg.beam_config()
    snr_x = beams.beam_snr(ap, cfg.ap_orientation_deg, path.position(snr_t), room, beam_cfg,
                           snr_rng, times_s=snr_t, target_height=cfg.robot_height_m)

    pose_t = np.arange(0.0, cfg.duration_s, 1.0 / cfg.pose_rate_hz)
    return MultiBandDataset(
        csi_t=csi_t, csi_x=csi_x, snr_t=snr_t, snr_x=snr_x,
        pose_t=pose_t, pose_xy=path.position(pose_t).astype(np.float32),
        subcarriers=subcarriers.astype(np.int32), ap_position=ap.astype(np.float32),
        room=room.bounds,
        # absolute azimuths in room coordinates (boresight + steering angle)
        beam_angles_deg=(beam_cfg.steering_angles_deg() + cfg.ap_orientation_deg
                         ).astype(np.float32),
        csi_carrier_hz=cfg.csi_carrier_hz, snr_carrier_hz=beam_cfg.carrier_hz,
        csi_bandwidth_mhz=cfg.csi_bandwidth_mhz, source="simulated",
        attrs={"simulator": "wifisense.sim.trajectories", "seed": int(seed),
               "config": dataclasses.asdict(cfg),
               "ap_orientation_deg": cfg.ap_orientation_deg,
               "beam_angles_frame": "azimuth in room coordinates, degrees from +x",
               "csi_rx_positions": rx.tolist(),
               "static_scatterers": static.positions.tolist()},
    )


# ----------------------------------------------------------------------------- CLI


def add_arguments(parser) -> None:
    parser.add_argument("--out", required=True, metavar="FILE",
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
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override any TrajectoryConfig field, e.g. --set "
                        "speed_mps=0.2,0.5 --set csi_subcarriers=ht20 (repeatable)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def config_from_args(args) -> TrajectoryConfig:
    cfg = apply_overrides(TrajectoryConfig(), args.set)
    flags = {"duration_s": args.duration, "csi_rate_hz": args.csi_rate,
             "snr_rate_hz": args.snr_rate, "num_beams": args.beams}
    cfg = dataclasses.replace(cfg, **{k: v for k, v in flags.items() if v is not None})
    cfg.validate()
    return cfg


def run_from_args(args) -> int:
    from wifisense.io.store import write_multiband_store

    cfg = config_from_args(args)
    started = time.perf_counter()
    ds = simulate_trajectories(cfg, seed=args.seed, progress=not getattr(args, "quiet", False))
    out = write_multiband_store(args.out, ds, overwrite=args.overwrite)
    wall = time.perf_counter() - started
    size_mb = os.path.getsize(out) / 1e6
    print(f"wrote {out} ({size_mb:.1f} MB) in {wall:.1f} s: {len(ds.csi_t)} CSI packets, "
          f"{len(ds.snr_t)} beam-SNR sweeps, {len(ds.pose_t)} poses over {cfg.duration_s:g} s")
    return 0
