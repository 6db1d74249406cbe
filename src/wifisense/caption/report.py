"""The caption system's report tables, built from typed study results (``results.json``), never from raw run files."""

from __future__ import annotations

from collections.abc import Sequence

from wifisense.report.document import Cell, Table, bold_best
from wifisense.runs.results import CI_SEEDS, Result, format_interval, select

DESIGN_TITLES = {
    "main": "Full pipeline vs CSI->LM baseline vs mirror modes",
    "stages": "Training stages",
    "mirror": "Mirror-consistency loss",
    "lm": "Language model",
    "text": "Text backbone",
}
# (metric, column header); every column is higher-is-better.
COLUMNS = (("BLEU-4", "BLEU-4"), ("METEOR", "METEOR"), ("ROUGE-L", "ROUGE-L"), ("CIDEr", "CIDEr"),
           ("SPICE", "SPICE"), ("direction_accuracy", "Direction acc."), ("class_top1", "Top-1"))
REFERENCE_NOTE = ("no CSI: the prefix LM given one constant embedding for every clip (the language prior), "
                  "the trivial reference a model that ignores the CSI would match.")
COLUMN_NOTE = ("Direction acc.: share of clips whose caption names the correct side for every direction word of "
               "the reference. Top-1: CSI x class-caption similarity matrix, share of classes whose best match is "
               "their own caption.")


def interval_note(results: Sequence[Result]) -> str:
    seeds = max((r.seeds for r in results), default=1)
    if any(r.ci == CI_SEEDS for r in results):
        return f"mean over {seeds} seeds ± half-width of the 95 % Student t interval over seeds"
    return ("one seed; [95 % interval]: percentile bootstrap over test clips for BLEU-4 (recomputed per resample), "
            "ROUGE-L, CIDEr and SPICE; Wilson for direction accuracy and top-1; none for METEOR")


def _cell_note(r: Result | None) -> str | None:
    """Why a cell has no value, or no interval (METEOR at one seed); None when it has both."""
    if r is None:
        return "not run"
    if r.value is None:
        return r.note or "not computed"
    return r.note if r.low is None and r.note else None


def design_table(results: Sequence[Result], design: str) -> Table | None:
    """One design's rows x the paper's metrics, mean [interval]; the best value per column in bold."""
    lines = select(results, study=design, seed="all")
    if not lines:
        return None
    cell = {(r.row, r.metric): r for r in lines}
    rows, values = [], []
    for name in dict.fromkeys(r.row for r in lines):
        row, numbers = [Cell(name)], [None]
        for metric, _ in COLUMNS:
            r = cell.get((name, metric))
            row.append(Cell(format_interval(r), numeric=True, note=_cell_note(r)))
            numbers.append(round(r.value, 3) if r is not None and r.value is not None else None)
        rows.append(row)
        values.append(numbers)
    bold_best(rows, values, range(1, len(COLUMNS) + 1), lower_is_better=False)
    split = lines[0].split
    return Table(["Design"] + [h for _, h in COLUMNS], rows,
                 caption=f"{DESIGN_TITLES.get(design, design)}: {split} split, {interval_note(lines)} "
                         "(higher is better; best per column in bold)",
                 notes=[REFERENCE_NOTE, COLUMN_NOTE])


def ablation_tables(results: Sequence[Result]) -> list[Table]:
    """Every design the results hold, in the paper's order."""
    designs = list(DESIGN_TITLES) + sorted({r.study for r in results} - set(DESIGN_TITLES))
    tables = [design_table(results, d) for d in designs]
    return [t for t in tables if t is not None]


def examples_table(examples: dict) -> Table | None:
    """The correct and the partly wrong example (as in the paper's Table II)."""
    rows = []
    for key in ("correct", "partly_wrong"):
        ex = examples.get(key)
        if ex:
            rows.append([Cell(ex["note"]), Cell(str(ex["class"])), Cell(ex["references"][0]), Cell(ex["prediction"])])
    if not rows:
        return None
    return Table(["Kind", "Class", "Reference", "Prediction"], rows,
                 caption=f"Examples from run {examples.get('run')} ({examples.get('split', 'test')} split)")
