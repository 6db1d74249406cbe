"""The demo report on hand-written result files: summary.json and each part's typed results.json (+ figures, examples)."""

import base64
import json
import re

import pytest
from PIL import Image

from wifisense.cli import main
from wifisense.errors import ConfigError
from wifisense.demo_report import build_report
from wifisense.report.text import closest_reference, diff_words, format_seconds

SECTION_IDS = ("overview", "caption-metrics", "examples", "similarity", "track-table", "error-cdf", "trajectories",
               "settings")


def _png(path, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), colour).save(path)
    return path


SPICE_REASON = "SPICE needs Java and the SPICE jar, which are not installed"


def _caption_lines(name, bleu, cider, seed=7):
    """Typed result lines (per seed and aggregated) of one row of the main caption design."""
    from dataclasses import asdict

    from wifisense.caption.evaluate import METEOR_NO_INTERVAL
    from wifisense.runs import Result

    metrics = (("BLEU-4", bleu, bleu - 0.03, bleu + 0.03, "bootstrap-items", ""),
               ("METEOR", 0.2, None, None, "", METEOR_NO_INTERVAL), ("ROUGE-L", 0.3, None, None, "", ""),
               ("CIDEr", cider, None, None, "", ""), ("SPICE", None, None, None, "", SPICE_REASON),
               ("direction_accuracy", 0.5, 0.3, 0.7, "wilson", ""), ("class_top1", 0.25, None, None, "", ""),
               ("clip_top1", 0.125, None, None, "", ""), ("R@1", 0.2, None, None, "", ""),
               ("R@5", 0.6, None, None, "", ""))
    return [asdict(Result("caption", "main", name, "", s, "test", metric, value, 24, low, high, ci, note=note))
            for s in (seed, "all") for metric, value, low, high, ci, note in metrics]


def _track_lines(method, bands, mean):
    """Typed result lines (one seed, aggregated) of one Table I cell."""
    from dataclasses import asdict

    from wifisense.runs import Result

    return [asdict(Result("track", "I", method, bands, "all", "test", metric, value, 11))
            for metric, value in (("mean_m", mean), ("median_m", mean * 0.8), ("p90_m", mean * 2.0))]


@pytest.fixture
def demo_dir(tmp_path):
    out = tmp_path / "demo"
    _png(out / "caption" / "runs" / "full" / "seed7" / "figures" / "similarity_test.png", "red")
    for name, colour in (("error_cdf_table1", "green"), ("trajectories", "blue"), ("tsne_latent", "purple")):
        _png(out / "track" / "figures" / f"{name}.png", colour)
    summary = {"seed": 7, "quick": True, "wall_s": 143.2, "version": "0.1.0",
               "settings": {"caption": {"preset": "tiny", "epochs": 1}, "track": {"preset": "tiny", "epochs": 2}},
               "datasets": {"actions": {"path": "x", "clips": 120, "classes": 120, "clip_seconds": 2.0},
                            "trajectories": {"path": "y", "duration_s": 60.0}},
               "parts": {"simulate": {"status": "ok", "wall_s": 4.1}, "caption": {"status": "ok", "wall_s": 80.0},
                         "track": {"status": "ok", "wall_s": 55.0}},
               "machine": {"platform": "Linux", "cpu_count": 2, "torch": "2.13.0+cpu"}}
    caption = [line for name, bleu, cider in (("full", 0.4321, 1.25), ("baseline", 0.1, 0.5),
                                              ("mirror-none", 0.3, 0.9), ("mirror-teacher", 0.35, 1.0),
                                              ("no CSI", 0.05, 0.1))
               for line in _caption_lines(name, bleu, cider)]
    examples = {"run": "runs/full/seed7", "split": "test",
                "correct": {"class": "raise_left_arm", "references": ["a person raises the left arm"],
                            "prediction": "a person raises the left arm"},
                "partly_wrong": {"class": "kick_right_leg",
                                 "references": ["someone kicks with the right leg",
                                                "a person kicks the right leg <fast>"],
                                 "prediction": "a person kicks the left leg"}}
    lines = [line for m, b, mean in (
        ("ndf", "csi", 0.9), ("ndf", "snr", 0.8), ("ndf", "csi+snr", 0.51),
        ("linear-int", "csi", 1.5), ("linear-int", "snr", 1.4), ("linear-int", "csi+snr", 1.3),
        ("ddnd", "csi", 0.7), ("ddnd", "snr", 0.95)) for line in _track_lines(m, b, mean)]
    figures = {"error_cdf": "figures/error_cdf_table1.png", "trajectories": "figures/trajectories.png",
               "tsne": "figures/tsne_latent.png"}
    (out / "summary.json").write_text(json.dumps(summary))
    (out / "caption" / "results.json").write_text(json.dumps(caption))
    (out / "caption" / "figures.json").write_text(json.dumps({"similarity": "runs/full/seed7/figures/similarity_test.png"}))
    (out / "caption" / "examples.json").write_text(json.dumps(examples))
    (out / "track" / "results.json").write_text(json.dumps(lines))
    (out / "track" / "figures.json").write_text(json.dumps(figures))
    return out


def _cells(html_text, row_label):
    """The cell texts (tags stripped) of the table row starting with ``row_label``."""
    row = re.search(r"<tr><td[^>]*>" + re.escape(row_label) + r"</td>(.*?)</tr>", html_text).group(1)
    return [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]


def test_every_section_is_rendered_with_formatted_numbers(demo_dir):
    html_path, md_path = build_report(demo_dir)
    page, md = html_path.read_text(), md_path.read_text()
    for anchor in SECTION_IDS:
        assert f'<section id="{anchor}">' in page and f'href="#{anchor}"' in page
        assert f'<a id="{anchor}"></a>' in md and f"](#{anchor})" in md
    assert "not run" not in page.lower() and "not run" not in md.lower()
    full = _cells(page, "Full (mirror: full)")
    # BLEU-4 [interval], METEOR (no one-seed interval: footnote a), ROUGE-L, CIDEr, SPICE (missing: b),
    # direction accuracy [Wilson], class top-1
    assert full == ["0.432 [0.402, 0.462]", "0.200a", "0.300", "1.250", "—b", "0.500 [0.300, 0.700]", "0.250"]
    assert "(b) SPICE needs Java" in md and "(a) no one-seed interval" in md
    assert "<strong>0.432 [0.402, 0.462]</strong>" in page and "**0.432 \\[0.402, 0.462\\]**" in md  # best BLEU-4
    assert "<strong>0.200</strong>" not in page                          # every row ties on METEOR: nothing bold
    assert _cells(page, "no CSI (reference)")[0] == "0.050 [0.020, 0.080]"   # the trivial reference row
    ndf = _cells(page, "NDF")
    assert ndf[:3] == ["0.900", "0.720", "1.800"] and ndf[6:] == ["0.510", "0.408", "1.020"]
    assert "<strong>0.510</strong>" in page and "**0.510**" in md         # lowest multi-band mean error
    ddnd = _cells(page, "DDND")
    assert ddnd[6:] == ["—a", "—a", "—a"]                                # footnote a: single-band model
    assert "DDND is a single-band model" in page
    assert "Both bands mean" in md and "|---|---:|" in md                  # grouped header flattened, numbers right
    assert "0.250</strong> of classes" in page and "0.125</strong> of single clips" in page   # similarity top-1
    assert "raise_left_arm" in page and "seed" in page and "2.13.0+cpu" in page


def test_html_is_self_contained_and_images_are_embedded(demo_dir):
    html_path, md_path = build_report(demo_dir)
    page = html_path.read_text()
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(uris) == 4
    embedded = {base64.b64decode(u) for u in uris}
    on_disk = {p.read_bytes() for p in demo_dir.rglob("*.png") if "report_files" not in p.parts}
    assert embedded == on_disk
    assert not re.search(r"<(script|link)\b|https?://|@import|url\(", page)
    assert "&lt;fast&gt;" in page or "<fast>" not in page                # text is escaped
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md_path.read_text())
    assert len(linked) == 4 and all((demo_dir / p).is_file() and p.startswith("report_files/") for p in linked)


def test_missing_part_is_shown_as_not_run_with_its_reason(demo_dir):
    (demo_dir / "track" / "results.json").unlink()
    summary = json.loads((demo_dir / "summary.json").read_text())
    summary["parts"]["track"] = {"status": "failed", "reason": "RuntimeError: the ODE solver diverged"}
    (demo_dir / "summary.json").write_text(json.dumps(summary))
    html_path, md_path = build_report(demo_dir)
    page, md = html_path.read_text(), md_path.read_text()
    for anchor in SECTION_IDS:
        assert f'<section id="{anchor}">' in page
    for section in ("track-table", "error-cdf", "trajectories"):
        body = page.split(f'<section id="{section}">')[1].split("</section>")[0]
        assert "Not run:" in body and "the ODE solver diverged" in body
    assert md.count("**Not run:**") == 3 and "the ODE solver diverged" in md
    assert "<strong>0.432 [0.402, 0.462]</strong>" in page               # the caption part is still reported


def test_caption_part_without_summary_reason_names_the_missing_file(demo_dir):
    (demo_dir / "caption" / "results.json").unlink()
    page = build_report(demo_dir)[0].read_text()
    body = page.split('<section id="caption-metrics">')[1].split("</section>")[0]
    assert "Not run:" in body and "caption/results.json was not written" in body


def test_rebuild_is_byte_identical_and_the_cli_rebuilds(demo_dir):
    html_path, md_path = build_report(demo_dir)
    first = html_path.read_bytes(), md_path.read_bytes()
    assert main(["--quiet", "report", str(demo_dir)]) == 0
    assert (html_path.read_bytes(), md_path.read_bytes()) == first


def test_report_on_a_folder_that_is_not_a_demo_output_is_a_user_error(tmp_path, capsys):
    with pytest.raises(ConfigError, match="summary.json"):
        build_report(tmp_path)
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_word_diff_marks_the_wrong_side():
    reference = closest_reference(["someone kicks with the right leg", "a person kicks the right leg"],
                                  "a person kicks the left leg")
    assert reference == "a person kicks the right leg"
    ref_words, pred_words = diff_words(reference, "A person kicks the LEFT leg.")
    assert [w for w, differs in ref_words if differs] == ["right"]
    assert [w for w, differs in pred_words if differs] == ["LEFT"]
    assert all(not differs for _, differs in diff_words("same words", "Same words.")[1])


@pytest.mark.parametrize("seconds, text", [(5.25, "5.2 s"), (75.3, "1 min 15 s"), (3725, "1 h 02 min"),
                                           (None, "—"), (float("nan"), "—")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_headline_and_details_a_reader_would_trip_over(demo_dir):
    lines = [line for name, bleu in (("full", 0.4321), ("baseline", 0.43205), ("mirror-none", 0.43207),
                                     ("mirror-teacher", 0.43206), ("no CSI", 0.4320))
             for line in _caption_lines(name, bleu, 1.0)]   # BLEU-4 differs only beyond the three shown decimals
    for line in lines:
        line["low"] = line["high"] = None if line["metric"] == "BLEU-4" else line["low"]
        if line["metric"] == "SPICE":
            line["note"] = "SPICE needs two jars in /some/very/long/path: " + "download them " * 20
    (demo_dir / "caption" / "results.json").write_text(json.dumps(lines))
    path = demo_dir / "caption" / "examples.json"
    examples = json.loads(path.read_text())
    examples["correct"]["prediction"] = "a person raises the right arm"
    examples["partly_wrong"] = examples["correct"]
    path.write_text(json.dumps(examples))
    page = build_report(demo_dir)[0].read_text()
    assert "<strong>0.432</strong>" not in page            # equal as shown: no winner in bold
    assert "SPICE needs two jars in /some/very/long/path (full text in results.csv)" in page
    assert "download them download" not in page
    assert "The best caption (no prediction matched a reference exactly)" in page
    assert "A correct caption" not in page and page.count('class="example"') == 1
    assert "the test split offered no other clip" in page
    assert "NDF, both bands: mean error" in page and "0.51 m" in page
    assert "best baseline on both bands (LinearInt)" in page and "1.30 m" in page


def test_report_files_get_the_mode_open_would_give(demo_dir):
    import os
    import stat

    html_path, md_path = build_report(demo_dir)
    umask = os.umask(0o022)
    os.umask(umask)
    for path in (html_path, md_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
