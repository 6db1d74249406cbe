"""Physical and structural checks of the action simulator (skeleton, vocabulary, renderer, CSI clips)."""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pytest

from wifisense.sim import actions, channel, render, skeleton, vocabulary
from wifisense.errors import ConfigError
from wifisense.sim.actions import ActionConfig

SPECS = vocabulary.action_classes()
BY_NAME = {s.name: s for s in SPECS}
MIRROR = vocabulary.mirror_table(SPECS)
LATERAL = [s for s in SPECS if not s.is_symmetric]

# Impairment-free, loss-free, furniture-free: the CSI is exactly the geometric channel.
# (On the paper's 4 x 6 grid of person positions, which some tests index.)
CLEAN = dict(snr_db=None, cfo=False, sto_slope_std=0.0, agc_jitter_db=0.0, packet_loss=0.0,
             timestamp_jitter_s=0.0, num_furniture=0, grid_shape=(4, 6), grid_origin_m=(1.5, 1.5))


def tiny_config(**overrides) -> ActionConfig:
    base = dict(clips_per_class=1, clip_seconds=1.0, packet_rate_hz=40.0, num_frames=2,
                image_size=16, classes=("standing:left_arm:raise_forward", "standing:head:nod",
                                        "sitting:torso:turn:left"))
    base.update(overrides)
    return ActionConfig(**base)


@pytest.fixture(scope="module")
def tiny():
    return actions.simulate_actions(tiny_config(), seed=3, progress=False)


# --------------------------------------------------------------------- (d) classes


def test_at_least_100_classes_and_mirror_is_an_involution():
    assert len(SPECS) >= 100
    assert len({s.name for s in SPECS}) == len(SPECS)
    assert np.array_equal(MIRROR[MIRROR], np.arange(len(SPECS)))
    for i, s in enumerate(SPECS):
        partner = SPECS[MIRROR[i]]
        assert partner == s.mirrored()
        if s.is_symmetric:
            assert MIRROR[i] == i and s.direction not in ("left", "right", "clockwise",
                                                         "counterclockwise")
            assert s.limb not in ("left_arm", "right_arm", "left_leg", "right_leg")
        else:
            assert MIRROR[i] != i
    # every limb and both postures are covered, and lateral pairs are the majority
    assert {s.limb for s in SPECS} == set(skeleton.LIMBS)
    assert {s.posture for s in SPECS} == {"standing", "sitting"}
    assert len(LATERAL) > len(SPECS) / 2
    pair = BY_NAME["standing:left_arm:circle:clockwise"]
    assert SPECS[MIRROR[SPECS.index(pair)]].name == "standing:right_arm:circle:counterclockwise"
    pair = BY_NAME["sitting:left_arm:point:left"]
    assert SPECS[MIRROR[SPECS.index(pair)]].name == "sitting:right_arm:point:right"


def test_selecting_classes_keeps_mirror_pairs_whole():
    chosen = vocabulary.select_classes(SPECS, ["standing:left_arm:wave", "standing:head"])
    names = {s.name for s in chosen}
    assert "standing:right_arm:wave" in names and "standing:head:tilt:right" in names
    assert np.array_equal(vocabulary.mirror_table(chosen)[vocabulary.mirror_table(chosen)],
                          np.arange(len(chosen)))
    with pytest.raises(KeyError):
        vocabulary.select_classes(SPECS, ["standing:tail:wag"])


# --------------------------------------------------------------------- (c) captions


def test_mirrored_captions_are_direction_swaps_and_lateral_captions_name_a_direction():
    from wifisense.caption.mirror import swap_directions   # the swapper the caption task uses

    for i, spec in enumerate(SPECS):
        caps = vocabulary.class_captions(spec)
        mirrored = vocabulary.class_captions(SPECS[MIRROR[i]])
        assert len(caps) >= 3 and len(set(caps)) == len(caps)
        assert mirrored == [vocabulary.swap_direction_words(c) for c in caps]
        assert mirrored == [swap_directions(c) for c in caps]
        if spec.is_symmetric:
            assert not any(vocabulary.has_direction_word(c) for c in caps), caps
        else:
            assert all(vocabulary.has_direction_word(c) for c in caps), caps
            assert mirrored != caps
    # the direction named is the class's own one
    caps = vocabulary.class_captions(BY_NAME["standing:right_arm:circle:counterclockwise"])
    assert all("right" in c and "counterclockwise" in c for c in caps)
    caps = vocabulary.class_captions(BY_NAME["sitting:head:turn:left"])
    assert all("left" in c and "right" not in c for c in caps)


def test_every_clip_stores_all_paraphrases_of_its_class(tiny):
    for cid, caps in zip(tiny.class_id, tiny.captions):
        assert sorted(caps) == sorted(vocabulary.class_captions(BY_NAME[tiny.class_names[cid]]))


# --------------------------------------------------------------------- skeleton + (b) frames


def test_mirrored_class_is_the_exact_reflection_of_the_original():
    t = np.linspace(0.0, 5.0, 64)
    variation = skeleton.ActionVariation(speed=1.1, amplitude=0.9, phase=0.7, height_m=1.8,
                                         facing_rad=0.2)
    for spec in LATERAL:
        pose = skeleton.action_joints(spec, t, variation)
        mirrored = skeleton.action_joints(spec.mirrored(), t, skeleton.mirror_variation(variation))
        np.testing.assert_allclose(mirrored, skeleton.mirror_joints(pose), atol=1e-12,
                                   err_msg=spec.name)
        assert np.abs(mirrored - pose).max() > 0.05, spec.name   # and it really is different


def test_symmetric_classes_are_their_own_mirror_image():
    t = np.linspace(0.0, 5.0, 64)
    variation = skeleton.ActionVariation(speed=0.9, amplitude=1.05, phase=2.0)
    for spec in [s for s in SPECS if s.is_symmetric]:
        pose = skeleton.action_joints(spec, t, variation)
        same = skeleton.action_joints(spec, t, skeleton.mirror_variation(variation, spec))
        np.testing.assert_allclose(same, skeleton.mirror_joints(pose), atol=1e-9, err_msg=spec.name)


def test_bones_keep_their_length_and_the_body_stays_above_the_floor():
    t = np.linspace(0.0, 5.0, 50)
    for spec in SPECS:
        pose = skeleton.action_joints(spec, t, skeleton.ActionVariation(height_m=1.7))
        for seg in skeleton.BODY_SEGMENTS:
            length = np.linalg.norm(pose[:, seg.joint_a] - pose[:, seg.joint_b], axis=-1)
            assert np.ptp(length) < 1e-9, (spec.name, seg.name)
        assert pose[..., 2].min() > 0.0 and pose[..., 2].max() < 2.3, spec.name


def test_left_arm_moves_the_left_hand_only():
    t = np.linspace(0.0, 5.0, 50)
    pose = skeleton.action_joints(BY_NAME["standing:left_arm:raise_sideways"], t)
    left, right = skeleton.JOINT["l_hand"], skeleton.JOINT["r_hand"]
    assert np.ptp(pose[:, right], axis=0).max() < 1e-9
    assert pose[:, left, 2].max() > pose[:, skeleton.JOINT["head"], 2].max()   # above the head
    assert pose[:, left, 0].min() < -0.5        # out to the person's left (-x)


def test_flipped_frame_is_the_rendered_mirrored_action():
    t = np.linspace(0.2, 4.8, 6)
    camera = render.Camera(image_size=48)
    rng = np.random.default_rng(5)
    for spec in [BY_NAME[n] for n in ("standing:left_arm:circle:clockwise",
                                      "standing:right_arm:point:left", "sitting:left_leg:kick_forward",
                                      "standing:torso:bend_sideways:right", "standing:head:turn:left",
                                      "standing:both_arms:point:right")]:
        variation = skeleton.sample_variation(rng)
        frames = render.render_frames(skeleton.action_joints(spec, t, variation),
                                      variation.height_m, camera)
        mirrored = render.render_frames(
            skeleton.action_joints(spec.mirrored(), t, skeleton.mirror_variation(variation)),
            variation.height_m, camera)
        flipped = frames[:, :, ::-1]
        diff = np.abs(mirrored.astype(int) - flipped.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, spec.name
        # the action is not left-right symmetric, so the flip is not the frame itself
        assert np.abs(frames.astype(int) - flipped.astype(int)).max() > 50, spec.name


def test_frames_show_the_person_left_on_the_image_right():
    camera = render.Camera(image_size=64)
    pose = skeleton.action_joints(BY_NAME["standing:left_arm:point:left"], np.array([0.0]),
                                  skeleton.ActionVariation(phase=np.pi))   # arm held out level
    frame = render.render_frames(pose, 1.7, camera)[0].astype(int)
    arm = np.all(np.abs(frame - np.array(render.KIND_COLOURS["arm"]) * 255) < 90, axis=-1)
    cols = np.flatnonzero(arm.any(axis=0))
    centre = (64 - 1) / 2
    assert cols.max() - centre > 2 * (centre - cols.min())   # the pointing arm reaches right


# --------------------------------------------------------------------- (a) physics


def test_moving_hand_turns_the_phase_by_its_path_length_change():
    """A single hand scatterer from the skeleton: phase(t1) - phase(t0) = -2 pi f dd / c."""
    cfg = ActionConfig()
    scene = actions._build_scene(cfg, seed=0)
    t = np.array([1.0, 1.002])      # 2 ms apart: far less than a wavelength of hand travel
    pose = skeleton.action_joints(BY_NAME["standing:left_arm:wave"], t)
    world = skeleton.body_to_world(pose, np.array([3.0, 2.5]), np.radians(cfg.facing_deg))
    points, amplitudes = skeleton.segment_scatterers(world, 1.7)
    hand = int(np.argmax(np.linalg.norm(points[1] - points[0], axis=-1)))   # fastest point
    p = points[:, hand]
    assert np.linalg.norm(p[1] - p[0]) > 1e-3          # it does move
    h = channel.channel_response(scene.tx, scene.rx_antennas, scene.freqs,
                                 scatterers=channel.Scatterers(p[:, None], amplitudes[hand]),
                                 include_los=False, reflection_order=0)[..., 0]   # [2, S, Rx]
    path = (np.linalg.norm(p[:, None] - scene.tx, axis=-1)
            + np.linalg.norm(p[:, None] - scene.rx_antennas[None], axis=-1))       # [2, Rx]
    expected = -2 * np.pi * scene.freqs[:, None] * (path[1] - path[0])[None] / channel.SPEED_OF_LIGHT
    measured = np.angle(h[1] / h[0])
    assert np.abs(expected).max() > 0.05                # a measurable turn
    np.testing.assert_allclose(measured, expected, atol=2e-3)


def test_clean_clip_csi_is_the_channel_of_the_body_at_each_grid_time():
    """With impairments off, the simulator's [R, T, A, S] equals the channel, axis for axis."""
    cfg = ActionConfig(clip_seconds=0.5, packet_rate_hz=20.0, **CLEAN)
    scene = actions._build_scene(cfg, seed=1)
    spec, variation = BY_NAME["standing:right_arm:punch"], skeleton.ActionVariation(phase=1.0)
    xy = scene.positions[7]
    csi, valid, gaps = actions._clip_csi(cfg, scene, spec, variation, xy, np.random.default_rng(0))
    assert valid.all() and not gaps.any()
    grid = (np.arange(cfg.num_steps) + 0.5) / cfg.packet_rate_hz
    sent = channel.packet_times(cfg.clip_seconds, cfg.packet_rate_hz, 0.0, 0.0)  # no jitter: fixed
    t_packets = sent[np.argmin(np.abs(sent[None] - grid[:, None]), axis=1)]
    world = skeleton.body_to_world(skeleton.action_joints(spec, t_packets, variation), xy,
                                   np.radians(cfg.facing_deg))
    points, amplitudes = skeleton.segment_scatterers(world, variation.height_m, cfg.scatterer_spacing_m)
    h = channel.channel_response(scene.tx, scene.rx_antennas, scene.freqs, scene.room,
                                 channel.Scatterers(points, amplitudes))[..., 0]   # [T, S, R*3]
    expected = h.reshape(cfg.num_steps, scene.freqs.size, 3, 3).transpose(2, 0, 3, 1)
    np.testing.assert_allclose(csi, expected, rtol=0, atol=1e-4 * np.abs(expected).max())


def _mirrored_pair(layout: str):
    cfg = ActionConfig(clip_seconds=1.0, packet_rate_hz=25.0, layout=layout, **CLEAN)
    scene = actions._build_scene(cfg, seed=0)
    variation = skeleton.ActionVariation(phase=0.3)
    spec = BY_NAME["standing:left_arm:circle:clockwise"]
    xy = np.array([2.5, 3.5])
    left, _, _ = actions._clip_csi(cfg, scene, spec, variation, xy, np.random.default_rng(0))
    right, _, _ = actions._clip_csi(cfg, scene, spec.mirrored(), variation,
                                    np.array([8.0 - xy[0], xy[1]]), np.random.default_rng(0))
    return left, right


def test_mirrored_action_at_the_mirrored_position_gives_the_mirrored_receivers_csi():
    """The "symmetric" layout is symmetric about x = 4 (tx and rx 2 on the axis, rx 0 <-> rx 1):
    the left arm at (x, y) must give rx 0 exactly what the right arm at (8 - x, y) gives rx 1."""
    left, right = _mirrored_pair("symmetric")
    # rx 1's array runs the other way along y, so its antenna order is reversed
    np.testing.assert_allclose(left[0], right[1, :, ::-1], atol=1e-6 * np.abs(left).max())
    np.testing.assert_allclose(left[2], right[2, :, ::-1], atol=1e-6 * np.abs(left).max())


def test_mirror_csi_with_the_layouts_receiver_map_turns_one_clip_into_its_mirror_image():
    from wifisense.caption.mirror import mirror_csi

    receivers = actions.mirror_receivers(ActionConfig(layout="symmetric", grid_shape=(4, 6), grid_origin_m=(1.5, 1.5)))
    assert receivers == (1, 0, 2)
    left, right = _mirrored_pair("symmetric")
    np.testing.assert_allclose(mirror_csi(right, receivers), left, atol=1e-6 * np.abs(left).max())
    import torch
    np.testing.assert_allclose(mirror_csi(torch.from_numpy(right), receivers).numpy(), left,
                               atol=1e-6 * np.abs(left).max())
    # no map where the scene is not mirror-symmetric
    assert actions.mirror_receivers(ActionConfig()) is None                                   # the default room
    assert actions.mirror_receivers(ActionConfig(layout="symmetric", grid_origin_m=(2.0, 3.0))) is None  # grid off axis
    assert actions.mirror_receivers(ActionConfig(layout="symmetric", facing_deg=-60.0)) is None
    assert actions.mirror_receivers(ActionConfig(layout="symmetric", rx_positions=((1, 1, 1),) * 3)) is None


def test_the_default_layout_is_not_mirror_symmetric():
    """In the default room nothing maps a mirrored action to the mirrored position."""
    assert ActionConfig().layout == "asymmetric"
    left, right = _mirrored_pair("asymmetric")
    for a, b in ((left[0], right[1, :, ::-1]), (left[2], right[2, :, ::-1])):
        assert np.linalg.norm(a - b) > 0.3 * np.linalg.norm(a)


def test_explicit_positions_override_the_layout():
    cfg = ActionConfig(tx_position=(1.0, 1.0, 1.0), rx_positions=((2.0, 2.0, 1.0),))
    assert cfg.tx_xyz == (1.0, 1.0, 1.0) and cfg.rx_xyz == ((2.0, 2.0, 1.0),)
    with pytest.raises(ConfigError, match="layout"):
        ActionConfig(layout="round").validate()


# --------------------------------------------------------------------- (g) actions differ


def test_left_and_right_arm_give_different_csi():
    cfg = ActionConfig(clip_seconds=2.0, packet_rate_hz=25.0, **CLEAN)
    scene = actions._build_scene(cfg, seed=0)
    variation = skeleton.ActionVariation(phase=0.3)
    xy = scene.positions[8]

    def dynamic(name):
        csi, _, _ = actions._clip_csi(cfg, scene, BY_NAME[name], variation, xy,
                                      np.random.default_rng(0))
        return csi - csi.mean(axis=1, keepdims=True)

    left, right = dynamic("standing:left_arm:raise_forward"), dynamic("standing:right_arm:raise_forward")
    nod = dynamic("standing:head:nod")
    def energy(x):
        return np.sqrt((np.abs(x) ** 2).sum(axis=(1, 2, 3)))

    for other in (right, nod):
        rel = energy(left - other) / energy(left)
        assert rel.min() > 0.3, rel     # at every receiver
    assert np.linalg.norm(left) > 0


# --------------------------------------------------------------------- (e, f) dataset


def test_shapes_dtypes_and_finiteness(tiny):
    cfg = tiny_config()
    n = len(tiny.class_names) * cfg.clips_per_class
    assert tiny.csi.shape == (n, 3, cfg.num_steps, 3, 30) and tiny.csi.dtype == np.complex64
    assert np.isfinite(tiny.csi.view(np.float32)).all()
    assert tiny.rx_valid.shape == (n, 3) and tiny.rx_valid.all()
    assert tiny.gap_mask.shape == (n, 3, cfg.num_steps) and tiny.gap_mask.dtype == bool
    assert tiny.frames.shape == (n, 2, 16, 16, 3) and tiny.frames.dtype == np.uint8
    assert tiny.position.shape == (n, 2) and set(tiny.position_id) <= set(range(24))
    assert len(tiny.class_names) == 5                       # 3 asked + 2 mirror partners (nod is its own)
    assert np.array_equal(tiny.mirror_of[tiny.mirror_of], np.arange(5))
    assert sorted(np.concatenate(list(tiny.splits.values())).tolist()) == list(range(n))
    assert np.abs(tiny.csi).min() > 0


def test_same_seed_same_data_other_seed_other_data(tiny):
    again = actions.simulate_actions(tiny_config(), seed=3, progress=False)
    other = actions.simulate_actions(tiny_config(), seed=4, progress=False)
    for name in ("csi", "frames", "gap_mask", "position", "position_id", "class_id"):
        assert np.array_equal(getattr(tiny, name), getattr(again, name)), name
    assert tiny.captions == again.captions
    assert {k: v.tolist() for k, v in tiny.splits.items()} == {k: v.tolist() for k, v in again.splits.items()}
    assert not np.array_equal(tiny.csi, other.csi)


def test_rx_dropout_zeroes_and_masks_receivers():
    ds = actions.simulate_actions(tiny_config(rx_dropout=0.5, clips_per_class=4), seed=0,
                                  progress=False)
    dropped = ~ds.rx_valid
    assert 0 < dropped.sum() < dropped.size
    assert ds.rx_valid.any(axis=1).all()                     # never all receivers
    assert np.all(ds.csi[dropped] == 0) and ds.gap_mask[dropped].all()
    assert np.all(np.abs(ds.csi[ds.rx_valid]) > 0)


def test_packet_loss_shows_in_the_gap_mask():
    cfg = tiny_config(packet_loss=0.3, clip_seconds=2.0, packet_rate_hz=50.0, num_frames=0)
    ds = actions.simulate_actions(cfg, seed=0, progress=False)
    assert ds.frames is None
    assert 0.15 < ds.gap_mask.mean() < 0.45
    # a gap repeats the nearest packet: the value equals a neighbour's
    n, r, k = np.argwhere(ds.gap_mask[:, :, 1:-1])[0]
    k += 1
    assert (np.array_equal(ds.csi[n, r, k], ds.csi[n, r, k - 1])
            or np.array_equal(ds.csi[n, r, k], ds.csi[n, r, k + 1]))


def test_stratified_splits_cover_every_clip_once_and_spread_each_class():
    class_id = np.repeat(np.arange(7), 10)
    splits = actions.stratified_splits(class_id, (0.8, 0.1, 0.1), np.random.default_rng(0))
    assert [len(splits[k]) for k in ("train", "val", "test")] == [56, 7, 7]
    assert sorted(np.concatenate(list(splits.values())).tolist()) == list(range(70))
    for name, expected in (("train", 8), ("val", 1), ("test", 1)):
        assert np.all(np.bincount(class_id[splits[name]], minlength=7) == expected)


# --------------------------------------------------------------------- config + CLI


def test_set_overrides_are_typed_and_checked():
    from wifisense.errors import ConfigError

    cfg = actions.apply_overrides(ActionConfig(), ["snr_db=20", "cfo=false",
                                                   "grid_shape=[2, 3]", "classes=standing:head"])
    assert cfg.snr_db == 20.0 and cfg.cfo is False and cfg.grid_shape == (2, 3)
    assert cfg.classes == ("standing:head",)
    for bad in (["nosuch=1"], ["snr_db=loud"], ["clips_per_class=1.5"], ["snr_db"]):
        with pytest.raises(ConfigError):
            actions.apply_overrides(ActionConfig(), bad)
    with pytest.raises(ConfigError):
        dataclasses.replace(ActionConfig(), rx_dropout=1.5).validate()


def test_cli_writes_a_valid_store(tmp_path, capsys):
    from wifisense.io.store import read_caption_store
    from wifisense.io.validate import validate_store

    parser = argparse.ArgumentParser()
    actions.add_arguments(parser)
    out = tmp_path / "a.h5"
    args = parser.parse_args(["--out", str(out), "--quick", "--classes", "sitting:head:nod",
                              "--clips-per-class", "3", "--frames", "2", "--frame-size", "16",
                              "--set", "clip_seconds=1", "--rx-dropout", "0.3"])
    args.quiet = True
    assert actions.run_from_args(args) == 0
    assert str(out) in capsys.readouterr().out
    assert validate_store(out) == []
    ds = read_caption_store(out)
    assert ds.csi.shape == (3, 3, 50, 3, 30) and ds.class_names == ["sitting:head:nod"]
    assert ds.frames.shape == (3, 2, 16, 16, 3)
    from wifisense.errors import OutputError
    with pytest.raises(OutputError, match="already exists"):   # refuses to overwrite
        actions.run_from_args(args)


def test_default_class_set_is_a_mirror_closed_subset_with_every_direction_word_and_all_stays_available():
    from wifisense.directions import has_direction

    cfg = ActionConfig()
    chosen = vocabulary.select_classes(SPECS, list(cfg.classes))
    assert 20 <= len(chosen) < len(SPECS)
    names = {s.name for s in chosen}
    assert all(s.mirrored().name in names for s in chosen)
    captions = [c for s in chosen for c in vocabulary.class_captions(s)]
    for word in ("left", "right", "clockwise", "counterclockwise"):
        assert any(f" {word} " in f" {c} " for c in captions), word
    assert any(not has_direction(c) for c in captions)                 # symmetric classes too
    assert {"standing", "sitting"} == {s.posture for s in chosen}
    assert len(vocabulary.select_classes(SPECS, ["all"])) == len(SPECS) >= 100
    # at least 10 test clips per class (direction accuracy to about +-3 points)
    assert cfg.clips_per_class * cfg.split_ratios[2] / sum(cfg.split_ratios) >= 10
    paper = ActionConfig.preset("paper")
    assert paper.grid_shape == (4, 6) and paper.classes == ("all",)
    with pytest.raises(ConfigError, match="preset"):
        ActionConfig.preset("huge")


def test_parallel_simulation_gives_the_same_data():
    cfg = dataclasses.replace(ActionConfig.quick(), clips_per_class=3, clip_seconds=0.5, num_frames=2, image_size=16)
    assert len(actions.DEFAULT_CLASSES) * 2 * cfg.clips_per_class >= actions.PARALLEL_MIN_CLIPS
    serial = actions.simulate_actions(cfg, seed=4, progress=False)
    parallel = actions.simulate_actions(cfg, seed=4, progress=False, jobs=2)
    np.testing.assert_array_equal(serial.csi, parallel.csi)
    np.testing.assert_array_equal(serial.frames, parallel.frames)
    assert serial.captions == parallel.captions
    np.testing.assert_array_equal(serial.class_id, parallel.class_id)
