"""CSI-only multi-band stores (no /snr) with several recordings (/meta/segments) and their own
splits: written, validated, cut into windows that never mix recordings, and compared on the CSI rows."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from wifisense.errors import ConfigError, StoreError
from wifisense.io.store import read_multiband_store, write_multiband_store
from wifisense.io.validate import validate_store
from wifisense.track import data as track_data

SEGMENTS = np.array([[0.0, 30.0], [36.0, 61.0], [67.0, 90.0]])
SMALL = ["model.encoder_hidden_dim=8", "model.encoder_ode_hidden_dim=8", "model.ode_hidden_dim=8",
         "model.decoder_hidden=[8]", "model.baseline_mlp_hidden=[8]", "optim.batch_size=8",
         "cae.channels=[4,8]", "cae.embed_dim=4", "model.solver=rk4", "model.ode_step_size=0.5"]


def _csi_only(ds, segments=SEGMENTS):
    """The simulated drive cut into separate recordings (samples between them dropped), without beam SNR
    and with one receive antenna (as a Raspberry Pi's capture); the last recording is the test split."""
    def keep(t):
        return np.any((t[:, None] >= segments[:, 0]) & (t[:, None] <= segments[:, 1]), axis=1)

    c, p = keep(ds.csi_t), keep(ds.pose_t)
    pose_t = ds.pose_t[p]
    last = pose_t >= segments[-1, 0]
    return dataclasses.replace(
        ds, csi_t=ds.csi_t[c], csi_x=ds.csi_x[c][:, :, :1], snr_t=None, snr_x=None, pose_t=pose_t, pose_xy=ds.pose_xy[p],
        pose_heading=None if ds.pose_heading is None else ds.pose_heading[p], beam_angles_deg=None,
        segments=segments, splits={"train": np.flatnonzero(~last), "test": np.flatnonzero(last)})


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    from wifisense.sim.trajectories import TrajectoryConfig, simulate_trajectories

    return simulate_trajectories(dataclasses.replace(TrajectoryConfig(), duration_s=90.0, num_beams=8), seed=3)


@pytest.fixture(scope="module")
def store(drive, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("csi_only") / "points.h5"
    write_multiband_store(path, _csi_only(drive), overwrite=True)
    return path


def test_a_csi_only_store_with_recordings_round_trips_and_validates(store):
    assert validate_store(store) == []
    ds = read_multiband_store(store)
    assert ds.snr_t is None and ds.snr_x is None
    np.testing.assert_array_equal(ds.segments, SEGMENTS)
    assert set(ds.splits) == {"train", "test"}
    from wifisense.io.datasets import MultiBandStreams

    streams = MultiBandStreams(store)
    assert streams.lengths["snr"] == 0 and len(streams.times("csi")) == len(ds.csi_t)
    with pytest.raises(StoreError, match="CSI only"):
        streams.times("snr")


def test_the_validator_names_a_lone_snr_field_and_bad_segments(store, tmp_path):
    lone = tmp_path / "lone.h5"
    shutil.copy(store, lone)
    with h5py.File(lone, "a") as f:
        f.create_dataset("snr/t", data=np.arange(3.0))
    assert any(p.field == "/snr/x" and "both" in p.reason for p in validate_store(lone))
    overlap = tmp_path / "overlap.h5"
    shutil.copy(store, overlap)
    with h5py.File(overlap, "a") as f:
        f["meta/segments"][1, 0] = 20.0
    assert [p.field for p in validate_store(overlap)] == ["/meta/segments"]
    backwards = tmp_path / "backwards.h5"
    shutil.copy(store, backwards)
    with h5py.File(backwards, "a") as f:
        f["meta/segments"][2, 1] = 60.0
    assert any("ends" in p.reason for p in validate_store(backwards) if p.field == "/meta/segments")


def _inside_one_recording(windows, segments) -> bool:
    starts, ends = windows.starts, windows.starts + windows.window_s
    inside = (starts[:, None] >= segments[:, 0] - 1e-9) & (ends[:, None] <= segments[:, 1] + 1e-9)
    return bool(inside.any(axis=1).all())


@pytest.mark.parametrize("split", ["random", "temporal:0.6", "coordinate:0,0,3,3", "store"])
def test_no_window_mixes_two_recordings(store, split):
    ds = read_multiband_store(store)
    for step in (None, 2.5):
        windows = track_data.split_windows(track_data.parse_split(split), ds, 5.0, step_s=step, seed=1)
        for name, w in windows.items():
            assert len(w) > 0 and _inside_one_recording(w, SEGMENTS), (split, step, name)


def test_the_store_split_follows_the_stores_own_splits(store):
    ds = read_multiband_store(store)
    windows = track_data.split_windows(track_data.parse_split("store"), ds, 5.0, seed=0)
    assert (windows["test"].starts >= SEGMENTS[-1, 0]).all()
    assert (windows["train"].starts < SEGMENTS[-1, 0]).all() and (windows["val"].starts < SEGMENTS[-1, 0]).all()
    assert not set(windows["train"].starts) & set(windows["val"].starts)
    # no val split in the store: one training window in nine validates, drawn by the seed
    n = len(windows["train"]) + len(windows["val"])
    assert len(windows["val"]) == n - int(np.floor(8 / 9 * n)) or len(windows["val"]) == round(n / 9)
    other = track_data.split_windows(track_data.parse_split("store"), ds, 5.0, seed=1)
    assert not np.array_equal(other["val"].starts, windows["val"].starts)
    bare = dataclasses.replace(ds, splits={})
    with pytest.raises(ConfigError, match="splits/train"):
        track_data.split_windows(track_data.parse_split("store"), bare, 5.0)


def test_one_recording_cuts_the_same_windows_as_a_store_without_segments(drive):
    whole = dataclasses.replace(drive, segments=np.array([[drive.pose_t[0] - 1.0, drive.pose_t[-1] + 1.0]]))
    for split in ("random", "temporal:0.5", "coordinate:0,0,3,3"):
        a = track_data.split_windows(track_data.parse_split(split), drive, 5.0, step_s=2.5, seed=4)
        b = track_data.split_windows(track_data.parse_split(split), whole, 5.0, step_s=2.5, seed=4)
        for name in a:
            np.testing.assert_array_equal(a[name].starts, b[name].starts)


def test_beam_snr_models_are_refused_on_a_csi_only_store(store, tmp_path):
    from wifisense.track.train import prepare_data

    with pytest.raises(ConfigError, match="CSI only"):
        prepare_data(store, ("snr",), "random")
    from wifisense.track.compare import run_compare

    with pytest.raises(ConfigError, match="CSI only"):
        run_compare(store, tmp_path / "c", tables="I,II", quiet=True)


def test_compare_on_a_csi_only_store_runs_the_csi_rows_on_the_stores_split(store, tmp_path):
    from wifisense.runs import select
    from wifisense.track.compare import run_compare

    summary = run_compare(store, tmp_path / "cmp", tables="I,coordinate", methods="linear-int,ddnd", epochs=1,
                          cae_epochs=1, overrides=SMALL, device="cpu", quiet=True, split="store", region="0,0,3,3")
    rows = {(r.row, r.setting) for r in select(summary["results"], study="I", metric="mean_m", seed=0)}
    assert rows == {("linear-int", "csi"), ("ddnd", "csi"), ("training mean", "none")}
    # the coordinate table: DDND (NDF on one band) and the best CSI baseline, on CSI
    rows = {(r.row, r.setting) for r in select(summary["results"], study="coordinate", metric="mean_m", seed=0)}
    assert rows == {("ddnd", "csi"), ("linear-int", "csi"), ("training mean", "none")}
    run = tmp_path / "cmp/runs/I/linear-int_csi_store/seed0"
    from wifisense.track.config import read_task

    # the run records the split it trained on, so its evaluation cuts the same test windows
    assert read_task(run)["split"] == "store"
    n = {r.row: r.n for r in select(summary["results"], study="I", metric="mean_m", seed=0)}
    assert n["linear-int"] == n["ddnd"] == n["training mean"] > 0
    for split in ("random", "temporal:0.6", "coordinate:0,0,3,3", "store"):
        assert track_data.parse_split(track_data.parse_split(split).to_string()).to_string() == split
    markdown = (tmp_path / "cmp/compare.md").read_text()
    assert "Table I: methods x bands (the store's own train/test split" in markdown
    assert "Coordinate split: a held-out area (csi, 5 s windows)" in markdown
    assert "snr" not in markdown.lower().replace("no beam snr", "")
