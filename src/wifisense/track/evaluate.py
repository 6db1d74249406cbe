"""Track evaluation and prediction: errors in metres on a run's test split, and trajectories from new captures.

``evaluate_run(RUN)`` rebuilds the run's windows exactly (same store, split, seed and saved
normalisers), predicts every query point, de-normalises to metres and writes into RUN:

- ``metrics.json``: the training summary with a ``"test"`` entry {mean, median, p90, rmse, n}
- ``test_predictions.csv``: window, t (s), true and predicted x/y, error (m) per query point
- ``test_error_cdf.csv``: the empirical error CDF
- ``test_error_cdf.png`` / ``test_trajectories.png`` when ``wifisense.report.figures`` is available
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError, ConfigError
from wifisense.track import data as track_data
from wifisense.track.train import build_model, prepare_data, read_task

log = logging.getLogger(__name__)


def load_track_run(run_dir: str | os.PathLike, device: str = "cpu"):
    """(model with its best weights in eval mode, task settings, TrackConfig) of a track run."""
    from wifisense.training import load_weights

    task = read_task(run_dir)
    if task.get("kind") != "track":
        raise ConfigError(f"{run_dir}: not a track model run (kind {task.get('kind')!r})")
    model, config = build_model(task)
    load_weights(model, run_dir)
    return model.to(device).eval(), task, config


def predict_windows(model, dataset, query_t: np.ndarray, bands, batch_size: int = 64,
                    device: str = "cpu") -> np.ndarray:
    """Normalised predictions ``[W, Tq, 2]`` for every window of ``dataset`` (in order)."""
    import torch

    collate = track_data.make_collate(query_t, bands)
    out = []
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
            out.append(model(batch.to(device)).xy.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(query_t), 2), np.float32)


def _write_csv(path: Path, header: list[str], columns: list[np.ndarray], formats: list[str]) -> None:
    table = np.column_stack(columns)
    np.savetxt(path, table, delimiter=",", header=",".join(header), comments="", fmt=formats)


def _figures(run_dir: Path, name: str, errors: np.ndarray, true_xy: list, pred_xy: list, room,
             train_xy: np.ndarray | None = None) -> list[str]:
    """CDF and trajectory overlay via report.figures when that module exists."""
    try:
        from wifisense.report import figures
    except ImportError:
        log.info("wifisense.report.figures not available; skipping figures")
        return []
    written = []
    try:
        figures.plot_error_cdfs({name: errors}, run_dir / "test_error_cdf.png", title=f"{name}: test error CDF")
        written.append("test_error_cdf.png")
        figures.plot_trajectories(true_xy, {name: pred_xy}, run_dir / "test_trajectories.png", room=room,
                                  train_xy=train_xy, title=f"{name}: test windows (grey: training positions)")
        written.append("test_trajectories.png")
    except (AttributeError, TypeError) as exc:   # figures module still changing: report, do not fail eval
        log.warning("could not draw figures: %s", exc)
    return written


def evaluate_run(run_dir: str | os.PathLike, split: str = "test", device: str = "auto",
                 batch_size: int = 64, figures: bool = True) -> dict:
    """Evaluate a track run on one of its splits; writes the files listed in the module docstring."""
    from wifisense.metrics.localization import (
        error_cdf,
        error_summary,
        localization_errors,
    )
    from wifisense.training.checkpoint import write_json
    from wifisense.training.device import select_device

    run_dir = Path(run_dir)
    device = str(select_device(device))
    model, task, _ = load_track_run(run_dir, device)
    normalisers = track_data.Normalisers.from_dict(task["normalisers"])
    prepared = prepare_data(task["store"], task["bands"], task["split"], task["window_s"], step_s=task["step_s"],
                            query_hz=task["query_hz"], seed=task["seed"], cae_dir=task["cae_dir"],
                            normalisers=normalisers, device=device)
    if split not in prepared.datasets:
        raise ConfigError(f"unknown split {split!r}; choose one of {list(prepared.datasets)}")
    dataset = prepared.datasets[split]
    windows = dataset.windows
    pred = normalisers.xy.inverse(predict_windows(model, dataset, prepared.query_t, task["bands"], batch_size, device))
    true = windows.target_xy
    mask = windows.query_mask > 0
    errors = localization_errors(pred, true, mask)
    summary = {**error_summary(errors), "split": split, "windows": len(windows)}

    times = windows.starts[:, None] + prepared.query_t[None, :] * windows.window_s
    window_id = np.broadcast_to(np.arange(len(windows))[:, None], mask.shape)
    _write_csv(run_dir / f"{split}_predictions.csv", ["window", "t", "x_true", "y_true", "x_pred", "y_pred", "error_m"],
               [window_id[mask], times[mask], true[mask][:, 0], true[mask][:, 1], pred[mask][:, 0],
                pred[mask][:, 1], errors], ["%d", "%.4f", "%.4f", "%.4f", "%.4f", "%.4f", "%.4f"])
    x, cdf = error_cdf(errors)
    _write_csv(run_dir / f"{split}_error_cdf.csv", ["error_m", "cdf"], [x, cdf], ["%.5f", "%.6f"])
    if figures:
        # a few windows in time order, so the overlay stays readable
        order = np.argsort(windows.starts)[:6]
        train = prepared.datasets["train"].windows
        summary["figures"] = _figures(run_dir, task["model"], errors, [true[i][mask[i]] for i in order],
                                      [pred[i][mask[i]] for i in order], task.get("room"),
                                      train.target_xy[train.query_mask > 0])
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    metrics[split] = summary
    write_json(metrics_path, metrics)
    return summary


def check_capture_fits(task: dict, csi_shape, csi_path, snr_beams: int | None, snr_path) -> None:
    """CaptureError naming the file when a capture's layout differs from the one the run was trained on."""
    if csi_shape is not None and list(csi_shape) != list(task["csi_shape"]):
        s, nrx, ntx = task["csi_shape"]
        raise CaptureError(csi_path, f"CSI has {csi_shape[0]} subcarriers x {csi_shape[1]} receive x {csi_shape[2]} "
                                     f"transmit antennas, but the model was trained on {s} x {nrx} x {ntx}")
    if snr_beams is not None and snr_beams != task["snr_beams"]:
        raise CaptureError(snr_path, f"SNR log has {snr_beams} beam columns, but the model was trained on "
                                     f"{task['snr_beams']} beams")


def predict_trajectory(run_dir: str | os.PathLike, recording=None, snr_log=None, device: str = "cpu",
                       csi_path: str = "CSI capture", snr_path: str = "SNR log") -> tuple[np.ndarray, np.ndarray]:
    """Trajectory ``(t [N] s, xy [N, 2] m)`` of a new capture (CSIRecording + BeamSNRLog, same clock).

    The common time span of the used bands is cut into back-to-back windows of the run's length;
    each window is predicted at the run's query grid.
    """
    from wifisense.track.train import load_cae

    model, task, _ = load_track_run(run_dir, device)
    bands = tuple(task["bands"])
    normalisers = track_data.Normalisers.from_dict(task["normalisers"])
    for band, source, path in (("csi", recording, csi_path), ("snr", snr_log, snr_path)):
        if band in bands and source is None:
            raise ConfigError(f"this run uses the {band} band; give --{band}")
    check_capture_fits(task, recording.csi.shape[1:] if "csi" in bands else None, csi_path,
                       snr_log.snr.shape[1] if "snr" in bands else None, snr_path)
    streams = track_data.TrackStreams(bands=bands)
    spans = []
    if "csi" in bands:
        cae, scaler = load_cae(task["cae_dir"], device=device)
        frames = scaler(track_data.csi_frames(track_data.calibrate_csi(recording.csi, recording.subcarriers)))
        streams.csi_t = np.asarray(recording.timestamps, np.float64)
        streams.csi = normalisers.csi(track_data.encode_frames(cae, frames, device))
        spans.append((streams.csi_t[0], streams.csi_t[-1]))
    if "snr" in bands:
        streams.snr_t = np.asarray(snr_log.t, np.float64)
        streams.snr = normalisers.snr(snr_log.snr.astype(np.float32))
        spans.append((streams.snr_t[0], streams.snr_t[-1]))
    t_lo, t_hi = max(s[0] for s in spans), min(s[1] for s in spans)
    if not t_hi > t_lo:
        raise CaptureError(snr_path, "the CSI capture and the SNR log do not overlap in time "
                                     f"(CSI {spans[0][0]:.3f}-{spans[0][1]:.3f} s, SNR {spans[-1][0]:.3f}-"
                                     f"{spans[-1][1]:.3f} s); both need timestamps on one clock")
    windows = track_data.inference_windows(t_lo, t_hi, task["window_s"], streams.csi_t, streams.snr_t,
                                           task["query_hz"])
    dataset = track_data.TrackWindowDataset(windows, streams, None)
    pred = normalisers.xy.inverse(predict_windows(model, dataset, windows.query_t, bands, device=device))
    keep = windows.query_mask > 0
    times = windows.starts[:, None] + windows.query_t[None, :] * windows.window_s
    return times[keep], pred[keep]
