"""The track system's report tables, built from typed study results (``results.json``), never from raw run files."""

from __future__ import annotations

from collections.abc import Sequence

from wifisense.report.document import Cell, Table, bold_best
from wifisense.report.text import interval_note
from wifisense.runs.results import Result, format_interval, select

METHOD_LABELS = {"ndf": "NDF", "ddnd": "DDND", "rnn-dt": "RNN-Δt", "rnn-decay": "RNN-Decay",
                 "linear-int": "LinearInt", "nearest-int": "NearestInt"}
REFERENCE_LABEL = "training mean"      # the trivial reference row of every table
METHOD_ORDER = (REFERENCE_LABEL, "linear-int", "nearest-int", "rnn-decay", "rnn-dt", "ddnd", "ndf")
BANDS = (("csi", "CSI (5 GHz)"), ("snr", "Beam SNR (60 GHz)"), ("csi+snr", "Both bands"))
TITLES = {
    "I": "Table I: methods x bands (random split, 5 s windows; NDF on one band is DDND)",
    "II": "Table II: NDF (csi+snr) window length (random split)",
    "III": "Table III: NDF (csi+snr) fusion scheme (random split, 5 s windows)",
    "IV": "Table IV: NDF (csi+snr) temporal split, training ratio (5 s windows)",
    "coordinate": "Coordinate split: a held-out area (csi+snr, 5 s windows)",
}
REFERENCE_NOTE = ("training mean: every query point predicted at the mean training position (no band used), "
                  "the trivial reference a collapsed model would match.")


def method_label(name: str) -> str:
    return METHOD_LABELS.get(name, name)


ONE_SEED_NOTE = "one seed; [95 % interval, percentile bootstrap over test windows]"


def _table1_grid(lines: Sequence[Result]) -> tuple[dict, list[str], list[tuple[str, str]]]:
    """Table I's lines by (row, setting, metric), its methods in the paper's order, and its bands."""
    cell = {(r.row, r.setting, r.metric): r for r in lines}
    methods = [m for m in METHOD_ORDER if any(r.row == m for r in lines)]
    methods += sorted({r.row for r in lines} - set(methods))
    return cell, methods, [(b, label) for b, label in BANDS if any(r.setting == b for r in lines)]


def table1(results: Sequence[Result], split: str = "random") -> Table | None:
    """Methods x bands: mean [interval], median and p90 error (m); the lowest mean per band in bold."""
    lines = select(results, study="I", seed="all")
    if not lines:
        return None
    cell, methods, bands = _table1_grid(lines)
    rows, values = [], []
    for method in methods:
        row, numbers = [Cell(method_label(method))], [None]
        for band, _ in bands:
            setting = "none" if method == REFERENCE_LABEL else band
            for metric in ("mean_m", "median_m", "p90_m"):
                r = cell.get((method, setting, metric))
                note = None
                if r is None:
                    note = ("DDND is a single-band model" if method == "ddnd" else
                            "NDF on one band is DDND: see the DDND row" if method == "ndf" else
                            "not run for this band")
                elif r.value is None:
                    note = r.note or "no value"
                text = format_interval(r) if metric == "mean_m" else format_interval(_plain(r))
                row.append(Cell(text, numeric=True, note=note))
                numbers.append(round(r.value, 3) if r is not None and r.value is not None else None)
        rows.append(row)
        values.append(numbers)
    bold_best(rows, values, range(1, len(rows[0])), lower_is_better=True)
    return Table(["Method"] + ["mean", "median", "p90"] * len(bands), rows,
                 caption=f"{_table1_title(split)}: test error in metres, {interval_note(lines, ONE_SEED_NOTE)} (lower is better; "
                         "best per column in bold)",
                 groups=[("", 1)] + [(label, 3) for _, label in bands], notes=[REFERENCE_NOTE])


PARTS_NOTE = ("centroid: the distance between a window's mean predicted and mean true position (where the "
              "window is); shape: the mean distance left once both are centred on their means (how the motion "
              "inside it is drawn); each is a mean over test windows. A model that tracks motion well but "
              "localises badly has a small shape and a large centroid error.")


def error_parts_table(results: Sequence[Result], split: str = "random") -> Table | None:
    """Table I's error split per window into centroid and shape (m), mean [interval] per band."""
    lines = [r for r in select(results, study="I", seed="all") if r.metric in ("centroid_m", "shape_m")]
    if not lines:
        return None
    cell, methods, bands = _table1_grid(lines)
    rows = []
    for method in methods:
        row = [Cell(method_label(method))]
        for band, _ in bands:
            setting = "none" if method == REFERENCE_LABEL else band
            for metric in ("centroid_m", "shape_m"):
                row.append(Cell(format_interval(cell.get((method, setting, metric))), numeric=True))
        rows.append(row)
    return Table(["Method"] + ["centroid", "shape"] * len(bands), rows,
                 caption=f"{_table1_title(split)}, the error in two parts: metres, "
                         f"{interval_note(lines, ONE_SEED_NOTE)}",
                 groups=[("", 1)] + [(label, 2) for _, label in bands], notes=[PARTS_NOTE, REFERENCE_NOTE])


def _table1_title(split: str) -> str:
    """Table I's title on its split (the paper's is random)."""
    if split == "random":
        return TITLES["I"]
    name = "the store's own train/test split" if split == "store" else f"{split} split"
    return TITLES["I"].replace("random split", name)


def _plain(result: Result | None) -> Result | None:
    """The line without its interval (median and p90 columns stay readable)."""
    if result is None:
        return None
    from dataclasses import replace
    return replace(result, low=None, high=None)


def study_table(results: Sequence[Result], study: str, region: Sequence[float] | None = None) -> Table | None:
    """Tables II-IV and the coordinate split: one line per row, mean [interval], median, p90, windows."""
    lines = select(results, study=study, seed="all")
    if not lines:
        return None
    names = list(dict.fromkeys(r.row for r in lines))
    first = {"II": "Window", "III": "Fusion", "IV": "Training ratio"}.get(study, "Method")
    rows, values = [], []
    for name in names:
        by_metric = {r.metric: r for r in lines if r.row == name}
        mean = by_metric.get("mean_m")
        rows.append([Cell(method_label(name)), Cell(format_interval(mean), numeric=True),
                     Cell(format_interval(_plain(by_metric.get("median_m"))), numeric=True),
                     Cell(format_interval(_plain(by_metric.get("p90_m"))), numeric=True),
                     Cell(str(mean.n // max(mean.seeds, 1)) if mean else "—", numeric=True)])
        values.append([None, round(mean.value, 3) if mean and mean.value is not None else None, None, None, None])
    bold_best(rows, values, range(1, 2), lower_is_better=True)
    title = TITLES.get(study, study)
    settings = {r.setting for r in lines if r.setting != "none"}
    if study == "coordinate" and settings == {"csi"}:        # a CSI-only store: DDND and a CSI baseline
        title = title.replace("csi+snr", "csi")
    caption = f"{title}: test error in metres, {interval_note(lines, ONE_SEED_NOTE)}"
    if study == "coordinate" and region:
        caption += "; held-out region (x0, y0, x1, y1) " + ", ".join(f"{v:g}" for v in region) + " m"
    return Table([first, "mean (m)", "median (m)", "p90 (m)", "test windows"], rows, caption=caption,
                 notes=[REFERENCE_NOTE])


def comparison_tables(results: Sequence[Result], region: Sequence[float] | None = None,
                      split: str = "random") -> list[Table]:
    """Every table the results hold, in the paper's order (``split``: Table I's)."""
    tables = [table1(results, split), error_parts_table(results, split)]
    tables += [study_table(results, s, region) for s in ("II", "III", "IV", "coordinate")]
    return [t for t in tables if t is not None]


# --------------------------------------------------------------------------- report sections

DESCRIPTIONS = (  # (methods, one sentence shown under Table I when any of them is in it)
    (("linear-int", "nearest-int"), "LinearInt / NearestInt map interpolated frames to positions (frame to frame)."),
    (("rnn-decay", "rnn-dt"), ("RNN-Decay and RNN-Δt are sequence-to-sequence recurrent baselines for irregular "
                              "samples.")),
    (("ddnd",), "DDND is a single-band latent ODE."),
    (("ndf",), "NDF fuses both bands through a shared latent ODE."),
)


def track_headline(results: Sequence[Result]) -> list[tuple[str, str]]:
    """(what, value) lines for the report's headline table: NDF vs the best baseline on both bands, the reference."""
    out = []
    both = [r for r in select(results, study="I", setting="csi+snr", metric="mean_m", seed="all")
            if r.value is not None]
    ndf = [r for r in both if r.row == "ndf"]
    if ndf:
        out.append(("NDF, both bands: mean error", f"{format_interval(ndf[0], 2)} m"))
    others = [r for r in both if r.row != "ndf"]
    if others:
        best = min(others, key=lambda r: r.value)
        out.append((f"best baseline on both bands ({method_label(best.row)}): mean error",
                    f"{format_interval(best, 2)} m"))
    reference = select(results, study="I", row=REFERENCE_LABEL, metric="mean_m", seed="all")
    if reference:
        out.append(("reference: training-mean position, mean error", f"{format_interval(reference[0], 2)} m"))
    return out


def track_sections(folder, results: Sequence[Result] | None, reason: str = "") -> list:
    """The track part of a report from a ``track compare`` folder and its typed results (None: ``reason``)."""
    from pathlib import Path

    from wifisense.report.document import Figure, Paragraph, Section
    from wifisense.report.text import not_run, read_json_object

    folder = Path(folder)
    titles = (("track-table", "Track: Table I analogue"), ("error-cdf", "Error CDFs"), ("trajectories", "Trajectories"))
    if results is None:
        return [Section(a, t, [not_run("the track comparison", reason)]) for a, t in titles]
    figures = read_json_object(folder / "figures.json")[0] or {}

    def figure(key: str) -> Path | None:
        path = folder / figures[key] if figures.get(key) else None
        return path if path is not None and path.is_file() else None

    table = table1(results)
    if table is None:
        first = Section(*titles[0], [not_run("Table I", "results.json has no Table I lines")])
    else:
        names = {r.row for r in results}
        described = [text for methods, text in DESCRIPTIONS if any(m in names for m in methods)]
        parts = error_parts_table(results)
        content = [table] + ([parts] if parts else []) + [Paragraph([" ".join(described)], kind="note")]
        first = Section(*titles[0], content)
    cdf = figure("error_cdf")
    second = Section(*titles[1], [Figure(cdf, "Empirical CDF of the Table I localisation errors, one curve per "
                                              "method (multi-band where it exists); further left is better.",
                                         "track_error_cdf.png")] if cdf else
                     [not_run("the error CDF figure", "figures.json names no existing error_cdf figure")])
    blocks = []
    overlay = figure("trajectories")
    blocks.append(Figure(overlay, "Test windows: ground truth (black), NDF and the best baseline (dashed); training "
                                  "positions faint.", "track_trajectories.png") if overlay else
                  not_run("the trajectory overlay", "figures.json names no existing trajectories figure"))
    tsne = figure("tsne")
    if tsne is not None:
        blocks.append(Figure(tsne, "t-SNE of NDF latent states, coloured by region of the room.", "track_tsne.png"))
    return [first, second, Section(*titles[2], blocks)]
