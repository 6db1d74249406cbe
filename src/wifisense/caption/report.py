"""The caption system's report tables, built from typed study results (``results.json``), never from raw run files."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from wifisense.report.document import Cell, Table, bold_best
from wifisense.report.text import interval_note
from wifisense.runs.results import Result, format_interval, select

DESIGN_TITLES = {
    "main": "Full pipeline vs CSI->LM baseline vs mirror modes",
    "core": "Full pipeline vs CSI->LM baseline",
    "stages": "Training stages",
    "mirror": "Mirror-consistency loss",
    "lm": "Language model",
    "text": "Text backbone",
}
# (metric, column header); every column is higher-is-better.
COLUMNS = (("BLEU-4", "BLEU-4"), ("METEOR", "METEOR"), ("ROUGE-L", "ROUGE-L"), ("CIDEr", "CIDEr"),
           ("SPICE", "SPICE"), ("direction_accuracy", "Direction acc."), ("class_top1", "Top-1"))
REFERENCE_NOTE = ("no CSI: the prefix LM given one constant embedding for every clip (the language prior), "
                  "the trivial reference a model that ignores the CSI would match. probe: a linear classifier "
                  "(logistic regression) on per-clip mean and standard deviation of the CSI features, fitted on the "
                  "training split; its Top-1 is the floor a learned CSI encoder must clear (it writes no captions).")
COLUMN_NOTE = ("Direction acc.: share of clips whose caption names the correct side for every direction word of "
               "the reference. Top-1: CSI x class-caption similarity matrix, share of classes whose best match is "
               "their own caption.")


ONE_SEED_NOTE = ("one seed; [95 % interval]: percentile bootstrap over test clips for BLEU-4 (recomputed per "
                 "resample), ROUGE-L, CIDEr and SPICE; Wilson for direction accuracy and top-1; none for METEOR")


def direction_chance(r: Result | None) -> str | None:
    """The chance level a direction-accuracy result's note states (caption.evaluate writes it)."""
    import re

    found = re.search(r"chance \(side guessed\) ([0-9.]+)", (r.note or "") if r is not None else "")
    return found.group(1) if found else None


def _cell_note(r: Result | None) -> str | None:
    """Why a cell has no value, or no interval (METEOR at one seed); None when it has both."""
    from wifisense.report.text import short_reason

    if r is None:
        return "not run"
    if r.value is None:
        return short_reason(r.note or "not computed")
    return short_reason(r.note) if r.low is None and r.note else None


def design_table(results: Sequence[Result], design: str, label: Callable[[str], str] = str) -> Table | None:
    """One design's rows x the paper's metrics, mean [interval]; the best value per column in bold."""
    lines = select(results, study=design, seed="all")
    if not lines:
        return None
    cell = {(r.row, r.metric): r for r in lines}
    rows, values = [], []
    for name in dict.fromkeys(r.row for r in lines):
        row, numbers = [Cell(label(name))], [None]
        for metric, _ in COLUMNS:
            r = cell.get((name, metric))
            row.append(Cell(format_interval(r), numeric=True, note=_cell_note(r)))
            numbers.append(round(r.value, 3) if r is not None and r.value is not None else None)
        rows.append(row)
        values.append(numbers)
    bold_best(rows, values, range(1, len(COLUMNS) + 1), lower_is_better=False)
    split = lines[0].split
    chances = sorted({c for r in lines if r.metric == "direction_accuracy" for c in [direction_chance(r)] if c})
    chance_note = ([f"Direction acc. chance level (the side guessed: 1/2 per direction category, left/right or "
                    f"clockwise/counterclockwise, that a clip's "
                    f"references use): {', '.join(chances)}."] if chances else [])
    return Table(["Design"] + [h for _, h in COLUMNS], rows,
                 caption=f"{DESIGN_TITLES.get(design, design)}: {split} split, {interval_note(lines, ONE_SEED_NOTE)} "
                         "(higher is better; best per column in bold)",
                 notes=[REFERENCE_NOTE, COLUMN_NOTE, *chance_note])


def ablation_tables(results: Sequence[Result], label: Callable[[str], str] = str) -> list[Table]:
    """Every design the results hold, in the paper's order; ``label`` names a row."""
    designs = list(DESIGN_TITLES) + sorted({r.study for r in results} - set(DESIGN_TITLES))
    tables = [design_table(results, d, label) for d in designs]
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


# --------------------------------------------------------------------------- report sections

ROW_LABELS = {"full": "Full (mirror: full)", "baseline": "CSI→LM baseline", "mirror-none": "Mirror: none",
              "mirror-teacher": "Mirror: teacher only", "no CSI": "no CSI (reference)",
              "probe": "linear probe (reference)"}
METRICS_NOTE = ("BLEU-4, METEOR, ROUGE-L and CIDEr from pycocoevalcap against every reference paraphrase of a clip "
                "(higher is better). Full: all four stages (teacher, CSI student, CSI↔text, prefix LM) with the "
                "mirror-consistency loss in teacher and student; CSI→LM baseline: the same student and prefix LM "
                "trained only with the language-model loss; Mirror: none / teacher only: all stages, mirror loss "
                "off / in the teacher only; no CSI: the prefix LM on one constant embedding (the language prior).")


def row_label(name: str) -> str:
    return ROW_LABELS.get(name, name)


def headline_study(results: Sequence[Result]) -> str:
    """The design the headline reads: "main" or "core" (the demo's), whichever the results hold."""
    studies = {r.study for r in results}
    return next((s for s in ("main", "core") if s in studies), "main")


def caption_headline(results: Sequence[Result]) -> list[tuple[str, str]]:
    """(what, value) lines for the report's headline table: full vs baseline vs the reference."""
    out = []
    study = headline_study(results)
    for row in ("full", "baseline", "no CSI"):
        lines = {r.metric: r for r in select(results, study=study, row=row, seed="all")}
        if "BLEU-4" in lines:
            out.append((f"{row_label(row)}: BLEU-4", format_interval(lines["BLEU-4"])))
    full = {r.metric: r for r in select(results, study=study, row="full", seed="all")}
    if full.get("direction_accuracy") is not None:
        chance = direction_chance(full["direction_accuracy"])
        out.append(("Full: direction accuracy (left/right named correctly)",
                    format_interval(full["direction_accuracy"])
                    + (f"; chance (side guessed) {chance}" if chance else "")))
    if full.get("class_top1") is not None:
        out.append(("Full: CSI↔text top-1 matching accuracy (classes)", format_interval(full["class_top1"])))
    return out


def caption_sections(folder, results: Sequence[Result] | None, reason: str = "") -> list:
    """The caption part of a report from a ``caption ablate`` folder and its typed results (None: ``reason``)."""
    from pathlib import Path

    from wifisense.report.document import Figure, Paragraph, Section
    from wifisense.report.text import read_json_object

    folder = Path(folder)
    titles = (("caption-metrics", "Caption metrics"), ("examples", "Qualitative examples"),
              ("similarity", "CSI–text similarity"))
    if results is None:
        from wifisense.report.text import not_run
        return [Section(a, t, [not_run("the caption ablation", reason)]) for a, t in titles]
    tables = ablation_tables(results, label=row_label)
    metrics = Section(*titles[0], [*tables, Paragraph([METRICS_NOTE], kind="note")])
    examples = Section(*titles[1], example_blocks(read_json_object(folder / "examples.json")[0] or {}))
    figures = read_json_object(folder / "figures.json")[0] or {}
    path = folder / figures["similarity"] if figures.get("similarity") else None
    per_seed = [r for r in results if r.study == headline_study(results) and r.row == "full" and r.seed != "all"]
    first = min((r.seed for r in per_seed), default=None)          # the seed the figure was drawn for
    full = {r.metric: r for r in per_seed if r.seed == first}
    if path is None or not path.is_file():
        from wifisense.report.text import not_run
        why = (full.get("class_top1").note if full.get("class_top1") is not None and full["class_top1"].note else
               f"{path} was not written" if path else "figures.json names no similarity figure")
        similarity = Section(*titles[2], [not_run("the similarity matrix", why)])
    else:
        text = ["Cosine similarity between the full model's class-mean CSI embeddings (rows) and the class caption "
                "embeddings (columns) on the test split (first seed). Top-1 matching accuracy: ",
                ("b", format_interval(full.get("class_top1"))), " of classes"]
        if full.get("clip_top1") is not None and full["clip_top1"].value is not None:
            text += [", ", ("b", format_interval(full["clip_top1"])), " of single clips"]
        text.append(" (chance: one over the number of classes).")
        similarity = Section(*titles[2], [Paragraph(text), Figure(
            path, "CSI × text cosine similarity; a red box marks each row's best match.", "caption_similarity.png")])
    return [metrics, examples, similarity]


def example_blocks(examples: dict) -> list:
    """A correct and a partly wrong caption, words that differ from the closest reference marked."""
    from wifisense.report.document import Example, Paragraph
    from wifisense.report.text import closest_reference, diff_words, not_run

    blocks, shown = [], []
    for key, label in (("correct", "A correct caption"), ("partly_wrong", "A partly wrong caption")):
        example = examples.get(key)
        if not example or not (example.get("prediction") or example.get("references")):
            blocks.append(not_run(label.lower(), "examples.json has no such example"))
            continue
        if example in shown:  # a tiny test split can offer one clip for both roles
            blocks.append(Paragraph([f"{label}: the test split offered no other clip than the one above."],
                                    kind="note"))
            continue
        shown.append(example)
        references = [str(r) for r in example.get("references") or []]
        prediction = str(example.get("prediction") or "")
        ref_words, pred_words = diff_words(closest_reference(references, prediction), prediction)
        if key == "correct" and any(differs for _, differs in pred_words + ref_words):
            label = "The best caption (no prediction matched a reference exactly)"
        blocks.append(Example(label, str(example.get("class", "?")), ref_words, pred_words, len(references) - 1))
    blocks.append(Paragraph([("Each clip has several reference paraphrases; the ground truth shown is the one closest "
                              "to the prediction. Words that differ are highlighted (bold in the Markdown report).")],
                            kind="note"))
    return blocks
