"""Kill -9 and resume: a caption or track run killed mid-training (SIGKILL, no clean-up) and
started again with the same command ends with bit-identical weights and metrics to an
uninterrupted run of the same seed; a CAE killed part-way is resumed, never reused half-trained."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")

# Runs the CLI, SIGKILLing itself when the N-th Trainer of the process reaches step K.
KILLER = """
import os, signal, sys
from wifisense.training import trainer as T
trainer_index, kill_step = int(sys.argv[1]), int(sys.argv[2])
seen = []
original = T.Trainer._train_step
def step(self, batch):
    if id(self) not in seen:
        seen.append(id(self))
    if seen.index(id(self)) == trainer_index and self.step == kill_step:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, batch)
T.Trainer._train_step = step
from wifisense.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _cli(args, kill=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    trainer_index, step = kill if kill else (-1, -1)
    return subprocess.run([sys.executable, "-c", KILLER, str(trainer_index), str(step), *args],
                          capture_output=True, text=True, timeout=900, env=env)


def _same_run(a: Path, b: Path, weights=("model.safetensors", "last.safetensors")) -> None:
    from safetensors.numpy import load_file

    for name in weights:  # every tensor bit for bit (the header's metadata names the run folder)
        ta, tb = load_file(a / name), load_file(b / name)
        assert ta.keys() == tb.keys()
        for key in ta:
            assert ta[key].tobytes() == tb[key].tobytes(), f"{name}:{key} differs between {a} and {b}"
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    for m in (ma, mb):
        m.pop("train_seconds")
    assert ma == mb
    rows = [(d / "metrics.csv").read_text().splitlines() for d in (a, b)]
    assert rows[0] == rows[1]  # the learning curve too: no step logged twice or lost


@pytest.mark.slow
def test_track_run_killed_in_cae_and_in_training_resumes_bit_identically(tmp_path):
    from wifisense.io.store import write_multiband_store
    from wifisense.sim.trajectories import simulate_trajectories, trajectory_config

    store = tmp_path / "m.h5"
    write_multiband_store(store, simulate_trajectories(trajectory_config("default", ["duration_s=90"]), seed=3,
                                                       progress=False))
    small = ["model.encoder_hidden_dim=8", "model.encoder_ode_hidden_dim=8", "model.ode_hidden_dim=8",
             "model.decoder_hidden=[8]", "optim.batch_size=4", "cae.channels=[4,8]", "cae.embed_dim=4"]
    sets = [a for s in small for a in ("--set", s)]

    def train(run: Path, kill=None):
        return _cli(["track", "train", "--data", str(store), "--run", str(run), "--epochs", "3", "--no-eval",
                     "-q", *sets], kill)

    reference = tmp_path / "reference"
    assert train(reference).returncode == 0
    resumed = tmp_path / "resumed"

    def second_epoch_step(run: Path) -> int:  # a step after the first checkpoint (end of epoch 1)
        return json.loads((run / "config.json").read_text())["runtime"]["steps_per_epoch"] + 1

    killed = train(resumed, kill=(0, second_epoch_step(reference / "cae")))   # the CAE
    assert killed.returncode == -signal.SIGKILL
    assert (resumed / "cae" / "state.pt").is_file() and not (resumed / "cae" / "metrics.json").exists()
    killed = train(resumed, kill=(1, second_epoch_step(reference)))           # CAE resumed; the model killed
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (resumed / "cae" / "metrics.json").is_file() and (resumed / "state.pt").is_file()
    done = train(resumed)
    assert done.returncode == 0, done.stderr
    _same_run(reference / "cae", resumed / "cae")
    _same_run(reference, resumed)
    stamp = (resumed / "model.safetensors").stat().st_mtime_ns
    again = train(resumed)  # a finished run of the same setting is kept, not retrained
    assert again.returncode == 0, again.stderr
    assert (resumed / "model.safetensors").stat().st_mtime_ns == stamp
    _same_run(reference, resumed)


@pytest.mark.slow
def test_caption_run_killed_mid_stage_resumes_bit_identically(tmp_path):
    from test_caption_cli import SHRINK

    store = tmp_path / "c.h5"
    made = _cli(["simulate", "actions", "--out", str(store), "--quick", "--classes", "standing:left_arm",
                 "--clips-per-class", "3", "--seed", "1", "-q"])
    assert made.returncode == 0, made.stderr
    sets = [arg for key, value in SHRINK.items() for arg in ("--set", f"{key}={json.dumps(value)}")]

    def train(run: Path, kill=None):
        return _cli(["caption", "train", "--data", str(store), "--run", str(run), "--stages", "s1,s2-1",
                     "--epochs", "3", "--batch-size", "4", "--device", "cpu", "-q", *sets], kill)

    reference = tmp_path / "reference"
    done = train(reference)
    assert done.returncode == 0, done.stderr
    resumed = tmp_path / "resumed"
    killed = train(resumed, kill=(0, 14))          # stage s1, in its second epoch (after a checkpoint)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (resumed / "s1" / "state.pt").is_file()
    killed = train(resumed, kill=(1, 16))          # s1 resumed and finished; s2-1 killed in its second epoch
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (resumed / "s2-1" / "state.pt").is_file()
    done = train(resumed)
    assert done.returncode == 0, done.stderr
    for stage in ("s1", "s2-1"):
        _same_run(reference / stage, resumed / stage)
