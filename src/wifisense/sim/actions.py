"""Simulated caption data: clips of a skeleton performing actions, seen as CSI by 1 Tx and 3 Rx, with frames and captions.

One clip (``clip_seconds`` long) of class ``c``:

1. a per-clip variation (speed, amplitude, start phase, body height, facing jitter) and a
   position on the ``grid_shape`` grid of the room (plus a little jitter) from the clip's
   own seed (``SeedSequence(seed).spawn``: clip ``i`` is the same whatever else is made);
2. packet times from the transmitter (``channel.packet_times``: jitter), then per
   receiver an independent packet loss;
3. the skeleton's pose at every packet time (``skeleton.action_joints``), its body
   segments as moving point scatterers (``skeleton.segment_scatterers``), and the channel
   ``channel.channel_response``: body scatterers + the static room (line of sight,
   first-order wall images, a few furniture scatterers fixed per seed);
4. each receiver's NIC impairments (``channel.apply_impairments``: CFO, STO slope, AGC,
   AWGN), then nearest-packet resampling onto the uniform grid ``(k + 0.5) / rate``,
   ``k < T = clip_seconds * rate``; ``gap_mask`` marks grid points whose nearest packet
   is more than ``gap_periods`` grid periods away; giving ``[R, T, A, S]`` with
   ``A = antennas per receiver x 1 Tx antenna``;
5. receiver dropout: each receiver is missing with probability ``rx_dropout``
   (``rx_valid`` False, CSI zero, gap_mask all True); at least one receiver is kept;
6. ``num_frames`` RGB frames at ``(l + 0.5) * clip_seconds / L`` (``render.render_frames``)
   and the class's ``NUM_PARAPHRASES`` captions in a per-clip random order
   (``caption_order="shuffled"``) or the class's fixed order (``"fixed"``).

Splits are stratified by class (:func:`stratified_splits`). Simplifications, on purpose:
the body does not shadow the line of sight and its echoes do not bounce off walls.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wifisense.io.atomic import check_output_path
from wifisense.io.splits import stratified_splits
from wifisense.options import add_old_spelling
from wifisense.errors import ConfigError
from wifisense.overrides import apply_overrides

log = logging.getLogger(__name__)


# The default class set: 24 of the 106 classes (these 14 names plus their mirror partners),
# covering both postures, every limb group and every direction word (left/right arm, leg,
# head and torso; clockwise/counterclockwise). Every class: ``classes=("all",)``
# (``--classes all``).
#
# The default data set (what the demo trains on) has the person at one position, 40 clips
# per class at 50 Hz, split 20/10/10 per class: 10 test clips per class measure direction
# accuracy to about +-3 points. The person's position is what hides the side of a movement
# in this simulator: a linear probe on simple CSI statistics tells a clip's side from its
# mirror partner's at 0.91-0.95 with one position but 0.58-0.64 over 4 or 24 positions
# (issue 12, validation splits). The paper's setting (24 positions, all 106 classes) is the
# "paper" preset (ACTION_PRESETS): a longer study, not a demo.
DEFAULT_CLASSES: tuple[str, ...] = (
    "standing:left_arm:raise_sideways", "standing:left_arm:wave", "standing:left_arm:circle:clockwise",
    "standing:both_arms:clap", "standing:both_arms:raise_forward", "standing:left_leg:kick_sideways",
    "standing:head:nod", "standing:head:turn:left", "standing:torso:bend_sideways:left", "standing:torso:squat",
    "sitting:left_arm:punch", "sitting:left_leg:raise_knee", "sitting:head:tilt:left", "sitting:torso:turn:left",
)


# Where the transmitter and the three receivers stand: (tx, (rx1, rx2, rx3)), metres.
# "symmetric" (the layout of wifisense <= 0.x): tx, receivers and the person grid are all
# symmetric about x = 4 m. With a mirror-equivariant body, a left-side action at (x, y) then
# gives exactly the CSI of the right-side action at (8 - x, y) with Rx1 and Rx2 swapped and
# the antenna order reversed, so the side is learnable only together with the room half.
# "asymmetric" (default): devices placed off the room's axes at different heights, as in a
# real room, where nothing makes a mirrored action look like another position's.
LAYOUTS: dict[str, tuple[tuple[float, float, float], tuple[tuple[float, float, float], ...]]] = {
    "asymmetric": ((3.1, 0.3, 1.2), ((0.3, 2.1, 0.9), (7.7, 4.2, 1.1), (5.3, 5.7, 1.0))),
    "symmetric": ((4.0, 0.3, 1.2), ((0.3, 3.0, 1.0), (7.7, 3.0, 1.0), (4.0, 5.7, 1.0))),
}


# Receiver mirror maps of the layouts that have one (the store's "mirror_receivers", used by
# caption.mirror.mirror_csi): in "symmetric", rx 1 and rx 2 face each other across x = 4 m and
# rx 3 sits on that axis; every array's antenna order reverses in the mirror.
MIRROR_RECEIVERS: dict[str, tuple[int, ...]] = {"symmetric": (1, 0, 2)}


def mirror_receivers(cfg: "ActionConfig") -> tuple[int, ...] | None:
    """The receiver mirror map of ``cfg``'s room, or None when the scene is not mirror-symmetric.

    It holds for a layout listed in ``MIRROR_RECEIVERS`` (no explicit tx/rx positions) when
    the room, the person grid and the facing direction are symmetric about the transmitter's
    x as well. The few furniture scatterers are not mirrored: they are static, so they only
    change the static channel, which the "dynamic" features cancel.
    """
    if cfg.layout not in MIRROR_RECEIVERS or cfg.tx_position or cfg.rx_positions:
        return None
    axis = cfg.tx_xyz[0]
    xy = np.round(grid_positions(cfg), 6)
    mirrored = np.round(np.c_[2 * axis - xy[:, 0], xy[:, 1]], 6)
    if not np.isclose(cfg.room_size_m[0], 2 * axis) or {tuple(p) for p in xy} != {tuple(p) for p in mirrored}:
        return None
    if not np.isclose(np.cos(np.radians(cfg.facing_deg)), 0.0, atol=1e-9):   # facing along +-y
        return None
    return MIRROR_RECEIVERS[cfg.layout]


# Named settings of the action simulator (``simulate actions --preset``).
# "paper": WiFi2Cap's setting - the person at 24 positions (4 x 6 grid, 1 m apart), all 106
# classes - with 40 clips per class split 20/10/10 (4,240 clips, 1,060 of them test clips):
# enough to see a 10-point difference in direction accuracy.
ACTION_PRESETS: dict[str, dict] = {
    "default": {},
    "paper": {"grid_shape": (4, 6), "grid_origin_m": (1.5, 1.5), "classes": ("all",)},
}


@dataclass
class ActionConfig:
    """Every knob of the action simulator; a run is fully determined by this and the seed."""

    # dataset size
    clips_per_class: int = 40
    classes: tuple[str, ...] = DEFAULT_CLASSES  # names or prefixes (mirror partners added); ("all",) or () = all
    clip_seconds: float = 5.0
    packet_rate_hz: float = 50.0            # the probe lost nothing against 100 Hz (issue 12)
    split_ratios: tuple[float, float, float] = (0.5, 0.25, 0.25)   # train, val, test
    caption_order: str = "shuffled"        # "shuffled" per clip or "fixed" (the class's order)
    # how the store keeps the CSI: "float16" (scaled (real, imag) pairs, half the bytes; its
    # ~-66 dB quantisation noise sits far below the simulated 35 dB SNR) or "complex64"
    csi_storage: str = "float16"
    # radio
    carrier_hz: float = 5.32e9              # 5 GHz, channel 64
    bandwidth_mhz: float = 20.0
    subcarriers: tuple[int, ...] = ()       # () = the 30 grouped Intel 5300 indices
    antennas_per_rx: int = 3
    antenna_spacing_m: float = 0.028        # about half a wavelength at 5.3 GHz
    layout: str = "asymmetric"              # a name in LAYOUTS: where tx and the receivers stand
    tx_position: tuple[float, ...] = ()     # () = the layout's; (x, y, z) overrides it
    rx_positions: tuple[tuple[float, float, float], ...] = ()   # () = the layout's
    rx_dropout: float = 0.0                 # probability that a receiver is missing from a clip
    gap_periods: float = 0.75               # grid point is a gap when its packet is this far
    # room (x0 = y0 = 0) and its static scatterers
    room_size_m: tuple[float, float, float] = (8.0, 6.0, 3.0)
    wall_reflection: float = 0.5
    include_los: bool = True                # False: a wall blocks the direct tx -> rx path
    num_furniture: int = 4
    furniture_rcs_m2: float = 1.0
    # NIC impairments (see wifisense.sim.channel.ImpairmentConfig)
    snr_db: float = 35.0                    # a good indoor link; body echoes sit 20-45 dB below LOS
    cfo: bool = True
    sto_slope_std: float = 0.05
    agc_jitter_db: float = 0.5
    packet_loss: float = 0.02
    timestamp_jitter_s: float = 1e-3
    # person
    grid_shape: tuple[int, int] = (1, 1)    # rows (y) x columns (x); the paper's 4 x 6 = 24: preset "paper"
    grid_origin_m: tuple[float, float] = (4.0, 3.0)
    grid_spacing_m: float = 1.0
    position_jitter_m: float = 0.1
    facing_deg: float = -90.0               # the person faces the transmitter's wall (-y)
    facing_jitter_deg: float = 15.0
    speed_range: tuple[float, float] = (0.8, 1.25)
    amplitude_range: tuple[float, float] = (0.8, 1.1)
    height_range_m: tuple[float, float] = (1.55, 1.90)
    body_rcs_per_m2: float = 1.0            # radar cross-section per m^2 of segment area
    scatterer_spacing_m: float = 0.12
    # frames
    num_frames: int = 8
    image_size: int = 64
    camera_distance_m: float = 3.5
    camera_height_m: float = 0.95
    view_height_m: float = 2.1

    @classmethod
    def quick(cls) -> ActionConfig:
        """A tiny dataset for tests and ``--quick``: every (default) class once, 2-s clips at 50 Hz."""
        return cls(clips_per_class=1, clip_seconds=2.0, packet_rate_hz=50.0, num_frames=4,
                   image_size=32, split_ratios=(0.8, 0.1, 0.1))

    @classmethod
    def preset(cls, name: str) -> ActionConfig:
        """A named setting (ACTION_PRESETS) on the defaults."""
        if name not in ACTION_PRESETS:
            raise ConfigError(f"action simulator: no preset {name!r}; choose from {', '.join(ACTION_PRESETS)}")
        return dataclasses.replace(cls(), **ACTION_PRESETS[name])

    @property
    def tx_xyz(self) -> tuple[float, ...]:
        """The transmitter's position: ``tx_position`` if set, else the layout's."""
        return tuple(self.tx_position) or LAYOUTS[self.layout][0]

    @property
    def rx_xyz(self) -> tuple[tuple[float, ...], ...]:
        """The receivers' positions: ``rx_positions`` if set, else the layout's."""
        return tuple(self.rx_positions) or LAYOUTS[self.layout][1]

    @property
    def num_steps(self) -> int:
        return int(round(self.clip_seconds * self.packet_rate_hz))

    def validate(self) -> ActionConfig:
        """Raise ConfigError naming the first field whose value cannot be used."""
        checks = [
            ("clips_per_class", self.clips_per_class >= 1),
            ("clip_seconds", self.clip_seconds > 0),
            ("packet_rate_hz", self.packet_rate_hz > 0 and self.num_steps >= 1),
            ("split_ratios", len(self.split_ratios) == 3 and min(self.split_ratios) >= 0
             and sum(self.split_ratios) > 0),
            ("caption_order", self.caption_order in ("shuffled", "fixed")),
            ("csi_storage", self.csi_storage in ("float16", "complex64")),
            ("carrier_hz", self.carrier_hz > 0),
            ("antennas_per_rx", self.antennas_per_rx >= 1),
            ("layout", self.layout in LAYOUTS),
            ("rx_positions", not self.rx_positions or all(len(p) == 3 for p in self.rx_positions)),
            ("tx_position", len(self.tx_position) in (0, 3)),
            ("rx_dropout", 0.0 <= self.rx_dropout <= 1.0),
            ("gap_periods", self.gap_periods > 0),
            ("room_size_m", len(self.room_size_m) == 3 and min(self.room_size_m) > 0),
            ("packet_loss", 0.0 <= self.packet_loss < 1.0),
            ("timestamp_jitter_s", self.timestamp_jitter_s >= 0),
            ("grid_shape", len(self.grid_shape) == 2 and min(self.grid_shape) >= 1),
            ("num_frames", self.num_frames >= 0),
            ("image_size", self.image_size >= 8),
            ("scatterer_spacing_m", self.scatterer_spacing_m > 0),
            ("camera_distance_m", self.camera_distance_m > 1.0),
        ]
        for name, ok in checks:
            if not ok:
                raise ConfigError(f"action simulator: {name} = {getattr(self, name)!r} is not usable")
        return self


# ----------------------------------------------------------------------------- geometry


def grid_positions(cfg: ActionConfig) -> np.ndarray:
    """``[rows * cols, 2]`` person positions in metres; id = row * cols + col."""
    rows, cols = cfg.grid_shape
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    x = cfg.grid_origin_m[0] + c.ravel() * cfg.grid_spacing_m
    y = cfg.grid_origin_m[1] + r.ravel() * cfg.grid_spacing_m
    return np.stack([x, y], axis=-1)


@dataclass
class _Scene:
    """What stays fixed for every clip of one run."""

    room: object
    freqs: np.ndarray
    subcarriers: np.ndarray
    tx: np.ndarray                  # [3]
    rx_centres: np.ndarray          # [R, 3]
    rx_antennas: np.ndarray         # [R * Nant, 3]
    static_h: np.ndarray            # [1, S, R * Nant, 1]
    positions: np.ndarray           # [G, 2]


def _build_scene(cfg: ActionConfig, seed: int) -> _Scene:
    import wifisense.sim.channel as channel

    width, depth, height = cfg.room_size_m
    room = channel.Room(0.0, 0.0, width, depth, height, wall_reflection=cfg.wall_reflection)
    subcarriers = np.asarray(cfg.subcarriers or channel.INTEL5300_SUBCARRIERS_20MHZ, dtype=np.int32)
    freqs = channel.subcarrier_frequencies(cfg.carrier_hz, subcarriers)
    tx = np.asarray(cfg.tx_xyz, dtype=np.float64)
    centres = np.asarray(cfg.rx_xyz, dtype=np.float64)
    if not (room.contains(centres).all() and room.contains(tx[None]).all()):
        raise ConfigError("action simulator: tx_position and rx_positions must lie inside the room")
    middle = np.array([width / 2, depth / 2])
    antennas = []
    for c in centres:   # broadside towards the middle of the room
        towards = np.degrees(np.arctan2(*(middle - c[:2])[::-1]))
        antennas.append(channel.linear_array(c, cfg.antennas_per_rx, cfg.antenna_spacing_m,
                                             azimuth_deg=towards + 90.0))
    antennas = np.concatenate(antennas)
    # Furniture: fixed per seed, away from the walls and the person grid's centre line.
    room_rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5C3E]))
    furniture = None
    if cfg.num_furniture:
        xy = room_rng.uniform([0.3, 0.3], [width - 0.3, depth - 0.3], (cfg.num_furniture, 2))
        z = room_rng.uniform(0.3, 1.5, (cfg.num_furniture, 1))
        phase = np.exp(2j * np.pi * room_rng.random(cfg.num_furniture))
        furniture = channel.Scatterers(np.concatenate([xy, z], axis=1),
                                       np.sqrt(cfg.furniture_rcs_m2) * phase)
    static_h = channel.channel_response(tx, antennas, freqs, room, static_scatterers=furniture,
                                        include_los=cfg.include_los)
    return _Scene(room, freqs, subcarriers, tx, centres, antennas, static_h, grid_positions(cfg))


# ----------------------------------------------------------------------------- one clip


@dataclass
class Clip:
    """One simulated clip before it is stacked into a dataset."""

    csi: np.ndarray            # complex64 [R, T, A, S]
    rx_valid: np.ndarray       # bool [R]
    gap_mask: np.ndarray       # bool [R, T]
    frames: np.ndarray | None  # uint8 [L, H, W, 3]
    position: np.ndarray       # [2]
    position_id: int
    captions: list[str]


def _clip_csi(cfg: ActionConfig, scene: _Scene, spec, variation, position_xy: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``csi [R, T, A, S]``, ``rx_valid [R]`` and ``gap_mask [R, T]`` of one performance."""
    from wifisense.signal.resample import resample_uniform
    import wifisense.sim.channel as channel
    import wifisense.sim.skeleton as skeleton

    imp = channel.ImpairmentConfig(snr_db=cfg.snr_db, cfo=cfg.cfo, sto_slope_std=cfg.sto_slope_std,
                                   agc_jitter_db=cfg.agc_jitter_db)
    t_tx = channel.packet_times(cfg.clip_seconds, cfg.packet_rate_hz, cfg.timestamp_jitter_s, 0.0, rng)
    joints = skeleton.action_joints(spec, t_tx, variation)
    world = skeleton.body_to_world(joints, position_xy, np.radians(cfg.facing_deg))
    points, amplitudes = skeleton.segment_scatterers(world, variation.height_m, cfg.scatterer_spacing_m,
                                                     cfg.body_rcs_per_m2)
    # Body parts that do not move in this action (most of the body for a one-limb action)
    # are static scatterers: channel_response computes them once instead of per packet.
    # This is exact, and it makes a typical clip several times cheaper.
    moving = np.ptp(points, axis=0).max(axis=-1) > 1e-9
    body = channel.Scatterers(points[:, moving], amplitudes[moving]) if moving.any() else None
    still = (channel.Scatterers(points[0, ~moving], amplitudes[~moving])
             if not moving.all() else None)
    h = channel.channel_response(scene.tx, scene.rx_antennas, scene.freqs, scatterers=body,
                                 static_scatterers=still, include_los=False, reflection_order=0)
    h = np.broadcast_to(h, (t_tx.size,) + h.shape[1:])
    h = h + scene.static_h                                              # [P, S, R*Nant, 1]

    num_rx, nant = len(scene.rx_centres), cfg.antennas_per_rx
    steps = cfg.num_steps
    grid = (np.arange(steps) + 0.5) / cfg.packet_rate_hz
    csi = np.zeros((num_rx, steps, nant, scene.freqs.size), dtype=np.complex64)
    gaps = np.ones((num_rx, steps), dtype=bool)
    valid = rng.random(num_rx) >= cfg.rx_dropout
    if not valid.any():          # the student averages over valid receivers: keep one
        valid[rng.integers(num_rx)] = True
    for r in range(num_rx):      # a loop over 3 receivers; each is vectorised over packets
        received = rng.random(t_tx.size) >= cfg.packet_loss
        if received.sum() == 0:
            received[rng.integers(t_tx.size)] = True
        h_r = channel.apply_impairments(h[received][:, :, r * nant:(r + 1) * nant],
                                        scene.subcarriers, imp, rng)
        _, h_grid, gap = resample_uniform(t_tx[received], h_r, grid=grid,
                                          max_gap=cfg.gap_periods / cfg.packet_rate_hz,
                                          method="nearest")
        if valid[r]:
            # [T, S, Nrx, Ntx] -> [T, A = Nrx * Ntx, S]
            csi[r] = h_grid.reshape(steps, scene.freqs.size, -1).transpose(0, 2, 1)
            gaps[r] = gap
    return csi, valid, gaps


def simulate_clip(cfg: ActionConfig, scene: _Scene, spec, captions: list[str],
                  rng: np.random.Generator) -> Clip:
    """Simulate one clip of action ``spec`` with the clip's own ``rng``."""
    import wifisense.sim.render as render
    import wifisense.sim.skeleton as skeleton

    variation = skeleton.sample_variation(rng, cfg.speed_range, cfg.amplitude_range,
                                          cfg.height_range_m, cfg.facing_jitter_deg)
    position_id = int(rng.integers(len(scene.positions)))
    xy = scene.positions[position_id] + rng.uniform(-cfg.position_jitter_m, cfg.position_jitter_m, 2)
    csi, valid, gaps = _clip_csi(cfg, scene, spec, variation, xy, rng)
    frames = None
    if cfg.num_frames:
        t_frames = (np.arange(cfg.num_frames) + 0.5) * cfg.clip_seconds / cfg.num_frames
        camera = render.Camera(cfg.camera_distance_m, cfg.camera_height_m, cfg.view_height_m,
                               cfg.image_size)
        frames = render.render_frames(skeleton.action_joints(spec, t_frames, variation),
                                      variation.height_m, camera)
    order = rng.permutation(len(captions)) if cfg.caption_order == "shuffled" else range(len(captions))
    return Clip(csi, valid, gaps, frames, xy.astype(np.float32), position_id,
                [captions[i] for i in order])


# ----------------------------------------------------------------------------- dataset


def _simulate_clips(cfg: ActionConfig, seed: int, class_ids, clip_seeds) -> list[Clip]:
    """The clips of ``class_ids`` with their own seeds (a worker's share; the scene is rebuilt,
    which is cheap and the same for every worker)."""
    import wifisense.sim.vocabulary as vocabulary

    specs = vocabulary.select_classes(vocabulary.action_classes(), list(cfg.classes))
    scene = _build_scene(cfg, seed)
    return [simulate_clip(cfg, scene, specs[c], vocabulary.class_captions(specs[c]), np.random.default_rng(s))
            for c, s in zip(class_ids, clip_seeds)]


PARALLEL_MIN_CLIPS = 64   # below this, starting worker processes costs more than it saves


def default_sim_jobs() -> int:
    """Worker processes for simulation: the CPUs this process may use."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def simulate_actions(cfg: ActionConfig | None = None, seed: int = 0, progress: bool = True, jobs: int = 1):
    """Simulate the caption dataset: ``clips_per_class`` clips of every selected class.

    Returns a ``wifisense.io.schema.CaptionDataset``; write it with
    ``wifisense.io.store.write_caption_store``. ``jobs`` > 1 simulates in that many worker
    processes; every clip has its own seed, so the result does not depend on ``jobs``.
    """
    from tqdm.auto import tqdm

    from wifisense.io.schema import CaptionDataset
    import wifisense.sim.vocabulary as vocabulary

    cfg = (cfg or ActionConfig()).validate()
    all_specs = vocabulary.action_classes()
    try:
        specs = vocabulary.select_classes(all_specs, list(cfg.classes))
    except KeyError as exc:
        raise ConfigError(f"action simulator: no class matches {exc.args[0]!r}; run "
                          "`wifisense simulate actions --list-classes` to see them") from None
    mirror_of = vocabulary.mirror_table(specs)
    captions = [vocabulary.class_captions(s) for s in specs]
    scene = _build_scene(cfg, seed)

    class_id = np.repeat(np.arange(len(specs), dtype=np.int32), cfg.clips_per_class)
    clip_seeds = np.random.SeedSequence(seed).spawn(class_id.size)
    bar = tqdm(total=class_id.size, desc="simulate actions", unit="clip", disable=not progress)
    if jobs <= 1 or class_id.size < max(2 * jobs, PARALLEL_MIN_CLIPS):
        clips = []
        for c, s in zip(class_id, clip_seeds):
            clips.append(simulate_clip(cfg, scene, specs[c], captions[c], np.random.default_rng(s)))
            bar.update()
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the caller may hold torch's thread pools, which do not survive a fork
        bounds = np.linspace(0, class_id.size, 4 * jobs + 1).astype(int)
        clips = []
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = [pool.submit(_simulate_clips, cfg, seed, class_id[a:b], clip_seeds[a:b])
                     for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
            for part in parts:  # in order, so the clips keep their indices
                clips.extend(part.result())
                bar.update(len(clips) - bar.n)
    bar.close()
    split_rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5917]))
    return CaptionDataset(
        csi=np.stack([c.csi for c in clips]),
        rx_valid=np.stack([c.rx_valid for c in clips]),
        class_id=class_id,
        captions=[c.captions for c in clips],
        class_names=[s.name for s in specs],
        mirror_of=mirror_of,
        subcarriers=scene.subcarriers,
        sample_rate_hz=float(cfg.packet_rate_hz),
        clip_seconds=float(cfg.clip_seconds),
        rx_positions=scene.rx_centres.astype(np.float32),
        tx_position=scene.tx.astype(np.float32),
        position=np.stack([c.position for c in clips]).astype(np.float32),
        position_id=np.array([c.position_id for c in clips], dtype=np.int32),
        frames=np.stack([c.frames for c in clips]) if cfg.num_frames else None,
        gap_mask=np.stack([c.gap_mask for c in clips]),
        carrier_hz=float(cfg.carrier_hz),
        bandwidth_mhz=float(cfg.bandwidth_mhz),
        splits=stratified_splits(class_id, cfg.split_ratios, split_rng),
        source="simulated",
        attrs={"simulator": "wifisense.sim.actions", "seed": int(seed),
               "config_json": json.dumps(dataclasses.asdict(cfg)),
               "caption_order": cfg.caption_order,
               "rx_antenna_positions": scene.rx_antennas.tolist(),
               **({"mirror_receivers": list(mirror)} if (mirror := mirror_receivers(cfg)) else {})},
        csi_encoding=cfg.csi_storage,
    )




# ----------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = ActionConfig()
    parser.add_argument("--out", metavar="STORE", help="output HDF5 store (e.g. actions.h5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--preset", choices=tuple(ACTION_PRESETS), default="default",
                        help="named setting: default (one position, 24 classes x 40 clips) or paper "
                        "(24 positions, all 106 classes x 40 clips)")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny dataset (every class once, 2-s clips at 50 Hz, small frames)")
    parser.add_argument("--clips-per-class", type=int, metavar="K",
                        help=f"clips per action class (default: {d.clips_per_class})")
    parser.add_argument("--classes", nargs="+", metavar="C",
                        help="these classes (full names or prefixes such as 'standing:left_arm', or "
                        "'all' for all 106); mirror partners are added (default: a 24-class set)")
    parser.add_argument("--packet-rate", type=float, metavar="HZ",
                        help=f"packets per second and CSI grid rate (default: {d.packet_rate_hz:g})")
    parser.add_argument("--frames", type=int, metavar="L",
                        help=f"rendered RGB frames per clip, 0 for none (default: {d.num_frames})")
    size = parser.add_argument("--frame-size", dest="image_size", type=int, metavar="PX",
                               help=f"frame width and height in pixels (default: {d.image_size})")
    add_old_spelling(parser, size, "--image-size")
    parser.add_argument("--rx-dropout", type=float, metavar="P",
                        help="probability that a receiver is missing from a clip (default: 0)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="set any ActionConfig field (value as JSON), e.g. --set snr_db=20 "
                        "--set clip_seconds=3; repeatable")
    parser.add_argument("--jobs", type=int, metavar="N",
                        help="worker processes (default: the CPUs available); the data do not depend on it")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--list-classes", action="store_true",
                        help="print the action classes (id, name, mirror, a caption) and exit")


def config_from_args(args: argparse.Namespace) -> ActionConfig:
    cfg = ActionConfig.quick() if args.quick else ActionConfig.preset(getattr(args, "preset", "default"))
    flags = {"clips_per_class": args.clips_per_class, "packet_rate_hz": args.packet_rate,
             "num_frames": args.frames, "image_size": args.image_size,
             "rx_dropout": args.rx_dropout,
             "classes": tuple(args.classes) if args.classes else None}
    cfg = dataclasses.replace(cfg, **{k: v for k, v in flags.items() if v is not None})
    return apply_overrides(cfg, args.set).validate()


def _list_classes() -> int:
    import wifisense.sim.vocabulary as vocabulary

    specs = vocabulary.action_classes()
    mirror = vocabulary.mirror_table(specs)
    for i, s in enumerate(specs):
        print(f"{i:3d}  {s.name:42s} mirror={mirror[i]:3d}  {vocabulary.class_captions(s)[0]}")
    return 0


def run_from_args(args: argparse.Namespace) -> int:
    if args.list_classes:
        return _list_classes()
    if not args.out:
        raise ConfigError("simulate actions: --out FILE is required")
    cfg = config_from_args(args)
    check_output_path(args.out, args.overwrite)  # before minutes of simulation
    from wifisense.io.store import write_caption_store

    start = time.perf_counter()
    jobs = args.jobs if getattr(args, "jobs", None) else default_sim_jobs()
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: must be at least 1")
    ds = simulate_actions(cfg, seed=args.seed, progress=not getattr(args, "quiet", False), jobs=jobs)
    path = write_caption_store(args.out, ds, overwrite=args.overwrite)
    seconds = time.perf_counter() - start
    size_mb = Path(path).stat().st_size / 1e6
    n, r, t, a, s = ds.csi.shape
    print(f"wrote {path}: {n} clips of {len(ds.class_names)} classes, csi [N, R, T, A, S] = "
          f"[{n}, {r}, {t}, {a}, {s}], {size_mb:.1f} MB, {seconds:.1f} s")
    return 0
