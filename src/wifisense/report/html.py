"""The report as one self-contained HTML file (and, through ``report.markdown``, the same as Markdown).

``render_html`` writes a :class:`~wifisense.report.document.Report` with string templates
and ``html.escape`` (the standard library is enough for a fixed layout; a template engine
would be a dependency for no gain). Images are embedded as base64 ``data:`` URIs, CSS is
inline and nothing external is loaded, so report.html opens offline and can be mailed as one
file. The output depends only on the document, so rebuilding gives byte-identical files.
Nothing here knows a task: tasks build the sections, the caller assembles them.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

from wifisense.report.document import (
    Block,
    Example,
    Figure,
    NotRun,
    Paragraph,
    Report,
    Span,
    Table,
    footnote_markers,
)

HTML_FILE = "report.html"
MD_FILE = "report.md"
MD_FILES_DIR = "report_files"

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
        f"<footer>{_spans_html(report.footer)}</footer>" if report.footer else "",
        "</main></body>", "</html>", ""])


# ----------------------------------------------------------------------------- writing both files

def write_report(report: Report, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``OUT/report.html`` and ``OUT/report.md`` (+ ``OUT/report_files/*.png``); return both paths."""
    from wifisense.io.atomic import atomic_write_text
    from wifisense.report.markdown import render_markdown

    out_dir = Path(out_dir)
    html_path, md_path = out_dir / HTML_FILE, out_dir / MD_FILE
    atomic_write_text(html_path, render_html(report))
    atomic_write_text(md_path, render_markdown(report, out_dir / MD_FILES_DIR, relative_to=out_dir))
    return html_path, md_path
