"""Track CLI: predict with an SNR log on another clock (--snr-offset), eval --tsne, compare and tune argument errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from wifisense.cli import main as cli
from wifisense.io.recording import CSIRecording
from wifisense.io.store import read_multiband_store, write_multiband_store
from wifisense.track.evaluate import region_labels


SMALL = ["model.encoder_hidden_dim=8", "model.encoder_ode_hidden_dim=8", "model.ode_hidden_dim=8",
         "model.decoder_hidden=[8]", "optim.batch_size=8", "cae.channels=[4,8]", "cae.embed_dim=4",
         "model.solver=rk4", "model.ode_step_size=0.5"]
SNR_CLOCK_OFFSET_S = 1000.0     # the SNR log's clock runs this far behind the CSI clock


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from wifisense.sim.trajectories import TrajectoryConfig, simulate_trajectories

    ds = simulate_trajectories(dataclasses.replace(TrajectoryConfig(), duration_s=90.0, num_beams=8), seed=7)
    path = tmp_path_factory.mktemp("cli") / "drive.h5"
    write_multiband_store(path, ds, overwrite=True)
    return path


@pytest.fixture(scope="module")
def ndf_run(store, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "ndf"
    sets = [a for s in SMALL for a in ("--set", s)]
    assert cli(["track", "train", "--data", str(store), "--model", "ndf", "--run", str(run), "--epochs", "1",
                "--no-eval", "--device", "cpu", "--quiet", *sets]) == 0
    return run


@pytest.fixture
def capture(store, monkeypatch, tmp_path):
    """A 12-s CSI capture (read_csi patched to return it) and its SNR log written on a clock behind by the offset."""
    from wifisense.io.logs import write_beam_snr_csv

    streams = read_multiband_store(store)
    lo, hi = np.searchsorted(streams.csi_t, [10.0, 22.0])
    recording = CSIRecording(csi=streams.csi_x[lo:hi], timestamps=streams.csi_t[lo:hi],
                             subcarriers=streams.subcarriers)
    monkeypatch.setattr("wifisense.io.read_csi", lambda path, format="auto", strict=False: recording)
    keep = (streams.snr_t >= 9.0) & (streams.snr_t <= 23.0)
    write_beam_snr_csv(tmp_path / "same_clock.csv", streams.snr_t[keep], streams.snr_x[keep])
    write_beam_snr_csv(tmp_path / "other_clock.csv", streams.snr_t[keep] - SNR_CLOCK_OFFSET_S, streams.snr_x[keep])
    return recording, tmp_path


@pytest.mark.slow
def test_snr_offset_puts_an_snr_log_on_the_csi_clock(ndf_run, capture, capsys):
    recording, folder = capture
    base = ["track", "predict", "--run", str(ndf_run), "--csi", "capture.dat", "--no-plot"]
    assert cli(base + ["--snr", str(folder / "same_clock.csv"), "--out", str(folder / "a.csv")]) == 0
    # the shifted log does not overlap the capture without the offset: a one-line error, exit 2
    assert cli(base + ["--snr", str(folder / "other_clock.csv"), "--out", str(folder / "b.csv")]) == 2
    assert "do not overlap" in capsys.readouterr().err
    assert cli(base + ["--snr", str(folder / "other_clock.csv"), "--snr-offset", str(SNR_CLOCK_OFFSET_S),
                       "--out", str(folder / "c.csv")]) == 0
    same = np.loadtxt(folder / "a.csv", delimiter=",", skiprows=1)
    shifted = np.loadtxt(folder / "c.csv", delimiter=",", skiprows=1)
    assert len(same) >= 100 and np.isfinite(shifted).all()
    np.testing.assert_allclose(shifted, same, atol=1e-3)
    assert shifted[0, 0] >= recording.timestamps[0]


@pytest.mark.slow
def test_eval_tsne_draws_the_latent_figure(ndf_run):
    assert cli(["track", "eval", "--run", str(ndf_run), "--split", "train", "--no-figures", "--tsne",
                "--tsne-grid", "3,2", "--device", "cpu", "--quiet"]) == 0
    figure = ndf_run / "tsne_latent_train.png"
    assert figure.is_file() and figure.stat().st_size > 5000


def test_latent_states_at_query_points_match_the_model(ndf_run):
    from wifisense.track.evaluate import collect_latents, load_track_run

    collected = collect_latents(ndf_run, splits=("val",), device="cpu")
    _, _, config = load_track_run(ndf_run)
    dim = config.model.csi_latent_dim + config.model.snr_latent_dim
    assert collected["latents"].shape == (len(collected["xy"]), dim) and collected["kind"].startswith("latent ODE")
    assert np.isfinite(collected["latents"]).all() and set(collected["split"]) == {"val"}


def test_region_labels_follow_a_grid_over_the_room():
    xy = np.array([[0.5, 0.5], [7.5, 0.5], [0.5, 5.5], [7.5, 5.5], [4.1, 2.9], [9.0, -1.0]])
    labels = region_labels(xy, room=[0, 0, 8, 6], grid=(2, 2))
    assert labels.tolist() == ["0,0", "1,0", "0,1", "1,1", "1,0", "1,0"]
    assert region_labels(xy[:4], room=None, grid=(3, 1)).tolist() == ["0,0", "2,0", "0,0", "2,0"]


def test_compare_and_tune_reject_bad_arguments(store, tmp_path, capsys):
    assert cli(["track", "compare", "--data", str(store), "--tables", "I,V", "--out", str(tmp_path)]) == 2
    assert "unknown table" in capsys.readouterr().err
    assert cli(["track", "compare", "--data", str(store), "--tables", "coordinate", "--region", "5,5,1,1",
                "--out", str(tmp_path)]) == 2
    assert cli(["track", "tune", "--data", str(store), "--out", str(tmp_path / "cfg.yaml"), "--bands", "snr"]) == 2
    assert ".json" in capsys.readouterr().err


@pytest.mark.slow
def test_train_accepts_a_tuned_config_as_preset(store, tmp_path):
    from wifisense.track.config import load_track_config

    config = load_track_config("tiny").to_dict()
    config["loss"].update(recon_snr=0.123, kl_snr=4.5e-4)
    config["model"].update(encoder_hidden_dim=8, ode_hidden_dim=8, solver="rk4", ode_step_size=0.5)
    path = tmp_path / "tuned.json"
    path.write_text(json.dumps(config))
    run = tmp_path / "run"
    assert cli(["track", "train", "--data", str(store), "--bands", "snr", "--preset", str(path), "--epochs", "1",
                "--run", str(run), "--no-eval", "--device", "cpu", "--quiet"]) == 0
    recorded = json.loads((run / "config.json").read_text())["task"]["config"]["loss"]
    assert recorded["recon_snr"] == 0.123 and recorded["kl_snr"] == 4.5e-4
