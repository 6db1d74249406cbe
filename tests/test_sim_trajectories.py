"""Trajectory simulator and 60 GHz beams: geometry, stream timing, determinism, CLI round trip."""

import dataclasses

import numpy as np
import pytest

from wifisense.errors import ConfigError
from wifisense.sim import beams
from wifisense.sim.channel import Room
from wifisense.sim.trajectories import (
    TrajectoryConfig, apply_overrides, build_robot_path, contention_gaps, remove_gaps,
    round_corners, simulate_trajectories,
)

SMALL = TrajectoryConfig(duration_s=60.0, num_static_scatterers=4, chunk_s=20.0)


@pytest.fixture(scope="module")
def small_run():
    return simulate_trajectories(SMALL, seed=3, progress=False)


# ----------------------------------------------------------------------------- beams


@pytest.mark.parametrize("phase_bits", [None, 2])
def test_beam_patterns_peak_at_their_steering_angle(phase_bits):
    steer = np.linspace(-50, 50, 11)
    angles = np.linspace(-70, 70, 2801)
    # array factor alone (flat element) peaks where steered, up to phase quantisation
    flat = beams.beam_gain_db(steer, angles, phase_bits=phase_bits, element_exponent=0.0)
    assert flat.shape == (angles.size, steer.size)
    np.testing.assert_allclose(angles[np.argmax(flat, axis=0)], steer,
                               atol=0.1 if phase_bits is None else 1.5)
    # the cos^q element pattern pulls wide beams a little towards boresight
    gain = beams.beam_gain_db(steer, angles, phase_bits=phase_bits)
    np.testing.assert_allclose(angles[np.argmax(gain, axis=0)], steer, atol=2.0)
    # boresight beam: full array gain on top of the element gain
    np.testing.assert_allclose(gain[:, 5].max(), 5.0 + 10 * np.log10(16),
                               atol=0.2 if phase_bits is None else 1.0)


def test_ideal_uniform_array_first_side_lobe_is_minus_13_db():
    angles = np.linspace(-90, 90, 36001)
    gain = beams.beam_gain_db([0.0], angles, element_exponent=0.0)[:, 0]
    main = gain.max()
    # first null of a 16-element half-wavelength array at asin(2/16)
    outside = np.abs(angles) > np.degrees(np.arcsin(2 / 16))
    np.testing.assert_allclose(gain[outside].max() - main, -13.26, atol=0.3)


def test_strongest_beam_points_at_the_robot():
    cfg = beams.BeamConfig()
    ap = np.array([0.25, 0.25, 1.5])
    targets = np.random.default_rng(0).uniform((0.8, 0.8), (7.5, 5.5), (500, 2))
    snr = beams.beam_snr(ap, 45.0, targets, Room(), cfg, rng=None)
    assert snr.shape == (500, cfg.num_beams) and snr.dtype == np.float32
    best = cfg.steering_angles_deg()[np.argmax(snr, axis=1)] + 45.0
    bearing = beams.bearing_deg(ap, targets)
    spacing = np.diff(cfg.steering_angles_deg())[0]
    assert np.abs(best - bearing).max() < spacing + 0.5   # within one beam step (~3 deg)


def test_beam_snr_falls_with_distance_like_friis():
    cfg = dataclasses.replace(beams.BeamConfig(), snr_step_db=None, snr_floor_db=-100.0)
    ap = np.zeros(3)
    targets = np.array([[1.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    snr = beams.beam_snr(ap, 0.0, targets, None, cfg).max(axis=1)
    np.testing.assert_allclose(snr[0] - snr[1], 20.0 + 0.015 * 9, atol=0.01)


# ----------------------------------------------------------------------------- motion


def test_round_corners_stays_near_the_polygon_and_keeps_legs():
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]], dtype=float)
    dense, legs = round_corners(square, radius=0.3)
    assert len(dense) == len(legs)
    np.testing.assert_allclose(dense[0], square[0])
    np.testing.assert_allclose(dense[-1], square[-1])
    # every point lies on the square or cuts a corner by less than the radius
    dist_to_edge = np.minimum.reduce([np.abs(dense[:, 0]), np.abs(dense[:, 0] - 2),
                                      np.abs(dense[:, 1]), np.abs(dense[:, 1] - 2)])
    assert dist_to_edge.max() < 0.3
    assert np.all(np.diff(legs) >= 0) and set(legs) == {0, 1, 2, 3}


def test_robot_path_inside_room_rectangular_and_speed_limited():
    cfg = dataclasses.replace(SMALL, duration_s=300.0)
    path = build_robot_path(cfg, np.random.default_rng(1))
    assert path.duration_s >= cfg.duration_s
    assert cfg.room.contains(path.xy, margin=cfg.wall_margin_m - 1e-6).all()
    assert path.speed_mps.max() <= cfg.speed_mps[1] + 1e-9
    assert path.speed_mps.min() > 0
    # rectangles: most of the driving is parallel to a wall
    heading = np.degrees(np.arctan2(*np.diff(path.xy, axis=0)[:, ::-1].T))
    off_axis = np.abs((heading + 45) % 90 - 45)
    assert np.mean(off_axis < 2.0) > 0.7
    # speed is smooth: no jumps larger than what the smoothing window allows
    assert np.abs(np.diff(path.speed_mps)).max() < 0.05


# ----------------------------------------------------------------------------- streams


def test_streams_have_configured_shapes_rates_and_gaps(small_run):
    ds, cfg = small_run, SMALL
    assert ds.csi_x.shape == (len(ds.csi_t), 30, 4, 1) and ds.csi_x.dtype == np.complex64
    assert ds.snr_x.shape == (len(ds.snr_t), 36) and ds.snr_x.dtype == np.float32
    assert ds.pose_xy.shape == (len(ds.pose_t), 2)
    for t in (ds.csi_t, ds.snr_t, ds.pose_t):
        assert np.all(np.diff(t) > 0) and t[0] >= 0 and t[-1] < cfg.duration_s
    np.testing.assert_allclose(len(ds.csi_t) / cfg.duration_s,
                               cfg.csi_rate_hz * (1 - cfg.csi_packet_loss), rtol=0.05)
    np.testing.assert_allclose(np.diff(ds.pose_t), 1 / cfg.pose_rate_hz)
    snr_gaps = np.diff(ds.snr_t)
    assert np.median(snr_gaps) == pytest.approx(1 / cfg.snr_rate_hz, rel=0.1)
    assert snr_gaps.max() <= cfg.snr_gap_s[1] + 3 / cfg.snr_rate_hz
    assert np.all(np.isfinite(ds.csi_x)) and np.all(np.isfinite(ds.snr_x))
    assert cfg.room.contains(ds.pose_xy).all()
    assert ds.beam_angles_deg.shape == (36,)


def test_contention_gaps_are_disjoint_and_remove_samples():
    rng = np.random.default_rng(5)
    gaps = contention_gaps(500.0, 0.1, (0.5, 2.0), rng)
    lengths = gaps[:, 1] - gaps[:, 0]
    assert len(gaps) > 20
    assert lengths.min() >= 0.5 and lengths.max() <= 2.0
    assert np.all(gaps[1:, 0] > gaps[:-1, 1])
    t = np.arange(0, 500, 0.25)
    kept = remove_gaps(t, gaps)
    inside = ((kept[:, None] >= gaps[:, 0]) & (kept[:, None] < gaps[:, 1])).any(1)
    assert not inside.any()
    assert len(t) - len(kept) == pytest.approx(lengths[gaps[:, 1] < 500].sum() * 4, abs=len(gaps))


def test_csi_changes_with_position(small_run):
    """The antenna-pair phase (free of CFO/STO) follows the robot's bearing from the AP."""
    ds = small_run
    pos = np.stack([np.interp(ds.csi_t, ds.pose_t, ds.pose_xy[:, i]) for i in range(2)], 1)
    pair = np.angle(np.mean(ds.csi_x[:, :, 1, 0] * np.conj(ds.csi_x[:, :, 0, 0]), axis=1))
    bearing = beams.bearing_deg(ds.ap_position, pos)
    i = np.arange(0, len(pair) - 1, 7)
    far = i[np.argmax(np.abs(bearing[i, None] - bearing[None, i]), axis=1)]

    def phase_change(a, b):
        return np.abs(np.angle(np.exp(1j * (pair[a] - pair[b]))))

    assert np.median(phase_change(i, far)) > 3 * np.median(phase_change(i, i + 1))


def test_determinism_per_seed(small_run):
    again = simulate_trajectories(SMALL, seed=3, progress=False)
    for name in ("csi_t", "csi_x", "snr_t", "snr_x", "pose_xy"):
        np.testing.assert_array_equal(getattr(again, name), getattr(small_run, name))
    other = simulate_trajectories(SMALL, seed=4, progress=False)
    assert not np.allclose(other.pose_xy, small_run.pose_xy)


# ----------------------------------------------------------------------------- config / CLI


def test_overrides_parse_types_and_reject_unknown_fields():
    cfg = apply_overrides(TrajectoryConfig(), ["speed_mps=0.2,0.5", "csi_cfo=false",
                                               "num_beams=24", "csi_subcarriers=ht20",
                                               "room_size_m=[10, 7]"])
    assert cfg.speed_mps == (0.2, 0.5) and cfg.csi_cfo is False and cfg.num_beams == 24
    assert cfg.room_size_m == (10.0, 7.0) and cfg.subcarriers.size == 56
    with pytest.raises(ConfigError, match="unknown field"):
        apply_overrides(TrajectoryConfig(), ["speedy=1"])
    with pytest.raises(ConfigError, match="num_beams"):
        apply_overrides(TrajectoryConfig(), ["num_beams=lots"])
    with pytest.raises(ConfigError, match="speed_mps"):
        dataclasses.replace(TrajectoryConfig(), speed_mps=(0.9, 0.3)).validate()


def _parse_cli(argv):
    import argparse

    from wifisense.sim import trajectories

    parser = argparse.ArgumentParser()
    trajectories.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_writes_a_store_that_reads_back(tmp_path, capsys):
    store = pytest.importorskip("wifisense.io.store")
    from wifisense.errors import WifisenseError
    from wifisense.sim.trajectories import run_from_args

    out = tmp_path / "traj.h5"
    argv = ["--out", str(out), "--seed", "2", "--duration", "15", "--beams", "12",
            "--set", "num_static_scatterers=2"]
    args = _parse_cli(argv)
    args.quiet = True
    assert run_from_args(args) == 0
    assert str(out) in capsys.readouterr().out
    validate = pytest.importorskip("wifisense.io.validate")
    assert validate.validate_store(out) == []
    back = store.read_multiband_store(out)
    cfg = dataclasses.replace(TrajectoryConfig(), duration_s=15.0, num_beams=12,
                              num_static_scatterers=2)
    ref = simulate_trajectories(cfg, seed=2, progress=False)
    np.testing.assert_array_equal(back.csi_t, ref.csi_t)
    np.testing.assert_array_equal(back.csi_x, ref.csi_x)
    np.testing.assert_array_equal(back.snr_x, ref.snr_x)
    np.testing.assert_allclose(back.pose_xy, ref.pose_xy)
    np.testing.assert_allclose(back.beam_angles_deg, ref.beam_angles_deg)
    assert back.snr_x.shape[1] == 12
    with pytest.raises(WifisenseError):          # exists, no --overwrite
        run_from_args(args)
    assert run_from_args(_parse_cli(argv + ["--overwrite"])) == 0
    with pytest.raises(ConfigError, match="bogus"):
        run_from_args(_parse_cli(["--out", str(out), "--set", "bogus=1"]))
