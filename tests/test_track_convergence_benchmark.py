"""benchmarks/track_convergence.py: the convergence figures it reports are computed from the runs' curves."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "track_convergence.py"


@pytest.fixture(scope="module")
def convergence():
    spec = importlib.util.spec_from_file_location("track_convergence", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(folder: Path, curve: dict[int, float], repeated: dict[int, float] | None = None) -> None:
    """A metrics.csv as the Trainer writes it: training rows without validation, validation rows per epoch."""
    folder.mkdir(parents=True)
    lines = ["step,epoch,lr,train_loss,val_loss,val_error_m"]
    for epoch, value in curve.items():
        lines.append(f"{epoch * 10},{epoch}.0,0.001,1.0,,")
        lines.append(f"{epoch * 10},{epoch}.0,,,0.5,{value}")
    for epoch, value in (repeated or {}).items():      # a log that repeats an epoch
        lines.append(f"{epoch * 10},{epoch}.0,,,0.5,{value}")
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_reports_tail_movement_and_kept_epoch(convergence, tmp_path, capsys):
    study = tmp_path / "study"
    curve = {e: 3.0 - 0.2 * e for e in range(1, 11)}   # 2.8 ... 1.0, lowest at the last epoch
    curve[9] = 0.9                                      # the lowest is at epoch 9 of 10
    write_run(study / "sim10" / "runs" / "IV" / "ndf_temporal0.8" / "seed0", curve)
    write_run(study / "sim11" / "runs" / "IV" / "ndf_temporal0.8" / "seed1", {e: 2.0 for e in range(1, 11)},
              repeated={10: 2.5})
    (study / "sim10" / "runs" / "reference" / "seed0").mkdir(parents=True)   # no metrics.csv: ignored
    out = tmp_path / "out" / "conv"
    assert convergence.main([str(study), "--out", str(out)]) == 0
    found = json.loads(out.with_suffix(".json").read_text())
    assert out.with_suffix(".png").stat().st_size > 1000
    runs = {r["run"]: r for r in found["runs"]}
    first = runs["sim10/runs/IV/ndf_temporal0.8/seed0"]
    assert first["group"] == "IV/ndf_temporal0.8"
    assert first["kept_fraction"] == pytest.approx(0.9)
    assert first["kept_m"] == pytest.approx(0.9)
    assert first["tail_move_m"] == pytest.approx(0.1)          # epochs 9 and 10: 0.9 and 1.0
    second = runs["sim11/runs/IV/ndf_temporal0.8/seed1"]
    assert second["tail_move_m"] == pytest.approx(0.5)         # the repeated epoch 10 keeps its last value
    assert found["table"] == [{"group": "IV/ndf_temporal0.8", "runs": 2, "epochs": [10],
                               "max_tail_move_m": pytest.approx(0.5), "kept_fraction": [pytest.approx(0.1),
                                                                                         pytest.approx(0.9)],
                               "kept_m": [pytest.approx(0.9), pytest.approx(2.0)]}]
    assert "moves by at most 0.500 m" in capsys.readouterr().out


def test_clear_errors(convergence, tmp_path, capsys):
    assert convergence.main([str(tmp_path / "missing"), "--out", str(tmp_path / "c")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert convergence.main([str(tmp_path), "--out", str(tmp_path / "c")]) == 2
    assert "no run with a 'val_error_m' column" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        convergence.main([str(tmp_path), "--out", str(tmp_path / "c"), "--tail", "1.5"])


def test_groups_runs_over_recordings_and_seeds(convergence, tmp_path):
    assert convergence.run_label(tmp_path / "sim12/runs/II/ndf_w2/seed1", tmp_path) == \
        ("II/ndf_w2", "sim12/runs/II/ndf_w2/seed1")
    assert convergence.run_label(tmp_path / "s10_d1800/ndf_t2", tmp_path) == ("ndf", "s10_d1800/ndf_t2")
    assert convergence.run_label(tmp_path / "s10_d5400/rnn-decay", tmp_path)[0] == "rnn-decay"
