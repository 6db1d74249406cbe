"""``wifisense demo --quick``: the README's main job, end to end on the embedded default."""

import json

from wifisense.cli import main
from wifisense.io.validate import validate_store


def test_demo_quick_writes_valid_datasets_and_plots(tmp_path):
    out = tmp_path / "demo"
    assert main(["--quiet", "demo", "--quick", "--out", str(out), "--seed", "3"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 3 and summary["quick"] is True
    for name in ("actions", "trajectories"):
        path = out / f"{name}.h5"
        assert validate_store(path) == []
        assert summary["datasets"][name]["bytes"] == path.stat().st_size
        png = out / f"{name}_csi.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
