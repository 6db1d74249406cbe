"""Trajectory simulator and 60 GHz beams: geometry, stream timing, determinism, CLI round trip."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from wifisense.errors import CaptureError, ConfigError
from wifisense.sim import beams
from wifisense.sim.channel import Room
from wifisense.sim.trajectories import (
    TrajectoryConfig, apply_overrides, build_robot_path, chain_drift, contention_gaps, remove_gaps,
    round_corners, simulate_trajectories, trajectory_config, walking_people,
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


NOISELESS = beams.BeamConfig(fading=False, diffuse_db=float("-inf"), step_db=None, floor_db=-200.0,
                             detect_db=-200.0, miss_prob=0.0)
TALON = Path(__file__).resolve().parents[2] / "shared" / "data" / "talon"
# figures of the measured Talon patterns, from ../shared/data/talon/README.md
TALON_FIGURES = {"sector_range_db": 13.2, "sector_spread_db": 4.1, "omni_range_db": 12.6}


def test_strongest_ula_beam_of_a_sweeping_ap_points_at_the_robot():
    codebook = beams.ula_codebook()
    cfg = dataclasses.replace(NOISELESS, sweep_side="ap")
    ap = np.array([0.25, 0.25, 1.5])
    targets = np.random.default_rng(0).uniform((0.8, 0.8), (7.5, 5.5), (500, 2))
    heading = np.random.default_rng(1).uniform(-np.pi, np.pi, 500)   # isotropic client: irrelevant
    snr = beams.beam_snr(targets, heading, ap, 45.0, codebook, Room(), cfg, rng=None)
    assert snr.shape == (500, 36) and snr.dtype == np.float32
    steer = np.linspace(-52.5, 52.5, 36)
    best = steer[np.argmax(snr, axis=1)] + 45.0
    bearing = beams.bearing_deg(ap, targets)
    assert np.abs(best - bearing).max() < np.diff(steer)[0] + 0.5   # within one beam step (~3 deg)
    np.testing.assert_array_equal(snr, beams.beam_snr(targets, 0.0, ap, 45.0, codebook, Room(), cfg))


def test_beam_snr_falls_with_distance_like_friis():
    targets = np.array([[1.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    snr = beams.beam_snr(targets, np.pi, np.zeros(3), 0.0, beams.talon_like_codebook(), None,
                         NOISELESS).max(axis=1)
    np.testing.assert_allclose(snr[0] - snr[1], 20.0 + 0.015 * 9, atol=0.01)


def test_a_sweeping_client_turns_its_sectors_with_the_robot():
    # line of sight only: sector m reads G_m(bearing to the AP - heading) + G_omni(AP side)
    codebook = beams.talon_like_codebook(seed=3)
    ap = np.array([0.0, 0.0, 0.3])
    robot = np.array([[3.0, 4.0]] * 8)
    heading = np.linspace(-np.pi, np.pi, 8, endpoint=False)
    snr = beams.beam_snr(robot, heading, ap, 0.0, codebook, None, NOISELESS)
    to_ap = np.arctan2(-4.0, -3.0)
    expected = codebook.sector_gain(beams.wrap_rad(to_ap - heading))
    relative = snr - snr[:, :1]
    np.testing.assert_allclose(relative, expected - expected[:, :1], atol=1e-3)
    assert np.ptp(snr.max(axis=1)) < 6 and np.ptp(snr[:, 0]) > 6   # the best sector changes, not the level


@pytest.mark.parametrize("seed", range(5))
def test_talon_like_codebook_has_the_measured_statistics(seed):
    stats = beams.codebook_statistics(beams.talon_like_codebook(seed=seed))
    assert stats["sectors"] == 36
    assert abs(stats["sector_range_db"] - TALON_FIGURES["sector_range_db"]) < 1.5
    assert abs(stats["sector_spread_db"] - TALON_FIGURES["sector_spread_db"]) < 0.6
    assert abs(stats["omni_range_db"] - TALON_FIGURES["omni_range_db"]) < 3.0
    assert stats["peak_max_deg"] - stats["peak_min_deg"] > 240   # peaks all round, not +-52 deg


@pytest.mark.skipif(not TALON.is_dir(), reason="measured patterns not in ../shared/data/talon")
def test_measured_talon_patterns_load_and_give_the_readme_figures():
    codebook = beams.load_sector_patterns(TALON, peak_gain_dbi=15.0)
    stats = beams.codebook_statistics(codebook)
    assert codebook.num_sectors == 36 and codebook.names[:2] == ["00", "01"] and codebook.names[-1] == "63"
    assert codebook.gain_dbi.max() == pytest.approx(15.0) and np.median(codebook.quasi_omni_dbi) == pytest.approx(0.0)
    assert stats["peak_min_deg"] == pytest.approx(-154, abs=1) and stats["peak_max_deg"] == pytest.approx(145, abs=1)
    for name, value in TALON_FIGURES.items():
        assert stats[name] == pytest.approx(value, abs=0.3), name


def test_pattern_loader_reads_the_csv_layout_and_names_bad_files(tmp_path):
    pan = np.linspace(-2.7, 2.7, 300)
    for sector, peak in (("03", 0.5), ("01", -1.0), ("rx", 0.0)):
        rows = ["pan_rad,snr_mean,snr_low,snr_high"]
        for i, p in enumerate(pan):
            value = "" if i % 7 == 0 else f"{20 - 8 * (p - peak) ** 2:.3f}"   # holes: no measurement
            rows.append(f"{p},{value},,")
        (tmp_path / f"pattern_sector_{sector}.csv").write_text("\n".join(rows) + "\n")
    codebook = beams.load_sector_patterns(tmp_path, peak_gain_dbi=12.0, omni_gain_dbi=-1.0)
    assert codebook.names == ["01", "03"]
    np.testing.assert_allclose(np.degrees(codebook.azimuth_rad[np.argmax(codebook.gain_dbi, 1)]),
                               np.degrees([-1.0, 0.5]), atol=1.0)
    assert codebook.gain_dbi.max() == pytest.approx(12.0) and np.median(codebook.quasi_omni_dbi) == pytest.approx(-1.0)
    (tmp_path / "pattern_sector_05.csv").write_text("angle,snr\n0,1\n")
    with pytest.raises(CaptureError, match="sector_05.csv.*header"):
        beams.load_sector_patterns(tmp_path)
    with pytest.raises(CaptureError, match="no .*sector"):
        beams.load_sector_patterns(tmp_path / "nothing-here")


def test_reports_are_quantised_and_missing_sectors_are_nan():
    rng = np.random.default_rng(0)
    cfg = beams.BeamConfig(miss_prob=0.05)
    robot = rng.uniform((0.5, 0.5), (7.5, 5.5), (400, 2))
    snr = beams.beam_snr(robot, rng.uniform(-np.pi, np.pi, 400), np.array([0.25, 0.25, 1.5]), 45.0,
                         beams.talon_like_codebook(), Room(), cfg, rng, times_s=np.arange(400) * 0.25)
    seen = snr[np.isfinite(snr)]
    np.testing.assert_allclose(seen / 0.25, np.round(seen / 0.25), atol=1e-4)
    assert seen.min() >= cfg.detect_db                                  # below detection: missing, not floored
    assert 0.05 <= np.isnan(snr).mean() < 0.5


def test_blockage_fading_and_misses_follow_their_knobs():
    rng_seed = 5
    robot = np.tile([[4.0, 3.0]], (4000, 1))
    args = (np.zeros(4000), np.array([0.25, 0.25, 1.5]), 45.0, beams.talon_like_codebook(), None)
    t = np.arange(4000) * 0.25

    def run(**changes):
        cfg = dataclasses.replace(beams.BeamConfig(shadowing_std_db=0.0, measurement_noise_std_db=0.0,
                                                   step_db=None, miss_prob=0.0, detect_db=-200.0,
                                                   floor_db=-200.0), **changes)
        return beams.beam_snr(robot, *args, cfg, np.random.default_rng(rng_seed), times_s=t)

    strong = int(np.argmax(run(fading=False)[0]))
    faded, steady = run()[:, strong], run(rician_k_db=30.0)[:, strong]
    assert np.std(faded) > 3 * np.std(steady) > 0
    blocked = run(fading=False, blockage_rate_hz=0.05, blockage_s=(2.0, 4.0))[:, strong]
    drop = np.max(blocked) - np.min(blocked)
    assert 15 < drop < 26        # 25 dB off the line of sight; the diffuse power remains
    missing = np.isnan(run(miss_prob=0.1)).mean()
    assert missing == pytest.approx(0.1, abs=0.01)


def test_every_60ghz_knob_is_a_trajectory_field():
    # --set reaches only TrajectoryConfig fields: each BeamConfig field must follow one of them
    base = TrajectoryConfig()
    reached = set()
    for f in dataclasses.fields(TrajectoryConfig):
        if not f.name.startswith(("snr_", "beam_")):
            continue
        value = getattr(base, f.name)
        changed = ("ap" if f.name == "beam_sweep_side" else not value if isinstance(value, bool)
                   else tuple(v * 2 + 1 for v in value) if isinstance(value, tuple)
                   else value * 2 + 1 if isinstance(value, (int, float)) else value)
        new = dataclasses.replace(base, **{f.name: changed}).beam_config()
        reached |= {g.name for g in dataclasses.fields(new)
                    if getattr(new, g.name) != getattr(base.beam_config(), g.name)}
    assert reached == {g.name for g in dataclasses.fields(beams.BeamConfig)}


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
    assert ds.csi_x.shape == (len(ds.csi_t), 64, 4, 1) and ds.csi_x.dtype == np.complex64
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
    assert np.all(np.isfinite(ds.csi_x)) and not np.any(np.isinf(ds.snr_x))
    assert 0.0 < np.isnan(ds.snr_x).mean() < 0.3          # some sectors missing, as NaN
    assert cfg.room.contains(ds.pose_xy).all()
    assert ds.beam_angles_deg is None                      # the sweeping client turns with the robot
    # the heading is the direction of travel
    step = np.diff(ds.pose_xy, axis=0)
    moving = np.linalg.norm(step, axis=1) > 0.02
    travel = np.arctan2(step[:, 1], step[:, 0])[moving]
    mid = ((ds.pose_heading[:-1] + np.angle(np.exp(1j * (ds.pose_heading[1:] - ds.pose_heading[:-1]))) / 2))[moving]
    assert np.median(np.abs(np.angle(np.exp(1j * (travel - mid))))) < np.radians(3)


def test_fingerprint_preset_is_the_position_only_setting():
    cfg = trajectory_config("fingerprint", ["duration_s=20", "num_static_scatterers=2"])
    ds = simulate_trajectories(cfg, seed=1, progress=False)
    assert ds.csi_x.shape[1] == 30 and np.all(np.isfinite(ds.snr_x))
    assert ds.beam_angles_deg.shape == (36,)
    with pytest.raises(ConfigError, match="preset"):
        trajectory_config("nope")


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
    for name in ("csi_t", "csi_x", "snr_t", "snr_x", "pose_xy", "pose_heading"):
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
    assert back.beam_angles_deg is None and ref.beam_angles_deg is None
    np.testing.assert_allclose(back.pose_heading, ref.pose_heading)
    assert back.snr_x.shape[1] == 12
    with pytest.raises(WifisenseError):          # exists, no --overwrite
        run_from_args(args)
    assert run_from_args(_parse_cli(argv + ["--overwrite"])) == 0
    with pytest.raises(ConfigError, match="bogus"):
        run_from_args(_parse_cli(["--out", str(out), "--set", "bogus=1"]))


def test_walking_people_stay_in_the_room_at_walking_speed():
    cfg = dataclasses.replace(SMALL, num_people=2, duration_s=120.0)
    people = walking_people(cfg, np.random.default_rng(0))
    t = np.arange(0.0, 120.0, 0.05)
    sc = people.scatterers(t)
    assert sc.positions.shape == (len(t), 2, 3) and sc.amplitudes.shape == (2,)
    assert cfg.room.contains(sc.positions).all()
    speed = np.linalg.norm(np.diff(sc.positions[..., :2], axis=0), axis=-1) / 0.05
    assert speed.max() <= cfg.person_speed_mps[1] + 1e-6 and speed.mean() > 0.1
    assert walking_people(dataclasses.replace(cfg, num_people=0), np.random.default_rng(0)).scatterers(t) is None


def test_chain_drift_is_slow_and_off_when_disabled():
    t = np.arange(0.0, 3600.0, 1 / 30)
    cfg = dataclasses.replace(SMALL, csi_chain_phase=False)
    drift = chain_drift(cfg, t, np.random.default_rng(0))
    assert drift.shape == (len(t), cfg.csi_num_rx)
    phase = np.unwrap(np.angle(drift), axis=0)
    assert 0.5 * cfg.csi_drift_phase_rad < phase.std(axis=0).mean() < 1.5 * cfg.csi_drift_phase_rad
    assert np.abs(np.diff(phase, axis=0)).max() < 0.03                 # slow: tiny change per packet
    off = dataclasses.replace(cfg, csi_drift_phase_rad=0.0, csi_drift_gain_db=0.0)
    np.testing.assert_allclose(chain_drift(off, t[:100], np.random.default_rng(0)), 1.0)
