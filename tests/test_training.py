"""The shared training loop: learning, early stopping, run-directory files, exact resume, atomic state."""

import csv
import importlib.util
import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from wifisense.errors import ConfigError
from wifisense.training import (TrainConfig, Trainer, all_gather_with_grad, build_loader, load_weights,
                                move_to_device, seed_everything, select_device, select_precision)
from wifisense.training import checkpoint as checkpoint_module
from wifisense.training.checkpoint import load_state, save_state
from wifisense.training.seeding import capture_rng_state, restore_rng_state

TRUE_WEIGHTS = torch.tensor([1.0, -2.0, 0.5, 3.0])
TENSORBOARD_INSTALLED = importlib.util.find_spec("tensorboard") is not None


def linear_data(n: int, seed: int, sign: float = 1.0) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    y = sign * (x @ TRUE_WEIGHTS) + 0.05 * torch.randn(n, generator=generator)
    return TensorDataset(x, y.unsqueeze(1))


def make_model(seed: int = 0, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 1))


def regression_step(model, batch):
    x, y = batch
    prediction = model(x)
    return nn.functional.mse_loss(prediction, y), {"mae": (prediction - y).abs().mean()}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_tiny_regression_learns_and_writes_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    seed_everything(0)
    trainer = Trainer(make_model(), step_fn=regression_step,
                      optimizer=lambda params: torch.optim.Adam(params, lr=2e-2),
                      train_loader=build_loader(linear_data(128, 1), 16, seed=0),
                      val_loader=build_loader(linear_data(64, 2), 32, shuffle=False),
                      scheduler=lambda opt, n: torch.optim.lr_scheduler.OneCycleLR(opt, 2e-2, total_steps=n),
                      config=TrainConfig(epochs=6, log_every=4, grad_clip=5.0, run_dir=str(run_dir), quiet=True,
                                         tensorboard=TENSORBOARD_INSTALLED),
                      run_config={"model": "tiny-mlp"})
    summary = trainer.fit()

    assert summary["stop_reason"] == "epochs" and summary["steps"] == 6 * 8
    rows = read_csv(run_dir / "metrics.csv")
    train_rows = [r for r in rows if r["train_loss"]]
    val_rows = [r for r in rows if r["val_loss"]]
    assert len(train_rows) == 48 // 4 and len(val_rows) == 6
    assert float(val_rows[-1]["val_loss"]) < 0.1 * float(val_rows[0]["val_loss"])
    assert float(train_rows[-1]["train_loss"]) < float(train_rows[0]["train_loss"])
    assert float(train_rows[0]["train_grad_norm"]) > 0

    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["epochs"] == 6 and config["task"] == {"model": "tiny-mlp"}
    assert config["runtime"]["device"] == "cpu" and config["runtime"]["total_steps"] == 48
    final = json.loads((run_dir / "metrics.json").read_text())
    assert final["best"]["value"] == pytest.approx(min(float(r["val_loss"]) for r in val_rows))
    assert sum(1 for _ in open(run_dir / "metrics.jsonl")) == len(rows)
    if TENSORBOARD_INSTALLED:
        assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))

    # The best weights load into a fresh model and reproduce the best validation loss.
    fresh = load_weights(make_model(seed=123), run_dir, which="best")
    x, y = linear_data(64, 2).tensors
    with torch.no_grad():
        assert nn.functional.mse_loss(fresh(x), y).item() == pytest.approx(final["best"]["value"], rel=1e-5)
    last = load_weights(make_model(seed=123), run_dir, which="last")
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(last.state_dict()[name], tensor)


def test_early_stopping_stops_when_validation_gets_worse(tmp_path):
    # Validation targets have the opposite sign, so fitting the training data makes them worse.
    trainer = Trainer(make_model(), step_fn=regression_step, optimizer=lambda p: torch.optim.Adam(p, lr=1e-2),
                      train_loader=build_loader(linear_data(64, 1), 16),
                      val_loader=build_loader(linear_data(32, 2, sign=-1.0), 32, shuffle=False),
                      config=TrainConfig(epochs=50, eval_every=2, patience=3, run_dir=str(tmp_path), quiet=True))
    summary = trainer.fit()

    assert summary["stop_reason"] == "early_stopping"
    assert summary["steps"] < 50 * 4
    assert summary["steps"] == summary["best"]["step"] + 3 * 2  # three validations without improvement
    val_losses = [float(r["val_loss"]) for r in read_csv(tmp_path / "metrics.csv") if r["val_loss"]]
    assert min(val_losses) == pytest.approx(summary["best"]["value"])

    # Resuming a run that already stopped early does not train further.
    again = Trainer(make_model(), step_fn=regression_step, optimizer=lambda p: torch.optim.Adam(p, lr=1e-2),
                    train_loader=build_loader(linear_data(64, 1), 16), val_loader=trainer.val_loader,
                    config=trainer.config).fit(resume=True)
    assert again["stop_reason"] == "early_stopping" and again["steps"] == summary["steps"]


def test_learning_rate_drops_at_a_plateau_and_stays_dropped_through_the_schedule_and_a_resume(tmp_path):
    # Validation only gets worse (opposite-sign targets): a drop every 2 validations without
    # improvement, stop after 6 (no drop at the validation that stops it). The rate is the
    # scheduler's times 0.5 per drop, from then on.
    def run(resume=False):
        return Trainer(make_model(), step_fn=regression_step, optimizer=lambda p: torch.optim.Adam(p, lr=1e-2),
                       train_loader=build_loader(linear_data(64, 1), 16),
                       val_loader=build_loader(linear_data(32, 2, sign=-1.0), 32, shuffle=False),
                       scheduler=lambda opt, n: torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - step / (2 * n)),
                       config=TrainConfig(epochs=50, eval_every=2, patience=6, lr_drop_after=2, lr_drop_factor=0.5,
                                          log_every=1, run_dir=str(tmp_path), quiet=True))
    trainer = run()
    summary = trainer.fit()
    assert summary["stop_reason"] == "early_stopping" and summary["lr_drops"] == 2
    total = trainer.total_steps
    rows = [r for r in read_csv(tmp_path / "metrics.csv") if r["lr"]]
    best = summary["best"]["step"]
    for row in rows:
        step = int(row["step"])
        drops = sum(step > best + 2 * k * 2 for k in (1, 2))   # a drop after validations best+4 and best+8
        assert float(row["lr"]) == pytest.approx(1e-2 * (1.0 - step / (2 * total)) * 0.5 ** drops, rel=1e-6), step
    # the drops are part of the resumable state
    assert run().fit(resume=True)["lr_drops"] == 2
    with pytest.raises(ConfigError, match="lr_drop_factor"):
        TrainConfig(lr_drop_after=2, lr_drop_factor=1.5)


def test_non_finite_loss_stops_with_a_clear_error():
    def exploding_step(model, batch):
        loss, metrics = regression_step(model, batch)
        return loss * float("nan"), metrics

    trainer = Trainer(make_model(), step_fn=exploding_step, optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
                      train_loader=build_loader(linear_data(32, 1), 8), config=TrainConfig(log_every=2, quiet=True))
    with pytest.raises(FloatingPointError, match="step 2"):
        trainer.fit()


class SimulatedCrash(Exception):
    pass


def crashing_step(crash_at_train_step: int | None):
    calls = {"train": 0}

    def step(model, batch):
        if model.training:
            calls["train"] += 1
            if calls["train"] == crash_at_train_step:
                raise SimulatedCrash
        return regression_step(model, batch)

    return step


def make_resumable_trainer(run_dir, loader_kind: str, step_fn, model_seed: int = 0) -> Trainer:
    data = linear_data(40, 1)
    if loader_kind == "build_loader":
        train_loader = build_loader(data, 8, seed=3)
    else:  # a plain shuffling DataLoader draws its permutation from the global torch RNG
        train_loader = DataLoader(data, batch_size=8, shuffle=True)
    return Trainer(make_model(model_seed, dropout=0.2), step_fn=step_fn,
                   optimizer=lambda params: torch.optim.AdamW(params, lr=1e-2),
                   scheduler=lambda opt, n: torch.optim.lr_scheduler.OneCycleLR(opt, 1e-2, total_steps=n),
                   train_loader=train_loader, val_loader=DataLoader(linear_data(16, 2), batch_size=8),
                   config=TrainConfig(epochs=3, eval_every=3, log_every=1, grad_clip=1.0, seed=7,
                                      run_dir=str(run_dir), quiet=True))


@pytest.mark.parametrize("loader_kind", ["build_loader", "plain_shuffle"])
def test_resume_after_crash_is_bit_identical(tmp_path, loader_kind):
    straight = make_resumable_trainer(tmp_path / "straight", loader_kind, crashing_step(None))
    straight_summary = straight.fit()

    # 5 batches per epoch, checkpoints every 3 steps: the crash at step 8 loses steps 7-8
    # and the resume starts mid-epoch 2 (step 6 = epoch 1 + 1 batch).
    crashed = make_resumable_trainer(tmp_path / "crashed", loader_kind, crashing_step(8))
    with pytest.raises(SimulatedCrash):
        crashed.fit()
    assert load_state(tmp_path / "crashed" / "state.pt")["step"] == 6

    torch.manual_seed(999)  # the resumed run must not depend on the global RNG it starts with
    resumed = make_resumable_trainer(tmp_path / "crashed", loader_kind, crashing_step(None), model_seed=55)
    resumed_summary = resumed.fit(resume=True)

    assert resumed_summary["steps"] == straight_summary["steps"] == 15
    straight_weights, resumed_weights = straight.model.state_dict(), resumed.model.state_dict()
    for name in straight_weights:
        assert torch.equal(straight_weights[name], resumed_weights[name]), name
    assert resumed_summary["best"] == straight_summary["best"]
    # Logs read as if the run had never stopped (rows after the checkpoint were dropped).
    assert (tmp_path / "crashed" / "metrics.jsonl").read_text() == (tmp_path / "straight" / "metrics.jsonl").read_text()


def test_failed_state_write_keeps_previous_state(tmp_path, monkeypatch):
    path = tmp_path / "state.pt"
    save_state(path, {"step": 3, "weights": torch.arange(4.0)})

    import errno

    from wifisense.errors import OutputError
    from wifisense.io import atomic as atomic_module

    def disk_full(fd):  # the bytes went into the page cache; the disk refuses them at fsync
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_module.os, "fsync", disk_full)
    with pytest.raises(OutputError, match="state.pt"):
        save_state(path, {"step": 4, "weights": torch.zeros(4)})
    monkeypatch.undo()

    state = load_state(path)
    assert state["step"] == 3 and torch.equal(state["weights"], torch.arange(4.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]  # no temporary file left


def test_resume_without_state_names_the_file(tmp_path):
    trainer = Trainer(make_model(), step_fn=regression_step, optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
                      train_loader=build_loader(linear_data(16, 1), 8),
                      config=TrainConfig(epochs=1, run_dir=str(tmp_path / "empty"), quiet=True))
    with pytest.raises(ConfigError, match="state.pt"):
        trainer.fit(resume=True)


def test_epoch_scheduler_and_plateau_scheduler():
    epoch_trainer = Trainer(make_model(), step_fn=regression_step, optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
                            train_loader=build_loader(linear_data(32, 1), 8),
                            scheduler=lambda opt, n: torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1 - e / n),
                            config=TrainConfig(epochs=4, scheduler_interval="epoch", quiet=True))
    epoch_trainer.fit()
    assert epoch_trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # stepped 4 of 4 times

    # Opposite-sign validation never improves after the first check, so the plateau halves the LR.
    plateau_trainer = Trainer(make_model(), step_fn=regression_step, optimizer=lambda p: torch.optim.SGD(p, lr=0.05),
                              train_loader=build_loader(linear_data(32, 1), 8),
                              val_loader=build_loader(linear_data(16, 2, sign=-1.0), 16, shuffle=False),
                              scheduler=lambda opt, n: torch.optim.lr_scheduler.ReduceLROnPlateau(
                                  opt, factor=0.5, patience=0),
                              config=TrainConfig(epochs=3, quiet=True))
    plateau_trainer.fit()
    assert plateau_trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.05 * 0.5 ** 2)


def test_unknown_monitor_and_bad_config_are_config_errors():
    trainer = Trainer(make_model(), step_fn=regression_step, optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
                      train_loader=build_loader(linear_data(16, 1), 8),
                      val_loader=build_loader(linear_data(8, 2), 8, shuffle=False),
                      config=TrainConfig(epochs=1, monitor="val_accuracy", quiet=True))
    with pytest.raises(ConfigError, match="val_accuracy.*val_loss"):
        trainer.fit()
    with pytest.raises(ConfigError, match="mode"):
        TrainConfig(mode="lowest")
    with pytest.raises(ConfigError, match="unknown field.*epoch_count"):
        TrainConfig.from_dict({"epoch_count": 3})
    with pytest.raises(ConfigError, match="patience"):
        Trainer(make_model(), step_fn=regression_step, optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
                train_loader=build_loader(linear_data(16, 1), 8), config=TrainConfig(patience=2))


def test_load_weights_rejects_a_different_model(tmp_path):
    checkpoint_module.save_weights(make_model(), tmp_path / "model.safetensors")
    with pytest.raises(ConfigError, match="do not fit"):
        load_weights(nn.Linear(4, 1), tmp_path)
    with pytest.raises(ConfigError, match="last.safetensors"):
        load_weights(make_model(), tmp_path, which="last")


def test_missing_tensorboard_is_a_clear_config_error(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    trainer = Trainer(make_model(), step_fn=regression_step, optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
                      train_loader=build_loader(linear_data(16, 1), 8),
                      config=TrainConfig(epochs=1, run_dir=str(tmp_path), tensorboard=True, quiet=True))
    with pytest.raises(ConfigError, match="pip install tensorboard"):
        trainer.fit()


def test_devices_precision_and_batches():
    assert select_device("cpu") == torch.device("cpu")
    expected_auto = "cuda" if torch.cuda.is_available() else None
    if expected_auto is None:
        assert select_device("auto").type in ("cpu", "mps")
        with pytest.raises(ConfigError, match="CUDA is not available"):
            select_device("cuda:1")
    with pytest.raises(ConfigError, match="tpu"):
        select_device("tpu")
    assert select_precision(torch.device("cpu"), amp=True).dtype is None  # no autocast on CPU
    assert not select_precision(torch.device("cpu")).grad_scaler().is_enabled()

    batch = {"x": torch.ones(2), "pair": (torch.zeros(1), [torch.ones(1)]), "name": "clip"}
    moved = move_to_device(batch, torch.device("cpu"))
    assert moved["name"] == "clip" and torch.equal(moved["pair"][1][0], torch.ones(1))

    x = torch.randn(3, 2, requires_grad=True)
    assert all_gather_with_grad(x) is x  # not distributed: unchanged


def test_rng_capture_and_restore_round_trip():
    import random

    import numpy as np

    seed_everything(5)
    state = capture_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(6)
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
