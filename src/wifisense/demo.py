"""``wifisense demo``: the main job on the embedded default (simulated data, offline models).

Today it simulates both default datasets, validates them and draws CSI heatmaps; the
caption and track systems add their training and evaluation here as they land.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="run the main job on simulated data (the README's first command)",
        description="Simulate an actions dataset and a trajectories dataset, validate them and "
        "write CSI heatmaps and a summary into --out. Same seed, same numbers.")
    p.add_argument("--out", default="wifisense-demo", help="output directory (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="a much smaller version, for tests")
    p.add_argument("--overwrite", action="store_true", help="replace datasets already in --out")
    p.set_defaults(func=run)


def _timed(label: str, timings: dict, fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    timings[label] = round(time.perf_counter() - start, 2)
    print(f"[demo] {label}: {timings[label]:.1f} s", flush=True)
    return out


def run(args) -> int:
    from wifisense.io.inspect import plot_file
    from wifisense.io.store import write_caption_store, write_multiband_store
    from wifisense.io.validate import validate_store
    from wifisense.sim.actions import ActionConfig, simulate_actions
    from wifisense.sim.trajectories import TrajectoryConfig, simulate_trajectories

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    actions_cfg = ActionConfig.quick() if args.quick else ActionConfig()
    traj_cfg = TrajectoryConfig()
    if args.quick:  # one minute of driving instead of ten
        traj_cfg = dataclasses.replace(traj_cfg, duration_s=60.0)
    datasets = {
        "actions": (out / "actions.h5", lambda: simulate_actions(actions_cfg, seed=args.seed, progress=not args.quiet),
                    write_caption_store),
        "trajectories": (out / "trajectories.h5",
                         lambda: simulate_trajectories(traj_cfg, seed=args.seed,
                                                       progress=not args.quiet),
                         write_multiband_store),
    }
    summary: dict = {"seed": args.seed, "quick": bool(args.quick), "machine": platform.platform(),
                     "datasets": {}}
    for name, (path, simulate, write) in datasets.items():
        ds = _timed(f"simulate {name}", timings, simulate)
        _timed(f"write {name}", timings, write, path, ds, overwrite=True)
        problems = _timed(f"validate {name}", timings, validate_store, path)
        if problems:
            for p in problems:
                print(f"{path}:{p.field}: {p.reason}")
            return 1
        plot_file(path, out / f"{name}_csi.png")
        summary["datasets"][name] = {"path": str(path), "bytes": path.stat().st_size}
    summary["timings_s"] = timings
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"[demo] done: {out.resolve()} (summary.json, *_csi.png)")
    return 0
