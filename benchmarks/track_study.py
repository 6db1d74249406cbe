"""The powered NDF-vs-baselines study: Table I over simulator seeds x training seeds.

For every simulator seed it simulates a recording (``--duration`` seconds, default 30
minutes) and runs ``wifisense track compare --tables I`` on it with every training seed
(resumable: finished runs are kept). Then, over all (simulator, training) seed pairs:

- Table I: mean / median / p90 error per method and band, averaged over the training seeds
  of each simulator seed, then over simulator seeds, with a 95 % t interval over simulator
  seeds (the recording is the unit that varies most, so this is the conservative interval);
- NDF / best two-band baseline (the baseline with the lowest mean over all seeds), the ratio
  per simulator seed with its t interval (the paper expects <= 0.75);
- a check that NDF is below the training-mean predictor on every seed pair;
- each window's error split into centroid (where it is) and shape (how it moves), where the
  runs recorded them, and NDF minus the best two-band baseline in each part, paired per
  simulator seed.

Prints the tables and writes JSON (``OUT/study.json``). Learning curves are in each run's
``metrics.csv`` (``OUT/sim<k>/runs/I/<row>/seed<j>/``).

    python benchmarks/track_study.py --sim-seeds 10,11,12 --train-seeds 0,1,2 --epochs 100 --out runs/track-study
    python benchmarks/track_study.py --tables I,II,III,IV,coordinate ...   # all of the paper's tables
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from wifisense.metrics.intervals import seed_interval_or_value as interval

METRICS = ("mean_m", "median_m", "p90_m", "centroid_m", "shape_m")
TWO_BAND = "csi+snr"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sim-seeds", default="10,11,12", help="simulator seeds (default: %(default)s)")
    parser.add_argument("--train-seeds", default="0,1,2", help="training seeds per recording (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds per recording (default: %(default)s)")
    parser.add_argument("--sim-preset", default="default", help="trajectory simulator preset (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="simulator override")
    parser.add_argument("--preset", default="tiny", help="track model preset (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=100, help="epochs of every model (default: %(default)s)")
    parser.add_argument("--methods", default=None, help="Table I methods (default: all)")
    parser.add_argument("--bands", default=None,
                        help="Table I band sets, comma list of csi, snr, csi+snr (default: all three)")
    parser.add_argument("--tables", default="I",
                        help="comma list of I, II, III, IV, coordinate (default: %(default)s); every table is "
                        "aggregated over the seeds the same way")
    parser.add_argument("--out", default="runs/track-study", help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)

    import torch

    from wifisense.io.store import write_multiband_store
    from wifisense.runs import parse_seeds, select
    from wifisense.sim.trajectories import simulate_trajectories, trajectory_config
    from wifisense.track.compare import run_compare
    from wifisense.track.report import REFERENCE_LABEL

    torch.set_num_threads(1)
    tables = tuple(t.strip() for t in args.tables.split(",") if t.strip())
    sim_seeds, train_seeds = parse_seeds(args.sim_seeds), parse_seeds(args.train_seeds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # (row, setting, metric) -> per simulator seed: list over training seeds
    values: dict[tuple[str, str, str], dict[int, list[float]]] = {}
    for sim in sim_seeds:
        store = out / f"sim{sim}.h5"
        if not store.is_file():
            cfg = trajectory_config(args.sim_preset, list(args.set) + [f"duration_s={args.duration}"])
            write_multiband_store(store, simulate_trajectories(cfg, seed=sim, progress=False))
        summary = run_compare(store, out / f"sim{sim}", tables=tables, methods=args.methods, preset=args.preset,
                              epochs=args.epochs, seeds=train_seeds, quiet=False, bands=args.bands)
        for r in select(summary["results"], split="test"):
            if r.seed == "all" or r.metric not in METRICS or r.value is None or r.study not in tables:
                continue
            # Table I's rows keep their plain names (as before); other tables are prefixed
            row = r.row if r.study == "I" else f"{r.study}:{r.row}"
            values.setdefault((row, r.setting, r.metric), {}).setdefault(sim, []).append(r.value)
        print(f"[study] simulator seed {sim} done ({(time.perf_counter() - started) / 60:.0f} min)",
              file=sys.stderr, flush=True)

    def per_sim(row: str, setting: str, metric: str = "mean_m") -> dict[int, float]:
        return {s: float(np.mean(v)) for s, v in values.get((row, setting, metric), {}).items()}

    table = []
    for (row, setting, metric), by_sim in sorted(values.items()):
        value, low, high = interval([float(np.mean(v)) for v in by_sim.values()])
        table.append({"row": row, "setting": setting, "metric": metric, "value": value, "low": low, "high": high,
                      "per_sim_seed": {str(s): v for s, v in by_sim.items()}})
    baselines = {row for (row, setting, _m) in values if setting == TWO_BAND and row not in ("ndf", REFERENCE_LABEL)}
    best = min(baselines, key=lambda b: np.mean(list(per_sim(b, TWO_BAND).values())), default=None)
    ratio = None
    if best is not None and ("ndf", TWO_BAND, "mean_m") in values:
        ndf, base = per_sim("ndf", TWO_BAND), per_sim(best, TWO_BAND)
        ratios = [ndf[s] / base[s] for s in ndf if s in base]
        value, low, high = interval(ratios)
        ratio = {"baseline": best, "value": value, "low": low, "high": high, "per_sim_seed": ratios}
    # NDF - best baseline, per part, paired per simulator seed: where the ratio's margin comes from
    part_gaps = {}
    for metric in ("centroid_m", "shape_m") if best is not None else ():
        ndf, base = per_sim("ndf", TWO_BAND, metric), per_sim(best, TWO_BAND, metric)
        gaps = [ndf[s] - base[s] for s in ndf if s in base]
        if gaps:
            value, low, high = interval(gaps)
            part_gaps[metric] = {"baseline": best, "value": value, "low": low, "high": high, "per_sim_seed": gaps}
    below_mean = []
    reference = values.get((REFERENCE_LABEL, "none", "mean_m"), {})
    for sim, ndf_values in values.get(("ndf", TWO_BAND, "mean_m"), {}).items():
        for k, v in enumerate(ndf_values):
            # the split, and so the training-mean reference, depends on the training seed
            ref = reference.get(sim, [])[k] if k < len(reference.get(sim, [])) else None
            below_mean.append({"sim_seed": sim, "train_seed": train_seeds[k], "ndf_m": v,
                               "training_mean_m": ref, "below": ref is not None and v < ref})

    print(f"\nTables {', '.join(tables)} over simulator seeds {list(sim_seeds)} x training seeds {list(train_seeds)}; "
          f"{args.duration:g}-s recordings; preset {args.preset}, {args.epochs} epochs; mean error (m) "
          "[95 % t interval over simulator seeds]")
    for entry in table:
        if entry["metric"] != "mean_m":
            continue
        ci = f" [{entry['low']:.3f}, {entry['high']:.3f}]" if entry["low"] is not None else ""
        print(f"  {entry['row']:22} {entry['setting']:8} {entry['value']:.3f}{ci}")
    parts = {(e["row"], e["setting"], e["metric"]): e for e in table if e["metric"] in ("centroid_m", "shape_m")}
    if parts:
        print("Each window's error in two parts (metrics.localization.window_error_parts): centroid (where the "
              "window is) / shape (how it moves), metres")
        for row, setting in dict.fromkeys((r, s) for r, s, _m in parts):
            cells = []
            for metric in ("centroid_m", "shape_m"):
                e = parts.get((row, setting, metric))
                ci = f" [{e['low']:.3f}, {e['high']:.3f}]" if e and e["low"] is not None else ""
                cells.append(f"{e['value']:.3f}{ci}" if e else "—")
            print(f"  {row:22} {setting:8} {cells[0]} / {cells[1]}")
    if ratio:
        ci = f" [{ratio['low']:.3f}, {ratio['high']:.3f}]" if ratio["low"] is not None else ""
        print(f"NDF / best two-band baseline ({ratio['baseline']}): {ratio['value']:.3f}{ci} (paper: <= 0.75)")
    for metric, gap in part_gaps.items():
        ci = f" [{gap['low']:+.3f}, {gap['high']:+.3f}]" if gap["low"] is not None else ""
        print(f"NDF - {gap['baseline']}, {metric[:-2]}: {gap['value']:+.3f}{ci} m")
    if below_mean:
        print(f"NDF below the training-mean predictor on {sum(b['below'] for b in below_mean)} of "
              f"{len(below_mean)} seed pairs")
    result = {"benchmark": "track_study", "machine": platform.processor() or platform.machine(),
              "args": vars(args), "table": table, "ndf_over_best_baseline": ratio,
              "ndf_minus_best_baseline_parts": part_gaps, "ndf_below_mean": below_mean,
              "wall_s": round(time.perf_counter() - started, 1)}
    (out / "study.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out / 'study.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
