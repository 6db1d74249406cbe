"""Shareable track models: export a finished run, load it in a fresh process with no access to
the run folder or the store, and get exactly the run's predictions; the README's Python
example runs as it is written."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wifisense.io.recording import CSIRecording

SRC = str(Path(__file__).resolve().parents[1] / "src")
README = Path(__file__).resolve().parents[1] / "README.md"
SMALL = ["model.encoder_hidden_dim=8", "model.encoder_ode_hidden_dim=8", "model.ode_hidden_dim=8",
         "model.decoder_hidden=[8]", "optim.batch_size=8", "cae.channels=[4,8]", "cae.embed_dim=4"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished, evaluated two-band NDF run on a 90-s store, and a 12-s capture cut from it."""
    from wifisense.cli import main
    from wifisense.io.logs import write_beam_snr_csv
    from wifisense.io.store import read_multiband_store, write_multiband_store
    from wifisense.sim.trajectories import simulate_trajectories, trajectory_config

    root = tmp_path_factory.mktemp("pretrained")
    store = root / "m.h5"
    write_multiband_store(store, simulate_trajectories(trajectory_config("default", ["duration_s=150"]), seed=3,
                                                       progress=False))
    sets = [a for s in SMALL for a in ("--set", s)]
    assert main(["track", "train", "--data", str(store), "--run", str(root / "run"), "--epochs", "2", "-q",
                 *sets]) == 0   # trains, then evaluates on the test split
    streams = read_multiband_store(store)
    lo, hi = np.searchsorted(streams.csi_t, [10.0, 22.0])
    recording = CSIRecording(csi=streams.csi_x[lo:hi], timestamps=streams.csi_t[lo:hi],
                             subcarriers=streams.subcarriers)
    keep = (streams.snr_t >= 9.0) & (streams.snr_t <= 23.0)
    write_beam_snr_csv(root / "beam_snr.csv", streams.snr_t[keep], streams.snr_x[keep])
    np.savez(root / "capture.npz", csi=recording.csi, t=recording.timestamps, sub=recording.subcarriers)
    return root, recording


def test_export_loads_in_a_fresh_process_without_the_run_and_predicts_the_same(trained, tmp_path):
    from wifisense.cli import main
    from wifisense.track.pretrained import Tracker

    root, recording = trained
    expected_t, expected_xy = Tracker.from_pretrained(root / "run", device="cpu").track(
        csi=recording, snr=root / "beam_snr.csv")
    work = tmp_path / "work"
    shutil.copytree(root / "run", work / "run")
    assert main(["export", str(work / "run"), "--out", str(tmp_path / "model")]) == 0
    shutil.rmtree(work)                                   # no run folder any more
    (tmp_path / "store_gone").mkdir()
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["kind"] == "wifisense-track" and config["task"]["cae_dir"] == "cae"
    card = (tmp_path / "model" / "README.md").read_text()
    mean = config["test"]["mean_m"]
    assert f"| {mean:.3f} " in card and "95 % interval" in card and "Citation" in card
    if config["test"]["windows"] > 1:   # errors are stored to 0.1 mm
        assert config["test"]["mean_low_m"] - 1e-4 <= mean <= config["test"]["mean_high_m"] + 1e-4
    else:
        assert "not computed (one test window)" in card
    code = f"""
import numpy as np, sys
from wifisense import Tracker
from wifisense.io.recording import CSIRecording
c = np.load({str(root / 'capture.npz')!r})
t, xy = Tracker.from_pretrained({str(tmp_path / 'model')!r}, device="cpu").track(
    csi=CSIRecording(csi=c["csi"], timestamps=c["t"], subcarriers=c["sub"]), snr={str(root / 'beam_snr.csv')!r})
np.savez({str(tmp_path / 'out.npz')!r}, t=t, xy=xy)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"}, cwd=tmp_path / "store_gone")
    assert done.returncode == 0, done.stderr
    got = np.load(tmp_path / "out.npz")
    np.testing.assert_array_equal(got["t"], expected_t)
    np.testing.assert_array_equal(got["xy"], expected_xy)
    assert main(["export", str(root / "run"), "--out", str(tmp_path / "model")]) == 2   # exists: --overwrite


def test_export_refuses_an_unfinished_run_and_non_track_runs(trained, tmp_path, capsys):
    from wifisense.cli import main

    root, _ = trained
    shutil.copytree(root / "run", tmp_path / "run")
    (tmp_path / "run" / "metrics.json").unlink()
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "m")]) == 2
    assert "has not finished" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_the_readme_python_example_runs_as_written(trained, tmp_path, monkeypatch, capsys):
    from wifisense.cli import main

    root, recording = trained
    block = re.search(r"<!-- api-example[^>]*-->\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(root / "run"), "--out", "models/ndf"]) == 0
    shutil.copy(root / "beam_snr.csv", "beam_snr.csv")
    # no capture-file writer exists for the simulated 80 MHz CSI: read_csi hands back the recording
    monkeypatch.setattr("wifisense.io.read_csi", lambda path, format="auto", strict=False, **hints: recording)
    exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert re.search(r"\d+ positions over \d+\.\d s, bands \('csi', 'snr'\)", printed), printed
