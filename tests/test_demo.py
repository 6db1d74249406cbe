"""``wifisense demo --quick``: the README's main job end to end (simulate, caption, track, report), run once per module."""

import base64
import json
import math
import re

import pytest

from wifisense.cli import main
from wifisense.io.validate import validate_store

# the demo drives these two modules; until both exist there is nothing end to end to test
pytest.importorskip("wifisense.caption.ablate")
pytest.importorskip("wifisense.track.compare")

pytestmark = pytest.mark.slow

SECTION_IDS = ("overview", "caption-metrics", "examples", "similarity", "track-table", "error-cdf", "trajectories",
               "settings")
CAPTION_METRICS = ("BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "SPICE", "direction_accuracy", "class_top1", "clip_top1",
                   "R@1", "R@5")
SEED = 3


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    code = main(["--quiet", "demo", "--quick", "--out", str(out), "--seed", str(SEED)])
    return out, code


def _json(path):
    return json.loads(path.read_text())


def test_demo_runs_every_part(demo_out):
    out, code = demo_out
    summary = _json(out / "summary.json")
    assert code == 0, summary.get("parts")
    assert summary["seed"] == SEED and summary["quick"] is True and summary["ok"] is True
    assert {name: p["status"] for name, p in summary["parts"].items()} == {
        "simulate": "ok", "caption": "ok", "track": "ok"}
    assert all(p["wall_s"] >= 0 for p in summary["parts"].values()) and summary["wall_s"] > 0
    for name in ("actions", "trajectories"):
        assert validate_store(out / f"{name}.h5") == []
        assert summary["datasets"][name]["bytes"] == (out / f"{name}.h5").stat().st_size
    assert summary["machine"]["torch"] and summary["machine"]["cpu_count"] >= 1


def test_every_metric_is_finite_or_null_with_a_reason(demo_out):
    out, _ = demo_out
    from wifisense.runs import read_results, select

    caption = select(read_results(out / "caption"), study="core", seed="all")
    assert list(dict.fromkeys(r.row for r in caption)) == ["full", "baseline", "no CSI", "probe"]
    for r in caption:
        if r.metric not in CAPTION_METRICS:
            continue
        if r.value is None:
            assert r.note, f"{r.row}: {r.metric} is null without a reason"
        else:
            assert math.isfinite(r.value), f"{r.row}: {r.metric} = {r.value}"
            assert r.low is None or r.low <= r.value <= r.high, f"{r.row}: {r.metric} outside its interval"
    examples = _json(out / "caption" / "examples.json")
    for key in ("correct", "partly_wrong"):
        assert examples[key]["prediction"] and examples[key]["references"]
    track = select(read_results(out / "track"), study="I", seed="all")
    assert {r.row for r in track} >= {"ndf", "linear-int", "nearest-int", "rnn-decay", "rnn-dt", "ddnd",
                                      "training mean"}
    for r in track:
        assert r.n > 0
        assert r.metric in ("mean_m", "median_m", "p90_m", "centroid_m", "shape_m")
        assert math.isfinite(r.value) and r.value >= 0, f"{r.row} {r.setting}: {r.metric} = {r.value}"
        assert r.low <= r.value <= r.high, f"{r.row} {r.setting}: {r.metric} outside its interval"


def test_report_has_every_section_and_embedded_images(demo_out):
    out, _ = demo_out
    page, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    for anchor in SECTION_IDS:
        assert f'<section id="{anchor}">' in page and f'<a id="{anchor}"></a>' in md
    assert "Not run:" not in page and "**Not run:**" not in md
    assert "the error in two parts" in md          # Table I's centroid / shape table follows it
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 4  # similarity, error CDF, trajectories, t-SNE
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for data in images)
    assert not re.search(r"<(script|link)\b|https?://", page)
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(linked) == len(images) and all((out / p).is_file() for p in linked)


def test_report_command_rebuilds_identical_files(demo_out):
    out, _ = demo_out
    before = {name: (out / name).read_bytes() for name in ("report.html", "report.md")}
    assert main(["--quiet", "report", str(out)]) == 0
    assert {name: (out / name).read_bytes() for name in before} == before


def test_demo_refuses_to_mix_settings_in_one_folder(demo_out, capsys):
    out, _ = demo_out
    assert main(["demo", "--quick", "--out", str(out), "--seed", str(SEED + 1)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_one_job_gives_the_numbers_of_two(demo_out, tmp_path):
    # the default on a multi-core machine trains caption and track side by side in two processes;
    # one after the other must give exactly the same results
    out, _ = demo_out
    serial = tmp_path / "serial"
    assert main(["--quiet", "demo", "--quick", "--out", str(serial), "--seed", str(SEED), "--jobs", "1"]) == 0
    from wifisense.runs import read_results

    for part in ("caption", "track"):
        def values(folder):
            return {(r.study, r.row, r.setting, str(r.seed), r.split, r.metric): r.value
                    for r in read_results(folder / part) if r.metric != "train_s"}
        assert values(serial) == values(out), part


def test_the_caption_runs_split_between_the_processes_are_the_designs_runs(demo_out):
    from wifisense.demo import CAPTION_RUN_NAMES, SECOND_PROCESS_CAPTION_RUNS

    out, _ = demo_out
    assert {p.name for p in (out / "caption" / "runs").iterdir()} == set(CAPTION_RUN_NAMES)
    assert set(SECOND_PROCESS_CAPTION_RUNS) < set(CAPTION_RUN_NAMES)


def test_progress_counts_side_by_side_parts_once():
    from wifisense.demo import DemoProgress

    expected = {"simulate": 10.0, "caption": 100.0, "track": 40.0, "report": 5.0}
    assert DemoProgress(expected, quiet=True).time_left() == pytest.approx(155.0, abs=0.5)
    assert DemoProgress(expected, quiet=True, parallel=("caption", "track")).time_left() == pytest.approx(115.0, abs=0.5)


def test_the_track_worker_ends_when_the_demo_is_killed(tmp_path):
    """A demo killed with SIGTERM/-9 cannot tell its process pool; the worker notices alone."""
    import os
    import subprocess
    import sys
    import textwrap
    import time

    script = textwrap.dedent("""
        import os, sys, time, multiprocessing
        from wifisense import demo

        def work():
            demo._end_with_parent(0.1)
            time.sleep(60)

        if __name__ == "__main__":
            child = multiprocessing.get_context("spawn").Process(target=work)
            child.start()
            print(child.pid, flush=True)
            time.sleep(1.0)
            os._exit(0)          # the parent dies without stopping its child
    """)
    (tmp_path / "parent.py").write_text(script)
    out = subprocess.run([sys.executable, str(tmp_path / "parent.py")], capture_output=True, text=True, timeout=60)
    child = int(out.stdout.split()[0])
    deadline = time.monotonic() + 15
    stat = f"/proc/{child}/stat"
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
            # an exited child nobody reaped yet (a container's PID 1 may not) is a zombie: gone too
            if os.path.exists(stat) and open(stat).read().split(")")[-1].split()[0] == "Z":
                return
        except (ProcessLookupError, FileNotFoundError):
            return
        time.sleep(0.2)
    os.kill(child, 9)
    raise AssertionError("the worker outlived its parent by more than 15 s")
