"""The NDF paper's comparisons on one store: Table I (methods x bands), II (windows), III (fusions), IV (temporal ratios), coordinate split.

``run_compare(store, out_dir)`` trains and evaluates every run a table needs with the public
track pipeline (:func:`~wifisense.track.train.train_model`, :func:`~wifisense.track.evaluate.evaluate_run`)
and writes::

    OUT/cae/                       one CSI autoencoder, pretrained once, shared by every run
    OUT/runs/<table>/<name>/       one run per distinct configuration (see below)
    OUT/compare.json               all rows (atomic), OUT/compare.md the same as Markdown tables
    OUT/figures/error_cdf_table1.png, trajectories.png, tsne_latent.png

A configuration that several tables share (NDF, csi+snr, mlp, random split, 5-s windows is in
Tables I, II and III) is trained once, in the directory of the first table of the full plan
that contains it, so the layout does not depend on which tables a call asks for. A run whose
``metrics.json`` already has a ``"test"`` entry is not retrained, so an interrupted compare
resumes where it stopped; the settings (preset, epochs, seed, overrides) are recorded in
compare.json and a rerun with different ones into the same directory is refused.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wifisense.errors import ConfigError

TABLES = ("I", "II", "III", "IV", "coordinate")
METHODS = ("ndf", "linear-int", "nearest-int", "rnn-decay", "rnn-dt", "ddnd")
BAND_SETS = (("csi",), ("snr",), ("csi", "snr"))
WINDOWS_S = (2.0, 5.0, 8.0)
FUSIONS = ("mlp", "pairwise", "weighted")
TEMPORAL_RATIOS = (0.2, 0.4, 0.6, 0.8)
DEFAULT_WINDOW_S = 5.0
FALLBACK_BASELINE = "rnn-decay"        # coordinate split when no Table I result names the best baseline
HELD_OUT_TARGET = 0.2                  # default coordinate region: about this fraction of windows held out

TITLES = {
    "I": "Table I: methods x bands (random split, 5 s windows; NDF on one band is DDND)",
    "II": "Table II: NDF (csi+snr) window length (random split)",
    "III": "Table III: NDF (csi+snr) fusion scheme (random split, 5 s windows)",
    "IV": "Table IV: NDF (csi+snr) temporal split, training ratio (5 s windows)",
    "coordinate": "Coordinate split: a held-out area (csi+snr, 5 s windows)",
}
BAND_LABELS = {"csi": "CSI", "snr": "beam SNR", "csi+snr": "CSI + beam SNR"}


@dataclass(frozen=True)
class RunSpec:
    """One row of one table: what to train (CLI model name, bands, fusion, split, window)."""

    table: str
    name: str
    method: str
    bands: tuple[str, ...]
    fusion: str = "mlp"
    split: str = "random"
    window_s: float = DEFAULT_WINDOW_S

    @property
    def band_label(self) -> str:
        return "+".join(self.bands)

    @property
    def fusion_label(self) -> str:
        """What actually fuses the bands: NDF's fusion module, concatenation for baselines, none for one band."""
        if len(self.bands) == 1:
            return "none"
        return self.fusion if self.method == "ndf" else "concat"

    def key(self) -> tuple:
        """Settings that determine the trained model (fusion matters only for two-band NDF)."""
        return (self.method, self.bands, self.fusion_label, self.split, float(self.window_s))


# --------------------------------------------------------------------------- plans


def table1_specs(methods: Sequence[str]) -> list[RunSpec]:
    specs = []
    for method in methods:
        for bands in BAND_SETS:
            if method == "ddnd" and len(bands) != 1:   # DDND is the single-band latent ODE
                continue
            # NDF on one band *is* DDND (same model, same seed, same numbers): train it once,
            # under DDND's name, as the paper's Table I does.
            if method == "ndf" and len(bands) == 1 and "ddnd" in methods:
                continue
            specs.append(RunSpec("I", f"{method}_{'+'.join(bands)}", method, bands))
    return specs


def ndf_study_specs(table: str) -> list[RunSpec]:
    """Tables II-IV: NDF on both bands, one row per window / fusion / training ratio."""
    both = ("csi", "snr")
    if table == "II":
        return [RunSpec("II", f"ndf_w{w:g}", "ndf", both, window_s=w) for w in WINDOWS_S]
    if table == "III":
        return [RunSpec("III", f"ndf_{f}", "ndf", both, fusion=f) for f in FUSIONS]
    if table == "IV":
        return [RunSpec("IV", f"ndf_temporal{r:g}", "ndf", both, split=f"temporal:{r:g}") for r in TEMPORAL_RATIOS]
    raise ValueError(table)


def coordinate_specs(methods: Sequence[str], region: Sequence[float]) -> list[RunSpec]:
    split = "coordinate:" + ",".join(f"{v:g}" for v in region)
    return [RunSpec("coordinate", f"{m}_coordinate", m, ("csi", "snr"), split=split) for m in methods]


def canonical_dirs(region: Sequence[float] | None) -> dict[tuple, str]:
    """Run key -> directory (relative to OUT) of the first spec in the FULL plan with that key."""
    # + single-band NDF, which is planned only when DDND is not in the method list
    specs = table1_specs(METHODS) + table1_specs(["ndf"])
    specs += [s for t in ("II", "III", "IV") for s in ndf_study_specs(t)]
    if region is not None:
        specs += coordinate_specs(METHODS, region)
    dirs: dict[tuple, str] = {}
    for spec in specs:
        dirs.setdefault(spec.key(), f"runs/{spec.table}/{spec.name}")
    return dirs


def parse_tables(tables) -> tuple[str, ...]:
    if isinstance(tables, str):
        tables = [t.strip() for t in tables.split(",") if t.strip()]
    by_lower = {t.lower(): t for t in TABLES}
    chosen = []
    for t in tables:
        if str(t).lower() not in by_lower:
            raise ConfigError(f"unknown table {t!r}; choose from {', '.join(TABLES)}")
        chosen.append(by_lower[str(t).lower()])
    if not chosen:
        raise ConfigError(f"no tables given; choose from {', '.join(TABLES)}")
    return tuple(t for t in TABLES if t in chosen)       # the paper's order


def parse_methods(methods) -> tuple[str, ...]:
    if methods is None:
        return METHODS
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    methods = [str(m).replace("_", "-").lower() for m in methods]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"unknown method(s) {unknown or 'none given'}; choose from {', '.join(METHODS)}")
    return tuple(dict.fromkeys(methods))


def parse_region(text) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    values = text.split(",") if isinstance(text, str) else list(text)
    try:
        x0, y0, x1, y1 = (float(v) for v in values)
    except ValueError:
        raise ConfigError(f"--region needs four numbers X0,Y0,X1,Y1, got {text!r}") from None
    if not (x1 > x0 and y1 > y0):
        raise ConfigError(f"--region {text!r}: needs X1 > X0 and Y1 > Y0")
    return (x0, y0, x1, y1)


def default_region(store, window_s: float = DEFAULT_WINDOW_S, query_hz: float = 10.0,
                   target: float = HELD_OUT_TARGET) -> tuple[float, float, float, float]:
    """A corner box of the trajectory's extent whose held-out share of windows is closest to ``target``.

    Candidates are boxes at the four corners of the driven area with sides 15-60 % of its
    width/height; a coordinate split holds out every window that touches the box, so the share
    is measured on the store's own non-overlapping windows rather than guessed from the area.
    """
    from wifisense.io.store import read_multiband_store
    from wifisense.track import data as track_data

    ds = read_multiband_store(store)
    t_lo = max(ds.csi_t[0], ds.snr_t[0], ds.pose_t[0])
    t_hi = min(ds.csi_t[-1], ds.snr_t[-1], ds.pose_t[-1])
    windows = track_data.cut_windows(track_data.window_starts(t_lo, t_hi, window_s, window_s), window_s,
                                     ds.csi_t, ds.snr_t, ds.pose_t, ds.pose_xy, query_hz=query_hz)
    if len(windows) < 3:
        raise ConfigError(f"{store}: {len(windows)} windows of {window_s:g} s are too few for a coordinate split")
    (x_lo, y_lo), (x_hi, y_hi) = ds.pose_xy.min(0), ds.pose_xy.max(0)
    real = windows.query_mask > 0
    best, best_gap = None, np.inf
    for side in np.arange(0.15, 0.61, 0.05):
        w, h = side * (x_hi - x_lo), side * (y_hi - y_lo)
        for x0 in (x_lo, x_hi - w):
            for y0 in (y_lo, y_hi - h):
                box = tuple(round(float(v), 2) for v in (x0, y0, x0 + w, y0 + h))
                share = (track_data.in_region(windows.target_xy, box) & real).any(-1).mean()
                # at least one test window and two thirds left for training and validation
                if 0 < share <= 1 / 3 and abs(share - target) < best_gap:
                    best, best_gap = box, abs(share - target)
    if best is None:
        raise ConfigError(f"{store}: no corner of the driven area holds out between one window and a third of "
                          "them; give --region X0,Y0,X1,Y1")
    return best


# --------------------------------------------------------------------------- running


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        return {}


def _run_state(run_dir: Path) -> str:
    """"done" (evaluated on test), "trained" (training finished, not evaluated) or "todo"."""
    metrics = _read_json(run_dir / "metrics.json")
    if "test" in metrics:
        return "done"
    if "stop_reason" in metrics and (run_dir / "model.safetensors").is_file():
        return "trained"
    return "todo"


def _row(spec: RunSpec, rel_dir: str, out_dir: Path) -> dict:
    metrics = _read_json(out_dir / rel_dir / "metrics.json")
    test = metrics.get("test", {})
    return {"method": spec.method, "bands": spec.band_label, "fusion": spec.fusion_label, "split": spec.split,
            "window_s": float(spec.window_s), "mean_m": test.get("mean"), "median_m": test.get("median"),
            "p90_m": test.get("p90"), "n": test.get("n"), "train_s": metrics.get("train_seconds"),
            "run": rel_dir}


class _Progress:
    """One line per run on stderr: table, run, n of N, elapsed time."""

    def __init__(self, total: int, quiet: bool):
        self.total, self.quiet, self.done, self.started = total, quiet, 0, time.perf_counter()

    def say(self, message: str) -> None:
        if not self.quiet:
            elapsed = time.perf_counter() - self.started
            print(f"[compare {self.done}/{self.total} | {elapsed:6.0f} s] {message}", file=sys.stderr, flush=True)


def _execute(spec: RunSpec, rel_dir: str, out_dir: Path, store, settings: dict, progress: _Progress) -> dict:
    from wifisense.track.evaluate import evaluate_run
    from wifisense.track.train import train_model

    run_dir = out_dir / rel_dir
    state = _run_state(run_dir)
    progress.done += 1
    what = (f"Table {spec.table} {spec.name} ({spec.method}, {spec.band_label}, {spec.fusion_label}, "
            f"{spec.split}, {spec.window_s:g} s)")
    if state == "done":
        progress.say(f"{what}: finished earlier, skipped")
    else:
        if state == "todo":
            progress.say(f"{what}: training -> {rel_dir}")
            train_model(store, spec.method, bands=spec.bands, fusion=spec.fusion, split=spec.split,
                        window=spec.window_s, run_dir=run_dir, preset=settings["preset"],
                        overrides=settings["overrides"], epochs=settings["epochs"], seed=settings["seed"],
                        device=settings["device"], cae=out_dir / "cae" if "csi" in spec.bands else None,
                        quiet=settings["quiet"])
        else:
            progress.say(f"{what}: trained earlier, evaluating")
        summary = evaluate_run(run_dir, split="test", device=settings["device"], figures=False)
        progress.say(f"{what}: test mean {summary['mean']:.3f} m, median {summary['median']:.3f} m, "
                     f"p90 {summary['p90']:.3f} m")
    return _row(spec, rel_dir, out_dir)


def _best_baseline(out_dir: Path, methods: Sequence[str], dirs: dict[tuple, str]) -> str | None:
    """The two-band baseline with the lowest Table I mean error found on disk (DDND is single-band)."""
    best, best_mean = None, np.inf
    for method in methods:
        if method in ("ndf", "ddnd"):
            continue
        spec = RunSpec("I", "", method, ("csi", "snr"))
        mean = _read_json(out_dir / dirs[spec.key()] / "metrics.json").get("test", {}).get("mean")
        if mean is not None and mean < best_mean:
            best, best_mean = method, mean
    return best


def _coordinate_methods(out_dir: Path, methods: Sequence[str], dirs: dict[tuple, str]) -> list[str]:
    chosen = ["ndf"] if "ndf" in methods else []
    baseline = _best_baseline(out_dir, methods, dirs)
    if baseline is None:
        candidates = [m for m in methods if m not in ("ndf", "ddnd")]
        baseline = candidates[0] if candidates else (FALLBACK_BASELINE if "ndf" in methods else None)
    return chosen + ([baseline] if baseline else [])


def _check_settings(out_dir: Path, settings: dict) -> None:
    """Refuse to mix runs trained with different settings in one compare directory."""
    previous = _read_json(out_dir / "compare.json").get("settings")
    if previous is None:
        return
    changed = [k for k in ("preset", "epochs", "seed", "overrides", "cae_epochs") if previous.get(k) != settings[k]]
    if changed:
        raise ConfigError(f"{out_dir}: its runs were made with other settings ({', '.join(changed)}: "
                          f"{[previous.get(k) for k in changed]} -> {[settings[k] for k in changed]}); "
                          "use a new --out directory or the same settings")


def run_compare(store, out_dir, tables=TABLES, methods=None, preset="tiny", epochs=None, seed=0,
                overrides=None, device="auto", quiet=False, region=None, cae_epochs=5) -> dict:
    """Train and evaluate every run of ``tables`` on ``store``; write compare.json / compare.md / figures.

    Args:
        store: multi-band store (.h5).
        out_dir: output directory (see the module docstring for its layout).
        tables: any of TABLES ("I", "II", "III", "IV", "coordinate").
        methods: Table I methods as ``--model`` names (default: all six). Tables II-IV are NDF
            studies; the coordinate table runs NDF (when in ``methods``) and the two-band baseline
            with the lowest Table I mean error found in ``out_dir`` (the first baseline in
            ``methods``, else rnn-decay, when Table I has not run).
        preset, overrides, epochs, seed, device: passed to every ``train_model`` call.
        region: ``(x0, y0, x1, y1)`` held out by the coordinate split (default: :func:`default_region`).
        cae_epochs: epochs of the shared CAE pretraining.

    Returns the compare.json content.
    """
    from wifisense.training.checkpoint import write_json

    started = time.perf_counter()
    tables, methods = parse_tables(tables), parse_methods(methods)
    out_dir = Path(out_dir)
    if not Path(store).is_file():
        raise ConfigError(f"{store}: store not found")
    if isinstance(overrides, (list, tuple)):
        overrides = list(overrides)
    settings = {"preset": str(preset), "epochs": epochs, "seed": seed, "overrides": overrides or None,
                "cae_epochs": cae_epochs, "device": device, "quiet": quiet}
    _check_settings(out_dir, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    if "coordinate" in tables:
        region = parse_region(region) if region is not None else default_region(store)
    dirs = canonical_dirs(region)

    plan = {"I": table1_specs(methods) if "I" in tables else []}
    for table in ("II", "III", "IV"):
        plan[table] = ndf_study_specs(table) if table in tables else []
    n_coordinate = len(_coordinate_methods(out_dir, methods, dirs)) if "coordinate" in tables else 0
    unique = {s.key() for specs in plan.values() for s in specs}
    progress = _Progress(len(unique) + n_coordinate, quiet)

    if any("csi" in s.bands for specs in plan.values() for s in specs) or n_coordinate:
        _ensure_cae(store, out_dir, settings, progress)

    previous = _read_json(out_dir / "compare.json")
    results = dict(previous.get("tables", {}))
    seen: dict[tuple, dict] = {}

    def run_table(table: str, specs: list[RunSpec]) -> None:
        rows = []
        for spec in specs:
            if spec.key() not in seen:
                seen[spec.key()] = _execute(spec, dirs[spec.key()], out_dir, store, settings, progress)
            rows.append({**seen[spec.key()], "name": spec.name})
        results[table] = {"title": TITLES[table], "rows": rows}
        if table == "coordinate":
            results[table]["region"] = list(region)

    for table in ("I", "II", "III", "IV"):
        if plan[table]:
            run_table(table, plan[table])
    if "coordinate" in tables:
        run_table("coordinate", coordinate_specs(_coordinate_methods(out_dir, methods, dirs), region))

    figures = dict(previous.get("figures", {}))
    figures.update(_draw_figures(out_dir, results, store, seed, quiet))
    summary = {"store": str(Path(store).resolve()), "preset": str(preset), "seed": seed, "epochs": epochs,
               "wall_s": round(time.perf_counter() - started, 2),
               "settings": {k: v for k, v in settings.items() if k not in ("device", "quiet")},
               "tables": {t: results[t] for t in TABLES if t in results}, "figures": figures}
    write_json(out_dir / "compare.json", summary)
    _write_text_atomic(out_dir / "compare.md", compare_markdown(summary))
    progress.say(f"done: {out_dir / 'compare.md'}")
    return summary


def _ensure_cae(store, out_dir: Path, settings: dict, progress: _Progress) -> None:
    from wifisense.track.train import pretrain_cae

    if (out_dir / "cae" / "model.safetensors").is_file():
        return
    progress.say(f"pretraining the shared CSI autoencoder ({settings['cae_epochs']} epochs) -> {out_dir / 'cae'}")
    pretrain_cae(store, out_dir / "cae", preset=settings["preset"], overrides=settings["overrides"],
                 epochs=settings["cae_epochs"], seed=settings["seed"], device=settings["device"],
                 quiet=settings["quiet"])


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- Markdown


def _fmt(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table1_markdown(rows: list[dict]) -> list[str]:
    """Methods as rows; for each band set, mean / median / p90 columns; the lowest mean per band in bold."""
    bands = [b for b in ("csi", "snr", "csi+snr") if any(r["bands"] == b for r in rows)]
    best = {b: min((r["mean_m"] for r in rows if r["bands"] == b and r["mean_m"] is not None), default=None)
            for b in bands}
    header = ["Method"] + [f"{BAND_LABELS[b]} {stat}" for b in bands for stat in ("mean", "median", "p90")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in dict.fromkeys(r["method"] for r in rows):
        cells = [method]
        for b in bands:
            row = next((r for r in rows if r["method"] == method and r["bands"] == b), None)
            if row is None:
                cells += ["–"] * 3
                continue
            mean = _fmt(row["mean_m"])
            cells += [f"**{mean}**" if row["mean_m"] is not None and row["mean_m"] == best[b] else mean,
                      _fmt(row["median_m"]), _fmt(row["p90_m"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _study_markdown(table: str, rows: list[dict]) -> list[str]:
    first = {"II": "Window", "III": "Fusion", "IV": "Training ratio", "coordinate": "Method"}[table]

    def label(row):
        if table == "II":
            return f"{row['window_s']:g} s"
        if table == "III":
            return row["fusion"]
        if table == "IV":
            return row["split"].partition(":")[2]
        return row["method"]

    lines = [f"| {first} | mean (m) | median (m) | p90 (m) | n | train (s) |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {label(row)} | {_fmt(row['mean_m'])} | {_fmt(row['median_m'])} | {_fmt(row['p90_m'])} | "
                     f"{row['n'] if row['n'] is not None else '–'} | {_fmt(row['train_s'], 1)} |")
    return lines


def compare_markdown(summary: dict) -> str:
    """compare.json as Markdown: one table per paper table, errors in metres on the test split."""
    epochs = summary["epochs"] if summary["epochs"] is not None else "from the preset"
    intro = (f"Store `{summary['store']}`, preset `{summary['preset']}`, seed {summary['seed']}, epochs {epochs}; "
             "errors in metres on each run's test split.")
    lines = ["# Track comparison", "", intro, ""]
    for table, content in summary["tables"].items():
        lines += [f"## {content['title']}", ""]
        if table == "coordinate" and content.get("region"):
            lines += ["Held-out region (x0, y0, x1, y1): " + ", ".join(f"{v:g}" for v in content["region"]) + " m",
                      ""]
        lines += _table1_markdown(content["rows"]) if table == "I" else _study_markdown(table, content["rows"])
        lines.append("")
    if summary.get("figures"):
        lines += ["## Figures", ""] + [f"![{name}]({path})" for name, path in summary["figures"].items()] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- figures


def _read_predictions(run_dir: Path) -> dict[str, np.ndarray] | None:
    """Columns of RUN/test_predictions.csv (window, t, x/y true/pred, error_m), or None if missing."""
    path = run_dir / "test_predictions.csv"
    if not path.is_file():
        return None
    with path.open() as f:
        header = next(csv.reader(f))
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return {name: table[:, i] for i, name in enumerate(header)}


def _windows(pred: dict[str, np.ndarray], limit: int = 6) -> list[np.ndarray]:
    """Row indices of the first ``limit`` test windows in time order."""
    ids = pred["window"].astype(int)
    order = sorted(set(ids.tolist()), key=lambda w: pred["t"][ids == w].min())[:limit]
    return [np.flatnonzero(ids == w) for w in order]


def _draw_figures(out_dir: Path, results: dict, store, seed: int, quiet: bool) -> dict[str, str]:
    """Error CDFs of Table I, NDF vs best baseline trajectories and the NDF latent t-SNE (when NDF ran)."""
    import matplotlib

    matplotlib.use("Agg")
    from wifisense.report import figures

    rows = results.get("I", {}).get("rows", [])
    if not rows:
        return {}
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    # one curve per method: its two-band row, or the best single band for DDND
    curves: dict[str, dict] = {}
    for row in rows:
        if row["mean_m"] is None:
            continue
        current = curves.get(row["method"])
        two_band = row["bands"] == "csi+snr"
        if current is None or two_band or (current["bands"] != "csi+snr" and row["mean_m"] < current["mean_m"]):
            curves[row["method"]] = row
    errors = {}
    for method, row in curves.items():
        pred = _read_predictions(out_dir / row["run"])
        if pred is not None:
            errors[f"{method} ({row['bands']})"] = pred["error_m"]
    if errors:
        figures.plot_error_cdfs(errors, fig_dir / "error_cdf_table1.png",
                                title="Table I: test error CDF (random split, 5 s windows)")
        written["error_cdf"] = "figures/error_cdf_table1.png"

    ndf_row = curves.get("ndf")
    baselines = [r for m, r in curves.items() if m != "ndf"]
    best = min(baselines, key=lambda r: r["mean_m"]) if baselines else None
    shown = [r for r in (ndf_row, best) if r is not None]
    predictions = {r["method"]: _read_predictions(out_dir / r["run"]) for r in shown}
    if shown and all(p is not None for p in predictions.values()):
        reference = predictions[shown[0]["method"]]
        picks = _windows(reference)
        true = [np.column_stack([reference["x_true"][i], reference["y_true"][i]]) for i in picks]
        paths = {}
        for r in shown:
            p = predictions[r["method"]]
            # same split and seed give the same windows in the same order, so indices carry over
            paths[f"{r['method']} ({r['bands']})"] = [np.column_stack([p["x_pred"][i], p["y_pred"][i]]) for i in picks]
        from wifisense.track.train import prepare_data, read_task

        train = prepare_data(store, ("snr",), "random", DEFAULT_WINDOW_S, seed=seed).datasets["train"].windows
        figures.plot_trajectories(true, paths, fig_dir / "trajectories.png",
                                  train_xy=train.target_xy[train.query_mask > 0],
                                  room=read_task(out_dir / shown[0]["run"]).get("room"),
                                  title="Test windows: NDF vs best baseline (grey: training positions)")
        written["trajectories"] = "figures/trajectories.png"

    if ndf_row is not None:
        from wifisense.track.evaluate import plot_latent_tsne

        # every split, so each region has enough points; 500 iterations keep it to seconds on a CPU
        plot_latent_tsne(out_dir / ndf_row["run"], fig_dir / "tsne_latent.png", splits=("train", "val", "test"),
                         max_points=1500, device="cpu", seed=seed, max_iter=500)
        written["tsne"] = "figures/tsne_latent.png"
    return written
