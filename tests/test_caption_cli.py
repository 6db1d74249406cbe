"""``wifisense caption predict --rx`` on the real captures in ../shared/data/real: a caption, or one line naming the file and the mismatch."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from wifisense import cli

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"
INTEL = REAL / "intel5300_example.dat"                   # Intel 5300 3x3, 30 subcarriers, 26 packets over 2.0 s
INTEL_NO_CLOCK = REAL / "intel5300_log_all_csi_6_7_6.dat"   # 29 packets, all with the same timestamp
ATHEROS = REAL / "atheros_ath_csi_1.dat"                 # 3x2, 56 tones, 401 packets over 0.87 s
NEXMON = REAL / "nexmon_bcm4358_example.pcap"            # 1x1, 256 subcarriers
PICOSCENES = REAL / "picoscenes_iwl5300_example.csi"     # Intel 5300 2x2 via PicoScenes
ESP32 = REAL / "esp32_example_csi.csv"                   # 1x1, 64 subcarriers
CAPTURES = (INTEL, INTEL_NO_CLOCK, ATHEROS, NEXMON, PICOSCENES, ESP32)

SHRINK = {
    "embed_dim": 16, "student.resnet_width": 4, "prefix_lm.hidden_dim": 32, "prefix_lm.max_caption_tokens": 24,
    "offline_lm.n_layer": 1, "offline_lm.n_embd": 32, "offline_lm.n_head": 2, "offline_lm.vocab_size": 300,
    "offline_lm.n_positions": 32, "offline_lm.steps": 20,
}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny CSI->LM run (one stage, one step) on 1-s clips at 32 Hz with the Intel 5300 subcarriers and A = 3."""
    if not all(p.is_file() for p in CAPTURES):
        pytest.skip(f"real captures not found in {REAL} (shared data is not part of this checkout)")
    from wifisense.io.store import write_caption_store
    from wifisense.sim.actions import ActionConfig, simulate_actions

    cfg = dataclasses.replace(ActionConfig.quick(), clips_per_class=2, classes=("standing:head:nod",),
                              clip_seconds=1.0, packet_rate_hz=32.0, num_frames=0, split_ratios=(1.0, 0.0, 0.0))
    root = tmp_path_factory.mktemp("predict")
    write_caption_store(root / "actions.h5", simulate_actions(cfg, seed=0, progress=False), overwrite=True)
    sets = [arg for key, value in SHRINK.items() for arg in ("--set", f"{key}={json.dumps(value)}")]
    code = cli.main(["-q", "caption", "train", "--data", str(root / "actions.h5"), "--run", str(root / "run"),
                     "--baseline", "csi-lm", "--max-steps", "1", "--batch-size", "4", "--device", "cpu", *sets])
    assert code == 0
    return root / "run"


def _predict(capsys, run: Path, *args: str) -> tuple[int, str, str]:
    code = cli.main(["-q", "caption", "predict", "--run", str(run), "--device", "cpu", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(code: int, err: str, path: Path) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wifisense caption: error: "), err
    assert str(path) in lines[0]
    return lines[0]


@pytest.mark.slow
def test_every_real_capture_gives_a_caption_or_a_one_line_reason(run, capsys):
    for path in CAPTURES:
        code, out, err = _predict(capsys, run, "--rx", str(path), str(path), str(path))
        if code == 0:
            assert len(out.strip().splitlines()) == 1 and out.strip(), path
        else:
            _one_line_error(code, err, path)
    # which ones match the model (A = 3 pairs of the 30 Intel subcarriers over 1 s) and why the others do not
    code, out, _ = _predict(capsys, run, "--rx", str(INTEL), str(INTEL), str(INTEL))
    assert code == 0 and out.strip()
    line = _one_line_error(*_predict(capsys, run, "--rx", str(ESP32), "-", "-")[::2], ESP32)
    assert "[64, 1, 1]" in line and "A = 3" in line
    line = _one_line_error(*_predict(capsys, run, "--rx", str(NEXMON), "-", "-")[::2], NEXMON)
    assert "[256, 1, 1]" in line and "antenna pairs" in line
    line = _one_line_error(*_predict(capsys, run, "--rx", str(PICOSCENES), "-", "-")[::2], PICOSCENES)
    assert "[30, 2, 2]" in line and "no rule matches" in line
    line = _one_line_error(*_predict(capsys, run, "--rx", str(ATHEROS), "-", "-")[::2], ATHEROS)
    assert "too short" in line and "0.87" in line
    line = _one_line_error(*_predict(capsys, run, "--rx", str(INTEL_NO_CLOCK), "-", "-")[::2], INTEL_NO_CLOCK)
    assert "--packet-rate" in line


@pytest.mark.slow
def test_predict_options_on_real_captures(run, capsys):
    # a capture without a clock captions once its packet rate is given (29 packets at 20 Hz = 1.4 s)
    code, out, err = _predict(capsys, run, "--rx", str(INTEL_NO_CLOCK), "-", "-", "--packet-rate", "20")
    assert code == 0 and out.strip(), err
    # missing receivers are masked, and a clip can start later in the capture
    code, out, err = _predict(capsys, run, "--rx", "-", str(INTEL), "-", "--start", "0.5", "--beams", "2")
    assert code == 0 and out.strip(), err
    line = _one_line_error(*_predict(capsys, run, "--rx", str(INTEL), "-", "-", "--start", "1.5")[::2], INTEL)
    assert "too short" in line
    # a mixture fails on the capture that does not fit, naming it
    _one_line_error(*_predict(capsys, run, "--rx", str(INTEL), str(ATHEROS), "-")[::2], ATHEROS)
    code, _, err = _predict(capsys, run, "--rx", str(INTEL), "-", "-", "--start", "-1")
    assert code == 2 and "--start" in err
    code, _, err = _predict(capsys, run, "--rx", "-", "-", "-")
    assert code == 2 and "every receiver is missing" in err
    _one_line_error(*_predict(capsys, run, "--rx", str(REAL / "README.md"), "-", "-")[::2], REAL / "README.md")
