"""The NDF paper's comparisons on one store, as a Study: Table I (methods x bands), II (windows), III (fusions), IV (temporal ratios), coordinate split.

``run_compare(store, out_dir, seeds=...)`` declares every table's rows (plus the trivial
"training mean" reference row) and runs them on :class:`wifisense.runs.Study`, which trains
each distinct run once per seed, shares the CSI autoencoder between the runs of a seed,
skips finished runs (an interrupted compare resumes) and refuses a folder made with other
settings. It writes::

    OUT/runs/<table>/<name>/seed<k>/   one run per distinct configuration and seed
    OUT/results.csv, results.json      typed results: per seed and aggregated over seeds with 95 % intervals
    OUT/compare.md                     the tables, rendered from those results
    OUT/figures/error_cdf_table1.png, trajectories.png, tsne_latent.png (first seed)

A configuration that several tables share (NDF, csi+snr, mlp, random split, 5-s windows is in
Tables I, II and III) is one run, named after the first table of the full plan that contains
it, so the layout does not depend on which tables a call asks for.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wifisense.errors import ConfigError
from wifisense.track.report import REFERENCE_LABEL

TABLES = ("I", "II", "III", "IV", "coordinate")
METHODS = ("ndf", "linear-int", "nearest-int", "rnn-decay", "rnn-dt", "ddnd")
BAND_SETS = (("csi",), ("snr",), ("csi", "snr"))
WINDOWS_S = (2.0, 5.0, 8.0)
FUSIONS = ("mlp", "pairwise", "weighted")
TEMPORAL_RATIOS = (0.2, 0.4, 0.6, 0.8)
DEFAULT_WINDOW_S = 5.0
FALLBACK_BASELINE = "rnn-decay"        # coordinate split when no Table I result names the best baseline
HELD_OUT_TARGET = 0.2                  # default coordinate region: about this fraction of windows held out



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


def table1_specs(methods: Sequence[str], band_sets: Sequence[tuple[str, ...]] = BAND_SETS,
                 split: str = "random") -> list[RunSpec]:
    """Table I: every method on every band set (``band_sets``: those the store carries); runs on
    another split than the paper's random one are named with it."""
    specs = []
    suffix = "" if split == "random" else "_" + split.replace(":", "_").replace(",", "_")
    for method in methods:
        for bands in band_sets:
            if method == "ddnd" and len(bands) != 1:   # DDND is the single-band latent ODE
                continue
            # NDF on one band *is* DDND (same model, same seed, same numbers): train it once,
            # under DDND's name, as the paper's Table I does.
            if method == "ndf" and len(bands) == 1 and "ddnd" in methods:
                continue
            specs.append(RunSpec("I", f"{method}_{'+'.join(bands)}{suffix}", method, bands, split=split))
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


def coordinate_specs(methods: Sequence[str], region: Sequence[float],
                     bands: tuple[str, ...] = ("csi", "snr")) -> list[RunSpec]:
    split = "coordinate:" + ",".join(f"{v:g}" for v in region)
    return [RunSpec("coordinate", f"{m}_coordinate", m, bands, split=split) for m in methods]


def canonical_dirs(region: Sequence[float] | None) -> dict[tuple, str]:
    """Run key -> run name ("<table>/<name>", under OUT/runs/) of the first spec in the FULL plan with that key."""
    # + single-band NDF, which is planned only when DDND is not in the method list
    specs = table1_specs(METHODS) + table1_specs(["ndf"])
    specs += [s for t in ("II", "III", "IV") for s in ndf_study_specs(t)]
    if region is not None:
        specs += coordinate_specs(METHODS, region)
    dirs: dict[tuple, str] = {}
    for spec in specs:
        dirs.setdefault(spec.key(), f"{spec.table}/{spec.name}")
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


def parse_bands(bands) -> tuple[tuple[str, ...], ...]:
    """Table I band sets from ``"csi,snr,csi+snr"`` (or a sequence of such labels); None: all of BAND_SETS."""
    if bands is None:
        return BAND_SETS
    if isinstance(bands, str):
        bands = [b.strip() for b in bands.split(",") if b.strip()]
    labels = {"+".join(b): b for b in BAND_SETS}
    chosen = []
    for label in bands:
        key = "+".join(sorted(str(label).lower().replace(" ", "").split("+")))   # snr+csi is csi+snr
        if key not in labels:
            raise ConfigError(f"unknown band set {label!r}; choose from {', '.join(labels)}")
        chosen.append(labels[key])
    if not chosen:
        raise ConfigError(f"no band sets given; choose from {', '.join(labels)}")
    return tuple(b for b in BAND_SETS if b in chosen)       # the paper's order


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
    import wifisense.track.data as track_data

    ds = read_multiband_store(store)
    starts = track_data.span_starts(track_data.recording_spans(ds), window_s, window_s)
    windows = track_data.cut_windows(starts, window_s, ds.csi_t, ds.snr_t, ds.pose_t, ds.pose_xy, query_hz=query_hz)
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


# --------------------------------------------------------------------------- study rows

REFERENCE = "training-mean"            # the trivial reference row: predict the training positions' mean


def run_name(spec: RunSpec, dirs: dict[tuple, str]) -> str:
    """The canonical run name ("<table>/<name>"): the first spec of the FULL plan with the same key."""
    if spec.method == REFERENCE:
        return f"reference/{spec.split.replace(':', '_').replace(',', '_')}_w{spec.window_s:g}"
    return dirs.get(spec.key(), f"{spec.table}/{spec.name}")     # e.g. Table I on another split


def reference_spec(table: str, split: str = "random", window_s: float = DEFAULT_WINDOW_S) -> RunSpec:
    return RunSpec(table, REFERENCE, REFERENCE, (), split=split, window_s=window_s)


def study_rows(plan: dict[str, list[RunSpec]], dirs: dict[tuple, str]) -> list:
    """Study rows of every planned table, each with the trivial reference row(s) of its splits and windows."""
    from wifisense.runs import Part, PlannedRun, Row

    rows = []
    for table, specs in plan.items():
        if not specs:
            continue
        references = {(s.split, float(s.window_s)): reference_spec(table, s.split, s.window_s) for s in specs}
        for spec in [*specs, *references.values()]:
            parts = (Part("cae", "cae", chain=False),) if "csi" in spec.bands else ()
            config = {"method": spec.method, "bands": list(spec.bands), "fusion": spec.fusion_label,
                      "split": spec.split, "window_s": float(spec.window_s)}
            run = PlannedRun(run_name(spec, dirs), config, parts)
            rows.append(Row(table, row_label(table, spec), spec.band_label or "none", run))
    return rows


def row_label(table: str, spec: RunSpec) -> str:
    """The row's name in its table: the method (Table I, coordinate) or the varied setting (II-IV)."""
    if spec.method == REFERENCE:
        suffix = {"II": f" ({spec.window_s:g} s)", "IV": f" ({spec.split.partition(':')[2]})"}.get(table, "")
        return REFERENCE_LABEL + suffix
    if table == "II":
        return f"{spec.window_s:g} s"
    if table == "III":
        return spec.fusion
    if table == "IV":
        return spec.split.partition(":")[2]
    return spec.method


class TrackStudyTask:
    """The track task on :class:`~wifisense.runs.Study`: train with ``train_model``, evaluate in metres."""

    name = "track"

    def __init__(self, store, device: str = "auto"):
        self.store, self.device = str(store), device

    def train(self, run, run_dir, context) -> None:
        from wifisense.track.train import train_model

        c, s = run.config, context.settings
        if c["method"] == REFERENCE:
            return                      # nothing to learn beyond the training positions' mean
        train_model(self.store, c["method"], bands=tuple(c["bands"]), fusion=_train_fusion(c), split=c["split"],
                    window=c["window_s"], run_dir=run_dir.path, preset=s["preset"], overrides=s["overrides"],
                    epochs=s["epochs"], seed=context.seed, device=self.device, cae_epochs=s["cae_epochs"],
                    quiet=context.progress.quiet)

    def evaluate(self, run, run_dir, split, context):
        from wifisense.track.evaluate import evaluate_split

        c = run.config
        if c["method"] == REFERENCE:
            point_errors = evaluate_training_mean(self.store, c["split"], c["window_s"], context.seed, split,
                                                  run_dir.predictions(split, "csv"))
        else:
            _, point_errors = evaluate_split(run_dir.path, split=split, device=self.device, figures=False)
        return error_measurements(point_errors, seed=context.seed)

    def part_finished(self, run_dir, part) -> bool:
        cae = run_dir.path / part.name
        return (cae / "model.safetensors").is_file() and bool(_read_json(cae / "metrics.json").get("stop_reason"))


def _train_fusion(config: dict) -> str:
    return config["fusion"] if config["fusion"] not in ("none", "concat") else "mlp"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        return {}


def error_measurements(point_errors, seed: int = 0) -> list:
    """Mean / median / p90 error (m) over query points, and the mean centroid and shape error
    over windows (``metrics.localization.window_error_parts``), each with a 95 % interval from
    a bootstrap over test *windows*.

    Windows, not query points, are the resampled items: the points of one window share its
    encoder state and are strongly correlated, so resampling points would give intervals far
    too narrow. ``point_errors``: :class:`wifisense.track.evaluate.PointErrors`.
    """
    from wifisense.metrics.intervals import bootstrap_interval, mean_statistic
    from wifisense.runs import Measurement
    from wifisense.runs.results import CI_BOOTSTRAP

    window_id, errors = point_errors.window_id, point_errors.errors
    ids = np.unique(window_id)
    groups = [errors[window_id == w] for w in ids]
    stats = {"mean_m": np.mean, "median_m": np.median, "p90_m": lambda e: np.percentile(e, 90)}
    out = []
    for metric, stat in stats.items():
        value = float(stat(errors))
        low, high = bootstrap_interval(lambda idx, stat=stat: float(stat(np.concatenate([groups[i] for i in idx]))),
                                       len(groups), seed=seed)
        out.append(Measurement(metric, value, len(groups), low, high, CI_BOOTSTRAP,
                               note=f"{errors.size} query points in {len(groups)} windows"))
    for metric, per_window in (("centroid_m", point_errors.centroid), ("shape_m", point_errors.shape)):
        per_window = np.asarray(per_window, np.float64)
        low, high = bootstrap_interval(mean_statistic(per_window), len(per_window), seed=seed)
        out.append(Measurement(metric, float(per_window.mean()), len(per_window), low, high, CI_BOOTSTRAP,
                               note=f"mean over {len(per_window)} windows"))
    return out


def evaluate_training_mean(store, split_text: str, window_s: float, seed: int, split: str, out_csv: Path):
    """The trivial reference: every query point predicted at the mean training position; writes the predictions CSV."""
    from wifisense.track.evaluate import training_mean_prediction, write_predictions
    from wifisense.track.train import store_windows

    split_windows = store_windows(store, split_text, window_s, seed=seed)
    train, windows = split_windows["train"], split_windows[split]
    return write_predictions(out_csv, windows, train.query_t, training_mean_prediction(train, windows))


# --------------------------------------------------------------------------- running


def _best_baseline(results, methods: Sequence[str], setting: str = "csi+snr") -> str | None:
    """The baseline with the lowest Table I mean error over seeds on the band set ``setting``
    (two bands; CSI on a CSI-only store; DDND, the single-band latent ODE, is not a baseline here)."""
    from wifisense.runs import select

    candidates = [r for r in select(results, study="I", setting=setting, metric="mean_m", seed="all")
                  if r.row not in ("ndf", "ddnd", REFERENCE_LABEL) and r.row in methods and r.value is not None]
    return min(candidates, key=lambda r: r.value).row if candidates else None


def _coordinate_methods(results, methods: Sequence[str], bands: tuple[str, ...] = ("csi", "snr")) -> list[str]:
    """NDF (DDND on a CSI-only store) and the best Table I baseline on the same bands."""
    model = "ndf" if len(bands) == 2 else "ddnd"
    chosen = [model] if model in methods else []
    baseline = _best_baseline(results, methods, "+".join(bands))
    if baseline is None:
        candidates = [m for m in methods if m not in ("ndf", "ddnd")]
        baseline = candidates[0] if candidates else (FALLBACK_BASELINE if "ndf" in methods else None)
    return chosen + ([baseline] if baseline else [])


def run_compare(store, out_dir, tables=TABLES, methods=None, preset="tiny", epochs=None, seed=0, seeds=None,
                overrides=None, device="auto", quiet=False, region=None, cae_epochs=5, split="random",
                bands=None) -> dict:
    """Train and evaluate every run of ``tables`` for every seed; write results.csv/json, compare.md, figures.

    Args:
        store: multi-band store (.h5).
        out_dir: output directory (``runs/<table>/<name>/seed<k>/``, results.csv, compare.md, figures/).
        tables: any of TABLES ("I", "II", "III", "IV", "coordinate").
        methods: Table I methods as ``--model`` names (default: all six). Tables II-IV are NDF
            studies; the coordinate table runs NDF (when in ``methods``) and the two-band baseline
            with the lowest Table I mean error over seeds (the first baseline in ``methods``, else
            rnn-decay, when Table I has not run).
        seeds: seeds to train every run with (default: ``(seed,)``); tables show the mean over
            seeds with a 95 % interval.
        preset, overrides, epochs, device: passed to every ``train_model`` call.
        region: ``(x0, y0, x1, y1)`` held out by the coordinate split (default: :func:`default_region`).
        cae_epochs: epochs of the CSI autoencoder pretraining (once per seed, shared by every run).
        split: the split of Table I and its reference row (``random``, the paper's; ``store`` for a
            store's own splits, e.g. a public data set's reference and test recordings; any
            ``--split`` of ``track train``). On a CSI-only store (no ``/snr``) Table I has the CSI
            rows, the coordinate table DDND and the best CSI baseline; Tables II-IV are refused.
        bands: Table I's band sets, e.g. ``"csi,snr"`` for the single-band rows only (default: every
            set the store carries: csi, snr, csi+snr). Like ``methods`` it only chooses rows, so a
            later call with more band sets adds their runs to the same ``out_dir``.

    Returns ``{"results": [Result, ...], "figures": {...}, "wall_s": ..., "tables": [...]}``.
    """
    from wifisense.io.atomic import atomic_write_text
    from wifisense.runs import Study, parse_seeds
    from wifisense.runs.study import as_json

    started = time.perf_counter()
    from wifisense.track.data import parse_split

    tables, methods = parse_tables(tables), parse_methods(methods)
    parse_split(split)                             # a bad split fails before anything trains
    seeds = parse_seeds(seeds, default=seed)
    out_dir = Path(out_dir)
    if not Path(store).is_file():
        raise ConfigError(f"{store}: store not found")
    if isinstance(overrides, (list, tuple)):
        overrides = list(overrides)
    settings = as_json({"store": str(Path(store).resolve()), "preset": str(preset), "epochs": epochs,
                        "overrides": overrides or None, "cae_epochs": cae_epochs,
                        **({"split": split} if split != "random" else {})})
    if "coordinate" in tables:
        region = parse_region(region) if region is not None else default_region(store)
    dirs = canonical_dirs(region)
    bands_here = _store_bands(store)
    if "snr" not in bands_here:
        two_band = [t for t in tables if t in ("II", "III", "IV")]
        if two_band:
            raise ConfigError(f"{store}: table(s) {', '.join(two_band)} study two-band NDF, and this store carries "
                              "CSI only; choose --tables I,coordinate")
    band_sets = [b for b in parse_bands(bands) if set(b) <= set(bands_here)]
    if "I" in tables and not band_sets:
        raise ConfigError(f"{store}: carries {'+'.join(bands_here)} only; none of the band sets {bands!r} can run")
    plan = {"I": table1_specs(methods, band_sets, split) if "I" in tables else []}
    for table in ("II", "III", "IV"):
        plan[table] = ndf_study_specs(table) if table in tables else []
    task = TrackStudyTask(store, device)

    def study(rows):
        return Study(task, rows, seeds, out_dir, settings, label="compare", quiet=quiet)

    rows = study_rows(plan, dirs)
    results = study(rows).run() if rows else []
    if "coordinate" in tables:
        # the coordinate table runs the best Table I baseline, so it is planned once those results exist
        plan["coordinate"] = coordinate_specs(
            _coordinate_methods(results or _previous_results(out_dir), methods, bands_here), region, bands_here)
        rows = study_rows(plan, dirs)
        results = study(rows).run()
    figures = _draw_figures(out_dir, results, rows, store, seeds[0], quiet, split)
    summary = {"results": results, "figures": figures, "tables": [t for t in TABLES if plan.get(t)],
               "region": list(region) if region is not None else None, "settings": settings, "seeds": list(seeds),
               "wall_s": round(time.perf_counter() - started, 2)}
    atomic_write_text(out_dir / "compare.md", compare_markdown(summary))
    atomic_write_text(out_dir / "figures.json", json.dumps(figures, indent=1) + "\n")
    if not quiet:
        print(f"[compare] done: {out_dir / 'compare.md'}", file=sys.stderr, flush=True)
    return summary


def _store_bands(store) -> tuple[str, ...]:
    """("csi", "snr"), or ("csi",) for a CSI-only store (read from the file's layout only)."""
    from wifisense.io.store import open_store

    with open_store(store, kind="multiband") as f:
        return ("csi", "snr") if "snr" in f else ("csi",)


def _previous_results(out_dir: Path) -> list:
    from wifisense.runs import read_results

    return read_results(out_dir) if (out_dir / "results.json").is_file() else []


# --------------------------------------------------------------------------- Markdown


def compare_markdown(summary: dict) -> str:
    """The typed results as Markdown: one table per paper table, mean over seeds with a 95 % interval."""
    from wifisense.report.markdown import table_markdown
    from wifisense.track.report import comparison_tables

    s, seeds = summary["settings"], summary["seeds"]
    epochs = s["epochs"] if s["epochs"] is not None else "from the preset"
    lines = ["# Track comparison", "",
             f"Store `{s['store']}`, preset `{s['preset']}`, seeds {', '.join(map(str, seeds))}, epochs {epochs}; "
             "errors in metres on each run's test split. Each cell: mean over seeds "
             + ("± half-width of the 95 % Student t interval over seeds." if len(seeds) > 1 else
                "[95 % interval, bootstrap over test windows]."), ""]
    for table in comparison_tables(summary["results"], region=summary.get("region"),
                                   split=s.get("split", "random")):
        lines += table_markdown(table) + [""]
    if summary.get("figures"):
        lines += ["## Figures", ""] + [f"![{name}]({path})" for name, path in summary["figures"].items()] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- figures


def _read_predictions(path: Path) -> dict[str, np.ndarray] | None:
    """Columns of a run's predictions CSV (window, t, x/y true/pred, error_m), or None if missing."""
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


def _draw_figures(out_dir: Path, results: list, rows: list, store, seed: int, quiet: bool,
                  split: str = "random") -> dict[str, str]:
    """Error CDFs of Table I, NDF vs best baseline trajectories and the NDF latent t-SNE (when NDF ran), for ``seed``."""
    from wifisense.report import figures
    from wifisense.runs import select
    from wifisense.runs.study import run_dir_of

    means = {(r.row, r.setting): r.value for r in select(results, study="I", metric="mean_m", seed="all")
             if r.value is not None}
    table1 = [row for row in rows if row.study == "I" and (row.name, row.setting) in means]
    if not table1:
        return {}
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    # one curve per method: its two-band row, or its best single band (DDND, the reference)
    curves: dict[str, object] = {}
    for row in table1:
        current = curves.get(row.name)
        two_band = row.setting == "csi+snr"
        if current is None or two_band or (current.setting != "csi+snr"
                                           and means[(row.name, row.setting)] < means[(current.name, current.setting)]):
            curves[row.name] = row
    predictions = {name: _read_predictions(run_dir_of(out_dir, row.run, seed).predictions("test", "csv"))
                   for name, row in curves.items()}
    errors = {f"{name} ({row.setting})" if row.setting != "none" else name: predictions[name]["error_m"]
              for name, row in curves.items() if predictions[name] is not None}
    if errors:
        figures.plot_error_cdfs(errors, fig_dir / "error_cdf_table1.png",
                                title=f"Table I: test error CDF ({split} split, 5 s windows, seed {seed})")
        written["error_cdf"] = "figures/error_cdf_table1.png"

    ndf_row = curves.get("ndf")
    baselines = [r for name, r in curves.items() if name not in ("ndf", REFERENCE_LABEL)]
    best = min(baselines, key=lambda r: means[(r.name, r.setting)]) if baselines else None
    shown = [r for r in (ndf_row, best) if r is not None and predictions.get(r.name) is not None]
    if shown:
        reference = predictions[shown[0].name]
        picks = _windows(reference)
        true = [np.column_stack([reference["x_true"][i], reference["y_true"][i]]) for i in picks]
        paths = {}
        for r in shown:
            p = predictions[r.name]
            # same split and seed give the same windows in the same order, so indices carry over
            paths[f"{r.name} ({r.setting})"] = [np.column_stack([p["x_pred"][i], p["y_pred"][i]]) for i in picks]
        from wifisense.track.train import read_task, store_windows

        train = store_windows(store, split, DEFAULT_WINDOW_S, seed=seed)["train"]
        figures.plot_trajectories(true, paths, fig_dir / "trajectories.png",
                                  train_xy=train.target_xy[train.query_mask > 0],
                                  room=read_task(run_dir_of(out_dir, shown[0].run, seed).path).get("room"),
                                  title="Test windows: NDF vs best baseline (grey: training positions)")
        written["trajectories"] = "figures/trajectories.png"

    if ndf_row is not None:
        from wifisense.track.evaluate import plot_latent_tsne

        # every split, so each region has enough points; 500 iterations keep it to seconds on a CPU
        plot_latent_tsne(run_dir_of(out_dir, ndf_row.run, seed).path, fig_dir / "tsne_latent.png",
                         splits=("train", "val", "test"), max_points=1500, device="cpu", seed=seed, max_iter=500)
        written["tsne"] = "figures/tsne_latent.png"
    return written
