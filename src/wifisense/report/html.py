"""The demo report: reads a ``wifisense demo`` output folder and writes one self-contained report.html (and report.md).

The report is built in two steps. ``report_sections`` turns the three result files of a
demo folder (``summary.json``, ``caption/ablation.json``, ``track/results.json``; shapes in
the session contracts) into a small document model (sections of paragraphs, tables,
figures, examples and "not run" notes); ``render_html`` here and
``wifisense.report.markdown.render_markdown`` write that model out, so both files carry
the same content. HTML is written with string templates and ``html.escape`` (the
standard library is enough for a fixed layout; a template engine would be a dependency
for no gain). Images are embedded as base64 ``data:`` URIs, CSS is inline and nothing
external is loaded, so report.html opens offline and can be mailed as one file. The output
depends only on the files in the folder, so rebuilding gives byte-identical files.
"""

from __future__ import annotations

import base64
import difflib
import html
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wifisense.report.document import (
    Block,
    Cell,
    Example,
    Figure,
    NotRun,
    Paragraph,
    Report,
    Section,
    Span,
    Table,
    bold_best,
    footnote_markers,
)

# ----------------------------------------------------------------------------- reading results

SUMMARY_FILE = "summary.json"
ABLATION_FILE = Path("caption") / "ablation.json"
COMPARE_FILE = Path("track") / "results.json"
TRACK_FIGURES_FILE = Path("track") / "figures.json"
HTML_FILE = "report.html"
MD_FILE = "report.md"
MD_FILES_DIR = "report_files"

CAPTION_METRICS = ("BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "SPICE")
ACCURACY_METRICS = ("direction_accuracy", "class_top1", "R@1", "R@5")
METRIC_LABELS = {"direction_accuracy": "Direction acc.", "class_top1": "CSI↔text top-1",
                 "clip_top1": "clip top-1", "R@1": "R@1", "R@5": "R@5"}
CAPTION_ROW_LABELS = {"full": "Full (mirror: full)", "baseline": "CSI→LM baseline",
                      "mirror-none": "Mirror: none", "mirror-teacher": "Mirror: teacher only"}
TRACK_DESCRIPTIONS = (  # (methods, one sentence shown under Table I when any of them is in it)
    (("linear-int", "nearest-int"), "LinearInt / NearestInt map interpolated frames to positions (frame to frame)."),
    (("rnn-decay", "rnn-dt"), ("RNN-Decay and RNN-Δt are sequence-to-sequence recurrent baselines for irregular "
                              "samples.")),
    (("ddnd",), "DDND is a single-band latent ODE."),
    (("ndf",), "NDF fuses both bands through a shared latent ODE."),
)


@dataclass
class DemoResults:
    """The three result files of a demo folder; a file that is missing or unreadable is None with a reason."""

    out_dir: Path
    summary: dict | None
    ablation: dict | None
    compare: dict | None
    reasons: dict[str, str]


def _read_json(path: Path, kind: type = dict) -> tuple[dict | list | None, str]:
    if not path.is_file():
        return None, f"{path.name} was not written"
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"{path} could not be read ({error})"
    if not isinstance(payload, kind):
        return None, f"{path} does not hold a JSON {'object' if kind is dict else 'list'}"
    return payload, ""


def load_results(out_dir: str | os.PathLike) -> DemoResults:
    """Read summary.json, caption/ablation.json and track/results.json; raise ConfigError when none exists."""
    from wifisense.errors import ConfigError

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: no such folder (give the --out folder of `wifisense demo`)")
    loaded = {key: _read_json(out_dir / name, kind) for key, name, kind in
              (("summary", SUMMARY_FILE, dict), ("caption", ABLATION_FILE, dict), ("track", COMPARE_FILE, list))}
    if all(payload is None for payload, _ in loaded.values()) and not any(
            (out_dir / name).exists() for name in (SUMMARY_FILE, ABLATION_FILE, COMPARE_FILE)):
        raise ConfigError(f"{out_dir}: holds none of {SUMMARY_FILE}, {ABLATION_FILE}, {COMPARE_FILE}; "
                          "is this the --out folder of `wifisense demo`?")
    if loaded["track"][0] is not None:
        from wifisense.runs.results import results_from_json

        figures = _read_json(out_dir / TRACK_FIGURES_FILE)[0] or {}
        loaded["track"] = ({"results": results_from_json(loaded["track"][0]), "figures": figures}, "")  # typed
    summary = loaded["summary"][0]
    reasons = {}
    for part in ("caption", "track"):
        payload, reason = loaded[part]
        if payload is None:
            # the demo records why a part did not finish; prefer that to "file not written"
            status = ((summary or {}).get("parts") or {}).get(part) or {}
            if status.get("status") in ("failed", "skipped") and status.get("reason"):
                reason = f"{status['status']}: {status['reason']}"
            reasons[part] = reason
    if summary is None:
        reasons["summary"] = loaded["summary"][1]
    return DemoResults(out_dir, summary, loaded["caption"][0], loaded["track"][0], reasons)


# ----------------------------------------------------------------------------- formatting helpers

def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def format_score(value: Any) -> str:
    """Caption scores (0..1, CIDEr up to 10) with three decimals."""
    return f"{value:.3f}" if _finite(value) else "—"


def format_percent(value: Any) -> str:
    return f"{100.0 * value:.1f} %" if _finite(value) else "—"


def format_metres(value: Any) -> str:
    return f"{value:.2f}" if _finite(value) else "—"


def format_seconds(value: Any) -> str:
    """``75.3`` -> ``1 min 15 s``; under a minute with one decimal."""
    if not _finite(value):
        return "—"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _shown(value: Any, digits: int) -> float | None:
    """The value as the table shows it, so two cells that read the same are never told apart in bold."""
    return round(float(value), digits) if _finite(value) else None


def short_reason(text: str, limit: int = 140) -> str:
    """A long reason cut at its first clause, pointing to the full text (footnotes stay one or two lines)."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cuts = [i for i in (text.find(": "), text.find("; "), text.find(". ")) if 0 < i]
    cut = min(cuts) if cuts else limit
    return text[:cut].rstrip(" .:;") + " (full text in the JSON file)"


def _words(text: str) -> list[str]:
    return text.split()


def _normalise_word(word: str) -> str:
    return re.sub(r"[^\w]", "", word.lower())


def diff_words(reference: str, prediction: str) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Word-level difference: each word of both captions with True where it is not shared (case/punctuation ignored)."""
    ref, pred = _words(reference), _words(prediction)
    matcher = difflib.SequenceMatcher(a=[_normalise_word(w) for w in ref], b=[_normalise_word(w) for w in pred],
                                      autojunk=False)
    ref_same, pred_same = [False] * len(ref), [False] * len(pred)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            ref_same[block.a + k] = True
            pred_same[block.b + k] = True
    return ([(w, not s) for w, s in zip(ref, ref_same)], [(w, not s) for w, s in zip(pred, pred_same)])


def closest_reference(references: list[str], prediction: str) -> str:
    """The reference sharing the most words in order with the prediction (first one on ties)."""
    pred = [_normalise_word(w) for w in _words(prediction)]

    def score(ref: str) -> float:
        return difflib.SequenceMatcher(a=[_normalise_word(w) for w in _words(ref)], b=pred, autojunk=False).ratio()

    return max(references, key=score) if references else ""


# ----------------------------------------------------------------------------- sections

def _not_run(what: str, reason: str) -> NotRun:
    return NotRun(what, reason or "no reason was recorded")


def _caption_rows(ablation: dict) -> list[dict]:
    return (((ablation.get("designs") or {}).get("main") or {}).get("rows")) or []


def _row_by_name(rows: list[dict], name: str) -> dict | None:
    return next((r for r in rows if r.get("name") == name), None)


def overview_section(results: DemoResults) -> Section:
    summary = results.summary or {}
    blocks: list[Block] = []
    if summary.get("quick"):
        blocks.append(Paragraph(["This is a ", ("b", "--quick"), (" run: tiny datasets and a few training steps, "
                                 "meant to check that everything runs. Its numbers say nothing about how well the "
                                 "models work; run "), ("code", "wifisense demo"), " without --quick for those."],
                                kind="warning"))
    datasets = summary.get("datasets") or {}
    actions, traj = datasets.get("actions") or {}, datasets.get("trajectories") or {}
    text: list[Span] = [("The demo simulated two datasets with the physically grounded channel model and trained "
                        "both systems on them. ")]
    if actions:
        text += [("b", "Caption"), (f" (WiFi2Cap): {actions.get('clips', '?')} clips of "
                 f"{actions.get('classes', '?')} action classes ({_plain(actions.get('clip_seconds'))} s each, one "
                 "transmitter and three receivers); the full pipeline (teacher, CSI student, prefix LM) is compared "
                 "with the CSI→LM baseline and with the mirror-consistency loss switched off or used in the "
                 "teacher only. ")]
    if traj:
        text += [("b", "Track"), (f" (Neural Dynamic Fusion): a robot driving loops for "
                 f"{format_seconds(traj.get('duration_s'))}, seen as 5 GHz CSI and 60 GHz beam SNR; NDF is compared "
                 "with frame-to-frame and sequence-to-sequence baselines on each band and on both.")]
    blocks.append(Paragraph(text))
    blocks.append(_headline_table(results))
    return Section("overview", "Overview", blocks)


def _headline_table(results: DemoResults) -> Table:
    rows: list[list[Cell]] = []

    def add(part: str, what: str, value: str, note: str | None = None) -> None:
        rows.append([Cell(part), Cell(what), Cell(value, numeric=True, note=note)])

    if results.ablation is not None:
        caption_rows = _caption_rows(results.ablation)
        for name in ("full", "baseline"):
            row = _row_by_name(caption_rows, name)
            if row is not None:
                m = row.get("metrics") or {}
                add("Caption", f"{CAPTION_ROW_LABELS.get(name, name)}: BLEU-4 / CIDEr",
                    f"{format_score(m.get('BLEU-4'))} / {format_score(m.get('CIDEr'))}")
        full = _row_by_name(caption_rows, "full")
        if full is not None:
            add("Caption", "CSI↔text top-1 matching accuracy (classes)",
                format_percent((full.get("metrics") or {}).get("class_top1")))
    else:
        add("Caption", "not run", "—", note=results.reasons.get("caption"))
    if results.compare is not None:
        # NDF's point is fusing both bands: headline it there, against the best baseline on both bands
        from wifisense.runs import format_interval, select
        from wifisense.track.report import REFERENCE_LABEL, method_label

        both = [r for r in select(results.compare["results"], study="I", setting="csi+snr", metric="mean_m",
                                  seed="all") if r.value is not None]
        ndf = [r for r in both if r.row == "ndf"]
        if ndf:
            add("Track", "NDF, both bands: mean error", f"{format_interval(ndf[0], 2)} m")
        others = [r for r in both if r.row != "ndf"]
        if others:
            best = min(others, key=lambda r: r.value)
            add("Track", f"best baseline on both bands ({method_label(best.row)}): mean error",
                f"{format_interval(best, 2)} m")
        reference = select(results.compare["results"], study="I", row=REFERENCE_LABEL, metric="mean_m", seed="all")
        if reference:
            add("Track", "reference: training-mean position, mean error", f"{format_interval(reference[0], 2)} m")
    else:
        add("Track", "not run", "—", note=results.reasons.get("track"))
    total = (results.summary or {}).get("wall_s")
    if _finite(total):
        add("Demo", "total wall time", format_seconds(total))
    return Table(["Part", "Result", "Value"], rows, caption="Headline numbers (test split)")


def caption_metrics_section(results: DemoResults) -> Section:
    title = "Caption metrics"
    if results.ablation is None:
        return Section("caption-metrics", title, [_not_run("the caption ablation", results.reasons.get("caption", ""))])
    blocks: list[Block] = []
    designs = results.ablation.get("designs") or {}
    if not designs:
        blocks.append(_not_run("the caption ablation", "ablation.json lists no designs"))
    for key, design in designs.items():
        rows = design.get("rows") or []
        if not rows:
            blocks.append(_not_run(f"design {key}", "no rows"))
            continue
        blocks.append(_caption_table(design.get("title") or key, rows, results.ablation.get("split", "test")))
    blocks.append(Paragraph([
        ("BLEU-4, METEOR, ROUGE-L and CIDEr from pycocoevalcap against every reference paraphrase of a clip "
        "(higher is better). Full: all four stages (teacher, CSI student, CSI↔text, prefix LM) with the "
        "mirror-consistency loss in teacher and student; CSI→LM baseline: the same student and prefix LM trained "
        "only with the language-model loss; Mirror: none / teacher only: all stages, mirror loss off / in the "
        "teacher only. Direction acc.: share of captions with the right direction words (left/right, "
        "clockwise/counterclockwise). CSI↔text top-1: share of classes whose mean CSI embedding is closest to "
        "their own caption embedding; R@k: share of clips whose class caption is among the k nearest. "
        "Best value per column in bold.")], kind="note"))
    return Section("caption-metrics", title, blocks)


def _caption_table(title: str, rows: list[dict], split: str) -> Table:
    metrics = CAPTION_METRICS + ACCURACY_METRICS
    columns = ["Model", *[METRIC_LABELS.get(m, m) for m in metrics], "Train time"]
    cells, values = [], []
    for row in rows:
        m = row.get("metrics") or {}
        missing = row.get("not_computed") or {}
        label = CAPTION_ROW_LABELS.get(row.get("name"),
                                       f"{row.get('name')} (stages {row.get('stages')}, mirror {row.get('mirror')})")
        line = [Cell(label)]
        for metric in metrics:
            value = m.get(metric)
            text = format_score(value) if metric in CAPTION_METRICS else format_percent(value)
            note = None if _finite(value) else short_reason(missing.get(metric) or f"{metric} was not reported")
            line.append(Cell(text, numeric=True, note=note))
        line.append(Cell(format_seconds(row.get("train_s")), numeric=True))
        cells.append(line)
        # scores show 3 decimals, percentages 1 decimal of a percent: both are 3 decimals of the value
        values.append([None, *[_shown(m.get(metric), 3) for metric in metrics], None])
    bold_best(cells, values, range(1, len(metrics) + 1), lower_is_better=False)
    return Table(columns, cells, caption=f"{title} ({split} split)")


def examples_section(results: DemoResults) -> Section:
    title = "Qualitative examples"
    if results.ablation is None:
        return Section("examples", title, [_not_run("the caption ablation", results.reasons.get("caption", ""))])
    examples = results.ablation.get("examples") or {}
    blocks: list[Block] = []
    shown: list[dict] = []
    for key, label in (("correct", "A correct caption"), ("partly_wrong", "A partly wrong caption")):
        example = examples.get(key)
        if not example or not (example.get("prediction") or example.get("references")):
            blocks.append(_not_run(label.lower(), "ablation.json has no such example"))
            continue
        if example in shown:  # a tiny test split can offer one clip for both roles
            blocks.append(Paragraph([f"{label}: the test split offered no other clip than the one above."],
                                    kind="note"))
            continue
        shown.append(example)
        references = [str(r) for r in example.get("references") or []]
        prediction = str(example.get("prediction") or "")
        reference = closest_reference(references, prediction)
        ref_words, pred_words = diff_words(reference, prediction)
        if key == "correct" and any(differs for _, differs in pred_words + ref_words):
            # the contract falls back to the best BLEU-4 clip when no caption is exactly right
            label = "The best caption (no prediction matched a reference exactly)"
        blocks.append(Example(label, str(example.get("class", "?")), ref_words, pred_words, len(references) - 1))
    if blocks:
        blocks.append(Paragraph([("Each clip has several reference paraphrases; the ground truth shown is the one "
                                 "closest to the prediction. Words that differ are highlighted (bold in the Markdown "
                                 "report).")], kind="note"))
    return Section("examples", title, blocks)


def similarity_section(results: DemoResults) -> Section:
    title = "CSI–text similarity"
    if results.ablation is None:
        return Section("similarity", title, [_not_run("the caption ablation", results.reasons.get("caption", ""))])
    full = _row_by_name(_caption_rows(results.ablation), "full") or {}
    m = full.get("metrics") or {}
    figure = (results.ablation.get("figures") or {}).get("similarity")
    path = results.out_dir / "caption" / figure if figure else None
    if path is None or not path.is_file():
        reason = (full.get("not_computed") or {}).get("class_top1") or (
            f"{path} was not written" if path else "ablation.json names no similarity figure")
        return Section("similarity", title, [_not_run("the similarity matrix", reason)])
    text: list[Span] = [("Cosine similarity between the full model's class-mean CSI embeddings (rows) and the "
                        "class caption embeddings (columns) on the test split. Top-1 matching accuracy: "),
                        ("b", format_percent(m.get("class_top1"))), " of classes"]
    if _finite(m.get("clip_top1")):
        text += [", ", ("b", format_percent(m.get("clip_top1"))), " of single clips"]
    text.append(" (chance: one over the number of classes).")
    return Section("similarity", title, [Paragraph(text), Figure(path, "CSI × text cosine similarity; a red box "
                                                               "marks each row's best match.", "caption_similarity.png")])


def track_table_section(results: DemoResults) -> Section:
    title = "Track: Table I analogue"
    if results.compare is None:
        return Section("track-table", title, [_not_run("the track comparison", results.reasons.get("track", ""))])
    from wifisense.track.report import table1

    table = table1(results.compare["results"])
    if table is None:
        return Section("track-table", title, [_not_run("Table I", "results.json has no Table I lines")])
    names = {r.row for r in results.compare["results"]}
    described = [text for methods, text in TRACK_DESCRIPTIONS if any(m in names for m in methods)]
    return Section("track-table", title, [table, Paragraph([" ".join(described)], kind="note")])


def _track_figure(results: DemoResults, key: str) -> Path | None:
    rel = ((results.compare or {}).get("figures") or {}).get(key)
    path = results.out_dir / "track" / rel if rel else None
    return path if path is not None and path.is_file() else None


def error_cdf_section(results: DemoResults) -> Section:
    title = "Error CDFs"
    if results.compare is None:
        return Section("error-cdf", title, [_not_run("the track comparison", results.reasons.get("track", ""))])
    path = _track_figure(results, "error_cdf")
    if path is None:
        return Section("error-cdf", title, [_not_run("the error CDF figure", "compare.json names no existing "
                                                     "error_cdf figure")])
    return Section("error-cdf", title, [Figure(path, "Empirical CDF of the Table I localisation errors, one curve "
                                                     "per method (multi-band where it exists); further left is "
                                                     "better.", "track_error_cdf.png")])


def trajectories_section(results: DemoResults) -> Section:
    title = "Trajectories"
    if results.compare is None:
        return Section("trajectories", title, [_not_run("the track comparison", results.reasons.get("track", ""))])
    blocks: list[Block] = []
    path = _track_figure(results, "trajectories")
    if path is None:
        blocks.append(_not_run("the trajectory overlay", "compare.json names no existing trajectories figure"))
    else:
        blocks.append(Figure(path, "Test windows: ground truth (black), NDF and the best baseline (dashed); "
                                   "training positions faint.", "track_trajectories.png"))
    tsne = _track_figure(results, "tsne")
    if tsne is not None:
        blocks.append(Figure(tsne, "t-SNE of NDF latent states, coloured by region of the room.",
                             "track_tsne.png"))
    return Section("trajectories", title, blocks)


MACHINE_LABELS = {"platform": "Platform", "python": "Python", "cpu": "CPU", "cpu_count": "CPU cores",
                  "torch_threads": "Torch threads", "memory_gib": "Memory (GiB)", "accelerator": "Accelerator",
                  "torch": "torch", "numpy": "NumPy", "wifisense": "wifisense"}


def settings_section(results: DemoResults) -> Section:
    summary = results.summary
    blocks: list[Block] = []
    if summary is None:
        blocks.append(_not_run("the demo summary", results.reasons.get("summary", "")))
        return Section("settings", "Settings & machine", blocks)
    rows = [[Cell(k), Cell(v)] for k, v in _settings_pairs(summary)]
    blocks.append(Table(["Setting", "Value"], rows, caption="Settings"))
    parts = summary.get("parts") or {}
    if parts:
        with_notes = any(p.get("reason") for p in parts.values())
        part_rows = [[Cell(name), Cell(str(p.get("status", "?"))), Cell(format_seconds(p.get("wall_s")), numeric=True)]
                     + ([Cell(str(p.get("reason") or ""))] if with_notes else []) for name, p in parts.items()]
        blocks.append(Table(["Part", "Status", "Wall time"] + (["Note"] if with_notes else []), part_rows,
                            caption="Wall time of each part"))
    machine = summary.get("machine") or {}
    if isinstance(machine, dict) and machine:
        blocks.append(Table(["Machine", "Value"], [[Cell(MACHINE_LABELS.get(k, k)), Cell(_plain(v))]
                                                   for k, v in machine.items()], caption="Machine and versions"))
    return Section("settings", "Settings & machine", blocks)


def _describe(settings: Any, empty: str = "defaults") -> str:
    """``{"epochs": None, "batch_size": 32}`` -> ``epochs default, batch size 32``."""
    if not isinstance(settings, dict):
        return _plain(settings)
    items = [f"{k.replace('_', ' ')} {_describe(v) if isinstance(v, dict) else _plain(v, none='default')}"
             for k, v in settings.items() if k not in ("seed", "quick")]
    return ", ".join(items) if items else empty


def _size(n_bytes: Any) -> str:
    return f"{n_bytes / 2**20:.1f} MiB" if _finite(n_bytes) else "?"


def _dataset_text(name: str, info: dict) -> str:
    if name == "actions" and "clips" in info:
        text = (f"{info['clips']} clips of {info.get('classes', '?')} classes, {_plain(info.get('clip_seconds'))} s "
                f"at {_plain(info.get('sample_rate_hz'))} Hz")
    elif name == "trajectories" and "duration_s" in info:
        text = (f"{format_seconds(info['duration_s'])} of driving, {info.get('csi_frames', '?')} CSI frames, "
                f"{info.get('snr_frames', '?')} beam-SNR frames")
    else:
        text = _describe({k: v for k, v in info.items() if k not in ("path", "bytes", "splits")})
    if info.get("splits"):
        text += f"; splits {info['splits']}"
    return f"{text}; {info.get('path', name)} {_size(info.get('bytes'))}"


def _settings_pairs(summary: dict) -> list[tuple[str, str]]:
    pairs = [("seed", str(summary.get("seed", "?"))),
             ("mode", "--quick (tiny data, a few steps)" if summary.get("quick") else "full demo")]
    if summary.get("command"):
        pairs.append(("command", str(summary["command"])))
    settings = summary.get("settings") or {}
    for part, label in (("caption", "caption training"), ("track", "track training"),
                        ("actions", "actions simulator"), ("trajectories", "trajectories simulator")):
        if part in settings:
            pairs.append((label, _describe(settings[part])))
    for name, info in (summary.get("datasets") or {}).items():
        if isinstance(info, dict):
            pairs.append((f"{name} dataset", _dataset_text(name, info)))
    if summary.get("started"):
        pairs.append(("started", str(summary["started"])))
    if _finite(summary.get("wall_s")):
        pairs.append(("total wall time", format_seconds(summary["wall_s"])))
    return pairs


def _plain(value: Any, none: str = "—") -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_plain(v) for v in value)
    return none if value is None else str(value)


def report_sections(results: DemoResults) -> Report:
    """The report's content, independent of the output format."""
    sections = [overview_section(results), caption_metrics_section(results), examples_section(results),
                similarity_section(results), track_table_section(results), error_cdf_section(results),
                trajectories_section(results), settings_section(results)]
    summary = results.summary or {}
    subtitle = (f"wifisense demo · seed {summary.get('seed', '?')} · "
                f"{'quick run' if summary.get('quick') else 'full run'}")
    if summary.get("version"):
        subtitle += f" · wifisense {summary['version']}"
    return Report("WiFi sensing demo report", subtitle, sections)


# ----------------------------------------------------------------------------- HTML

CSS = """
:root { --ink: #1f2328; --muted: #59636e; --rule: #d1d9e0; --accent: #0b5cad; --shade: #f6f8fa;
        --mark: #ffe08a; --warn: #fff4d6; --warn-rule: #e0b100; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.55; font-size: 16px;
       font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1060px; margin: 0 auto; padding: 32px 28px 64px; }
h1 { font-size: 1.9rem; margin: 0 0 4px; line-height: 1.25; }
.subtitle { color: var(--muted); margin: 0 0 20px; }
h2 { font-size: 1.35rem; margin: 40px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.05rem; margin: 20px 0 6px; }
p { margin: 10px 0; }
p.note { color: var(--muted); font-size: 0.9rem; }
.warning { background: var(--warn); border-left: 4px solid var(--warn-rule); padding: 10px 14px; border-radius: 4px; }
.notrun { background: var(--shade); border: 1px dashed #8c959f; padding: 10px 14px; border-radius: 4px; }
.notrun strong { color: #9a3412; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em;
       background: var(--shade); padding: 1px 4px; border-radius: 3px; }
nav.toc { background: var(--shade); border: 1px solid var(--rule); border-radius: 6px; padding: 10px 18px;
          margin: 8px 0 8px; display: inline-block; }
nav.toc h2 { font-size: 0.95rem; border: 0; margin: 0 0 4px; padding: 0; }
nav.toc ol { margin: 0; padding-left: 20px; columns: 2; column-gap: 36px; }
nav.toc a { color: var(--accent); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
.table-wrap { overflow-x: auto; margin: 8px 0 4px; }
table { border-collapse: collapse; font-size: 0.9rem; }
caption { text-align: left; font-weight: 600; padding: 4px 0 6px; }
td:first-child { min-width: 9em; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--rule); vertical-align: top; }
thead th { background: var(--shade); border-bottom: 2px solid var(--rule); text-align: left; }
thead tr.groups th { text-align: center; border-bottom: 1px solid var(--rule); }
thead tr.groups th + th, td.group-start, th.group-start { border-left: 1px solid var(--rule); }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:hover { background: #fafbfc; }
td strong { font-weight: 700; }
sup { font-size: 0.7em; color: var(--accent); }
ol.footnotes { font-size: 0.85rem; color: var(--muted); margin: 4px 0 12px; padding-left: 20px;
               list-style-type: lower-alpha; }
figure { margin: 14px 0 18px; }
figure img { max-width: min(100%, 900px); height: auto; border: 1px solid var(--rule); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 0.9rem; margin-top: 4px; }
.example { border: 1px solid var(--rule); border-radius: 6px; padding: 8px 14px; margin: 12px 0; }
.example h3 { margin: 4px 0 6px; }
.example table { width: 100%; }
.example th { width: 9.5em; text-align: left; color: var(--muted); font-weight: 600; }
mark { background: var(--mark); padding: 0 2px; border-radius: 2px; }
footer { margin-top: 48px; color: var(--muted); font-size: 0.85rem; }
"""

def _spans_html(spans: list[Span]) -> str:
    out = []
    for span in spans:
        if isinstance(span, str):
            out.append(html.escape(span))
        else:
            style, text = span
            tag = {"b": "strong", "code": "code"}.get(style, "span")
            out.append(f"<{tag}>{html.escape(text)}</{tag}>")
    return "".join(out)


def _group_starts(table: Table) -> set[int]:
    starts, col = set(), 0
    for _, span in table.groups or []:
        if col > 0:
            starts.add(col)
        col += span
    return starts


def _table_html(table: Table) -> str:
    markers = footnote_markers(table)
    starts = _group_starts(table)
    numeric_cols = {j for row in table.rows for j, cell in enumerate(row) if cell.numeric}
    lines = ['<div class="table-wrap"><table>']
    if table.caption:
        lines.append(f"<caption>{html.escape(table.caption)}</caption>")
    lines.append("<thead>")
    if table.groups:
        lines.append('<tr class="groups">' + "".join(
            f'<th colspan="{span}">{html.escape(label)}</th>' for label, span in table.groups) + "</tr>")
    lines.append("<tr>" + "".join(
        f'<th class="{_classes(j in numeric_cols, j in starts)}" scope="col">{html.escape(c)}</th>'
        for j, c in enumerate(table.columns)) + "</tr></thead><tbody>")
    for row in table.rows:
        tds = []
        for j, cell in enumerate(row):
            text = html.escape(cell.text)
            if cell.bold:
                text = f"<strong>{text}</strong>"
            if cell.note:
                text += f"<sup>{markers[cell.note]}</sup>"
            tds.append(f'<td class="{_classes(cell.numeric, j in starts)}">{text}</td>')
        lines.append("<tr>" + "".join(tds) + "</tr>")
    lines.append("</tbody></table></div>")
    if markers:
        lines.append('<ol class="footnotes">' + "".join(
            f"<li>{html.escape(note)}</li>" for note in markers) + "</ol>")
    for note in table.notes:
        lines.append(f'<p class="note">{html.escape(note)}</p>')
    return "\n".join(lines)


def _classes(numeric: bool, group_start: bool) -> str:
    return " ".join(name for name, on in (("num", numeric), ("group-start", group_start)) if on)


def _words_html(words: list[tuple[str, bool]]) -> str:
    return " ".join(f"<mark>{html.escape(w)}</mark>" if differs else html.escape(w) for w, differs in words)


def _png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _block_html(block: Block) -> str:
    if isinstance(block, Paragraph):
        cls = {"note": ' class="note"', "warning": ' class="warning"'}.get(block.kind, "")
        return f"<p{cls}>{_spans_html(block.spans)}</p>"
    if isinstance(block, Table):
        return _table_html(block)
    if isinstance(block, Figure):
        return (f'<figure><img src="{_png_data_uri(block.path)}" alt="{html.escape(block.caption)}">'
                f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
    if isinstance(block, NotRun):
        return (f'<div class="notrun"><strong>Not run:</strong> {html.escape(block.what)}. '
                f"Reason: {html.escape(block.reason)}</div>")
    if isinstance(block, Example):
        return (f'<div class="example"><h3>{html.escape(block.title)}</h3><table>'
                f"<tr><th>Action class</th><td><code>{html.escape(block.class_name)}</code></td></tr>"
                f"<tr><th>Ground truth</th><td>{_words_html(block.reference)}</td></tr>"
                f"<tr><th>Prediction</th><td>{_words_html(block.prediction)}</td></tr></table></div>")
    raise TypeError(f"unknown report block {type(block).__name__}")


def render_html(report: Report) -> str:
    """The whole report as one HTML document (inline CSS, embedded images, no external resources)."""
    toc = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in report.sections)
    body = []
    for section in report.sections:
        body.append(f'<section id="{section.anchor}"><h2>{html.escape(section.title)}</h2>')
        body += [_block_html(block) for block in section.blocks]
        body.append("</section>")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(report.title)}</title>", f"<style>{CSS}</style>", "</head>", "<body><main>",
        f"<h1>{html.escape(report.title)}</h1>", f'<p class="subtitle">{html.escape(report.subtitle)}</p>',
        f'<nav class="toc"><h2>Contents</h2><ol>{toc}</ol></nav>', *body,
        ("<footer>Written by <code>wifisense report</code> from summary.json, caption/ablation.json and "
        "track/results.json; rebuild with <code>wifisense report DIR</code>.</footer>"),
        "</main></body>", "</html>", ""])


# ----------------------------------------------------------------------------- entry point

def build_report(out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``OUT/report.html`` and ``OUT/report.md`` (+ ``OUT/report_files/*.png``); return both paths.

    Raises ConfigError when ``out_dir`` is not a demo output folder. Missing parts are
    shown as "not run" with their reason.
    """
    from wifisense.io.atomic import atomic_write_text
    from wifisense.report.markdown import render_markdown

    results = load_results(out_dir)
    report = report_sections(results)
    html_path = results.out_dir / HTML_FILE
    md_path = results.out_dir / MD_FILE
    atomic_write_text(html_path, render_html(report))
    atomic_write_text(md_path, render_markdown(report, results.out_dir / MD_FILES_DIR, relative_to=results.out_dir))
    # atomic_write_text already gives both the mode open() would (0666 minus the umask)
    return html_path, md_path
