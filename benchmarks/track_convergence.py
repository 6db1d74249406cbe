"""Did every trained track model converge? Validation learning curves of a study's runs, in one figure.

Reads every run folder below the given folders (``benchmarks/track_study.py`` and
``benchmarks/track_learning_curve.py`` outputs, or single ``track train`` runs): each run's
``metrics.csv`` as the shared Trainer writes it, the validation error in metres per epoch
(``val_error_m``). Prints, per table and row, how many runs, how far the validation error moves
over the last 10 % of training (flat = converged: OneCycle ends near a zero learning rate) and
where the kept (lowest-validation) weights come from, as a fraction of the way through; writes
``OUT.json`` (every run's figures) and ``OUT.png`` (one panel per row, one curve per run, a dot at
the kept epoch).

    python benchmarks/track_convergence.py runs/track-study --out runs/track-study/convergence
    python benchmarks/track_convergence.py study_a study_b --tail 0.1 --out convergence
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import re
import sys
from pathlib import Path

import numpy as np

MONITOR = "val_error_m"


def read_curve(metrics_csv: Path) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, validation error) of one run, in epoch order.

    The shared logger already drops a crashed run's rows after its resume point, so an epoch
    normally appears once; a log that repeats one (written by other tools) keeps its last value.
    """
    by_epoch: dict[float, float] = {}
    with open(metrics_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            value = row.get(MONITOR)
            if value not in (None, ""):
                by_epoch[float(row["epoch"])] = float(value)
    epochs = np.array(sorted(by_epoch))
    return epochs, np.array([by_epoch[e] for e in epochs])


def convergence(epochs: np.ndarray, values: np.ndarray, tail: float) -> dict:
    """How far the curve moves over its last ``tail`` of training, and where its minimum is."""
    last = values[epochs >= (1 - tail) * epochs.max()]
    kept = int(np.argmin(values))
    return {"epochs": int(epochs.max()), "tail_move_m": float(last.max() - last.min()),
            "kept_fraction": float(epochs[kept] / epochs.max()), "kept_m": float(values[kept]),
            "first_m": float(values[0])}


RECORDING_OR_SEED = re.compile(r"^(runs|sim\d+|seed\d+|s\d+_d\d+)$")   # track_study / track_learning_curve folders


def run_label(run: Path, root: Path) -> tuple[str, str]:
    """(group, run name): the group is the run's path without its recording and seed folders,
    e.g. ``IV/ndf_temporal0.8`` for ``sim10/runs/IV/ndf_temporal0.8/seed2`` and ``ndf`` for
    ``s10_d1800/ndf_t2`` (a ``track_learning_curve.py`` run of training seed 2)."""
    parts = run.relative_to(root).parts
    kept = [re.sub(r"_t\d+$", "", p) for p in parts if not RECORDING_OR_SEED.match(p)]
    return "/".join(kept) or run.name, "/".join(parts)


def find_runs(roots: list[Path]) -> list[dict]:
    runs = []
    for root in roots:
        for metrics_csv in sorted(root.rglob("metrics.csv")):
            epochs, values = read_curve(metrics_csv)
            if len(values) < 2:
                continue
            group, name = run_label(metrics_csv.parent, root)
            runs.append({"root": str(root), "run": name, "group": group, "epochs_v": epochs, "values": values})
    return runs


def plot(runs: list[dict], groups: list[str], path: Path, tail: float, dpi: int) -> None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")

    cols = min(4, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig = Figure(figsize=(3.4 * cols, 2.6 * rows + 0.4))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, group in zip(axes.ravel(), groups):
        members = [r for r in runs if r["group"] == group]
        for k, run in enumerate(members):
            x = run["epochs_v"] / run["epochs_v"].max()
            ax.plot(x, run["values"], color=f"C{k % 10}", linewidth=0.9, alpha=0.8)
            best = int(np.argmin(run["values"]))
            ax.plot(x[best], run["values"][best], "o", color=f"C{k % 10}", markersize=3)
        ax.axvspan(1 - tail, 1, color="0.85", zorder=0)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{group} ({len(members)} run{'s' if len(members) > 1 else ''})", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("fraction of training", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("validation error (m)", fontsize=8)
    for ax in axes.ravel()[len(groups):]:
        ax.set_visible(False)
    fig.suptitle(f"Validation learning curves (dot: kept weights; grey: last {tail:.0%} of training)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="study or run folders to search for runs' metrics.csv")
    parser.add_argument("--out", required=True, help="writes OUT.json and OUT.png")
    parser.add_argument("--tail", type=float, default=0.1,
                        help="the final share of training whose movement is reported (default: %(default)s)")
    parser.add_argument("--dpi", type=int, default=110, help="the figure's resolution (default: %(default)s)")
    args = parser.parse_args(argv)
    if not 0 < args.tail < 1:
        parser.error(f"--tail {args.tail}: expected a share between 0 and 1")
    roots = [Path(f) for f in args.folders]
    for root in roots:
        if not root.is_dir():
            print(f"error: {root}: no such folder", file=sys.stderr)
            return 2
    runs = find_runs(roots)
    if not runs:
        print(f"error: no run with a '{MONITOR}' column in its metrics.csv below {', '.join(map(str, roots))}",
              file=sys.stderr)
        return 2
    for run in runs:
        run.update(convergence(run["epochs_v"], run["values"], args.tail))
    groups = sorted({r["group"] for r in runs})
    print(f"{len(runs)} runs below {', '.join(map(str, roots))}; validation error (m): move over the last "
          f"{args.tail:.0%} of training, and where the kept weights come from (share of training)")
    print(f"  {'row':34} {'runs':>4} {'epochs':>7} {'max move':>9} {'kept at':>11} {'kept error':>15}")
    table = []
    for group in groups:
        members = [r for r in runs if r["group"] == group]
        entry = {"group": group, "runs": len(members),
                 "epochs": sorted({r["epochs"] for r in members}),
                 "max_tail_move_m": max(r["tail_move_m"] for r in members),
                 "kept_fraction": [min(r["kept_fraction"] for r in members), max(r["kept_fraction"] for r in members)],
                 "kept_m": [min(r["kept_m"] for r in members), max(r["kept_m"] for r in members)]}
        table.append(entry)
        epochs = "/".join(str(e) for e in entry["epochs"])
        print(f"  {group:34} {entry['runs']:>4} {epochs:>7} {entry['max_tail_move_m']:>9.3f} "
              f"{entry['kept_fraction'][0]:>5.2f}-{entry['kept_fraction'][1]:.2f} "
              f"{entry['kept_m'][0]:>7.3f}-{entry['kept_m'][1]:.3f}")
    worst = max(runs, key=lambda r: r["tail_move_m"])
    print(f"all {len(runs)} runs: the validation error moves by at most {worst['tail_move_m']:.3f} m over the last "
          f"{args.tail:.0%} ({worst['run']}); kept weights from "
          f"{min(r['kept_fraction'] for r in runs):.0%}-{max(r['kept_fraction'] for r in runs):.0%} of the way")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot(runs, groups, out.with_suffix(".png"), args.tail, args.dpi)
    from wifisense.io.atomic import atomic_write_text

    result = {"benchmark": "track_convergence", "machine": platform.processor() or platform.machine(),
              "args": vars(args), "table": table,
              "runs": [{k: v for k, v in r.items() if k not in ("epochs_v", "values")} for r in runs]}
    atomic_write_text(out.with_suffix(".json"), json.dumps(result, indent=1) + "\n")
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
