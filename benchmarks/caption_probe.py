"""What the simulated caption data makes learnable: a linear probe per setting (issue 12).

For every (layout, clips per class, packet rate) setting it simulates an actions store
(frames off: the probe reads CSI only) and scores the linear probe of
``wifisense.caption.probe`` for every feature mode, fitted on the train split and scored
on the val split (settings are chosen on validation; test is not read). Prints a table and
writes JSON. The probe is the simple reference the caption student is compared with; this
script measures the data, not the student.

Example (the issue-12 sweep)::

    python benchmarks/caption_probe.py --layouts asymmetric,symmetric --clips 12,48 \
        --modes dynamic,sanitized,both --out /tmp/probe
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def grid_settings(grid: str) -> dict:
    """``"RxC"`` -> ActionConfig fields for an R x C grid (1 m apart) centred where the default 4 x 6 grid is."""
    from wifisense.sim.actions import ActionConfig

    rows, cols = (int(v) for v in grid.lower().split("x"))
    base = ActionConfig()
    centre_x = base.grid_origin_m[0] + (base.grid_shape[1] - 1) * base.grid_spacing_m / 2
    centre_y = base.grid_origin_m[1] + (base.grid_shape[0] - 1) * base.grid_spacing_m / 2
    origin = (centre_x - (cols - 1) * base.grid_spacing_m / 2, centre_y - (rows - 1) * base.grid_spacing_m / 2)
    return {"grid_shape": (rows, cols), "grid_origin_m": origin}


def simulate(out: Path, layout: str, clips: int, rate: float, seed: int, classes: str, grid: str = "4x6") -> Path:
    from wifisense.io.store import write_caption_store
    from wifisense.sim.actions import ActionConfig, simulate_actions

    path = out / f"actions_{layout}_{clips}c_{rate:g}hz_{classes}_{grid}_s{seed}.h5"
    if not path.is_file():
        cfg = ActionConfig(layout=layout, clips_per_class=clips, packet_rate_hz=rate, num_frames=0,
                           classes=("all",) if classes == "all" else ActionConfig().classes,
                           **grid_settings(grid))
        write_caption_store(path, simulate_actions(cfg, seed=seed, progress=False))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layouts", default="asymmetric,symmetric")
    parser.add_argument("--clips", default="12,48", help="clips per class (comma list)")
    parser.add_argument("--rates", default="100", help="packet rates in Hz (comma list)")
    parser.add_argument("--modes", default="dynamic,sanitized,both")
    parser.add_argument("--grids", default="4x6", help="person grids, rows x columns (comma list; 1 m apart)")
    parser.add_argument("--classes", default="default", choices=("default", "all"))
    parser.add_argument("--sim-seed", type=int, default=100, help="simulator seed (default 100: a dev seed)")
    parser.add_argument("--out", default="probe_out", help="folder for the stores and probe.json")
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(1)
    from wifisense.caption.probe import probe_store

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    print("grid | layout | clips/class | rate Hz | features | val class top-1 [95% CI] | val side acc. [95% CI] (n) | s")
    settings = [(grid, layout, clips, rate) for grid in args.grids.split(",") for layout in args.layouts.split(",")
                for clips in (int(c) for c in args.clips.split(",")) for rate in (float(r) for r in args.rates.split(","))]
    for grid, layout, clips, rate in settings:
        start = time.time()
        store = simulate(out, layout, clips, rate, args.sim_seed, args.classes, grid)
        sim_s = time.time() - start
        for mode in args.modes.split(","):
            start = time.time()
            score = probe_store(store, mode, "train", "val", seed=0)
            row = {"grid": grid, "layout": layout, "clips_per_class": clips, "rate_hz": rate, "features": mode,
                   "classes": args.classes, "sim_seed": args.sim_seed, "simulate_s": sim_s,
                   "probe_s": time.time() - start, **score.__dict__}
            rows.append(row)
            side = (f"{score.side_accuracy:.3f} [{score.side_ci[0]:.3f}, {score.side_ci[1]:.3f}] ({score.n_side})"
                    if score.side_accuracy is not None else "-")
            print(f"{grid} | {layout} | {clips} | {rate:g} | {mode} | {score.class_top1:.3f} "
                  f"[{score.class_ci[0]:.3f}, {score.class_ci[1]:.3f}] | {side} | {row['probe_s']:.0f}",
                  flush=True)
        (out / "probe.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
