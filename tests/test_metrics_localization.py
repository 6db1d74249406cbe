"""Tests for wifisense.metrics.localization: position errors, their summary and CDF."""

from __future__ import annotations

import numpy as np
import pytest

from wifisense.metrics import error_cdf, error_summary, localization_errors


def test_errors_are_euclidean_and_masked():
    true = np.zeros((2, 3, 2))
    pred = np.array([[[3.0, 4.0], [0.0, 1.0], [1.0, 1.0]],
                     [[0.0, 0.0], [-6.0, 8.0], [0.5, 0.0]]])
    errors = localization_errors(pred, true)
    assert errors.shape == (2, 3)
    assert np.allclose(errors, [[5.0, 1.0, np.sqrt(2.0)], [0.0, 10.0, 0.5]])
    mask = np.array([[True, False, True], [False, True, False]])
    assert np.allclose(localization_errors(pred, true, mask), [5.0, np.sqrt(2.0), 10.0])
    with pytest.raises(ValueError, match="same"):
        localization_errors(pred, true[:, :2])
    with pytest.raises(ValueError, match="mask"):
        localization_errors(pred, true, mask[:, :2])


def test_errors_accept_torch_tensors():
    import torch

    pred = torch.tensor([[1.0, 1.0], [2.0, 2.0]], requires_grad=True)
    assert np.allclose(localization_errors(pred, torch.ones(2, 2)), [0.0, np.sqrt(2.0)])


def test_summary_on_known_errors():
    errors = np.arange(11, dtype=float)  # 0, 1, ..., 10 m
    summary = error_summary(errors)
    assert summary["n"] == 11
    assert summary["mean"] == pytest.approx(5.0)
    assert summary["median"] == pytest.approx(5.0)
    assert summary["p90"] == pytest.approx(9.0)
    assert summary["rmse"] == pytest.approx(np.sqrt(np.mean(errors ** 2)))
    assert error_summary(np.full(4, 2.5)) == {"mean": 2.5, "median": 2.5, "p90": 2.5, "rmse": 2.5, "n": 4}
    with pytest.raises(ValueError, match="no errors"):
        error_summary([])
    with pytest.raises(ValueError, match="NaN"):
        error_summary([1.0, np.nan])


def test_cdf_is_monotone_and_ends_at_one():
    errors = np.random.default_rng(0).gamma(2.0, 0.5, size=200)
    x, F = error_cdf(errors)
    assert x.shape == F.shape == (200,)
    assert np.all(np.diff(x) >= 0) and np.all(np.diff(F) > 0)
    assert F[-1] == 1.0 and F[0] == pytest.approx(1 / 200)
    # F(x) is the share of errors <= x
    assert F[99] == pytest.approx(np.mean(errors <= x[99]))


def test_window_error_parts_separate_where_from_how_it_moves():
    from wifisense.metrics.localization import window_error_parts

    t = np.linspace(0.0, 1.0, 5)
    path = np.stack([t, 2 * t], axis=-1)                    # a straight 1 x 2 m move
    spread = np.linalg.norm(path - path.mean(0), axis=-1).mean()
    true = np.stack([path, path, path + 3.0])
    pred = np.stack([path + [0.3, 0.4],                     # the path, offset by 0.5 m
                     np.broadcast_to(path.mean(0), path.shape),   # sitting still at the true mean
                     path[::-1] + 3.0])                     # the right place, moving the wrong way
    mask = np.ones((3, 5), bool)
    centroid, shape = window_error_parts(pred, true, mask)
    assert np.allclose(centroid, [0.5, 0.0, 0.0])
    assert np.allclose(shape, [0.0, spread, 2 * spread])
    # masked points count for nothing: a wild prediction at a masked point changes neither part
    pred[0, -1] = [50.0, 50.0]
    mask[0, -1] = False
    c, s = window_error_parts(pred, true, mask)
    sub_c, sub_s = window_error_parts(pred[:1, :4], true[:1, :4], np.ones((1, 4), bool))
    assert c[0] == pytest.approx(sub_c[0]) and s[0] == pytest.approx(sub_s[0])
    with pytest.raises(ValueError, match="no query point"):
        window_error_parts(pred, true, np.zeros((3, 5), bool))
    with pytest.raises(ValueError, match=r"\[W, Q"):
        window_error_parts(pred[0], true[0], mask[0])
