"""``wifisense report RUN_DIR``: rebuild report.html and report.md of a ``wifisense demo`` output folder."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="rebuild the HTML/Markdown report of a demo output folder",
        description="Rebuild RUN_DIR/report.html (one self-contained file: images embedded, opens offline) and "
        "RUN_DIR/report.md (+ RUN_DIR/report_files/) from RUN_DIR/summary.json, caption/ablation.json and "
        "track/compare.json. A part whose results are missing is shown as 'not run' with the reason.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of `wifisense demo`")
    p.set_defaults(func=run)


def run(args) -> int:
    from wifisense.report.html import build_report

    html_path, md_path = build_report(args.run_dir)
    if not getattr(args, "quiet", False):
        print(f"report: {html_path} and {md_path}")
    return 0
