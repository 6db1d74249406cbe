"""How the track models' errors change with the length of the recording they learn from.

For every simulator seed and recording length it simulates a recording (the default
simulator, as ``wifisense simulate trajectories --seed S --duration D``), pretrains one CSI
autoencoder on it, trains each method on both bands (random split of back-to-back 5-s windows,
8:1:1, the paper's protocol) and predicts the train, val and test windows again with the kept
weights. Each window's error is split into centroid (where the window is) and shape (how it
moves, ``metrics.localization.window_error_parts``). Prints, per length and method, the
errors on training windows and on held-out (val + test) windows and the test split's mean error,
averaged over training seeds per recording and then over simulator seeds with a 95 % t interval
over them, below the trivial reference row ``training-mean`` (every point at the mean training
position, on the windows each training seed's runs are scored on); writes
``OUT/learning_curve.json`` (every run's train / val / test / held-out figures) and
``OUT/learning_curve.png``. Runs of training seed 0 are ``OUT/s{S}_d{D}/{method}``, of
training seed K ``OUT/s{S}_d{D}/{method}_t{K}``.

Decide on development seeds (the default 100, 101); run the study's seeds (10-12) only to
confirm what was decided there (as ``docs/track_study.md`` did at 90 minutes). Resumable: finished runs are kept and
their measurements are cached in the JSON file.

    python benchmarks/track_learning_curve.py --durations 600,1800,5400 --out runs/track-lc
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse
import itertools
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from wifisense.metrics.intervals import seed_interval_or_value as interval

PARTS = ("mean_m", "centroid_m", "shape_m")
REFERENCE = "training-mean"   # the trivial reference row: every point at the training windows' mean position


def run_name(method: str, train_seed: int) -> str:
    """Training seed 0 keeps the plain method name (the layout of the first studies)."""
    return method if train_seed == 0 else f"{method}_t{train_seed}"


def per_recording(runs: list[dict]) -> dict:
    """The mean over one recording's training seeds of every split's figures."""
    return {split: {key: float(np.mean([r[split][key] for r in runs])) for key in runs[0][split]}
            for split in runs[0] if split != "stamp"}


def cell(found: tuple[float, float | None, float | None]) -> str:
    value, low, high = found
    return f"{value:.3f}" + (f" [{low:.3f}, {high:.3f}]" if low is not None else "")


def plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, part in zip(axes, ("centroid_m", "shape_m")):
        for k, (method, by_duration) in enumerate(sorted(curves.items())):
            durations = sorted(by_duration)
            colour = f"C{k}"
            for split, style, face in (("held_out", "-", colour), ("train", "--", "none")):
                values = [by_duration[d][split][part][0] for d in durations]   # mean over seeds
                ax.plot([d / 60 for d in durations], values, style, marker="o", color=colour, markerfacecolor=face,
                        label=f"{method}, {'held-out' if split == 'held_out' else 'training'} windows")
        ax.set_xscale("log")
        minutes = sorted({d / 60 for by_duration in curves.values() for d in by_duration})
        ax.set_xticks(minutes, [f"{m:g}" for m in minutes])
        ax.minorticks_off()
        ax.set_xlabel("recording length (min)")
        ax.set_title(f"{part[:-2]} error per window")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("metres")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sim-seeds", default="100,101", help="simulator seeds (default: %(default)s)")
    parser.add_argument("--durations", default="600,1800,5400", help="recording lengths in seconds "
                        "(default: %(default)s)")
    parser.add_argument("--methods", default="linear-int,rnn-decay,ndf", help="methods, each on both bands "
                        "(default: %(default)s)")
    parser.add_argument("--preset", default="tiny", help="track model preset (default: %(default)s)")
    parser.add_argument("--train-seeds", default="0", help="training seeds of every model, averaged per "
                        "recording (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=60, help="epochs of every model (default: %(default)s)")
    parser.add_argument("--out", default="runs/track-learning-curve", help="output folder (default: %(default)s)")
    parser.add_argument("--finished-only", action="store_true",
                        help="simulate and train nothing: measure and tabulate the runs that have finished")
    args = parser.parse_args(argv)

    import torch

    from wifisense.io.atomic import atomic_write_text, writer_lock
    from wifisense.io.store import write_multiband_store
    from wifisense.runs import parse_seeds
    from wifisense.sim.trajectories import simulate_trajectories, trajectory_config
    from wifisense.track.evaluate import split_error_summary, training_mean_error_summary
    from wifisense.track.train import find_cae, pretrain_cae, train_model
    from wifisense.training.checkpoint import finished_summary

    torch.set_num_threads(1)
    sim_seeds = parse_seeds(args.sim_seeds)
    train_seeds = parse_seeds(args.train_seeds)
    durations = [float(d) for d in args.durations.split(",") if d.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache_path = out / "learning_curve.json"
    cache = json.loads(cache_path.read_text()).get("runs", {}) if cache_path.is_file() else {}
    started = time.perf_counter()
    for sim in sim_seeds:
        for duration in durations:
            folder = out / f"s{sim}_d{duration:g}"
            store = folder / "store.h5"
            if not args.finished_only and not store.is_file():
                folder.mkdir(parents=True, exist_ok=True)
                write_multiband_store(store, simulate_trajectories(
                    trajectory_config("default", [f"duration_s={duration}"]), seed=sim, progress=False))
            for method, train_seed in itertools.product(methods, train_seeds):
                run = folder / run_name(method, train_seed)
                if args.finished_only:
                    if finished_summary(run) is None:
                        continue
                else:
                    # one CAE per recording, shared by its runs (a run that pretrained its own keeps it)
                    if find_cae(run) is None:
                        pretrain_cae(store, folder, preset=args.preset, device="cpu", quiet=True)
                    print(f"[lc {(time.perf_counter() - started) / 60:.0f} min] seed {sim}, {duration:g} s, "
                          f"{method}, training seed {train_seed}", file=sys.stderr, flush=True)
                    train_model(store, method, bands=("csi", "snr"), run_dir=run, preset=args.preset,
                                epochs=args.epochs, seed=train_seed, device="cpu", quiet=True)
                key = run.relative_to(out).as_posix()
                stamp = (run / "model.safetensors").stat().st_mtime
                if cache.get(key, {}).get("stamp") != stamp:
                    cache[key] = {"stamp": stamp, **split_error_summary(run, device="cpu")}
            # the reference row on the windows each training seed's runs are scored on (the seed draws the split)
            stamp = store.stat().st_mtime if store.is_file() else None
            for train_seed in train_seeds:
                key = f"{folder.name}/{run_name(REFERENCE, train_seed)}"
                if stamp is not None and cache.get(key, {}).get("stamp") != stamp:
                    cache[key] = {"stamp": stamp, **training_mean_error_summary(store, seed=train_seed)}

    # method -> duration -> split -> part -> (value, low, high) over simulator seeds
    curves: dict[str, dict[float, dict[str, dict[str, tuple]]]] = {}
    rows = []
    for method in [REFERENCE, *methods]:
        for duration in durations:
            found = []
            for sim in sim_seeds:
                runs = [cache[key] for key in (f"s{sim}_d{duration:g}/{run_name(method, k)}" for k in train_seeds)
                        if key in cache]
                if runs:
                    found.append(per_recording(runs))
            if not found:
                continue
            entry = {split: {part: interval([f[split][part] for f in found]) for part in PARTS}
                     for split in ("train", "held_out", "test")}
            if method != REFERENCE:
                curves.setdefault(method, {})[duration] = entry
            rows.append({"method": method, "duration_s": duration,
                         "train_windows": [f["train"]["windows"] for f in found],
                         "held_out_windows": [f["held_out"]["windows"] for f in found], **entry})
    print(f"\nTrack learning curve over recording length, both bands, simulator seeds {list(sim_seeds)}, training "
          f"seeds {list(train_seeds)} (averaged per recording), preset {args.preset}, {args.epochs} epochs; metres "
          f"[95 % t interval over simulator seeds]")
    print(f"  {'method':13} {'minutes':>7} {'train windows':>13}  {'train centroid':>22} {'held-out centroid':>22} "
          f"{'train shape':>22} {'held-out shape':>22} {'held-out mean':>22} {'test mean':>22}")
    for r in rows:
        print(f"  {r['method']:13} {r['duration_s'] / 60:7.0f} {int(np.mean(r['train_windows'])):13d}  "
              f"{cell(r['train']['centroid_m']):>22} {cell(r['held_out']['centroid_m']):>22} "
              f"{cell(r['train']['shape_m']):>22} {cell(r['held_out']['shape_m']):>22} "
              f"{cell(r['held_out']['mean_m']):>22} {cell(r['test']['mean_m']):>22}")
    plot(curves, out / "learning_curve.png")
    with writer_lock(cache_path):
        # another process (say, one per simulator seed into the same --out) may have measured runs
        # since this one read the file: keep those too, and the newer measurement of a run both have
        on_disk = json.loads(cache_path.read_text()).get("runs", {}) if cache_path.is_file() else {}
        for key, entry in on_disk.items():
            if key not in cache or (entry.get("stamp") or 0) > (cache[key].get("stamp") or 0):
                cache[key] = entry
        result = {"benchmark": "track_learning_curve", "machine": platform.processor() or platform.machine(),
                  "args": vars(args), "rows": rows, "runs": dict(sorted(cache.items())),
                  "wall_s": round(time.perf_counter() - started, 1)}
        atomic_write_text(cache_path, json.dumps(result, indent=1) + "\n")
    print(f"wrote {cache_path} and {out / 'learning_curve.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
