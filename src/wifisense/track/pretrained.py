"""Trained track models as self-contained folders, and the ``Tracker`` that runs them.

``save_pretrained(RUN, DIR)`` (CLI: ``wifisense export RUN --out DIR``) writes a folder a
Hugging Face Hub repository can hold and that needs nothing of the run directory or the
store it was trained on::

    DIR/config.json          {"kind": "wifisense-track", "format_version", "task": the run's settings,
                              normalisers and model config, "test": test metrics}
    DIR/model.safetensors    the best weights
    DIR/cae/                 the CSI autoencoder (config.json, model.safetensors), if the CSI band is used
    DIR/README.md            the model card: data, metrics with a 95 % interval, limitations, citation

``Tracker.from_pretrained(DIR or RUN).track(csi=recording, snr=beam_log)`` gives the
trajectory ``(t [N] s, xy [N, 2] m)``; ``wifisense track predict`` calls exactly this.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wifisense.errors import ConfigError
from wifisense.io.atomic import atomic_folder
from wifisense.track.config import read_task

EXPORT_KIND = "wifisense-track"
EXPORT_FORMAT = 1
CAE_SUBDIR = "cae"
CARD_FILE = "README.md"
CITATION = ("Kato, Yu, Wang, Koike-Akino et al., \"Multi-band Wi-Fi neural dynamic fusion\" "
            "(MERL), the NDF paper this implementation follows")
MODEL_TITLES = {"ndf": "Neural Dynamic Fusion (NDF)", "ddnd": "DDND (single-band latent ODE)",
                "linear_int": "LinearInt", "nearest_int": "NearestInt", "rnn_decay": "RNN-Decay",
                "rnn_dt": "RNN-Δt"}


def _cae_dir(folder: Path, task: dict) -> Path | None:
    """The CAE a run or exported folder uses (relative paths are inside the folder)."""
    if task.get("cae_dir") is None:
        return None
    cae = Path(task["cae_dir"])
    return cae if cae.is_absolute() else folder / cae


@dataclass
class Tracker:
    """A trained track model ready to predict trajectories from new captures."""

    model: Any
    task: dict
    cae: Any = None           # (CSIAutoencoder, FrameScaler) when the CSI band is used
    device: str = "cpu"

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: str = "auto") -> Tracker:
        """Load an exported folder (``save_pretrained``) or a finished ``track train`` run."""
        from wifisense.track.data import load_cae
        from wifisense.track.evaluate import load_track_run
        from wifisense.training.device import select_device

        folder = Path(path)
        device = str(select_device(device))
        model, task, _ = load_track_run(folder, device)
        cae_dir = _cae_dir(folder, task)
        cae = load_cae(cae_dir, device=device) if "csi" in task["bands"] else None
        return cls(model=model, task=task, cae=cae, device=device)

    @property
    def bands(self) -> tuple[str, ...]:
        return tuple(self.task["bands"])

    def track(self, csi=None, snr=None, csi_path: str = "CSI capture",
              snr_path: str = "SNR log") -> tuple[np.ndarray, np.ndarray]:
        """Trajectory ``(t [N] s, xy [N, 2] m)`` from a ``CSIRecording`` and/or a ``BeamSNRLog``.

        Both on one clock. ``csi`` may also be a capture path (read with ``read_csi``) and
        ``snr`` a beam-SNR CSV path. The common span is cut into back-to-back windows of
        the trained length, each predicted at the trained query grid.
        """
        from wifisense.io import read_csi
        from wifisense.io.logs import read_beam_snr_csv
        from wifisense.track.evaluate import trajectory_from_streams

        if isinstance(csi, (str, os.PathLike)):
            csi_path, csi = str(csi), read_csi(csi)
        if isinstance(snr, (str, os.PathLike)):
            snr_path, snr = str(snr), read_beam_snr_csv(snr)
        return trajectory_from_streams(self.model, self.task, self.cae, csi, snr, self.device, csi_path, snr_path)


def predict_trajectory(run_dir: str | os.PathLike, recording=None, snr_log=None, device: str = "auto",
                       csi_path: str = "CSI capture", snr_path: str = "SNR log") -> tuple[np.ndarray, np.ndarray]:
    """Trajectory ``(t [N] s, xy [N, 2] m)`` of a new capture with a run or an exported model:
    ``Tracker.from_pretrained(run_dir).track(...)`` (what ``wifisense track predict`` runs)."""
    return Tracker.from_pretrained(run_dir, device).track(recording, snr_log, csi_path=csi_path, snr_path=snr_path)


# --------------------------------------------------------------------------- export


def save_pretrained(run_dir: str | os.PathLike, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a finished track run as a self-contained folder (see the module docstring)."""
    from wifisense.version import __version__
    from wifisense.training.checkpoint import finished_summary

    run, out = Path(run_dir), Path(out_dir)
    task = read_task(run)
    if task.get("kind") != "track":
        raise ConfigError(f"{run}: not a track model run (kind {task.get('kind')!r})")
    summary = finished_summary(run)
    if summary is None:
        raise ConfigError(f"{run}: training has not finished (no final metrics.json); finish it with the same "
                          "`wifisense track train` command first")
    cae = _cae_dir(run, task)
    with atomic_folder(out, overwrite) as staging:
        shutil.copyfile(run / "model.safetensors", staging / "model.safetensors")
        exported = {**task, "cae_dir": CAE_SUBDIR if cae is not None else None}
        if cae is not None:
            (staging / CAE_SUBDIR).mkdir()
            for name in ("config.json", "model.safetensors"):
                shutil.copyfile(cae / name, staging / CAE_SUBDIR / name)
        test = _test_metrics(run, summary)
        (staging / "config.json").write_text(json.dumps(
            {"kind": EXPORT_KIND, "format_version": EXPORT_FORMAT, "wifisense": __version__,
             "task": exported, "test": test}, indent=1) + "\n")
        (staging / CARD_FILE).write_text(model_card(exported, test))
    return out


def _test_metrics(run: Path, summary: dict) -> dict | None:
    """Test errors of the run (from ``track eval``) with a bootstrap interval over windows."""
    from wifisense.metrics.intervals import bootstrap_interval

    test = summary.get("test")
    predictions = run / "test_predictions.csv"
    if test is None or not predictions.is_file():
        return None
    table = np.loadtxt(predictions, delimiter=",", skiprows=1, ndmin=2)
    windows, errors = table[:, 0].astype(int), table[:, -1]
    members = [errors[windows == w] for w in np.unique(windows)]

    def mean_of(idx):
        return float(np.concatenate([members[i] for i in idx]).mean())

    # test_predictions.csv holds errors to 0.1 mm; one window gives no interval at all
    low, high = bootstrap_interval(mean_of, len(members)) if len(members) > 1 else (None, None)
    return {"mean_m": test["mean"], "mean_low_m": low, "mean_high_m": high, "median_m": test["median"],
            "p90_m": test["p90"], "windows": len(members), "points": int(test["n"])}


def model_card(task: dict, test: dict | None) -> str:
    """The README.md of an exported track model."""
    title = MODEL_TITLES.get(task["model"], task["model"])
    bands = " + ".join({"csi": "5 GHz CSI", "snr": "60 GHz beam SNR"}[b] for b in task["bands"])
    lines = [
        "---", "library_name: wifisense", "tags: [wifi-sensing, csi, trajectory, neural-ode]", "---", "",
        f"# {title} trajectory model ({bands})", "",
        "Predicts a continuous-time 2-D trajectory (metres) of a moving device from asynchronous "
        f"{bands}, in windows of {task['window_s']:g} s queried at {task['query_hz']:g} Hz.", "",
        "```python", "from wifisense import Tracker", "",
        "tracker = Tracker.from_pretrained(\"path/to/this/folder\")",
        "t, xy = tracker.track(csi=\"capture.pcap\", snr=\"beam_snr.csv\")   # on one clock", "```", "",
        "## Training data", "",
        f"- store: `{task.get('store')}` ({task.get('windows_train', '?')} training windows); split "
        f"`{task['split']}`, seed {task['seed']}",
        f"- model: `{task['model']}`, bands `{','.join(task['bands'])}`, fusion `{task.get('fusion')}`",
        f"- CSI: {task.get('csi_shape', 'not used')}; beam SNR: {task.get('snr_beams', 'not used')} beams", "",
        "## Test metrics", "",
    ]
    if test is None:
        lines.append("Not evaluated: run `wifisense track eval --run RUN` before exporting to record them.")
    else:
        interval = ("not computed (one test window)" if test["mean_low_m"] is None
                    else f"[{test['mean_low_m']:.3f}, {test['mean_high_m']:.3f}]")
        lines += ["| mean (m) [95 % interval] | median (m) | p90 (m) | test windows |", "|---|---|---|---|",
                  f"| {test['mean_m']:.3f} {interval} | {test['median_m']:.3f} | {test['p90_m']:.3f} | "
                  f"{test['windows']} |", "",
                  "The interval is a percentile bootstrap over the test windows of this one training run."]
    lines += [
        "", "## Limitations", "",
        "- Valid only for the room, access point placement, radios and beam codebook of the training data; "
        "a new environment needs new training data.",
        "- The capture's CSI shape and number of beams must match the training data (checked on input).",
        "- Trained on simulated data unless the store above was ingested from real captures.", "",
        "## Citation", "", f"Please cite {CITATION}, and wifisense.", "",
    ]
    return "\n".join(lines)
