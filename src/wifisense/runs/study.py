"""Study: rows x seeds -> plan -> share finished parts between runs -> train -> evaluate -> typed results.

A task declares its rows (:class:`Row`: the table cell a result lands in, and the
:class:`PlannedRun` that produces it) and implements :class:`StudyTask` (train one run,
evaluate it into :class:`~wifisense.runs.results.Measurement` objects, say whether a
shareable part of a run folder is finished). Everything else lives here once:

- rows whose runs have the same name share one run (and must have the same config);
- every run is trained once per seed, in ``OUT/runs/<run name>/seed<k>/`` (a
  :class:`~wifisense.runs.rundir.RunDir`);
- parts (a caption stage, a pretrained autoencoder, an offline LM) that another run of the
  same seed finished with the same key are linked in before a run trains, so the task's
  trainer finds them finished and skips them;
- a run finished for its config is skipped, so an interrupted study resumes where it
  stopped; a study folder made with other settings is refused;
- ``OUT/results.csv`` / ``results.json`` are rewritten after every evaluated run, with the
  per-seed lines and the aggregate over seeds (mean, 95 % interval).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from wifisense.errors import ConfigError
from wifisense.runs.results import Measurement, Result, aggregate, write_results
from wifisense.runs.rundir import FINISHED, OTHER, TRAINED, RunDir, config_hash, share_tree

STUDY_FILE = "study.json"
RUNS_DIR = "runs"


@dataclass(frozen=True)
class Part:
    """A shareable piece of a run folder: ``name`` is its path in the folder.

    ``key`` says what it depends on (the study adds the seed). ``chain`` parts (training
    stages) are shared only as a leading run: once one cannot be shared, the later ones
    are trained. ``files`` are linked along with the part when it is shared.
    """

    name: str
    key: str
    chain: bool = True
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedRun:
    """One distinct configuration to train and evaluate; ``config`` fully determines it, bar the seed."""

    name: str
    config: dict
    parts: tuple[Part, ...] = ()


@dataclass(frozen=True)
class Row:
    """A table cell's source: ``study`` (table/design), ``name`` (row), ``setting`` (column), and its run."""

    study: str
    name: str
    setting: str
    run: PlannedRun


@dataclass
class StudyContext:
    """What a task's hooks get besides the run: the study folder, seed, settings and progress line."""

    out_dir: Path
    seed: int
    settings: dict
    progress: StudyProgress
    resources: dict = field(default_factory=dict)   # per-study objects a task wants to reuse (a METEOR process)


class StudyTask(Protocol):
    name: str

    def train(self, run: PlannedRun, run_dir: RunDir, context: StudyContext) -> None: ...

    def evaluate(self, run: PlannedRun, run_dir: RunDir, split: str, context: StudyContext) -> list[Measurement]: ...

    def part_finished(self, run_dir: RunDir, part: Part) -> bool: ...


class StudyProgress:
    """One line per step on stderr: ``[task study i/N | elapsed, about T left] message`` (silent when quiet)."""

    def __init__(self, label: str, total: int, quiet: bool = False):
        self.label, self.total, self.quiet = label, total, quiet
        self.started = time.perf_counter()
        self.done = 0
        self.worked: list[float] = []      # seconds of the runs that trained or evaluated (skips excluded)

    def left(self) -> str:
        if not self.worked:
            return ""
        per_run = sum(self.worked) / len(self.worked)
        return f", about {per_run * max(self.total - self.done, 0) / 60:.1f} min left"

    def say(self, message: str) -> None:
        if self.quiet:
            return
        elapsed = time.perf_counter() - self.started
        print(f"[{self.label} {self.done}/{self.total} | {elapsed / 60:.1f} min{self.left()}] {message}",
              file=sys.stderr, flush=True)


def run_dir_of(out_dir: Path, run: PlannedRun, seed: int) -> RunDir:
    return RunDir(out_dir / RUNS_DIR / run.name / f"seed{seed}")


class Study:
    """Rows x seeds of one task into one output folder (see the module docstring)."""

    def __init__(self, task: StudyTask, rows: Sequence[Row], seeds: Sequence[int], out_dir: str | os.PathLike,
                 settings: dict, *, label: str = "", split: str = "test", quiet: bool = False):
        if not seeds:
            raise ConfigError("a study needs at least one seed")
        self.task, self.rows, self.seeds = task, list(rows), [int(s) for s in dict.fromkeys(seeds)]
        self.out_dir, self.settings, self.split, self.quiet = Path(out_dir), dict(settings), split, quiet
        self.label = label or task.name
        self.runs = self._distinct_runs()

    def _distinct_runs(self) -> list[PlannedRun]:
        runs: dict[str, PlannedRun] = {}
        for row in self.rows:
            same = runs.setdefault(row.run.name, row.run)
            if config_hash(same.config) != config_hash(row.run.config):
                raise ConfigError(f"rows need two different runs under one name {row.run.name!r}")
        return list(runs.values())

    # ---- the folder

    def check_folder(self) -> None:
        """Refuse a folder whose runs were made with other settings; record ours."""
        from wifisense.io.atomic import atomic_write_text

        path = self.out_dir / STUDY_FILE
        if path.is_file():
            try:
                previous = json.loads(path.read_text()).get("settings")
            except (OSError, json.JSONDecodeError, AttributeError):
                previous = None
            if previous is not None and config_hash(previous) != config_hash(self.settings):
                changed = sorted(k for k in set(previous) | set(self.settings)
                                 if json.dumps(previous.get(k), sort_keys=True, default=str)
                                 != json.dumps(self.settings.get(k), sort_keys=True, default=str))
                raise ConfigError(f"{self.out_dir}: its runs were made with other settings "
                                  f"({', '.join(changed)}); use a new --out directory or the same settings")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"task": self.task.name, "settings": self.settings}, indent=1,
                                           sort_keys=True, default=str) + "\n")

    def run_config(self, run: PlannedRun, seed: int) -> dict:
        return {"run": run.config, "seed": seed, "settings": self.settings}

    # ---- sharing

    def _part_key(self, part: Part, seed: int) -> str:
        return config_hash({"part": part.key, "seed": seed})

    def share_parts(self, run: PlannedRun, run_dir: RunDir, seed: int) -> dict[str, str]:
        """Link in every part another run of this seed finished with the same key; returns {part: source run}."""
        shared: dict[str, str] = {}
        chain_open = True
        others = [(other, run_dir_of(self.out_dir, other, seed)) for other in self.runs if other.name != run.name]
        for part in run.parts:
            if not part.chain or chain_open:
                if (run_dir.path / part.name).exists():
                    if part.chain and not self.task.part_finished(run_dir, part):
                        chain_open = False      # the run's own unfinished stage: its trainer resumes it
                    continue
                key = self._part_key(part, seed)
                source = next((d for o, d in others
                               if d.parts.get(part.name) == key and self.task.part_finished(d, part)), None)
                if source is None:
                    chain_open = chain_open and not part.chain
                    continue
                for name in part.files:
                    if not (run_dir.path / name).exists() and (source.path / name).exists():
                        share_tree(source.path / name, run_dir.path / name)
                run_dir.link_part(part.name, source)
                shared[part.name] = source.path.parent.name
        return shared

    # ---- running

    def run(self, only: Sequence[str] | None = None) -> list[Result]:
        """Train and evaluate every run for every seed (skipping finished ones); returns every result line.

        ``only``: train just the runs of these names (e.g. to share a study's runs between
        processes or machines that write into one folder); the results still cover every
        row whose run is finished.
        """
        runs = self.runs
        if only is not None:
            names = [run.name for run in self.runs]
            unknown = sorted(set(only) - set(names))
            if unknown:
                raise ConfigError(f"no run named {', '.join(unknown)} in this study; its runs: {', '.join(names)}")
            runs = [run for run in self.runs if run.name in set(only)]
        self.check_folder()
        progress = StudyProgress(self.label, len(runs) * len(self.seeds), self.quiet)
        resources: dict = {}
        try:
            for seed in self.seeds:
                context = StudyContext(self.out_dir, seed, self.settings, progress, resources)
                for run in runs:
                    self._run_one(run, seed, context)
                    self.write()
        finally:
            for resource in resources.values():
                close = getattr(resource, "close", None)
                if close is not None:
                    close()
        progress.say(f"done: {self.out_dir / 'results.csv'}")
        return self.results()

    def _run_one(self, run: PlannedRun, seed: int, context: StudyContext) -> None:
        progress = context.progress
        run_dir = run_dir_of(self.out_dir, run, seed)
        config = self.run_config(run, seed)
        status = run_dir.status(config, self.split)
        progress.done += 1
        what = f"{run.name} seed {seed}"
        if status == OTHER:
            raise ConfigError(f"{run_dir.path}: holds a run of another configuration; use a new --out directory "
                              "or delete that run")
        if status == FINISHED:
            progress.say(f"{what}: finished earlier, skipped")
            return
        started = time.perf_counter()
        if status != TRAINED:
            run_dir.claim(config, {p.name: self._part_key(p, seed) for p in run.parts})
            shared = self.share_parts(run, run_dir, seed)
            note = f" (shared: {', '.join(f'{k} from {v}' for k, v in shared.items())})" if shared else ""
            progress.say(f"{what}: training{note} -> {run_dir.path}")
            self.task.train(run, run_dir, context)
            run_dir.mark_trained()
        else:
            progress.say(f"{what}: trained earlier, evaluating")
        measurements = self.task.evaluate(run, run_dir, self.split, context)
        run_dir.write_measurements(self.split, measurements)
        progress.worked.append(time.perf_counter() - started)
        shown = ", ".join(f"{m.metric} {m.value:.3f}" for m in [m for m in measurements if m.value is not None][:3])
        progress.say(f"{what}: {self.split} {shown}")

    # ---- results

    def results(self) -> list[Result]:
        """Per-seed lines of every row with a finished run, then the aggregates over seeds."""
        lines = []
        for row in self.rows:
            for seed in self.seeds:
                run_dir = run_dir_of(self.out_dir, row.run, seed)
                if run_dir.status(self.run_config(row.run, seed), self.split) != FINISHED:
                    continue
                for m in run_dir.measurements(self.split):
                    lines.append(Result.of(m, task=self.task.name, study=row.study, row=row.name,
                                           setting=row.setting, seed=seed, split=self.split))
        return lines + aggregate(lines)

    def write(self) -> list[Result]:
        results = self.results()
        write_results(self.out_dir, results)
        return results


def parse_seeds(text: str | int | Sequence[int] | None, default: int = 0) -> tuple[int, ...]:
    """``"0,1,2"``, ``"0-4"``, an int or a list -> distinct seeds in the order given."""
    if text is None:
        return (int(default),)
    if isinstance(text, int):
        return (text,)
    if not isinstance(text, str):
        return tuple(dict.fromkeys(int(s) for s in text))
    seeds: list[int] = []
    try:
        for item in filter(None, (p.strip() for p in text.split(","))):
            low, sep, high = item.partition("-")
            seeds += list(range(int(low), int(high) + 1)) if sep and low else [int(item)]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected comma-separated integers or ranges such as 0,1,2 or 0-4") \
            from None
    if not seeds:
        raise ConfigError("--seeds: no seed given")
    return tuple(dict.fromkeys(seeds))


def as_json(value: Any) -> Any:
    """``value`` with tuples turned into lists, so a config hashes the same before and after a JSON round trip."""
    return json.loads(json.dumps(value, default=str))
