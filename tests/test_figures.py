"""Tests for wifisense.report.figures: every figure function writes a readable, non-empty PNG."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from wifisense.report import figures


def _assert_png(path, min_size=(200, 150)):
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        assert image.size[0] >= min_size[0] and image.size[1] >= min_size[1]
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5  # something was drawn, not a blank canvas


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_similarity_matrix_with_and_without_labels(tmp_path, rng):
    text = rng.normal(size=(6, 8))
    csi = text + 0.5 * rng.normal(size=(6, 8))
    from wifisense.metrics import retrieval_metrics, similarity_matrix

    sim = similarity_matrix(csi, text)
    captions = [f"a person standing raises the left arm, caption number {i}, which is long" for i in range(6)]
    out = figures.plot_similarity_matrix(sim, tmp_path / "deep" / "sim.png", row_labels=[f"clip {i}" for i in range(6)],
                                         col_labels=captions, top1=retrieval_metrics(sim)["top1_accuracy"], dpi=80)
    assert out == tmp_path / "deep" / "sim.png"
    _assert_png(out)
    _assert_png(figures.plot_similarity_matrix(rng.uniform(-1, 1, size=(50, 60)), tmp_path / "big.png", dpi=60))
    with pytest.raises(ValueError, match="labels"):
        figures.plot_similarity_matrix(sim, tmp_path / "bad.png", col_labels=captions[:3])


def test_confusion(tmp_path):
    from wifisense.metrics import direction_accuracy

    refs = {"a": ["raises the left arm"], "b": ["raises the right arm"], "c": ["squats"]}
    preds = {"a": "raises the left arm", "b": "raises the left arm", "c": "squats"}
    lateral = direction_accuracy(refs, preds)["lateral_confusion"]
    _assert_png(figures.plot_confusion(lateral["matrix"], lateral["labels"], tmp_path / "c.png", "Left/right", dpi=80))
    _assert_png(figures.plot_confusion(lateral["matrix"], lateral["labels"], tmp_path / "n.png", normalize=True, dpi=80))
    with pytest.raises(ValueError, match="4x4"):
        figures.plot_confusion(np.eye(3), lateral["labels"], tmp_path / "bad.png")


def test_error_cdfs(tmp_path, rng):
    errors = {"NDF": rng.gamma(2.0, 0.2, 300), "LinearInt": rng.gamma(2.0, 0.5, 300)}
    _assert_png(figures.plot_error_cdfs(errors, tmp_path / "cdf.png", "CDF", dpi=80))
    with pytest.raises(ValueError):
        figures.plot_error_cdfs({}, tmp_path / "none.png")


def test_trajectories(tmp_path, rng):
    from wifisense.sim.channel import Room

    t = np.linspace(0, 2 * np.pi, 80)
    trues = [np.c_[4 + 3 * np.cos(t + k), 3 + 2 * np.sin(t + k)] for k in range(3)]
    preds = [x + rng.normal(0, 0.2, x.shape) for x in trues]
    train = np.concatenate(trues) + rng.normal(0, 0.1, (240, 2))
    _assert_png(figures.plot_trajectories(trues, preds, tmp_path / "one.png", train_xy=train, room=(8.0, 6.0), dpi=60))
    methods = {"NDF": preds, "LinearInt": [x + rng.normal(0, 0.4, x.shape) for x in trues]}
    _assert_png(figures.plot_trajectories(trues[:1], methods, tmp_path / "two.png", room=Room(), dpi=60))
    with pytest.raises(ValueError, match="predicted trajectories"):
        figures.plot_trajectories(trues, preds[:1], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="room"):
        figures.plot_trajectories(trues, preds, tmp_path / "bad.png", room=(1.0, 2.0, 3.0))


def test_tsne_categorical_and_continuous(tmp_path, rng):
    latents = np.concatenate([rng.normal(k * 3.0, 0.5, size=(10, 6)) for k in range(3)])
    labels = np.repeat(["raise left arm", "raise right arm", "squat"], 10)
    _assert_png(figures.plot_tsne(latents, labels, tmp_path / "cat.png", max_iter=250, dpi=60))
    _assert_png(figures.plot_tsne(latents, np.linspace(0.0, 5.0, 30), tmp_path / "cont.png", label_name="time (s)",
                                  max_iter=250, dpi=60))
    with pytest.raises(ValueError, match="N >= 5"):
        figures.plot_tsne(latents[:3], None, tmp_path / "bad.png")


def test_training_curves_from_a_trainer_log_and_a_dict(tmp_path):
    from wifisense.training.logs import MetricsLogger

    logger = MetricsLogger(tmp_path / "run")
    for step in range(1, 41):
        logger.log({"step": step, "epoch": step / 10, "lr": 1e-3, "train_loss": 3.0 * np.exp(-step / 8)})
        if step % 10 == 0:
            logger.log({"step": step, "epoch": step / 10, "val_loss": 3.2 * np.exp(-step / 9), "val_R@1": step / 40})
    logger.close()
    _assert_png(figures.plot_training_curves(tmp_path / "run", tmp_path / "run.png", dpi=60))
    _assert_png(figures.plot_training_curves(tmp_path / "run" / "metrics.jsonl", tmp_path / "jsonl.png",
                                             columns=["train_loss", "val_loss"], dpi=60))
    _assert_png(figures.plot_training_curves({"loss": [3.0, 2.0, 1.5, 1.2]}, tmp_path / "dict.png", dpi=60))
    with pytest.raises(ValueError, match="no values"):
        figures.plot_training_curves(tmp_path / "run", tmp_path / "bad.png", columns=["val_BLEU-4"])


def test_series_puts_train_and_val_of_a_metric_on_one_panel():
    rows = [{"step": 1, "train_loss": 2.0}, {"step": 2, "train_loss": 1.0, "val_loss": 1.5}, {"step": "3", "val_loss": ""}]
    series = figures._series(rows)
    assert set(series) == {"train_loss", "val_loss"}
    assert np.array_equal(series["train_loss"][0], [1.0, 2.0]) and np.array_equal(series["val_loss"][1], [1.5])
    assert figures._panel_name("train_loss") == ("loss", "train") and figures._panel_name("val_loss") == ("loss", "val")
