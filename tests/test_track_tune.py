"""Track tune: the per-epoch reporting that prunes trials, storage URLs, and a 2-trial search whose config loads."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import optuna
import pytest

from wifisense.cli import main as cli
from wifisense.errors import ConfigError
from wifisense.io.store import write_multiband_store
from wifisense.track import tune
from wifisense.track.config import load_track_config


SMALL = ["model.encoder_hidden_dim=8", "model.encoder_ode_hidden_dim=8", "model.ode_hidden_dim=8",
         "model.decoder_hidden=[8]", "optim.batch_size=8", "model.solver=rk4", "model.ode_step_size=0.5"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from wifisense.sim.trajectories import TrajectoryConfig, simulate_trajectories

    ds = simulate_trajectories(dataclasses.replace(TrajectoryConfig(), duration_s=90.0, num_beams=8), seed=5)
    path = tmp_path_factory.mktemp("tune") / "drive.h5"
    write_multiband_store(path, ds, overwrite=True)
    return path


class _FakeTrial:
    """Records reports; says 'prune' once the reported error exceeds a threshold."""

    def __init__(self, threshold: float):
        self.threshold, self.reports = threshold, []

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return self.reports[-1][1] > self.threshold


def test_each_validation_reports_its_epoch_and_can_prune():
    errors = iter([1.0, 0.8, 5.0])
    wrapped = tune._validation_reporter(lambda model, batches: {"error_m": next(errors), "loss": 0.1},
                                        trial := _FakeTrial(threshold=2.0))
    assert wrapped(None, [])["error_m"] == 1.0
    assert wrapped(None, [])["loss"] == 0.1
    with pytest.raises(optuna.TrialPruned):
        wrapped(None, [])
    assert trial.reports == [(1, 1.0), (2, 0.8), (3, 5.0)]


def test_search_space_and_storage_url(tmp_path):
    assert set(tune.search_space(("snr",))) == {"recon_snr", "kl_snr"}
    assert set(tune.search_space(("csi", "snr"))) == {"recon_csi", "kl_csi", "recon_snr", "kl_snr"}
    assert all(0 < low < high for low, high in tune.search_space(("csi",)).values())
    assert tune.storage_url(tmp_path / "s.db") == f"sqlite:///{(tmp_path / 's.db').resolve()}"
    assert tune.storage_url("sqlite:///x.db") == "sqlite:///x.db" and tune.storage_url(None) is None


def test_baselines_are_refused(store, tmp_path):
    with pytest.raises(ConfigError, match="only ndf, ddnd"):
        tune.tune_loss_weights(store, tmp_path / "c.json", trials=1, model="linear-int", bands="snr")


@pytest.mark.slow
def test_two_trials_write_a_loadable_config_and_resume_from_storage(store, tmp_path):
    out = tmp_path / "tuned.json"
    sets = [a for s in SMALL for a in ("--set", s)]
    args = ["track", "tune", "--data", str(store), "--bands", "snr", "--trials", "2", "--epochs", "2",
            "--out", str(out), "--storage", str(tmp_path / "study.db"), "--device", "cpu", "--quiet", *sets]
    assert cli(args) == 0
    config = load_track_config(out)
    summary = json.loads(out.with_suffix(".tune.json").read_text())
    assert summary["trials"]["complete"] + summary["trials"]["pruned"] == 2 and summary["trials"]["complete"] >= 1
    best = summary["best_weights"]
    assert config.loss.coord == 1.0
    assert config.loss.recon_snr == pytest.approx(best["recon_snr"]) and config.loss.kl_snr == pytest.approx(best["kl_snr"])
    low, high = tune.RECON_RANGE
    assert low <= config.loss.recon_snr <= high
    assert config.model.encoder_hidden_dim == 8          # the overrides are part of the written config
    complete = [t for t in summary["all_trials"] if t["state"] == "COMPLETE"]
    assert min(t["value"] for t in complete) == pytest.approx(summary["best_value"])
    assert all(t["epochs_reported"] == 2 for t in complete)
    # the same storage extends the study instead of starting over
    assert cli(args[:7] + ["1"] + args[8:]) == 0
    assert len(json.loads(out.with_suffix(".tune.json").read_text())["all_trials"]) == 3
