"""Typed study results: one tidy line per (task, study, row, setting, seed, split, metric), with intervals.

A task's evaluation returns :class:`Measurement` objects (a value, how many test items it
rests on, and its one-seed 95 % interval); a study turns them into :class:`Result` lines
and adds the aggregated line of every (row, setting, split, metric) over seeds
(``seed == "all"``). ``results.csv`` and ``results.json`` hold the same lines; tables, the
report and README figures are rendered from them, never from a run's raw JSON.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from wifisense.metrics.intervals import seed_interval

ALL_SEEDS = "all"
CSV_FILE = "results.csv"
JSON_FILE = "results.json"
# How an interval was obtained (the ``ci`` column).
CI_WILSON = "wilson"                  # one seed, a proportion of items
CI_BOOTSTRAP = "bootstrap-items"      # one seed, percentile bootstrap over test items
CI_SEEDS = "t-seeds"                  # several seeds, Student t over the per-seed values
CI_NONE = ""                          # no interval (the reason is in ``note``)


@dataclass(frozen=True)
class Measurement:
    """One metric of one evaluated run: ``value`` over ``n`` test items, with its one-seed interval."""

    metric: str
    value: float | None
    n: int
    low: float | None = None
    high: float | None = None
    ci: str = CI_NONE
    note: str = ""           # why value or interval is missing, or how to read it


@dataclass(frozen=True)
class Result:
    """One tidy line of ``results.csv``."""

    task: str
    study: str
    row: str
    setting: str
    seed: int | str          # an int, or ALL_SEEDS for the aggregate over seeds
    split: str
    metric: str
    value: float | None
    n: int                   # test items (per seed); for the aggregate, items per seed x seeds
    low: float | None = None
    high: float | None = None
    ci: str = CI_NONE
    seeds: int = 1           # how many seeds the line rests on
    note: str = ""

    @classmethod
    def of(cls, measurement: Measurement, *, task: str, study: str, row: str, setting: str, seed: int,
           split: str) -> Result:
        m = measurement
        return cls(task, study, row, setting, seed, split, m.metric, m.value, m.n, m.low, m.high, m.ci, 1, m.note)

    @property
    def aggregate(self) -> bool:
        return self.seed == ALL_SEEDS


FIELDS = tuple(f.name for f in fields(Result))


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def aggregate(per_seed: Sequence[Result]) -> list[Result]:
    """The ``seed == "all"`` line of every (task, study, row, setting, split, metric) group.

    One seed: its value and one-seed interval, unchanged. Several: the mean over seeds
    with a Student t interval (:func:`~wifisense.metrics.intervals.seed_interval`); a seed
    without a value makes the aggregate a missing value with the reason, never a mean of
    the others.
    """
    groups: dict[tuple, list[Result]] = {}
    for r in per_seed:
        if not r.aggregate:
            groups.setdefault((r.task, r.study, r.row, r.setting, r.split, r.metric), []).append(r)
    out = []
    for lines in groups.values():
        lines = sorted(lines, key=lambda r: r.seed)
        first = lines[0]
        n = sum(r.n for r in lines)
        if len(lines) == 1:
            out.append(replace(first, seed=ALL_SEEDS))
            continue
        values = [_number(r.value) for r in lines]
        if any(v is None for v in values):
            missing = [r for r, v in zip(lines, values) if v is None]
            note = missing[0].note if len(missing) == len(lines) else \
                f"no value for seed(s) {', '.join(str(r.seed) for r in missing)}: {missing[0].note}"
            out.append(replace(first, seed=ALL_SEEDS, value=None, n=n, low=None, high=None, ci=CI_NONE,
                               seeds=len(lines), note=note))
            continue
        mean, low, high = seed_interval(values)
        out.append(replace(first, seed=ALL_SEEDS, value=mean, n=n, low=low, high=high, ci=CI_SEEDS,
                           seeds=len(lines), note=""))
    return out


# --------------------------------------------------------------------------- files


def results_csv(results: Iterable[Result]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    for r in results:
        row = asdict(r)
        writer.writerow(["" if row[k] is None else (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k])
                         for k in FIELDS])
    return buffer.getvalue()


def write_results(out_dir: str | os.PathLike, results: Sequence[Result]) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``results.json`` (atomically) into ``out_dir``."""
    from wifisense.io.atomic import atomic_write_text

    out_dir = Path(out_dir)
    atomic_write_text(out_dir / CSV_FILE, results_csv(results))
    atomic_write_text(out_dir / JSON_FILE, json.dumps([asdict(r) for r in results], indent=1) + "\n")
    return out_dir / CSV_FILE, out_dir / JSON_FILE


def read_results(path: str | os.PathLike) -> list[Result]:
    """Results from a ``results.json`` file (or the folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / JSON_FILE
    return results_from_json(json.loads(path.read_text()))


def results_from_json(lines: Iterable[dict]) -> list[Result]:
    """Results from the parsed content of a ``results.json`` file."""
    return [Result(**{k: line.get(k) for k in FIELDS if k in line}) for line in lines]


def select(results: Iterable[Result], **where) -> list[Result]:
    """The lines whose fields equal every keyword (``seed="all"`` for aggregates)."""
    return [r for r in results if all(getattr(r, k) == v for k, v in where.items())]


def format_interval(result: Result | None, digits: int = 3, scale: float = 1.0) -> str:
    """``"0.412 ± 0.031"`` (symmetric) or ``"0.412 [0.38, 0.45]"``; ``"—"`` without a value."""
    if result is None or result.value is None:
        return "—"
    value = f"{result.value * scale:.{digits}f}"
    if result.low is None or result.high is None:
        return value
    low, high = result.low * scale, result.high * scale
    if result.ci == CI_SEEDS:
        return f"{value} ± {(high - low) / 2:.{digits}f}"
    return f"{value} [{low:.{digits}f}, {high:.{digits}f}]"
