"""Track compare: run plans and shared runs, the default coordinate region, Markdown, and a tiny end-to-end compare that resumes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from wifisense.errors import ConfigError
from wifisense.io.store import read_multiband_store, write_multiband_store
from wifisense.track import compare
from wifisense.track import data as track_data


# small shapes and a fixed-step solver keep each NDF run to a few seconds
SMALL = ["model.encoder_hidden_dim=8", "model.encoder_ode_hidden_dim=8", "model.ode_hidden_dim=8",
         "model.decoder_hidden=[8]", "model.baseline_mlp_hidden=[8]", "optim.batch_size=8",
         "cae.channels=[4,8]", "cae.embed_dim=4", "model.solver=rk4", "model.ode_step_size=0.5"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from wifisense.sim.trajectories import TrajectoryConfig, simulate_trajectories

    ds = simulate_trajectories(dataclasses.replace(TrajectoryConfig(), duration_s=90.0, num_beams=8), seed=3)
    path = tmp_path_factory.mktemp("compare") / "drive.h5"
    write_multiband_store(path, ds, overwrite=True)
    return path


def test_table1_has_every_method_band_pair_and_ddnd_single_band_only():
    specs = compare.table1_specs(compare.METHODS)
    pairs = {(s.method, s.band_label) for s in specs}
    assert ("ddnd", "csi+snr") not in pairs and {("ddnd", "csi"), ("ddnd", "snr")} <= pairs
    # single-band NDF is DDND, so it is trained once under DDND's name
    assert ("ndf", "csi") not in pairs and ("ndf", "snr") not in pairs and ("ndf", "csi+snr") in pairs
    assert len(specs) == 4 * 3 + 1 + 2
    alone = {(s.method, s.band_label) for s in compare.table1_specs(["ndf"])}
    assert alone == {("ndf", "csi"), ("ndf", "snr"), ("ndf", "csi+snr")}
    assert all(s.split == "random" and s.window_s == 5.0 and s.table == "I" for s in specs)


def test_shared_configurations_map_to_one_run_directory():
    dirs = compare.canonical_dirs(region=(0, 0, 1, 1))
    ndf_default = compare.RunSpec("I", "x", "ndf", ("csi", "snr")).key()
    window5 = next(s for s in compare.ndf_study_specs("II") if s.window_s == 5.0)
    mlp = next(s for s in compare.ndf_study_specs("III") if s.fusion == "mlp")
    assert dirs[window5.key()] == dirs[mlp.key()] == dirs[ndf_default] == "I/ndf_csi+snr"
    weighted = next(s for s in compare.ndf_study_specs("III") if s.fusion == "weighted")
    assert dirs[weighted.key()] == "III/ndf_weighted"
    # fusion does not change a baseline, so it is not part of its key
    assert (compare.RunSpec("I", "a", "rnn-dt", ("csi", "snr"), fusion="mlp").key()
            == compare.RunSpec("I", "b", "rnn-dt", ("csi", "snr"), fusion="weighted").key())
    assert [s.split for s in compare.ndf_study_specs("IV")] == [f"temporal:{r}" for r in (0.2, 0.4, 0.6, 0.8)]


def test_parsers_reject_bad_input():
    assert compare.parse_tables("iv,I") == ("I", "IV")
    assert compare.parse_methods("linear_int,ndf") == ("linear-int", "ndf")
    with pytest.raises(ConfigError, match="unknown table"):
        compare.parse_tables("V")
    with pytest.raises(ConfigError, match="unknown method"):
        compare.parse_methods("kalman")
    with pytest.raises(ConfigError, match="X1 > X0"):
        compare.parse_region("3,0,1,1")
    assert compare.parse_bands(None) == compare.BAND_SETS
    assert compare.parse_bands("snr+csi, csi") == (("csi",), ("csi", "snr"))   # the paper's order, either spelling
    with pytest.raises(ConfigError, match="unknown band set 'wifi'"):
        compare.parse_bands("csi,wifi")


def test_band_sets_choose_table1_rows():
    single = compare.table1_specs(compare.METHODS, compare.parse_bands("csi,snr"))
    assert {s.band_label for s in single} == {"csi", "snr"}
    # the same rows as in the full plan, so their run folders do not depend on the band sets asked for
    full = {(s.name, s.key()) for s in compare.table1_specs(compare.METHODS)}
    assert {(s.name, s.key()) for s in single} <= full
    assert {s.method for s in single} == {"ddnd", "linear-int", "nearest-int", "rnn-decay", "rnn-dt"}


def test_default_region_is_a_corner_holding_out_a_minority_of_windows(store):
    region = compare.default_region(store)
    ds = read_multiband_store(store)
    (x_lo, y_lo), (x_hi, y_hi) = ds.pose_xy.min(0), ds.pose_xy.max(0)
    x0, y0, x1, y1 = region
    assert x1 > x0 and y1 > y0
    assert min(abs(x0 - x_lo), abs(x1 - x_hi)) < 0.02 and min(abs(y0 - y_lo), abs(y1 - y_hi)) < 0.02
    windows = track_data.split_windows(track_data.SplitSpec("coordinate", region=region), ds, 5.0)
    total = sum(len(w) for w in windows.values())
    assert 0 < len(windows["test"]) <= total / 3 + 1


def _line(row, setting, metric, value, seed="all", **kw):
    from wifisense.runs import Result

    return Result("track", "I", row, setting, seed, "test", metric, value, 10, **kw)


def test_markdown_has_band_columns_and_bolds_the_best_mean():
    results = []
    for m, b, mean in (("ndf", "csi+snr", 0.5), ("linear-int", "csi+snr", 0.8), ("ndf", "csi", 1.2),
                       ("training mean", "none", 1.9)):
        results += [_line(m, b, "mean_m", mean, low=mean - 0.1, high=mean + 0.1, ci="t-seeds", seeds=2),
                    _line(m, b, "median_m", mean * 0.9), _line(m, b, "p90_m", mean * 2)]
    text = compare.compare_markdown({"settings": {"store": "s.h5", "preset": "tiny", "epochs": 1}, "seeds": [0, 1],
                                     "results": results})
    header = next(line for line in text.splitlines() if line.startswith("| Method"))
    assert "CSI (5 GHz) mean" in header and "Both bands p90" in header and "Beam SNR" not in header
    ndf_line = next(line for line in text.splitlines() if line.startswith("| NDF"))
    assert "**0.500 ± 0.100**" in ndf_line and "**1.200 ± 0.100**" in ndf_line
    assert "**0.800" not in text
    # the trivial reference row is there, its one value in every band column
    reference = next(line for line in text.splitlines() if line.startswith("| training mean"))
    assert reference.count("1.900 ± 0.100") == 2
    assert "mean over 2 seeds" in text


@pytest.mark.slow
def test_compare_writes_results_over_seeds_and_skips_finished_runs(store, tmp_path, monkeypatch):
    from wifisense.runs import read_results, select

    out = tmp_path / "cmp"
    kwargs = {"tables": ("I",), "methods": ("ndf", "linear-int"), "epochs": 1, "seeds": "0,1", "overrides": SMALL,
              "device": "cpu", "quiet": True, "cae_epochs": 1}
    summary = compare.run_compare(store, out, **kwargs)
    results = read_results(out)
    assert results == summary["results"]
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("task,study,row,setting,seed,split,metric,value,n,low,high,ci")
    assert len(csv_lines) == len(results) + 1
    cells = {(r.row, r.setting) for r in select(results, metric="mean_m", seed="all")}
    assert cells == {(m, b) for m in ("ndf", "linear-int") for b in ("csi", "snr", "csi+snr")} | {
        ("training mean", "none")}
    for row, setting in cells:
        per_seed = select(results, row=row, setting=setting, metric="mean_m")
        seeds = {r.seed: r for r in per_seed}
        assert set(seeds) == {0, 1, "all"}
        for seed in (0, 1):   # one seed: a bootstrap interval over test windows around the value
            r = seeds[seed]
            assert r.ci == "bootstrap-items" and r.low <= r.value <= r.high and r.n > 0
            run = out / "runs" / ("I/" + f"{row}_{setting}" if row != "training mean" else "reference/random_w5")
            table = np.loadtxt(run / f"seed{seed}" / "test_predictions.csv", delimiter=",", skiprows=1)
            assert r.value == pytest.approx(table[:, -1].mean(), abs=1e-4)   # the CSV keeps 4 decimals
            # the centroid part, recomputed from the same file: window means of prediction and truth
            windows = [table[table[:, 0] == w] for w in np.unique(table[:, 0])]
            centroids = [np.linalg.norm(w[:, 4:6].mean(0) - w[:, 2:4].mean(0)) for w in windows]
            centroid = select(results, row=row, setting=setting, metric="centroid_m", seed=seed)[0]
            assert centroid.value == pytest.approx(np.mean(centroids), abs=1e-3) and centroid.n == len(centroids)
            assert centroid.low <= centroid.value <= centroid.high
        overall = seeds["all"]
        assert overall.ci == "t-seeds" and overall.seeds == 2
        assert overall.value == pytest.approx((seeds[0].value + seeds[1].value) / 2)
        assert overall.low < overall.value < overall.high
    for name in ("error_cdf", "trajectories", "tsne"):
        assert (out / summary["figures"][name]).stat().st_size > 1000
    text = (out / "compare.md").read_text()
    # Table I, then its error in two parts (centroid / shape)
    assert "Table I" in text and text.count("| NDF |") == 2 and text.count("| LinearInt |") == 2
    assert "the error in two parts" in text

    # a second call retrains nothing and gives the same results
    def no_training(*args, **kw):
        raise AssertionError("a finished run was retrained")

    monkeypatch.setattr("wifisense.track.train.train_model", no_training)
    monkeypatch.setattr("wifisense.track.train.pretrain_cae", no_training)
    again = compare.run_compare(store, out, **kwargs)
    assert again["results"] == results
    with pytest.raises(ConfigError, match="other settings"):
        compare.run_compare(store, out, **{**kwargs, "epochs": 2})


@pytest.mark.slow
def test_coordinate_table_holds_out_the_region(store, tmp_path):
    from wifisense.runs import select

    region = (5.0, 3.5, 8.0, 6.0)
    summary = compare.run_compare(store, tmp_path / "cmp", tables=("coordinate",), methods=("linear-int",),
                                  epochs=1, overrides=SMALL, device="cpu", quiet=True, cae_epochs=1, region=region)
    assert summary["region"] == list(region)
    (mean,) = select(summary["results"], study="coordinate", row="linear-int", metric="mean_m", seed="all")
    assert np.isfinite(mean.value)
    truth = np.loadtxt(tmp_path / "cmp" / "runs" / "coordinate" / "linear-int_coordinate" / "seed0"
                       / "test_predictions.csv", delimiter=",", skiprows=1)
    windows = truth[:, 0].astype(int)
    inside = track_data.in_region(truth[:, 2:4], region)
    # every test window touches the held-out region
    assert all(inside[windows == w].any() for w in np.unique(windows))
    assert "Coordinate split" in (tmp_path / "cmp" / "compare.md").read_text()
