"""Track pipeline: windows and [0, 1] normalisation, splits, collation, and the `wifisense track` CLI end to end."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from wifisense.cli import main as cli
from wifisense.errors import CaptureError, ConfigError
from wifisense.io.recording import CSIRecording
from wifisense.io.store import read_multiband_store, write_multiband_store
from wifisense.track import data as track_data
from wifisense.track.train import prepare_data, pretrain_cae


SMALL_MODEL = ["model.encoder_hidden_dim=8", "model.encoder_ode_hidden_dim=8", "model.ode_hidden_dim=8",
               "model.decoder_hidden=[8]", "model.baseline_mlp_hidden=[8]", "optim.batch_size=8",
               "cae.channels=[4,8]", "cae.embed_dim=4"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from wifisense.sim.trajectories import TrajectoryConfig, simulate_trajectories

    ds = simulate_trajectories(dataclasses.replace(TrajectoryConfig(), duration_s=90.0), seed=3)
    path = tmp_path_factory.mktemp("track") / "drive.h5"
    write_multiband_store(path, ds, overwrite=True)
    return path


@pytest.fixture(scope="module")
def streams(store):
    return read_multiband_store(store)


@pytest.fixture(scope="module")
def cae_dir(store, tmp_path_factory) -> Path:
    return pretrain_cae(store, tmp_path_factory.mktemp("runs"), overrides=SMALL_MODEL, epochs=1, quiet=True)


@pytest.fixture(scope="module")
def prepared(store, cae_dir):
    return prepare_data(store, ("csi", "snr"), "random", 5.0, seed=1, cae_dir=cae_dir)


def test_calibration_keeps_pairs_and_cancels_common_phase(streams):
    csi = streams.csi_x[:20]
    cal = track_data.calibrate_csi(csi, streams.subcarriers)
    assert cal.shape == (20, csi.shape[1], (csi.shape[2] - 1) * csi.shape[3])
    # a random common phase per packet (CFO) must not change the calibrated CSI
    phase = np.exp(1j * np.random.default_rng(0).uniform(-np.pi, np.pi, (20, 1, 1, 1)))
    np.testing.assert_allclose(track_data.calibrate_csi(csi * phase, streams.subcarriers), cal, rtol=1e-4, atol=1e-4)
    frames = track_data.csi_frames(cal)
    assert frames.shape == (20, 4 * cal.shape[2], csi.shape[1]) and frames.dtype == np.float32


def test_one_receive_antenna_keeps_the_amplitude_and_sanitises_the_phase():
    # one receive antenna, as a Raspberry Pi has: a channel with a curved (not linear) phase
    rng = np.random.default_rng(0)
    k = np.r_[-28:0, 1:29].astype(np.float64)
    channel = (1 + 0.4 * np.cos(k / 5)) * np.exp(1j * 0.8 * np.sin(k / 7))
    csi = (channel[None, :] * (1 + 0.02 * rng.standard_normal((20, k.size))))[:, :, None, None]
    cal = track_data.calibrate_csi(csi, k)
    assert cal.shape == (20, k.size, 1)
    np.testing.assert_allclose(np.abs(cal), np.abs(csi[:, :, 0]), rtol=1e-5)
    # a per-packet common phase (CFO) and a linear phase slope (STO) must not change it
    skew = np.exp(1j * (rng.uniform(-np.pi, np.pi, (20, 1, 1, 1)) + rng.uniform(-0.1, 0.1, (20, 1, 1, 1))
                        * k[None, :, None, None]))
    np.testing.assert_allclose(track_data.calibrate_csi(csi * skew, k), cal, rtol=1e-4, atol=1e-4)
    assert np.abs(np.angle(cal)).max() > 0.2               # what is left of the phase is the channel's curve


def test_windows_have_unit_times_and_inputs(prepared):
    train = prepared.datasets["train"]
    assert len(train) > 5
    for i in range(len(train)):
        item = train[i]
        for band in ("csi", "snr"):
            t, x = item[f"{band}_t"], item[band]
            assert t.numel() > 0 and t.min() >= 0 and t.max() < 1
            assert bool(torch.all(t[1:] >= t[:-1]))
            # NaN only where a beam sector is missing; inputs are standardised on the training windows
            observed = x[~torch.isnan(x)] if band == "snr" else x
            assert observed.numel() and torch.isfinite(observed).all() and observed.abs().max() < 20
        assert item["target_xy"].min() >= 0 and item["target_xy"].max() <= 1
    for scaler in (prepared.normalisers.csi, prepared.normalisers.snr):
        assert isinstance(scaler, track_data.Standard)
    assert prepared.query_t.min() > 0 and prepared.query_t.max() < 1 and len(prepared.query_t) == 50


def test_normalisation_uses_training_windows_only(streams, prepared):
    train = prepared.datasets["train"].windows
    test = prepared.datasets["test"].windows
    stats = track_data.fit_normalisers(train, None, streams.snr_x, input_scaling="minmax")
    in_train = track_data.frames_in_windows(train.snr_range, len(streams.snr_x))
    np.testing.assert_allclose(stats.snr.high, np.nanmax(streams.snr_x[in_train], 0), rtol=1e-6)
    # an extreme value inside a test window changes nothing
    spiked = streams.snr_x.copy()
    spiked[test.snr_range[0, 0]] = 1e6
    assert track_data.fit_normalisers(train, None, spiked, input_scaling="minmax").snr.high == stats.snr.high
    np.testing.assert_allclose(prepared.normalisers.xy.low, train.target_xy.reshape(-1, 2).min(0), rtol=1e-6)


def test_standardised_inputs_use_training_windows_and_survive_the_run_config(streams, prepared):
    train = prepared.datasets["train"].windows
    stats = track_data.fit_normalisers(train, None, streams.snr_x, input_scaling="standard")
    in_train = track_data.frames_in_windows(train.snr_range, len(streams.snr_x))
    scaled = stats.snr(streams.snr_x[in_train])
    np.testing.assert_allclose(np.nanmean(scaled, 0), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.nanstd(scaled, 0), 1.0, atol=1e-3)
    assert np.isnan(scaled).sum() == np.isnan(streams.snr_x[in_train]).sum()     # missing stays missing
    back = track_data.Normalisers.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert isinstance(back.snr, track_data.Standard) and back.snr.mean == stats.snr.mean
    # run configs written before input scaling existed hold plain min/max dicts
    old = {"xy": {"low": [0, 0], "high": [1, 1]}, "csi": None, "snr": {"low": [0.0], "high": [2.0]}}
    assert isinstance(track_data.Normalisers.from_dict(old).snr, track_data.MinMax)
    with pytest.raises(ConfigError, match="input_scaling"):
        track_data.fit_normalisers(train, None, streams.snr_x, input_scaling="zscore")


def _intervals_disjoint(a: track_data.Windows, b: track_data.Windows) -> bool:
    return bool(np.all((a.starts[:, None] + a.window_s <= b.starts[None, :] + 1e-9) |
                       (b.starts[None, :] + b.window_s <= a.starts[:, None] + 1e-9)))


def test_random_split_is_disjoint_and_seeded(streams):
    parts = track_data.split_windows(track_data.parse_split("random"), streams, 5.0, seed=0)
    sizes = {k: len(v) for k, v in parts.items()}
    assert sizes["train"] > sizes["val"] >= 1 and sizes["test"] >= 1
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert _intervals_disjoint(parts[a], parts[b])
    again = track_data.split_windows(track_data.parse_split("random"), streams, 5.0, seed=0)
    other = track_data.split_windows(track_data.parse_split("random"), streams, 5.0, seed=1)
    np.testing.assert_array_equal(again["test"].starts, parts["test"].starts)
    assert not np.array_equal(other["train"].starts, parts["train"].starts)


def test_random_split_overlapping_training_windows_stay_inside_training_blocks(streams):
    blocks = track_data.split_windows(track_data.parse_split("random"), streams, 5.0, seed=0)
    parts = track_data.split_windows(track_data.parse_split("random"), streams, 5.0, step_s=1.0, seed=0)
    # validation/test are the same back-to-back blocks; training gains the shifted windows
    for name in ("val", "test"):
        np.testing.assert_array_equal(parts[name].starts, blocks[name].starts)
    assert len(parts["train"]) > 2 * len(blocks["train"])
    assert set(np.round(blocks["train"].starts, 6)) <= set(np.round(parts["train"].starts, 6))
    for name in ("val", "test"):
        assert _intervals_disjoint(parts["train"], parts[name])
        # not a single CSI or SNR frame is shared with a held-out window
        for ranges in ("csi_range", "snr_range"):
            total = int(max(getattr(parts[n], ranges).max() for n in parts)) + 1
            shared = (track_data.frames_in_windows(getattr(parts["train"], ranges), total)
                      & track_data.frames_in_windows(getattr(parts[name], ranges), total))
            assert not shared.any()


def test_starts_inside_blocks_spans_only_consecutive_chosen_blocks():
    # blocks 0, 1, 3 chosen out of 5 (each 2 s long from t=10): windows of 2 s every 0.5 s
    starts = track_data.starts_inside_blocks(10.0, 2.0, 0.5, np.array([0, 1, 3]), 5)
    np.testing.assert_allclose(starts, [10.0, 10.5, 11.0, 11.5, 12.0, 16.0])


def test_temporal_split_orders_train_val_test(streams):
    parts = track_data.split_windows(track_data.parse_split("temporal:0.7"), streams, 5.0, step_s=2.5)
    train_end = parts["train"].starts.max() + 5.0
    assert train_end <= parts["val"].starts.min() + 1e-9
    assert parts["val"].starts.max() + 5.0 <= parts["test"].starts.min() + 1e-9
    span = streams.pose_t[-1] - streams.pose_t[0]
    assert train_end <= streams.pose_t[0] + 0.7 * span + 0.2   # training stays in the first 70 %


def test_coordinate_split_holds_out_the_region(streams):
    region = (1.0, 1.0, 3.5, 3.0)
    parts = track_data.split_windows(track_data.parse_split("coordinate:1,1,3.5,3"), streams, 5.0, seed=0)
    for name in ("train", "val"):
        assert not track_data.in_region(parts[name].target_xy, region).any()
    assert track_data.in_region(parts["test"].target_xy, region).any(-1).all()   # crossing windows are test
    assert _intervals_disjoint(parts["train"], parts["val"])


def test_bad_split_specs_raise():
    from wifisense.errors import ConfigError

    for text in ("temporal:1.5", "coordinate:1,2,3", "coordinate:3,3,1,1", "blocks"):
        with pytest.raises(ConfigError):
            track_data.parse_split(text)


def test_batch_collation_equals_single_sample_collation(prepared):
    dataset = prepared.datasets["train"]
    collate = track_data.make_collate(prepared.query_t, ("csi", "snr"))
    items = [dataset[i] for i in range(4)]
    batch = collate(items)
    assert batch.target_xy.shape == (4, len(prepared.query_t), 2) and batch.query_t.shape == (len(prepared.query_t),)
    for i, item in enumerate(items):
        single = collate([item])
        for band in ("csi", "snr"):
            t, x, _ = batch.band(band).sample(i)
            t1, x1, _ = single.band(band).sample(0)
            torch.testing.assert_close(t, t1)
            torch.testing.assert_close(x, x1)
        torch.testing.assert_close(batch.target_xy[i], single.target_xy[0])


@pytest.fixture(scope="module")
def ndf_run(store, tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("cli")
    sets = [a for s in SMALL_MODEL for a in ("--set", s)]
    assert cli(["track", "pretrain-cae", "--data", str(store), "--run", str(tree), "--epochs", "1", *sets]) == 0
    assert (tree / "cae" / "model.safetensors").is_file()
    assert cli(["track", "train", "--data", str(store), "--model", "ndf", "--bands", "csi,snr", "--fusion", "weighted",
                "--run", str(tree / "ndf"), "--epochs", "1", "--no-eval", "--device", "cpu", *sets]) == 0
    return tree / "ndf"


@pytest.mark.slow
def test_cli_train_and_eval_write_weights_and_metrics(ndf_run, capsys):
    assert (ndf_run / "model.safetensors").is_file()
    assert cli(["track", "eval", "--run", str(ndf_run), "--device", "cpu", "--no-figures"]) == 0
    test = json.loads((ndf_run / "metrics.json").read_text())["test"]
    assert f"centroid {test['centroid_mean']:.3f} m" in capsys.readouterr().out
    assert test["n"] > 0 and all(np.isfinite(test[k]) and test[k] >= 0
                                 for k in ("mean", "median", "p90", "centroid_mean", "shape_mean"))
    assert test["median"] <= test["p90"]
    rows = np.loadtxt(ndf_run / "test_predictions.csv", delimiter=",", skiprows=1)
    assert rows.shape == (test["n"], 7)
    np.testing.assert_allclose(rows[:, 6].mean(), test["mean"], rtol=1e-3)


@pytest.mark.slow
def test_split_errors_write_nothing_and_match_the_evaluation(ndf_run):
    from wifisense.track.evaluate import evaluate_split, split_errors

    before = {p.name: p.stat().st_mtime_ns for p in ndf_run.iterdir()}
    found = {split: split_errors(ndf_run, split, device="cpu") for split in ("train", "val")}
    assert {p.name: p.stat().st_mtime_ns for p in ndf_run.iterdir()} == before
    assert found["train"].centroid.size > found["val"].centroid.size > 0
    summary, written = evaluate_split(ndf_run, "val", device="cpu", figures=False)
    np.testing.assert_allclose(found["val"].errors, written.errors)
    np.testing.assert_allclose(found["val"].centroid.mean(), summary["centroid_mean"])
    np.testing.assert_allclose(found["val"].shape.mean(), summary["shape_mean"])
    # the summary the study scripts use: per split, and the val and test windows pooled
    from wifisense.track.evaluate import split_error_summary

    parts = split_error_summary(ndf_run, device="cpu")
    test = split_errors(ndf_run, "test", device="cpu")
    assert parts["train"]["centroid_m"] == pytest.approx(found["train"].centroid.mean())
    assert parts["held_out"]["windows"] == found["val"].centroid.size + test.centroid.size
    assert parts["held_out"]["centroid_m"] == pytest.approx(np.concatenate([found["val"].centroid,
                                                                              test.centroid]).mean())
    assert parts["held_out"]["mean_m"] == pytest.approx(np.concatenate([found["val"].errors, test.errors]).mean())


@pytest.mark.slow
def test_baseline_trains_through_the_same_path(ndf_run, store):
    run = ndf_run.parent / "linear"
    assert cli(["track", "train", "--data", str(store), "--model", "linear-int", "--run", str(run), "--epochs", "1",
                "--device", "cpu", "--set", "optim.batch_size=8", "--set", "model.baseline_mlp_hidden=[8]"]) == 0
    task = json.loads((run / "config.json").read_text())["task"]
    assert task["model"] == "linear_int" and Path(task["cae_dir"]) == (ndf_run.parent / "cae").resolve()
    assert np.isfinite(json.loads((run / "metrics.json").read_text())["test"]["mean"])


@pytest.mark.slow
def test_predict_writes_a_monotonic_finite_trajectory(ndf_run, streams, monkeypatch, tmp_path):
    from wifisense.io.logs import write_beam_snr_csv

    lo, hi = np.searchsorted(streams.csi_t, [10.0, 22.0])
    recording = CSIRecording(csi=streams.csi_x[lo:hi], timestamps=streams.csi_t[lo:hi], subcarriers=streams.subcarriers)
    monkeypatch.setattr("wifisense.io.read_csi", lambda path, format="auto", strict=False: recording)
    keep = (streams.snr_t >= 9.0) & (streams.snr_t <= 23.0)
    write_beam_snr_csv(tmp_path / "snr.csv", streams.snr_t[keep], streams.snr_x[keep])
    out = tmp_path / "traj.csv"
    assert cli(["track", "predict", "--run", str(ndf_run), "--csi", "capture.dat", "--snr", str(tmp_path / "snr.csv"),
                "--out", str(out), "--no-plot"]) == 0
    rows = np.loadtxt(out, delimiter=",", skiprows=1)
    assert rows.shape[1] == 3 and len(rows) >= 100
    assert np.all(np.diff(rows[:, 0]) > 0) and np.isfinite(rows).all()
    assert rows[0, 0] >= recording.timestamps[0] and rows[-1, 0] <= recording.timestamps[-1]


@pytest.mark.slow
def test_predict_names_a_capture_that_does_not_fit(ndf_run, streams, tmp_path):
    from wifisense.io.logs import BeamSNRLog
    from wifisense.track.pretrained import predict_trajectory

    wrong = CSIRecording(csi=streams.csi_x[:50, :, :3], timestamps=streams.csi_t[:50], subcarriers=streams.subcarriers)
    snr = BeamSNRLog(t=streams.snr_t[:10], snr=streams.snr_x[:10])
    with pytest.raises(CaptureError, match="3 receive"):
        predict_trajectory(ndf_run, wrong, snr, csi_path="other.dat")


def test_training_mean_summary_scores_the_reference_on_the_seed_s_windows(store):
    from wifisense.track.evaluate import training_mean_error_summary
    from wifisense.track.train import store_windows

    by_seed = {seed: training_mean_error_summary(store, seed=seed) for seed in (0, 1)}
    for seed, found in by_seed.items():
        windows = store_windows(store, "random", 5.0, seed=seed)
        train = windows["train"]
        mean_xy = train.target_xy[train.query_mask > 0].mean(axis=0)
        for split in ("train", "val", "test"):
            w = windows[split]
            mask = w.query_mask > 0
            assert found[split]["mean_m"] == pytest.approx(np.linalg.norm(w.target_xy[mask] - mean_xy, axis=-1).mean())
            assert found[split]["windows"] == int(mask.any(axis=1).sum())
            # a constant prediction draws no motion: its shape error is the path's own spread
            centre = (w.target_xy * mask[..., None]).sum(1) / mask.sum(1)[:, None]
            spread = (np.linalg.norm(w.target_xy - centre[:, None], axis=-1) * mask).sum(1) / mask.sum(1)
            assert found[split]["shape_m"] == pytest.approx(spread.mean())
        assert found["held_out"]["windows"] == found["val"]["windows"] + found["test"]["windows"]
    # the seed draws the split, so the two seeds score different test windows
    assert by_seed[0]["test"] != by_seed[1]["test"]
