"""``wifisense demo``: the main job on the embedded default — simulate, train and evaluate both systems, write the report.

Parts, in order: (1) simulate the actions and trajectories datasets, (2) caption: the full
WiFi2Cap pipeline vs the CSI->LM baseline vs the no-CSI reference (``caption.ablate``), (3) track:
the Table I analogue, NDF and the baselines on each band and both (``track.compare``),
(4) the report (``report.html``, ``report.md``). Everything lands in ``--out``; a run is
fully determined by its seed, and an interrupted demo resumes (finished runs are not
retrained). How long it takes is set in one place: ``BUDGETS`` below.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wifisense.machine import cpu_model as _cpu_model

# ----------------------------------------------------------------------------- budget knobs
# Everything that sets the demo's size and duration. "full" must finish in <= 15 minutes on
# the 2-core CPU reference machine, "quick" in <= ~2.5 minutes (it backs the end-to-end
# test). ``expected_s`` is the measured wall time of each part there; it only feeds the
# "about N left" estimate.

# Torch intra-op threads for the whole demo. One thread: the demo's models are small, so a
# second thread gains little on an idle machine, while on a busy one (more runnable
# processes than cores) OpenMP's spinning threads made the caption LM pretraining 4x
# slower (7.5 s vs 31.9 s for 20 steps here). A fixed count also keeps the floating-point
# reduction order, and so the numbers, the same on machines with other core counts.
# None = torch's default (one thread per core).
TORCH_THREADS: int | None = 1


@dataclass(frozen=True)
class DemoBudget:
    """The size of the data and of the training of one demo mode."""

    actions: dict[str, Any]          # ActionConfig overrides (on ActionConfig() / ActionConfig.quick())
    trajectories: dict[str, Any]     # TrajectoryConfig overrides
    caption: dict[str, Any]          # keyword arguments of caption.ablate.run_ablation
    track: dict[str, Any]            # keyword arguments of track.compare.run_compare
    expected_s: dict[str, float] = field(default_factory=dict)


BUDGETS = {
    "full": DemoBudget(
        # the simulator's default data set: 24 classes x 40 clips of 5 s at one position, 50 Hz,
        # split 20/10/10 per class (issue 12: the person's position hides the side of a movement)
        actions={},
        # twenty minutes of driving: 240 back-to-back 5-s windows, 24 of them held out for test
        trajectories={"duration_s": 1200.0},
        # 480 training clips: 15 steps per epoch. On validation (sim seed 101): s1's matching
        # accuracy is 0.95 after 300 steps (0.97 after 450), s2-2's levels off near 300 steps,
        # s3's validation loss by about 1,000 steps (it trains on a frozen embedding table), and
        # the CSI->LM baseline's, training its student and prefix together, by about 600 steps.
        # Those budgets (s1 20, s2-1 10, s2-2 20, s3 70, CSI->LM 40 epochs) took the demo
        # from 13:22 to 15:41 on different days of the 2-core machine (issue 11), over its 15
        # minutes on a slow day. The two processes already end within a minute of each other,
        # so only less work shortens it: every stage trains 15 % fewer epochs, the baseline
        # still more student steps (510) than the full pipeline (135 + 255). Every
        # stage stops before its validation loss levels off, the baseline as the full
        # pipeline. The no-CSI reference (one constant input: it learns the language prior)
        # gave identical validation captions after 20 and 70 epochs (BLEU-4 0.2283, direction
        # 0.450 both; val loss 0.4497 vs 0.4479; sim seed 101), so it trains as long as s1.
        # (At a fifth fewer epochs everywhere the demo took 12:04; 15 % fewer spends about half
        # a minute more of the margin.)
        caption={"preset": "tiny", "epochs": {"s1": 17, "s2-1": 9, "s2-2": 17, "s3": 60, "csi-lm": 34,
                                              "no-csi": 17},
                 "max_steps": None, "batch_size": 32},
        # 34 epochs of 13 steps for every Table I model (15 % fewer than the 40 before, as the
        # caption stages). NDF leaves its mean-position plateau after ~100 steps and was
        # still improving at 1,000 (issue 11): 20 epochs of back-to-back windows (240 steps)
        # left it near the plateau on some seeds.
        track={"preset": "tiny", "epochs": 34, "cae_epochs": 5},
        # measured in the full demo of seed 0 on an idle machine (issue 11, session 16): 12:21
        # in all (track: the track part alone; the caption part ends when the second process's
        # no-CSI and probe rows are done)
        expected_s={"simulate": 70.0, "caption": 664.0, "track": 613.0},
    ),
    "quick": DemoBudget(
        actions={"quick": True},                      # every class once, 2-s clips at 50 Hz
        trajectories={"duration_s": 60.0},
        caption={"preset": "tiny", "epochs": 1, "max_steps": 3, "batch_size": 32,
                 "overrides": {"offline_lm.steps": 20}},   # the caption LM pretraining is the slow part
        track={"preset": "tiny", "epochs": 1, "cae_epochs": 1},
        expected_s={"simulate": 3.0, "caption": 37.0, "track": 14.0},
    ),
}

PARTS = ("simulate", "caption", "track", "report")
# The full pipeline, the CSI->LM baseline and the "no CSI" and probe references; the mirror-mode rows
# are a longer study (`wifisense caption ablate --designs main`).
CAPTION_DESIGNS = ("core",)
# With --jobs 2 the second process trains these caption runs after the track part. Measured
# on the idle 2-core machine (seed 0, issue 11, session 16): full 6:10, baseline 3:36, then
# no CSI 0:35 and the probe 0:10 after the 10:13 track part (they share the full run's input
# normalisation and LM), so the two processes end within a minute of each other. Same
# numbers either way: each run is seeded on its own.
SECOND_PROCESS_CAPTION_RUNS = ("no-csi", "probe")
CAPTION_RUN_NAMES = ("full", "baseline", "no-csi", "probe")   # the runs of CAPTION_DESIGNS (a test checks)
TRACK_TABLES = ("I",)


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="run the main job on simulated data (the README's first command)",
        description="Simulate an actions dataset and a trajectories dataset, train and evaluate the caption "
        "system (full pipeline vs CSI->LM baseline vs no CSI) and the track system (NDF and baselines, "
        "Table I), and write OUT/report.html (self-contained) and OUT/report.md. Same seed, same numbers. "
        "An interrupted demo resumes: finished runs in OUT are not retrained.")
    p.add_argument("--out", default="wifisense-demo", metavar="DIR", help="output directory (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="a much smaller version (tiny data, a few steps; about 2 minutes), for tests")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="2 trains the caption and track parts side by side in two processes (each on "
                   "one torch thread), 1 one after the other; same numbers either way (default: 2 when "
                   "the machine has at least two cores, else 1)")
    p.add_argument("--overwrite", action="store_true",
                   help="start over: delete the datasets, runs and report of an earlier demo in --out")
    p.set_defaults(func=run)


# ----------------------------------------------------------------------------- progress

class DemoProgress:
    """Prints ``[demo i/N] part: message (elapsed, about T left)`` lines to stderr.

    Time left = the expected time of the parts still to come, with a running part's
    expectation reduced by what it has already used; parts in ``parallel`` run side by side,
    so only the longest of them counts. Expectations are scaled by how fast the finished
    parts ran compared with theirs (a slower machine gets longer estimates).
    """

    def __init__(self, expected_s: dict[str, float], quiet: bool = False, parallel: tuple[str, ...] = ()):
        self.expected = {part: float(expected_s.get(part, 5.0)) for part in PARTS}
        self.quiet = quiet
        self.parallel = tuple(parallel)
        self.start = time.perf_counter()
        self.finished: dict[str, float] = {}
        self.running: dict[str, float] = {}      # part -> its start time
        self.last: str | None = None             # the part begun last (names lines without a part)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def _speed(self) -> float:
        if not self.finished:
            return 1.0
        expected = sum(self.expected[p] for p in self.finished)
        return min(max(sum(self.finished.values()) / max(expected, 1e-6), 0.25), 4.0)

    def time_left(self) -> float:
        now = time.perf_counter()

        def left(part: str) -> float:
            used = now - self.running[part] if part in self.running else 0.0
            return max(self.expected[part] - used, 0.0)

        todo = [p for p in PARTS if p not in self.finished]
        side_by_side = [left(p) for p in todo if p in self.parallel]
        total = sum(left(p) for p in todo if p not in self.parallel) + max(side_by_side, default=0.0)
        return total * self._speed()

    def say(self, message: str, part: str | None = None) -> None:
        if self.quiet:
            return
        part = part or self.last or "demo"
        index = PARTS.index(part) + 1 if part in PARTS else 0
        where = f"[demo {index}/{len(PARTS)}] {part}" if index else "[demo]"
        print(f"{where}: {message} (elapsed {_clock(self.elapsed())}, about {_clock(self.time_left())} left)",
              file=sys.stderr, flush=True)

    def begin(self, part: str, message: str) -> None:
        self.running[part] = time.perf_counter()
        self.last = part
        self.say(message, part)

    def end(self, part: str, status: str, seconds: float | None = None) -> float:
        """Mark ``part`` done; ``seconds`` is its own wall time when measured elsewhere (a second process)."""
        started = self.running.pop(part, self.start)
        seconds = time.perf_counter() - started if seconds is None else seconds
        self.finished[part] = seconds
        self.say(f"{status} in {_clock(seconds)}", part)
        if self.last == part:
            self.last = None
        return seconds


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


# ----------------------------------------------------------------------------- machine and settings

def machine_info() -> dict[str, Any]:
    """Platform, CPU, memory and library versions, for the report's "settings & machine"."""
    import numpy
    import torch

    from wifisense.version import __version__

    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu": _cpu_model(), "cpu_count": os.cpu_count(),
                            "torch_threads": torch.get_num_threads()}
    memory = _memory_gib()
    if memory is not None:
        info["memory_gib"] = memory
    info["accelerator"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU)"
    info.update({"torch": torch.__version__, "numpy": numpy.__version__, "wifisense": __version__})
    return info


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError):
        pass
    return None


def demo_settings(budget: DemoBudget, seed: int, quick: bool) -> dict[str, Any]:
    """What determines the demo's numbers (compared when resuming into an existing --out)."""
    return {"seed": seed, "quick": quick,
            "actions": dict(budget.actions), "trajectories": dict(budget.trajectories),
            "caption": {"designs": list(CAPTION_DESIGNS), **budget.caption},
            "track": {"tables": list(TRACK_TABLES), **budget.track}}


# ----------------------------------------------------------------------------- parts

def _action_config(budget: DemoBudget):
    from wifisense.sim.actions import ActionConfig

    overrides = dict(budget.actions)
    base = ActionConfig.quick() if overrides.pop("quick", False) else ActionConfig()
    return dataclasses.replace(base, **overrides)


def _trajectory_config(budget: DemoBudget):
    from wifisense.sim.trajectories import TrajectoryConfig

    return dataclasses.replace(TrajectoryConfig(), **budget.trajectories)


def simulate_datasets(out: Path, budget: DemoBudget, seed: int, progress: DemoProgress) -> dict[str, dict]:
    """Write OUT/actions.h5 and OUT/trajectories.h5 (kept when already there and valid); return their facts."""
    from wifisense.io.store import write_caption_store, write_multiband_store
    from wifisense.io.validate import validate_store
    from wifisense.sim.actions import default_sim_jobs, simulate_actions
    from wifisense.sim.trajectories import simulate_trajectories

    action_cfg, trajectory_cfg = _action_config(budget), _trajectory_config(budget)
    jobs = {"actions": (lambda: simulate_actions(action_cfg, seed=seed, progress=not progress.quiet,
                                                 jobs=default_sim_jobs()),
                        write_caption_store),
            "trajectories": (lambda: simulate_trajectories(trajectory_cfg, seed=seed, progress=not progress.quiet),
                             write_multiband_store)}
    facts = {}
    for name, (simulate, write) in jobs.items():
        path = out / f"{name}.h5"
        if path.is_file() and not validate_store(path):
            progress.say(f"{path.name} is already there (same settings): kept")
        else:
            progress.say(f"simulating {name}")
            dataset = simulate()
            write(path, dataset, overwrite=True)
            problems = validate_store(path)
            if problems:
                raise RuntimeError(f"{path}: the simulated store is not valid: "
                                   + "; ".join(f"{p.field}: {p.reason}" for p in problems[:3]))
        facts[name] = {"path": path.name, "bytes": path.stat().st_size, **_store_facts(path, name)}
    return facts


def _store_facts(path: Path, kind: str) -> dict[str, Any]:
    """Sizes read back from the store, so resumed and fresh demos report the same facts."""
    from wifisense.io.store import open_store

    with open_store(path) as f:
        splits = {name: int(f["splits"][name].shape[0]) for name in f["splits"]} if "splits" in f else {}
        if kind == "actions":
            facts = {"clips": int(f["csi"].shape[0]), "classes": int(f["meta/class_names"].shape[0]),
                     "clip_seconds": float(f["meta"].attrs["clip_seconds"]),
                     "sample_rate_hz": float(f["meta"].attrs["sample_rate_hz"])}
        else:
            pose_t = f["pose/t"][()]
            facts = {"duration_s": round(float(pose_t[-1] - pose_t[0]), 1), "csi_frames": int(f["csi/t"].shape[0]),
                     "snr_frames": int(f["snr/t"].shape[0])}
    if splits:
        facts["splits"] = "/".join(f"{k} {v}" for k, v in splits.items())
    return facts


def run_caption_part(out: Path, budget: DemoBudget, seed: int, quiet: bool, only=None, wait=None) -> list:
    """Train the caption runs (``only``: just these, then ``wait()`` for the others to finish
    elsewhere) and write the caption tables over every run."""
    from wifisense.caption.ablate import run_ablation

    def ablate(runs=None) -> list:
        return run_ablation(out / "actions.h5", out / "caption", designs=CAPTION_DESIGNS, seed=seed, quiet=quiet,
                            only=runs, **budget.caption)

    if only is None:
        return ablate()
    ablate(only)
    if wait is not None:
        wait()
    return ablate()  # every run finished: nothing trains, the tables cover all rows


def run_track_part(out: Path, budget: DemoBudget, seed: int, quiet: bool) -> dict:
    from wifisense.track.compare import run_compare

    return run_compare(out / "trajectories.h5", out / "track", tables=TRACK_TABLES, seed=seed, quiet=quiet,
                       **budget.track)


def _end_with_parent(period_s: float = 2.0) -> None:
    """End this worker when the demo that started it is gone (killed with SIGTERM or -9, which
    a process pool cannot pass on): a watcher thread sees the parent change and exits, so no
    orphan keeps training into a folder nobody reads. One watcher per process."""
    import os
    import threading

    if any(t.name == "end-with-parent" for t in threading.enumerate()):
        return
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(period_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def track_part_process(out: str, quick: bool, seed: int, quiet: bool) -> float:
    """The track part in a process of its own (``--jobs 2``): same thread count, same numbers;
    returns its wall time (the parent only learns it is done after its own caption part)."""
    import torch

    started = time.perf_counter()
    _end_with_parent()
    if TORCH_THREADS is not None:
        torch.set_num_threads(TORCH_THREADS)
    run_track_part(Path(out), BUDGETS["quick" if quick else "full"], seed, quiet)
    return time.perf_counter() - started


def caption_runs_process(out: str, quick: bool, seed: int, quiet: bool, runs: tuple[str, ...]) -> None:
    """Caption runs trained in the second process (``SECOND_PROCESS_CAPTION_RUNS``)."""
    import torch

    _end_with_parent()
    if TORCH_THREADS is not None:
        torch.set_num_threads(TORCH_THREADS)
    from wifisense.caption.ablate import run_ablation

    budget = BUDGETS["quick" if quick else "full"]
    run_ablation(Path(out) / "actions.h5", Path(out) / "caption", designs=CAPTION_DESIGNS, seed=seed, quiet=quiet,
                 only=list(runs), **budget.caption)


# ----------------------------------------------------------------------------- the output folder

OWNED_PATHS = ("actions.h5", "trajectories.h5", "caption", "track", "summary.json", "report.html", "report.md",
               "report_files")


def prepare_out_dir(out: Path, settings: dict, overwrite: bool) -> bool:
    """Create ``out``; with an earlier demo in it, resume when its settings match (True), else refuse or wipe."""
    from wifisense.errors import ConfigError

    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "summary.json"
    if not summary_path.is_file():
        return False
    try:
        previous = json.loads(summary_path.read_text()).get("settings")
    except (OSError, json.JSONDecodeError, AttributeError):
        previous = None
    if previous == settings and not overwrite:
        return True
    if not overwrite:
        raise ConfigError(f"{out}: holds a demo with other settings (seed, --quick or budget); use another --out "
                          "or add --overwrite to delete it and start over")
    for name in OWNED_PATHS:  # only what the demo writes; anything else in the folder stays
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    return False


def _write_summary(out: Path, summary: dict) -> None:
    from wifisense.io.atomic import atomic_write_text

    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")


def _failure_reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# ----------------------------------------------------------------------------- the command

def run_demo(out: str | os.PathLike, seed: int = 0, quick: bool = False, overwrite: bool = False,
             quiet: bool = False, debug: bool = False, jobs: int | None = None) -> dict:
    """Run every part into ``out`` and write the report; returns the summary (``summary["ok"]`` is False when a part failed)."""
    import torch

    threads = torch.get_num_threads()
    if TORCH_THREADS is not None:
        torch.set_num_threads(TORCH_THREADS)
    try:
        return _run_parts(Path(out), seed, quick, overwrite, quiet, debug, default_jobs() if jobs is None else jobs)
    finally:  # the caller's process (a notebook, a test session) gets its own setting back
        torch.set_num_threads(threads)


def default_jobs() -> int:
    """2 (caption and track side by side) on a machine with at least two cores, else 1."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def _run_parts(out: Path, seed: int, quick: bool, overwrite: bool, quiet: bool, debug: bool, jobs: int) -> dict:
    from wifisense.version import __version__
    from wifisense.demo_report import build_report

    budget = BUDGETS["quick" if quick else "full"]
    settings = demo_settings(budget, seed, quick)
    resumed = prepare_out_dir(out, settings, overwrite)
    if jobs < 1:
        from wifisense.errors import ConfigError

        raise ConfigError(f"--jobs must be 1 or more, got {jobs}")
    progress = DemoProgress(budget.expected_s, quiet=quiet, parallel=("caption", "track") if jobs >= 2 else ())
    progress.say(f"{'resuming' if resumed else 'writing'} {'quick ' if quick else ''}demo into {out.resolve()}, "
                 f"seed {seed}")
    summary: dict[str, Any] = {
        "seed": seed, "quick": quick, "version": __version__,
        "command": "wifisense demo" + (" --quick" if quick else "") + f" --seed {seed}",
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "settings": settings, "machine": machine_info(), "datasets": {},
        "parts": {part: {"status": "pending"} for part in PARTS[:-1]}}
    _write_summary(out, summary)

    def attempt(part: str, message: str, work, begun: bool = False, measured: bool = False) -> Any:
        """Run one part; ``begun``: its progress line was printed at its start; ``measured``: ``work``
        returns the part's own wall time (it ran in another process)."""
        if not begun:
            progress.begin(part, message)
        summary["parts"][part] = {"status": "running"}
        _write_summary(out, summary)
        try:
            result, status, reason = work(), "ok", None
        except ImportError as error:  # a part whose module is not installed is skipped, not fatal
            result, status, reason = None, "skipped", _failure_reason(error)
        except Exception as error:  # noqa: BLE001 -- one failed part must not hide the others' results
            result, status, reason = None, "failed", _failure_reason(error)
            if debug:
                traceback.print_exc()
            print(f"[demo] {part} failed: {reason}" + ("" if debug else " (--debug shows the traceback)"),
                  file=sys.stderr, flush=True)
        seconds = progress.end(part, status, result if measured and status == "ok" else None)
        summary["parts"][part] = {"status": status, "wall_s": round(seconds, 1),
                                  **({"reason": reason} if reason else {})}
        _write_summary(out, summary)
        return result

    datasets = attempt("simulate", "simulating the actions and trajectories datasets",
                       lambda: simulate_datasets(out, budget, seed, progress))
    if datasets is None:
        for part in ("caption", "track"):
            summary["parts"][part] = {"status": "skipped", "reason": "the datasets could not be simulated"}
    else:
        summary["datasets"] = datasets
        caption_message = "training and evaluating the caption models (full, CSI->LM baseline, no CSI)"
        track_message = "training and evaluating the Table I track models"
        if jobs >= 2:
            # Why a process pool: the two parts share nothing but the folder, and each trains on one
            # torch thread, so a second core halves the demo's wall time; a process (not a thread)
            # because both are Python-heavy training loops.
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                progress.begin("track", track_message + " (in a second process)")
                summary["parts"]["track"] = {"status": "running"}
                track = pool.submit(track_part_process, str(out), quick, seed, quiet)
                # one worker: these caption runs start when the track part is done
                second = pool.submit(caption_runs_process, str(out), quick, seed, quiet, SECOND_PROCESS_CAPTION_RUNS)
                here = [name for name in CAPTION_RUN_NAMES if name not in SECOND_PROCESS_CAPTION_RUNS]
                attempt("caption", caption_message,
                        lambda: run_caption_part(out, budget, seed, quiet, only=here, wait=second.result))
                attempt("track", track_message, track.result, begun=True, measured=True)
        else:
            attempt("caption", caption_message, lambda: run_caption_part(out, budget, seed, quiet))
            attempt("track", track_message, lambda: run_track_part(out, budget, seed, quiet))
    summary["wall_s"] = round(progress.elapsed(), 1)
    summary["ok"] = all(p.get("status") == "ok" for p in summary["parts"].values())
    # the summary is final before the report is built, so `wifisense report OUT` rebuilds the same files
    _write_summary(out, summary)
    progress.begin("report", "writing report.html and report.md")
    html_path, md_path = build_report(out)
    progress.end("report", "done")
    if not quiet:
        print(f"[demo] report: {html_path.resolve()}\n[demo]         {md_path.resolve()}", flush=True)
    return summary


def run(args) -> int:
    summary = run_demo(args.out, seed=args.seed, quick=args.quick, overwrite=args.overwrite,
                       quiet=getattr(args, "quiet", False), debug=getattr(args, "debug", False),
                       jobs=getattr(args, "jobs", None))
    if not summary["ok"]:
        failed = [f"{name} ({p['status']}: {p.get('reason', '')})" for name, p in summary["parts"].items()
                  if p.get("status") != "ok"]
        print(f"wifisense demo: not every part ran: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0
