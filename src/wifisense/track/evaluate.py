"""Track evaluation and prediction: errors in metres on a run's test split, and trajectories from new captures.

``evaluate_run(RUN)`` rebuilds the run's windows exactly (same store, split, seed and saved
normalisers), predicts every query point, de-normalises to metres and writes into RUN:

- ``metrics.json``: the training summary with a ``"test"`` entry {mean, median, p90, rmse, n,
  centroid_mean, shape_mean} (the last two: the mean over windows of each window's error split
  into where it is and how it moves, see ``metrics.localization.window_error_parts``)
- ``test_predictions.csv``: window, t (s), true and predicted x/y, error (m) per query point
- ``test_error_cdf.csv``: the empirical error CDF
- ``test_error_cdf.png`` / ``test_trajectories.png`` when ``wifisense.report.figures`` is available

``plot_latent_tsne(RUN)`` draws a t-SNE of the model's latent states z(t) at the query times,
coloured by the cell of a coarse grid over the room that the true position falls in.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from wifisense.errors import CaptureError, ConfigError
import wifisense.track.data as track_data
from wifisense.track.train import build_model, prepare_data, read_task, store_windows

log = logging.getLogger(__name__)


def load_track_run(run_dir: str | os.PathLike, device: str = "cpu"):
    """(model with its best weights in eval mode, task settings, TrackConfig) of a track run.

    ``device`` may be ``auto`` (CUDA, then MPS, then the CPU), as everywhere else.
    """
    from wifisense.training import load_weights
    from wifisense.training.device import select_device

    device = str(select_device(device))
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
    # inference_mode, not no_grad: it also skips autograd's version counting (batch 1: 21 -> 18 ms)
    with torch.inference_mode():
        for start in range(0, len(dataset), batch_size):
            batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
            # coordinates only: NDF skips its per-band reconstruction solves (same predictions, faster)
            out.append(model(batch.to(device), reconstruct=False).xy.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(query_t), 2), np.float32)


def prepare_run_data(task: dict, device: str = "cpu"):
    """The run's windows rebuilt exactly: same store, split, seed and saved normalisers."""
    normalisers = track_data.Normalisers.from_dict(task["normalisers"])
    return prepare_data(task["store"], task["bands"], task["split"], task["window_s"], step_s=task["step_s"],
                        query_hz=task["query_hz"], seed=task["seed"], cae_dir=task["cae_dir"],
                        normalisers=normalisers, device=device)


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


class PointErrors(NamedTuple):
    """A split's errors in metres: per real query point (``window_id``, ``errors``, in the
    predictions file's order) and per window with a real query point (``centroid``, ``shape``:
    ``window_error_parts``)."""

    window_id: np.ndarray
    errors: np.ndarray
    centroid: np.ndarray
    shape: np.ndarray


def point_errors(windows, pred: np.ndarray) -> PointErrors:
    """The errors of predictions ``[W, Tq, 2]`` (metres) against ``windows``' true positions
    (:class:`PointErrors`: per real query point, and split into centroid and shape per window)."""
    from wifisense.metrics.localization import localization_errors, window_error_parts

    true = windows.target_xy
    mask = windows.query_mask > 0
    errors = localization_errors(pred, true, mask)
    scored = mask.any(axis=1)           # a window with no real query point has nothing to split
    centroid, shape = window_error_parts(pred[scored], true[scored], mask[scored])
    window_id = np.broadcast_to(np.arange(len(windows))[:, None], mask.shape)[mask]
    return PointErrors(window_id, errors, centroid, shape)


def write_predictions(path: Path, windows, query_t: np.ndarray, pred: np.ndarray) -> PointErrors:
    """Write a predictions CSV (window, t, true and predicted x/y, error per real query point)
    and return the errors (:class:`PointErrors`)."""
    found = point_errors(windows, pred)
    true = windows.target_xy
    mask = windows.query_mask > 0
    times = windows.starts[:, None] + query_t[None, :] * windows.window_s
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_csv(path, ["window", "t", "x_true", "y_true", "x_pred", "y_pred", "error_m"],
               [found.window_id, times[mask], true[mask][:, 0], true[mask][:, 1], pred[mask][:, 0],
                pred[mask][:, 1], found.errors], ["%d", "%.4f", "%.4f", "%.4f", "%.4f", "%.4f", "%.4f"])
    return found


def split_predictions(run_dir: str | os.PathLike, split: str = "test", device: str = "auto", batch_size: int = 64):
    """(windows, predictions ``[W, Tq, 2]`` in metres, prepared data (its ``query_t`` is the
    query grid), task settings) of one of a run's splits, rebuilt exactly as in training;
    writes nothing."""
    from wifisense.training.device import select_device

    device = str(select_device(device))
    model, task, _ = load_track_run(run_dir, device)
    normalisers = track_data.Normalisers.from_dict(task["normalisers"])
    prepared = prepare_run_data(task, device)
    if split not in prepared.datasets:
        raise ConfigError(f"unknown split {split!r}; choose one of {list(prepared.datasets)}")
    dataset = prepared.datasets[split]
    pred = normalisers.xy.inverse(predict_windows(model, dataset, prepared.query_t, task["bands"], batch_size, device))
    return dataset.windows, pred, prepared, task


def split_errors(run_dir: str | os.PathLike, split: str = "test", device: str = "auto",
                 batch_size: int = 64) -> PointErrors:
    """The errors of a run on one of its splits (:class:`PointErrors`); writes nothing (for
    measurements over many runs, e.g. the training split beside the held-out ones)."""
    windows, pred, _, _ = split_predictions(run_dir, split, device, batch_size)
    return point_errors(windows, pred)


def _summarise(by_split: dict[str, PointErrors]) -> dict[str, dict[str, float]]:
    """Per split (and ``held_out``: val and test pooled) the mean point error, the mean centroid
    and shape parts in metres and the number of scored windows."""
    def summary(parts: list[PointErrors]) -> dict[str, float]:
        def pooled(name: str) -> np.ndarray:
            return np.concatenate([getattr(e, name) for e in parts])
        return {"mean_m": float(pooled("errors").mean()), "centroid_m": float(pooled("centroid").mean()),
                "shape_m": float(pooled("shape").mean()), "windows": int(pooled("centroid").size)}

    found = {split: summary([errors]) for split, errors in by_split.items()}
    held = [errors for split, errors in by_split.items() if split in ("val", "test")]
    if held:
        found["held_out"] = summary(held)
    return found


def split_error_summary(run_dir: str | os.PathLike, splits=("train", "val", "test"), device: str = "auto",
                        batch_size: int = 64) -> dict[str, dict[str, float]]:
    """Per split (and ``held_out``: the val and test windows pooled), the mean point error and
    the mean centroid and shape parts in metres, with the number of scored windows; writes
    nothing (the study scripts compare a run's training windows with its held-out ones)."""
    return _summarise({split: split_errors(run_dir, split, device, batch_size) for split in splits})


def training_mean_prediction(train, windows) -> np.ndarray:
    """The trivial reference: every query point of ``windows`` at the mean true position of the
    ``train`` windows' real query points (``[W, Tq, 2]``, metres)."""
    mean_xy = train.target_xy[train.query_mask > 0].mean(axis=0)
    return np.broadcast_to(mean_xy, windows.target_xy.shape)


def training_mean_error_summary(store: str | os.PathLike, split: str = "random", window_s: float = 5.0,
                                seed: int = 0, splits=("train", "val", "test")) -> dict[str, dict[str, float]]:
    """:func:`split_error_summary` of the trivial reference row on the windows a run with this
    split, window and seed is scored on (the split is drawn by the seed)."""
    windows = store_windows(store, split, window_s, seed=seed)
    return _summarise({name: point_errors(windows[name], training_mean_prediction(windows["train"], windows[name]))
                       for name in splits})


def evaluate_split(run_dir: str | os.PathLike, split: str = "test", device: str = "auto", batch_size: int = 64,
                   figures: bool = True) -> tuple[dict, PointErrors]:
    """:func:`evaluate_run`, also returning the errors of every query point and window (:class:`PointErrors`)."""
    from wifisense.metrics.localization import error_cdf, error_summary
    from wifisense.runs import RunDir
    from wifisense.training.checkpoint import write_json

    run_dir = Path(run_dir)
    windows, pred, prepared, task = split_predictions(run_dir, split, device, batch_size)
    found = write_predictions(RunDir(run_dir).predictions(split, "csv"), windows, prepared.query_t, pred)
    errors = found.errors
    summary = {**error_summary(errors), "centroid_mean": float(found.centroid.mean()),
               "shape_mean": float(found.shape.mean()), "split": split, "windows": len(windows)}
    x, cdf = error_cdf(errors)
    _write_csv(run_dir / f"{split}_error_cdf.csv", ["error_m", "cdf"], [x, cdf], ["%.5f", "%.6f"])
    if figures:
        # a few windows in time order, so the overlay stays readable
        true, mask = windows.target_xy, windows.query_mask > 0
        order = np.argsort(windows.starts)[:6]
        train = prepared.datasets["train"].windows
        summary["figures"] = _figures(run_dir, task["model"], errors, [true[i][mask[i]] for i in order],
                                      [pred[i][mask[i]] for i in order], task.get("room"),
                                      train.target_xy[train.query_mask > 0])
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    metrics[split] = summary
    write_json(metrics_path, metrics)
    return summary, found


def evaluate_run(run_dir: str | os.PathLike, split: str = "test", device: str = "auto",
                 batch_size: int = 64, figures: bool = True) -> dict:
    """Evaluate a track run on one of its splits; writes the files listed in the module docstring."""
    return evaluate_split(run_dir, split, device, batch_size, figures)[0]


def check_capture_fits(task: dict, csi_shape, csi_path, snr_beams: int | None, snr_path) -> None:
    """CaptureError naming the file when a capture's layout differs from the one the run was trained on."""
    if csi_shape is not None and list(csi_shape) != list(task["csi_shape"]):
        s, nrx, ntx = task["csi_shape"]
        raise CaptureError(csi_path, f"CSI has {csi_shape[0]} subcarriers x {csi_shape[1]} receive x {csi_shape[2]} "
                                     f"transmit antennas, but the model was trained on {s} x {nrx} x {ntx}")
    if snr_beams is not None and snr_beams != task["snr_beams"]:
        raise CaptureError(snr_path, f"SNR log has {snr_beams} beam columns, but the model was trained on "
                                     f"{task['snr_beams']} beams")


def trajectory_from_streams(model, task: dict, cae, recording, snr_log, device: str,
                            csi_path: str = "CSI capture", snr_path: str = "SNR log") -> tuple[np.ndarray, np.ndarray]:
    """What ``Tracker.track`` computes: the common time span of the used bands cut into
    back-to-back windows of the trained length, each predicted at the trained query grid."""
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
        cae, scaler = cae
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


# --------------------------------------------------------------------------- latent states


def latent_states(output) -> tuple[Any, str]:
    """([B, Tq, D] states at the query times, their name) from a model's TrackOutput.

    NDF/DDND: the latent ODE states z(t) of every band, concatenated (``TrackOutput.latents``);
    baselines have no latent ODE, so their fused per-query features are used instead.
    """
    import torch

    if output.latents:
        return torch.cat([output.latents[b] for b in output.latents], dim=-1), "latent ODE states z(t)"
    if output.fused is not None:
        return output.fused, "fused features"
    raise ConfigError("this model's output has neither latent states nor fused features")


def collect_latents(run_dir: str | os.PathLike, splits=("test",), device: str = "cpu",
                    batch_size: int = 64) -> dict:
    """Latent states at the real query points of ``splits`` of a run, with the true positions.

    Returns ``{"latents": float32 [N, D], "xy": float32 [N, 2] metres, "split": str [N],
    "kind": "latent ODE states z(t)" | "fused features", "room": [x0, y0, x1, y1] | None}``.
    The states come from the deterministic forward pass (z0 = mean of q(z0)).
    """
    import torch

    from wifisense.training.device import select_device

    device = str(select_device(device))
    model, task, _ = load_track_run(run_dir, device)
    prepared = prepare_run_data(task, device)
    unknown = [s for s in splits if s not in prepared.datasets]
    if unknown:
        raise ConfigError(f"unknown split(s) {unknown}; choose from {list(prepared.datasets)}")
    collate = track_data.make_collate(prepared.query_t, task["bands"])
    latents, positions, names, kind = [], [], [], ""
    with torch.no_grad():
        for split in splits:
            dataset = prepared.datasets[split]
            windows = dataset.windows
            for start in range(0, len(dataset), batch_size):
                index = range(start, min(start + batch_size, len(dataset)))
                states, kind = latent_states(model(collate([dataset[i] for i in index]).to(device)))
                mask = windows.query_mask[start:index.stop] > 0
                latents.append(states.float().cpu().numpy()[mask])
                positions.append(windows.target_xy[start:index.stop][mask])
                names.append(np.full(int(mask.sum()), split))
    return {"latents": np.concatenate(latents).astype(np.float32), "xy": np.concatenate(positions).astype(np.float32),
            "split": np.concatenate(names), "kind": kind, "room": task.get("room")}


def region_labels(xy: np.ndarray, room, grid: tuple[int, int] = (2, 2)) -> np.ndarray:
    """Grid-cell label ``"cx,cy"`` (0-based column along x, row along y) of each position ``[N, 2]``.

    The grid splits the room ``(x0, y0, x1, y1)`` (or, without a room, the positions' extent)
    into ``grid = (columns, rows)`` equal cells; positions outside fall into the nearest cell.
    """
    xy = np.asarray(xy, np.float64)
    if room is None or len(room) != 4:
        x0, y0 = xy.min(0)
        x1, y1 = xy.max(0)
    else:
        x0, y0, x1, y1 = (float(v) for v in room)
    nx, ny = int(grid[0]), int(grid[1])
    if nx < 1 or ny < 1:
        raise ConfigError(f"region grid must be at least 1x1, got {nx}x{ny}")
    cx = np.clip(np.floor((xy[:, 0] - x0) / max(x1 - x0, 1e-9) * nx), 0, nx - 1).astype(int)
    cy = np.clip(np.floor((xy[:, 1] - y0) / max(y1 - y0, 1e-9) * ny), 0, ny - 1).astype(int)
    return np.char.add(np.char.add(cx.astype(str), ","), cy.astype(str))


def plot_latent_tsne(run_dir: str | os.PathLike, out: str | os.PathLike | None = None, splits=("test",),
                     grid: tuple[int, int] = (2, 2), max_points: int = 2000, device: str = "cpu", seed: int = 0,
                     max_iter: int = 1000) -> Path:
    """t-SNE of a run's latent states coloured by room region (see :func:`region_labels`); returns the PNG path.

    At most ``max_points`` query points (a seeded random subset) go into t-SNE, which is
    quadratic-ish in the number of points. Default output: ``RUN/tsne_latent_<splits>.png``.
    """
    from wifisense.report.figures import plot_tsne

    run_dir = Path(run_dir)
    collected = collect_latents(run_dir, splits, device=device)
    latents, xy = collected["latents"], collected["xy"]
    if len(latents) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(latents), max_points, replace=False))
        latents, xy = latents[keep], xy[keep]
    labels = region_labels(xy, collected["room"], grid)
    out = Path(out) if out is not None else run_dir / f"tsne_latent_{'+'.join(splits)}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    from threadpoolctl import threadpool_limits

    # a few thousand points take seconds on one core, while scikit-learn's OpenMP threads
    # spin-wait and run several times slower whenever the cores are shared (measured 6x)
    with threadpool_limits(limits=1):
        return plot_tsne(latents, labels, out, label_name=f"room cell (x, y), {grid[0]}x{grid[1]}",
                         title=f"t-SNE of {collected['kind']} ({'+'.join(splits)}, {len(latents)} points)",
                         random_state=seed, max_iter=max_iter)
