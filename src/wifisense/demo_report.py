"""The ``wifisense demo`` report: each task's sections from its study folder, plus the demo's overview and settings.

``build_report(OUT)`` reads ``OUT/summary.json`` (the demo's settings, machine and part
status) and asks each task for its sections: ``caption.report.caption_sections`` from
``OUT/caption/`` and ``track.report.track_sections`` from ``OUT/track/`` (typed
``results.json`` plus ``figures.json``), then writes ``report.html`` and ``report.md`` with
``report.html.write_report``. A part whose results are missing is shown as "not run" with
the reason the demo recorded. ``wifisense report OUT`` rebuilds both files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from wifisense.report.document import Block, Cell, Paragraph, Report, Section, Span, Table
from wifisense.report.text import finite, format_seconds, not_run, plain, read_json_object

SUMMARY_FILE = "summary.json"
PARTS = ("caption", "track")


def part_reason(summary: dict | None, part: str) -> str:
    """Why a part has no results, as the demo recorded it ("" when it did not record one)."""
    status = ((summary or {}).get("parts") or {}).get(part) or {}
    if status.get("status") in ("failed", "skipped") and status.get("reason"):
        return f"{status['status']}: {status['reason']}"
    return ""


def overview_section(summary: dict, headline: dict[str, list[tuple[str, str]]], reasons: dict[str, str]) -> Section:
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
        designs = ((summary.get("settings") or {}).get("caption") or {}).get("designs") or []
        modes = ("with the mirror-consistency loss switched off or used in the teacher only, "
                 if {"main", "mirror"} & set(designs) else "")
        text += [("b", "Caption"), (f" (WiFi2Cap): {actions.get('clips', '?')} clips of "
                 f"{actions.get('classes', '?')} action classes ({plain(actions.get('clip_seconds'))} s each, one "
                 "transmitter and three receivers); the full pipeline (teacher, CSI student, prefix LM) is compared "
                 f"with the CSI→LM baseline, {modes}and with two references: no CSI (the language prior) and a linear "
                 "probe on CSI statistics (the floor a learned encoder must clear). ")]
    if traj:
        text += [("b", "Track"), (f" (Neural Dynamic Fusion): a robot driving loops for "
                 f"{format_seconds(traj.get('duration_s'))}, seen as 5 GHz CSI and 60 GHz beam SNR; NDF is compared "
                 "with frame-to-frame and sequence-to-sequence baselines on each band and on both, and with the "
                 "training-mean reference.")]
    blocks.append(Paragraph(text))
    rows = []
    for part in PARTS:
        lines = headline.get(part)
        if lines:
            rows += [[Cell(part.capitalize()), Cell(what), Cell(value, numeric=True)] for what, value in lines]
        else:
            rows.append([Cell(part.capitalize()), Cell("not run"), Cell("—", numeric=True, note=reasons.get(part))])
    if finite(summary.get("wall_s")):
        rows.append([Cell("Demo"), Cell("total wall time"), Cell(format_seconds(summary["wall_s"]), numeric=True)])
    blocks.append(Table(["Part", "Result", "Value"], rows,
                        caption="Headline numbers (test split; [95 % interval] or ± half-width over seeds)"))
    return Section("overview", "Overview", blocks)


MACHINE_LABELS = {"platform": "Platform", "python": "Python", "cpu": "CPU", "cpu_count": "CPU cores",
                  "torch_threads": "Torch threads", "memory_gib": "Memory (GiB)", "accelerator": "Accelerator",
                  "torch": "torch", "numpy": "NumPy", "wifisense": "wifisense"}


def settings_section(summary: dict | None, reason: str = "") -> Section:
    blocks: list[Block] = []
    if summary is None:
        blocks.append(not_run("the demo summary", reason))
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
        blocks.append(Table(["Machine", "Value"], [[Cell(MACHINE_LABELS.get(k, k)), Cell(plain(v))]
                                                   for k, v in machine.items()], caption="Machine and versions"))
    return Section("settings", "Settings & machine", blocks)


def _describe(settings: Any, empty: str = "defaults") -> str:
    """``{"epochs": None, "batch_size": 32}`` -> ``epochs default, batch size 32``."""
    if not isinstance(settings, dict):
        return plain(settings)
    items = [f"{k.replace('_', ' ')} {_describe(v) if isinstance(v, dict) else plain(v, none='default')}"
             for k, v in settings.items() if k not in ("seed", "quick")]
    return ", ".join(items) if items else empty


def _size(n_bytes: Any) -> str:
    return f"{n_bytes / 2**20:.1f} MiB" if finite(n_bytes) else "?"


def _dataset_text(name: str, info: dict) -> str:
    if name == "actions" and "clips" in info:
        text = (f"{info['clips']} clips of {info.get('classes', '?')} classes, {plain(info.get('clip_seconds'))} s "
                f"at {plain(info.get('sample_rate_hz'))} Hz")
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
    if finite(summary.get("wall_s")):
        pairs.append(("total wall time", format_seconds(summary["wall_s"])))
    return pairs


def demo_report(out_dir: str | os.PathLike) -> Report:
    """The report's content, independent of the output format (raises ConfigError for a folder that is no demo)."""
    from wifisense.caption.report import caption_headline, caption_sections
    from wifisense.errors import ConfigError
    from wifisense.report.text import read_study_results
    from wifisense.track.report import track_headline, track_sections

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: no such folder (give the --out folder of `wifisense demo`)")
    if not any((out_dir / name).exists() for name in (SUMMARY_FILE, *PARTS)):
        raise ConfigError(f"{out_dir}: holds none of {SUMMARY_FILE}, caption/, track/; is this the --out folder of "
                          "`wifisense demo`?")
    summary, summary_reason = read_json_object(out_dir / SUMMARY_FILE)
    reasons, headline, parts = {}, {}, []
    for part, lines, sections_of in (("caption", caption_headline, caption_sections),
                                     ("track", track_headline, track_sections)):
        results, missing = read_study_results(out_dir / part)      # read once: headline and sections
        reasons[part] = part_reason(summary, part) or missing
        headline[part] = lines(results) if results is not None else []
        parts += sections_of(out_dir / part, results, reasons[part])
    sections = [overview_section(summary or {}, headline, reasons), *parts, settings_section(summary, summary_reason)]
    summary = summary or {}
    subtitle = (f"wifisense demo · seed {summary.get('seed', '?')} · "
                f"{'quick run' if summary.get('quick') else 'full run'}")
    if summary.get("version"):
        subtitle += f" · wifisense {summary['version']}"
    footer: list[Span] = ["Written by ", ("code", "wifisense report"), " from summary.json and each part's "
                          "results.json (typed results with 95 % intervals); rebuild with ",
                          ("code", "wifisense report DIR"), "."]
    return Report("WiFi sensing demo report", subtitle, sections, footer)


def build_report(out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``OUT/report.html`` and ``OUT/report.md`` (+ ``OUT/report_files/*.png``); return both paths."""
    from wifisense.report.html import write_report

    return write_report(demo_report(out_dir), out_dir)


# ----------------------------------------------------------------------------- CLI

def register(sub) -> None:
    p = sub.add_parser(
        "report", help="rebuild the HTML/Markdown report of a demo output folder",
        description="Rebuild RUN_DIR/report.html (one self-contained file: images embedded, opens offline) and "
        "RUN_DIR/report.md (+ RUN_DIR/report_files/) from RUN_DIR/summary.json and the typed results of "
        "RUN_DIR/caption/ and RUN_DIR/track/. A part whose results are missing is shown as 'not run' with the "
        "reason.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of `wifisense demo`")
    p.set_defaults(func=run)


def run(args) -> int:
    html_path, md_path = build_report(args.run_dir)
    if not getattr(args, "quiet", False):
        print(f"report: {html_path} and {md_path}")
    return 0
