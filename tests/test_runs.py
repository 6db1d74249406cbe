"""The experiment layer: intervals against hand-computed cases, RunDir status, Study sharing / resume / refusal, tidy results."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wifisense.errors import ConfigError
from wifisense.metrics.intervals import (bootstrap_interval, mean_statistic, seed_interval, seed_interval_or_value,
                                        wilson_interval)
from wifisense.runs import Measurement, Part, PlannedRun, Row, RunDir, Study, parse_seeds, read_results, select
from wifisense.runs.results import Result, aggregate


def test_wilson_interval_matches_a_hand_computed_case():
    # 9 of 25, z = 1.959964: centre (p + z^2/2n) / (1 + z^2/n), half z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
    low, high = wilson_interval(9, 25)
    assert low == pytest.approx(0.20248, abs=1e-4) and high == pytest.approx(0.55482, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_seed_interval_is_student_t():
    mean, low, high = seed_interval([1.0, 2.0, 3.0])      # sd 1, t(0.975, 2) = 4.302653
    assert mean == 2.0 and high - mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    with pytest.raises(ValueError):
        seed_interval([1.0])
    assert seed_interval_or_value([1.0, 2.0, 3.0]) == (mean, low, high)
    assert seed_interval_or_value([0.7]) == (0.7, None, None)        # one seed: the value, no interval
    with pytest.raises(ValueError):
        seed_interval_or_value([])


def test_bootstrap_interval_is_deterministic_and_brackets_the_mean():
    values = np.arange(20.0)
    a = bootstrap_interval(mean_statistic(values), 20, seed=3)
    assert a == bootstrap_interval(mean_statistic(values), 20, seed=3)
    assert a[0] < values.mean() < a[1]
    # a constant sample has a zero-width interval
    assert bootstrap_interval(mean_statistic(np.ones(5)), 5) == (1.0, 1.0)


def test_aggregate_over_seeds_and_a_missing_seed():
    lines = [Result("t", "s", "r", "x", seed, "test", "m", value, 10) for seed, value in ((0, 1.0), (1, 3.0))]
    (overall,) = aggregate(lines)
    assert overall.seed == "all" and overall.value == 2.0 and overall.seeds == 2 and overall.n == 20
    assert overall.ci == "t-seeds" and overall.low < 2.0 < overall.high
    one = aggregate(lines[:1])[0]
    assert one.seed == "all" and one.value == 1.0 and one.seeds == 1
    missing = aggregate([lines[0], Result("t", "s", "r", "x", 1, "test", "m", None, 10, note="diverged")])[0]
    assert missing.value is None and "seed(s) 1" in missing.note


def test_parse_seeds():
    assert parse_seeds("0,1,2") == (0, 1, 2) and parse_seeds("0-3") == (0, 1, 2, 3) and parse_seeds(None, 5) == (5,)
    with pytest.raises(ConfigError):
        parse_seeds("a,b")


def test_rundir_status_needs_the_same_config(tmp_path):
    run = RunDir(tmp_path / "run")
    config = {"lr": 0.1, "seed": 0}
    assert run.status(config, "test") == "new"
    run.claim(config)
    assert run.status(config, "test") == "new"
    run.mark_trained()
    assert run.status(config, "test") == "trained"
    run.write_measurements("test", [Measurement("m", 1.0, 3)])
    assert run.status(config, "test") == "finished"
    assert run.status({"seed": 0, "lr": 0.1}, "test") == "finished"          # key order does not matter
    # the same files under another config are not finished
    assert run.status({**config, "lr": 0.2}, "test") == "other-config"
    with pytest.raises(ValueError):
        run.claim({**config, "lr": 0.2})
    assert run.measurements("test") == [Measurement("m", 1.0, 3)]


class ToyTask:
    """Trains a 'stage' file per part and scores the config's 'value' plus the seed."""

    name = "toy"

    def __init__(self):
        self.trained: list[tuple[str, int, tuple[str, ...]]] = []

    def train(self, run, run_dir, context):
        made = []
        for part in run.parts:
            if not (run_dir.path / part.name / "done").exists():
                (run_dir.path / part.name).mkdir(parents=True, exist_ok=True)
                (run_dir.path / part.name / "done").write_text(part.key)
                made.append(part.name)
        self.trained.append((run.name, context.seed, tuple(made)))

    def evaluate(self, run, run_dir, split, context):
        value = run.config["value"] + context.seed
        return [Measurement("score", value, 4, value - 1, value + 1, "bootstrap-items")]

    def part_finished(self, run_dir, part):
        return (run_dir.path / part.name / "done").is_file()


def _rows():
    s1 = Part("s1", "teacher")
    a = PlannedRun("a", {"value": 1.0}, (s1, Part("s2", "a-student")))
    b = PlannedRun("b", {"value": 2.0}, (s1, Part("s2", "b-student")))
    return [Row("main", "full", "-", a), Row("main", "other", "-", b), Row("mirror", "full", "-", a)]


def test_study_shares_parts_resumes_and_refuses_other_settings(tmp_path):
    task = ToyTask()
    results = Study(task, _rows(), [0, 1], tmp_path, {"epochs": 1}, quiet=True).run()
    # two distinct runs per seed; b's s1 is linked from a (same key, same seed), never across seeds
    assert task.trained == [("a", 0, ("s1", "s2")), ("b", 0, ("s2",)), ("a", 1, ("s1", "s2")), ("b", 1, ("s2",))]
    assert RunDir(tmp_path / "runs" / "b" / "seed0").shared == {"s1": "a/seed0"}
    # rows sharing a run get the same numbers; aggregates over the two seeds
    full = select(results, study="main", row="full", seed="all")[0]
    assert full.value == pytest.approx(1.5) and full.seeds == 2 and full.ci == "t-seeds"
    assert select(results, study="mirror", row="full", seed="all")[0].value == full.value
    assert read_results(tmp_path) == results
    assert (tmp_path / "results.csv").read_text().count("\n") == len(results) + 1
    # resume: nothing retrained; adding a seed trains only that seed
    Study(task, _rows(), [0, 1, 2], tmp_path, {"epochs": 1}, quiet=True).run()
    assert task.trained[4:] == [("a", 2, ("s1", "s2")), ("b", 2, ("s2",))]
    with pytest.raises(ConfigError, match="other settings"):
        Study(task, _rows(), [0], tmp_path, {"epochs": 2}, quiet=True).run()


def test_study_trains_only_the_runs_named_and_reports_every_finished_row(tmp_path):
    task = ToyTask()
    results = Study(task, _rows(), [0], tmp_path, {"epochs": 1}, quiet=True).run(only=["b"])
    assert task.trained == [("b", 0, ("s1", "s2"))]                  # a is not there yet: nothing to link
    assert {r.row for r in results} == {"other"}
    # a second process trains the rest; a plain run then trains nothing and reports every row
    Study(task, _rows(), [0], tmp_path, {"epochs": 1}, quiet=True).run(only=["a"])
    assert task.trained[1] == ("a", 0, ("s2",))                       # s1 linked from b
    results = Study(task, _rows(), [0], tmp_path, {"epochs": 1}, quiet=True).run()
    assert len(task.trained) == 2 and {(r.study, r.row) for r in results} == {("main", "full"), ("main", "other"),
                                                                          ("mirror", "full")}
    with pytest.raises(ConfigError, match="no run named c"):
        Study(task, _rows(), [0], tmp_path, {"epochs": 1}, quiet=True).run(only=["c"])


def test_study_refuses_two_configs_under_one_run_name(tmp_path):
    rows = [Row("s", "x", "-", PlannedRun("a", {"value": 1})), Row("s", "y", "-", PlannedRun("a", {"value": 2}))]
    with pytest.raises(ConfigError, match="one name"):
        Study(ToyTask(), rows, [0], tmp_path, {})
