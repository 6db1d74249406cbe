"""Shared evaluation figures (PNG): similarity matrices, confusion matrices, error CDFs, trajectories, t-SNE, training curves.

Every function takes its data first and the output path second, writes one PNG at ``dpi``
(parent folders are created) and returns the path. Figures are drawn on
``matplotlib.figure.Figure`` objects, which render with the Agg canvas without touching
pyplot's global backend or figure registry (nothing to close, safe in threads and
notebooks); matplotlib and scikit-learn are imported inside the functions so importing
this module stays cheap.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_DPI = 150
_MAX_TICK_LABELS = 40        # more labels than this are unreadable: ticks are dropped
_MAX_CELL_ANNOTATIONS = 15   # write the values into cells only for matrices up to this size
_LABEL_CHARS = 60            # long captions are cut to this many characters on axes


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig, out: str | os.PathLike, dpi: int) -> Path:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png", facecolor="white")
    return path


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def _short(label: Any, limit: int = _LABEL_CHARS) -> str:
    text = str(label)
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _annotate_cells(ax, values: np.ndarray, image, fmt: str) -> None:
    """Write each value into its cell, in black or white, whichever reads better on the cell colour."""
    cmap, norm = image.get_cmap(), image.norm
    for (i, j), value in np.ndenumerate(values):
        r, g, b, _ = cmap(norm(value))
        dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
        ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=8,
                color="white" if dark else "black")


def _outline_cells(ax, rows: np.ndarray, cols: np.ndarray, linewidth: float) -> None:
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    boxes = [Rectangle((c - 0.5, r - 0.5), 1.0, 1.0) for r, c in zip(rows, cols)]
    ax.add_collection(PatchCollection(boxes, facecolor="none", edgecolor="red", linewidth=linewidth))


def _set_tick_labels(ax, row_labels, col_labels, n_rows: int, n_cols: int) -> None:
    for labels, n, set_ticks, set_labels, rotation in (
            (col_labels, n_cols, ax.set_xticks, ax.set_xticklabels, 90),
            (row_labels, n_rows, ax.set_yticks, ax.set_yticklabels, 0)):
        if labels is not None and len(labels) != n:
            raise ValueError(f"{len(labels)} labels for {n} matrix entries")
        if labels is not None and n <= _MAX_TICK_LABELS:
            set_ticks(range(n))
            set_labels([_short(label) for label in labels], rotation=rotation, fontsize=8)


def plot_similarity_matrix(sim: Any, out: str | os.PathLike, *, row_labels: Sequence[Any] | None = None,
                           col_labels: Sequence[Any] | None = None,
                           title: str = "CSI × text cosine similarity", top1: float | None = None,
                           row_name: str = "CSI embedding", col_name: str = "text embedding",
                           dpi: int = DEFAULT_DPI) -> Path:
    """Heat map of a ``[N_csi, N_text]`` similarity matrix; a dot marks each row's best column.

    ``top1`` (e.g. ``retrieval_metrics(sim)["top1_accuracy"]``) is added to the title. Tick
    labels (long captions are shortened) are shown up to 40 per axis; values are written in
    the cells up to 15 x 15.
    """
    sim = _as_numpy(sim).astype(np.float64)
    if sim.ndim != 2 or 0 in sim.shape:
        raise ValueError(f"need a non-empty 2-D similarity matrix, got shape {sim.shape}")
    n_rows, n_cols = sim.shape
    labelled = row_labels is not None or col_labels is not None
    side = float(np.clip(0.28 * max(n_rows, n_cols), 4.0, 12.0 if labelled else 8.0))
    extra = 2.5 if labelled else 0.0
    fig = _new_figure(side + 1.5 + extra, side + extra)
    ax = fig.add_subplot()
    image = ax.imshow(sim, cmap="viridis", aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="cosine similarity", shrink=0.85)
    _outline_cells(ax, np.arange(n_rows), sim.argmax(axis=1), linewidth=1.8 if n_rows <= 40 else 0.8)
    if max(n_rows, n_cols) <= _MAX_CELL_ANNOTATIONS:
        _annotate_cells(ax, sim, image, ".2f")
    _set_tick_labels(ax, row_labels, col_labels, n_rows, n_cols)
    ax.set_xlabel(f"{col_name} (red box: each row's best match)")
    ax.set_ylabel(row_name)
    ax.set_title(f"{title}\ntop-1 matching accuracy {top1:.1%}" if top1 is not None else title)
    return _save(fig, out, dpi)


def plot_confusion(matrix: Any, labels: Sequence[Any], out: str | os.PathLike, title: str = "Confusion matrix", *,
                   row_name: str = "reference", col_name: str = "predicted", normalize: bool = False,
                   dpi: int = DEFAULT_DPI) -> Path:
    """Counts (or row shares with ``normalize=True``) of reference rows against predicted columns.

    Fits ``direction_accuracy(...)["lateral_confusion"]``: ``plot_confusion(c["matrix"], c["labels"], out)``.
    """
    counts = _as_numpy(matrix).astype(np.float64)
    if counts.ndim != 2 or counts.shape != (len(labels), len(labels)):
        raise ValueError(f"a confusion matrix for {len(labels)} labels must be {len(labels)}x{len(labels)}, "
                         f"got shape {counts.shape}")
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0) if normalize else counts
    n = len(labels)
    side = float(np.clip(0.45 * n + 2.5, 3.5, 12.0))
    fig = _new_figure(side + 1.2, side)
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else max(shown.max(), 1.0),
                      interpolation="nearest")
    fig.colorbar(image, ax=ax, label="share of row" if normalize else "clips", shrink=0.85)
    if n <= _MAX_CELL_ANNOTATIONS:
        _annotate_cells(ax, shown, image, ".2f" if normalize else ".0f")
    _set_tick_labels(ax, labels, labels, n, n)
    ax.tick_params(axis="x", labelrotation=0 if max(len(str(x)) for x in labels) <= 6 else 90)
    ax.set_xlabel(col_name)
    ax.set_ylabel(row_name)
    ax.set_title(title)
    return _save(fig, out, dpi)


def plot_error_cdfs(errors_by_method: Mapping[str, Any], out: str | os.PathLike,
                    title: str = "Localisation error CDF", *, unit: str = "m", dpi: int = DEFAULT_DPI) -> Path:
    """Empirical CDFs of each method's errors on one axes; the legend gives each median and 90th percentile."""
    from wifisense.metrics.localization import error_cdf, error_summary

    if not errors_by_method:
        raise ValueError("no methods to plot")
    fig = _new_figure(6.4, 4.4)
    ax = fig.add_subplot()
    styles = ("-", "--", "-.", ":")
    for i, (method, errors) in enumerate(errors_by_method.items()):
        x, cdf = error_cdf(_as_numpy(errors))
        s = error_summary(x)
        # start the step curve at (0, 0) so every method's curve is anchored the same way
        ax.step(np.r_[0.0, x], np.r_[0.0, cdf], where="post", linestyle=styles[(i // 10) % len(styles)],
                linewidth=1.6, label=f"{method} (median {s['median']:.2f} {unit}, p90 {s['p90']:.2f} {unit})")
    ax.set_xlim(left=0.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel(f"localisation error ({unit})")
    ax.set_ylabel("fraction of samples ≤ error")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    return _save(fig, out, dpi)


def _room_box(room: Any) -> tuple[float, float, float, float] | None:
    """``(x0, y0, x1, y1)`` from a Room-like object (x0..y1), ``(w, h)`` or ``(x0, y0, x1, y1)``."""
    if room is None:
        return None
    if all(hasattr(room, name) for name in ("x0", "y0", "x1", "y1")):
        return float(room.x0), float(room.y0), float(room.x1), float(room.y1)
    values = [float(v) for v in room]
    if len(values) == 2:
        return 0.0, 0.0, values[0], values[1]
    if len(values) == 4:
        return tuple(values)
    raise ValueError(f"room must be (width, height), (x0, y0, x1, y1) or have x0, y0, x1, y1; got {room!r}")


def plot_trajectories(true_xy_list: Sequence[Any], pred_xy_list: Sequence[Any] | Mapping[str, Sequence[Any]],
                      out: str | os.PathLike, *, train_xy: Any = None, room: Any = None,
                      title: str = "Trajectories", panel_titles: Sequence[str] | None = None,
                      max_panels: int = 6, dpi: int = DEFAULT_DPI) -> Path:
    """True (black) and predicted 2-D trajectories, one panel per trajectory, equal axes in metres.

    Args:
        true_xy_list: ``[T_i, 2]`` ground-truth paths.
        pred_xy_list: the predicted paths in the same order, or ``{method: paths}`` to overlay methods.
        train_xy: ``[N, 2]`` training positions (or a list of paths), drawn faint in every panel.
        room: the room outline: a ``sim.channel.Room``, ``(width, height)`` or ``(x0, y0, x1, y1)``.
        max_panels: only the first this many trajectories are drawn (panels get unreadable).
    """
    predictions = dict(pred_xy_list) if isinstance(pred_xy_list, Mapping) else {"predicted": pred_xy_list}
    trues = [_as_numpy(t).astype(np.float64) for t in true_xy_list][:max_panels]
    if not trues:
        raise ValueError("no trajectories to plot")
    for method, paths in predictions.items():
        if len(paths) < len(trues):
            raise ValueError(f"{method}: {len(paths)} predicted trajectories for {len(trues)} true ones")
    box = _room_box(room)
    train = None
    if train_xy is not None:
        train = (np.concatenate([_as_numpy(t) for t in train_xy]) if isinstance(train_xy, (list, tuple))
                 else _as_numpy(train_xy)).astype(np.float64).reshape(-1, 2)
    n = len(trues)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    # at least 6.5 in wide: the title and the legend below must fit even over a single panel
    fig = _new_figure(max(4.2 * cols, 6.5), 3.8 * rows + 0.4)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    colours = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown")
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.set_visible(False)
            continue
        if box is not None:
            x0, y0, x1, y1 = box
            ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="0.3", linewidth=1.2,
                    label="room" if k == 0 else None)
        if train is not None:
            ax.plot(train[:, 0], train[:, 1], ".", color="0.6", markersize=2.5, alpha=0.35, zorder=0,
                    label="training positions" if k == 0 else None)
        for m, (method, paths) in enumerate(predictions.items()):
            pred = _as_numpy(paths[k]).astype(np.float64)
            ax.plot(pred[:, 0], pred[:, 1], linestyle="--", linewidth=1.2, color=colours[m % len(colours)],
                    alpha=0.9, zorder=2, label=method if k == 0 else None)
        # ground truth on top of the (often noisier) predictions, so it is never hidden
        true = trues[k]
        ax.plot(true[:, 0], true[:, 1], color="black", linewidth=1.8, zorder=3,
                label="ground truth" if k == 0 else None)
        ax.plot(true[0, 0], true[0, 1], "o", markerfacecolor="white", markeredgecolor="black", markersize=7,
                markeredgewidth=1.5, zorder=4, label="start" if k == 0 else None)
        ax.set_aspect("equal", adjustable="box")
        ax.grid(True, alpha=0.3)
        if panel_titles is not None:
            ax.set_title(panel_titles[k], fontsize=9)
        if k % cols == 0:
            ax.set_ylabel("y (m)")
        if k >= n - cols:  # the lowest panel of its column: its x ticks are not shown by a panel below
            ax.set_xlabel("x (m)")
            ax.tick_params(labelbottom=True)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    per_row = 4 if cols == 1 else 7  # legend entries per line that fit the figure's width
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(handles), per_row), fontsize=8,
               markerscale=1.5)
    fig.suptitle(title)
    return _save(fig, out, dpi)


def _is_continuous(labels: np.ndarray) -> bool:
    return labels.dtype.kind == "f" and np.unique(labels).size > 20


def plot_tsne(latents: Any, labels: Sequence[Any] | None, out: str | os.PathLike, *, title: str = "t-SNE of latent states",
              label_name: str = "class", perplexity: float | None = None, random_state: int = 0,
              max_iter: int = 1000, dpi: int = DEFAULT_DPI) -> Path:
    """2-D t-SNE (scikit-learn, PCA init, fixed ``random_state``) of ``[N, D]`` latents coloured by ``labels``.

    Labels that are floats with more than 20 distinct values (time, a coordinate) get a
    colour bar; other labels are categories with a legend (up to 20 entries). ``perplexity``
    defaults to ``min(30, (N - 1) / 3)``, which scikit-learn accepts for any N >= 5;
    ``max_iter`` (>= 250) trades quality for time.
    """
    from sklearn.manifold import TSNE

    x = _as_numpy(latents).astype(np.float64)
    if x.ndim != 2 or x.shape[0] < 5:
        raise ValueError(f"t-SNE needs [N, D] latents with N >= 5, got shape {x.shape}")
    if perplexity is None:
        perplexity = min(30.0, (x.shape[0] - 1) / 3.0)
    points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=random_state,
                  max_iter=max_iter).fit_transform(x)
    fig = _new_figure(6.4, 5.2)
    ax = fig.add_subplot()
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=10, alpha=0.8)
    else:
        values = np.asarray(labels)
        if values.shape[0] != x.shape[0]:
            raise ValueError(f"{values.shape[0]} labels for {x.shape[0]} latents")
        if _is_continuous(values):
            sc = ax.scatter(points[:, 0], points[:, 1], c=values, cmap="viridis", s=10, alpha=0.85)
            fig.colorbar(sc, ax=ax, label=label_name)
        else:
            classes = list(dict.fromkeys(values.tolist()))  # first-seen order
            cmap = _category_colours(len(classes))
            for i, cls in enumerate(classes):
                keep = values == cls
                ax.scatter(points[keep, 0], points[keep, 1], s=10, alpha=0.85, color=cmap[i],
                           label=_short(cls, 24) if len(classes) <= 20 else None)
            if len(classes) <= 20:
                ax.legend(title=label_name, fontsize=7, title_fontsize=8, markerscale=1.6,
                          loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    return _save(fig, out, dpi)


def _category_colours(n: int) -> list:
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["turbo"](i / max(n - 1, 1)) for i in range(n)]


def _read_metrics_rows(source: str | os.PathLike) -> list[dict[str, Any]]:
    path = Path(source)
    if path.is_dir():
        path = path / "metrics.csv"
    if not path.is_file():
        from wifisense.errors import ConfigError

        raise ConfigError(f"{path}: no metrics log here (expected a run's metrics.csv or metrics.jsonl)")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _series(metrics: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{column: (steps, values)}`` from a metrics file/run folder, a list of rows or ``{name: values}``."""
    if isinstance(metrics, (str, os.PathLike)):
        metrics = _read_metrics_rows(metrics)
    if isinstance(metrics, Mapping):
        return {name: (np.arange(len(v), dtype=np.float64), np.asarray(v, dtype=np.float64))
                for name, v in metrics.items() if name not in ("step", "epoch")}
    rows = list(metrics)
    columns = list(dict.fromkeys(name for row in rows for name in row))
    series = {}
    for name in columns:
        if name in ("step", "epoch"):
            continue
        steps, values = [], []
        for i, row in enumerate(rows):
            value = _to_float(row.get(name))
            if value is not None:
                steps.append(_to_float(row.get("step")) if _to_float(row.get("step")) is not None else float(i))
                values.append(value)
        if values:
            series[name] = (np.asarray(steps), np.asarray(values))
    return series


def _to_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _panel_name(column: str) -> tuple[str, str]:
    """``train_loss`` -> (``loss``, ``train``): columns that differ only by split share a panel."""
    for split in ("train", "val", "test"):
        if column.startswith(split + "_"):
            return column[len(split) + 1:], split
    return column, ""


def plot_training_curves(metrics: Any, out: str | os.PathLike, *, title: str = "Training curves",
                         columns: Sequence[str] | None = None, dpi: int = DEFAULT_DPI) -> Path:
    """One panel per metric (train_/val_ columns of the same metric share a panel) against the step.

    ``metrics`` is a run folder, its ``metrics.csv`` / ``metrics.jsonl`` (as the shared
    Trainer writes them: rows with ``step``, ``epoch``, ``lr``, ``train_*``, ``val_*``), a list
    of such rows, or ``{name: values per step}``. ``columns`` picks columns (default: all).
    Loss panels with values spanning more than two decades use a log axis.
    """
    series = _series(metrics)
    if columns is not None:
        missing = [c for c in columns if c not in series]
        if missing:
            raise ValueError(f"no values for column(s) {missing}; have {sorted(series)}")
        series = {c: series[c] for c in columns}
    if not series:
        raise ValueError("no numeric metric columns to plot")
    panels: dict[str, list[tuple[str, str]]] = {}
    for column in series:
        panel, split = _panel_name(column)
        panels.setdefault(panel, []).append((column, split or column))
    n = len(panels)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = _new_figure(4.2 * cols, 3.2 * rows + 0.3)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (panel, members) in zip(axes.ravel(), panels.items()):
        for column, label in members:
            steps, values = series[column]
            marker = "o" if len(values) <= 30 else None
            ax.plot(steps, values, marker=marker, markersize=3, linewidth=1.4, label=label)
        values = np.concatenate([series[c][1] for c, _ in members])
        positive = values[np.isfinite(values)]
        if "loss" in panel and positive.size and positive.min() > 0 and positive.max() / positive.min() > 100:
            ax.set_yscale("log")
        ax.set_title("learning rate" if panel == "lr" else panel, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        if len(members) > 1 or members[0][1] != panel:
            ax.legend(fontsize=8)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return _save(fig, out, dpi)
