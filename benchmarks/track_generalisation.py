"""How far each trained track model's error on its own training windows is from its error on held-out ones.

Reads a finished ``benchmarks/track_study.py`` folder (``OUT/sim<k>/runs/<table>/<row>/seed<j>``),
predicts every run's train, val and test windows again with its kept weights (nothing in the
run folders is written) and splits each window's error into centroid (where the window is) and
shape (how it moves, ``metrics.localization.window_error_parts``). Prints, per row and bands,
the three splits' errors and the held-out minus training gap of each part, averaged over
training seeds, with a 95 % t interval over simulator seeds; writes ``OUT/generalisation.json``
(one entry per run is kept there, so a rerun only predicts the runs it has not seen).

Why: the study found that NDF draws each window's motion far better than every baseline but
places windows no better; a model that places its *training* windows well and held-out ones
badly is limited by what it learnt of the room from one recording, not by its motion model.

    python benchmarks/track_generalisation.py --study runs/track-study
    python benchmarks/track_generalisation.py --study runs/track-study --rows ndf,rnn-decay --bands csi+snr
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

from wifisense.metrics.intervals import seed_interval_or_value as interval

SPLITS = ("train", "val", "test")
PARTS = ("mean_m", "centroid_m", "shape_m")
RUN_DIR = re.compile(r"sim(?P<sim>\d+)/runs/(?P<table>[^/]+)/(?P<row>[a-z-]+)_(?P<bands>[a-z+]+)/seed(?P<seed>\d+)$")


def find_runs(study: Path, table: str) -> list[dict]:
    """Every finished model run of ``table`` under ``study``: kept weights and a test score (a run
    still training has the first, not the second)."""
    runs = []
    for weights in sorted(study.glob(f"sim*/runs/{table}/*/seed*/model.safetensors")):
        match = RUN_DIR.search(weights.parent.relative_to(study).as_posix())
        metrics = weights.parent / "metrics.json"
        if match and metrics.is_file() and "test" in json.loads(metrics.read_text()):
            runs.append({"path": weights.parent, "sim": int(match["sim"]), "row": match["row"],
                         "bands": match["bands"], "seed": int(match["seed"]), "stamp": weights.stat().st_mtime})
    return runs


def cell(value: float, low: float | None, high: float | None, signed: bool = False) -> str:
    fmt = "{:+.3f}" if signed else "{:.3f}"
    return fmt.format(value) + (f" [{fmt.format(low)}, {fmt.format(high)}]" if low is not None else "")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", required=True, help="a benchmarks/track_study.py output folder")
    parser.add_argument("--table", default="I", help="which table's runs (default: %(default)s)")
    parser.add_argument("--rows", default=None, help="comma list of rows, e.g. ndf,rnn-decay (default: all)")
    parser.add_argument("--bands", default=None, help="comma list of band settings, e.g. csi+snr (default: all)")
    args = parser.parse_args(argv)

    import torch

    from wifisense.io.atomic import atomic_write_text
    from wifisense.track.evaluate import split_error_summary

    torch.set_num_threads(1)
    study = Path(args.study)
    if not study.is_dir():
        print(f"error: {study}: no such study folder", file=sys.stderr)
        return 2
    rows = set(args.rows.split(",")) if args.rows else None
    bands = set(args.bands.split(",")) if args.bands else None
    runs = [r for r in find_runs(study, args.table)
            if (rows is None or r["row"] in rows) and (bands is None or r["bands"] in bands)]
    if not runs:
        print(f"error: {study}: no finished runs of table {args.table} match", file=sys.stderr)
        return 2
    cache_path = study / "generalisation.json"
    cache = json.loads(cache_path.read_text()).get("runs", {}) if cache_path.is_file() else {}
    started = time.perf_counter()
    for k, run in enumerate(runs, 1):
        key = run["path"].relative_to(study).as_posix()
        if cache.get(key, {}).get("stamp") != run["stamp"] or "held_out" not in cache[key]:
            print(f"[{k}/{len(runs)}] {key}", file=sys.stderr, flush=True)
            cache[key] = {"stamp": run["stamp"], **split_error_summary(run["path"], device="cpu")}
        run["found"] = cache[key]

    # (row, bands) -> sim -> split -> part -> list over training seeds; and the runs themselves
    values: dict[tuple[str, str], dict[int, dict[str, dict[str, list[float]]]]] = {}
    runs_by_sim: dict[tuple[str, str], dict[int, list[dict]]] = {}
    for run in runs:
        runs_by_sim.setdefault((run["row"], run["bands"]), {}).setdefault(run["sim"], []).append(run)
        by_split = values.setdefault((run["row"], run["bands"]), {}).setdefault(run["sim"], {})
        for split in SPLITS:
            for part in PARTS:
                by_split.setdefault(split, {}).setdefault(part, []).append(run["found"][split][part])
    table = []
    for (row, band), by_sim in sorted(values.items()):
        entry = {"row": row, "bands": band, "sim_seeds": sorted(by_sim)}
        for split in SPLITS:
            for part in PARTS:
                entry[f"{split}_{part}"] = interval([float(np.mean(v[split][part])) for v in by_sim.values()])
        for part in ("centroid_m", "shape_m"):
            # held-out (val and test windows pooled) minus training, per simulator seed
            gaps = [float(np.mean([r["found"]["held_out"][part] - r["found"]["train"][part] for r in by_run]))
                    for by_run in runs_by_sim[(row, band)].values()]
            entry[f"gap_{part}"] = interval(gaps)
        table.append(entry)

    sims = sorted({r["sim"] for r in runs})
    print(f"\nTable {args.table} runs of {study} ({len(runs)} runs, simulator seeds {sims}): each window's error in "
          "metres on the training / validation / test windows, split into centroid (where the window is) and "
          "shape (how it moves) [95 % t interval over simulator seeds]")
    header = f"  {'row':12} {'bands':8} " + " ".join(f"{s + ' ' + p[:-2]:>24}" for s in SPLITS for p in PARTS[1:])
    print(header)
    for e in table:
        print(f"  {e['row']:12} {e['bands']:8} " + " ".join(f"{cell(*e[f'{s}_{p}']):>24}" for s in SPLITS
                                                           for p in PARTS[1:]))
    print("Held-out (val + test windows) minus training, per simulator seed:")
    for e in table:
        print(f"  {e['row']:12} {e['bands']:8} centroid {cell(*e['gap_centroid_m'], signed=True):>26}   "
              f"shape {cell(*e['gap_shape_m'], signed=True):>26}")
    result = {"benchmark": "track_generalisation", "machine": platform.processor() or platform.machine(),
              "args": vars(args), "table": table, "runs": cache, "wall_s": round(time.perf_counter() - started, 1)}
    atomic_write_text(cache_path, json.dumps(result, indent=1) + "\n")   # an interrupted run keeps the old file
    print(f"wrote {cache_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
