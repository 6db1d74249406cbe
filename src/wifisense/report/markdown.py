"""The demo report as Markdown: the same document model as report.html, images copied next to it."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from wifisense.report.document import (
    Example,
    Figure,
    NotRun,
    Paragraph,
    Report,
    Span,
    Table,
    footnote_markers,
)


def _escape(text: str) -> str:
    """Escape the characters that would start Markdown markup or break a table cell."""
    return re.sub(r"([\\`*_\[\]|<>])", r"\\\1", text)


def _spans_md(spans: list[Span]) -> str:
    out = []
    for span in spans:
        if isinstance(span, str):
            out.append(_escape(span))
        else:
            style, text = span
            out.append(f"**{_escape(text)}**" if style == "b" else f"`{text}`")
    return "".join(out)


def table_markdown(table: Table) -> list[str]:
    markers = footnote_markers(table)
    numeric_cols = {j for row in table.rows for j, cell in enumerate(row) if cell.numeric}
    headers = list(table.columns)
    if table.groups:  # Markdown tables have one header row: prefix each column with its group
        col = 0
        for label, span in table.groups:
            for j in range(col, col + span):
                if label:
                    headers[j] = f"{label} {headers[j]}"
            col += span
    lines = [f"*{_escape(table.caption)}*", ""] if table.caption else []
    lines.append("| " + " | ".join(_escape(h) or " " for h in headers) + " |")
    lines.append("|" + "|".join("---:" if j in numeric_cols else "---" for j in range(len(headers))) + "|")
    for row in table.rows:
        cells = []
        for cell in row:
            text = _escape(cell.text)
            if cell.bold:
                text = f"**{text}**"
            if cell.note:
                text += f" ({markers[cell.note]})"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    if markers:
        lines.append("")
        lines += [f"({marker}) {_escape(note)}  " for note, marker in markers.items()]
    lines += [f"{_escape(note)}  " for note in table.notes]
    return lines


def _words_md(words: list[tuple[str, bool]]) -> str:
    return " ".join(f"**{_escape(w)}**" if differs else _escape(w) for w, differs in words)


def _copy_figure(figure: Figure, files_dir: Path) -> Path:
    files_dir.mkdir(parents=True, exist_ok=True)
    target = files_dir / figure.name
    # copy only when the bytes differ, so a rebuild leaves an identical folder (and mtimes) behind
    if not target.is_file() or target.read_bytes() != figure.path.read_bytes():
        shutil.copyfile(figure.path, target)
    return target


def render_markdown(report: Report, files_dir: str | os.PathLike, relative_to: str | os.PathLike) -> str:
    """The report as Markdown; figures are copied into ``files_dir`` and linked relative to ``relative_to``."""
    files_dir, relative_to = Path(files_dir), Path(relative_to)
    lines = [f"# {_escape(report.title)}", "", f"*{_escape(report.subtitle)}*", "", "**Contents**", ""]
    lines += [f"{i}. [{_escape(s.title)}](#{s.anchor})" for i, s in enumerate(report.sections, 1)]
    for section in report.sections:
        # an explicit anchor: heading slugs differ between Markdown renderers
        lines += ["", f'<a id="{section.anchor}"></a>', "", f"## {_escape(section.title)}", ""]
        for block in section.blocks:
            if isinstance(block, Paragraph):
                text = _spans_md(block.spans)
                lines.append(f"> **Note:** {text}" if block.kind == "warning" else
                             f"<sub>{text}</sub>" if block.kind == "note" else text)
            elif isinstance(block, Table):
                lines += table_markdown(block)
            elif isinstance(block, Figure):
                rel = _copy_figure(block, files_dir).relative_to(relative_to).as_posix()
                lines += [f"![{_escape(block.caption)}]({rel})", "", f"*{_escape(block.caption)}*"]
            elif isinstance(block, NotRun):
                lines.append(f"> **Not run:** {_escape(block.what)}. Reason: {_escape(block.reason)}")
            elif isinstance(block, Example):
                lines += [f"**{_escape(block.title)}** — class `{block.class_name}`", "",
                          f"- Ground truth: {_words_md(block.reference)}",
                          f"- Prediction: {_words_md(block.prediction)}"]
            else:
                raise TypeError(f"unknown report block {type(block).__name__}")
            lines.append("")
    if report.footer:
        lines += ["---", "", _spans_md(report.footer), ""]
    return "\n".join(lines)
