"""The report's document model: sections of paragraphs, tables, figures, examples and "not run" notes.

Tasks build these blocks from typed results; ``report.html`` and ``report.markdown`` render
them. Nothing here knows a task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

Span = str | tuple[str, str]   # plain text, or (style, text) with style "b" (bold) or "code"


@dataclass
class Paragraph:
    spans: list[Span]
    kind: str = "p"            # "p", "note" (small print) or "warning" (a highlighted box)


@dataclass
class Cell:
    text: str
    numeric: bool = False
    bold: bool = False
    note: str | None = None    # footnote text; cells with the same text share a marker


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    groups: list[tuple[str, int]] | None = None   # column-group header (label, span) above ``columns``
    notes: list[str] = field(default_factory=list)  # extra notes printed under the table


@dataclass
class Figure:
    path: Path                 # PNG on disk
    caption: str
    name: str                  # file name used under report_files/ for the Markdown report


@dataclass
class NotRun:
    what: str
    reason: str


@dataclass
class Example:
    title: str
    class_name: str
    reference: list[tuple[str, bool]]    # words of the closest reference, True = differs
    prediction: list[tuple[str, bool]]   # words of the prediction, True = differs
    other_references: int


Block = Paragraph | Table | Figure | NotRun | Example


@dataclass
class Section:
    anchor: str
    title: str
    blocks: list[Block]


@dataclass
class Report:
    title: str
    subtitle: str
    sections: list[Section]
    footer: list[Span] = field(default_factory=list)


_FOOTNOTE_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def footnote_markers(table: Table) -> dict[str, str]:
    """One letter per distinct footnote text, in reading order."""
    markers: dict[str, str] = {}
    for row in table.rows:
        for cell in row:
            if cell.note and cell.note not in markers:
                markers[cell.note] = _FOOTNOTE_LETTERS[len(markers) % len(_FOOTNOTE_LETTERS)]
    return markers


def bold_best(rows: list[list[Cell]], values: list[list[float | None]], columns: range,
               lower_is_better: bool) -> None:
    """Bold the best shown value of each column (ties all bold; nothing when every row ties)."""
    for col in columns:
        column = [(i, v[col]) for i, v in enumerate(values) if v[col] is not None]
        if len(column) < 2:
            continue
        best = min(v for _, v in column) if lower_is_better else max(v for _, v in column)
        winners = [i for i, v in column if v == best]
        if len(winners) < len(column):
            for i in winners:
                rows[i][col].bold = True
