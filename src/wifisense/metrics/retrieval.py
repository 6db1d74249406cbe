"""Cross-modal retrieval metrics: cosine similarity matrices, top-1 matching accuracy and Recall@K both ways.

Rows of a similarity matrix are CSI embeddings and columns are text embeddings
(``sim[i, j] = cos(csi_i, text_j)``). Two ways to say which pairs are right:

- **paired** (``gt=None``): the matrix is square and row i belongs with column i only
  (one caption embedding per clip).
- **class** (``gt`` given): many clips share a caption class, so any item of the right class
  is a hit. ``gt`` is either one label array for a square matrix (the same items on both
  sides) or a pair ``(row_labels, col_labels)``, e.g. ``N`` clips against one text per class.

Ties count against the query: a hit at K needs fewer than K wrong items scoring at least as
high as the best right one, so a constant matrix scores chance or worse, never 100 %.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def similarity_matrix(a: Any, b: Any, eps: float = 1e-12) -> np.ndarray:
    """Cosine similarities ``[len(a), len(b)]`` between the rows of ``a`` and ``b`` (NumPy or torch, ``[N, D]``)."""
    a, b = _as_numpy(a), _as_numpy(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need two [N, D] arrays with the same D, got {a.shape} and {b.shape}")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), eps)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), eps)
    return a @ b.T


def _hit_ranks(sim: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Per row: how many wrong columns score >= the best right column (inf when no column is right)."""
    best_right = np.where(correct, sim, -np.inf).max(axis=1)
    wrong_above = ((sim >= best_right[:, None]) & ~correct).sum(axis=1).astype(np.float64)
    wrong_above[~correct.any(axis=1)] = np.inf
    return wrong_above


def _correct_mask(shape: tuple[int, int], gt: Any) -> tuple[np.ndarray, str]:
    n_rows, n_cols = shape
    if gt is None:
        if n_rows != n_cols:
            raise ValueError(f"paired retrieval needs a square matrix, got {shape}; pass gt labels otherwise")
        return np.eye(n_rows, dtype=bool), "paired"
    if isinstance(gt, tuple) and len(gt) == 2:
        rows, cols = (np.asarray(g) for g in gt)
    else:
        rows = cols = np.asarray(gt)
    if rows.shape != (n_rows,) or cols.shape != (n_cols,):
        raise ValueError(f"gt labels of shapes {rows.shape} and {cols.shape} do not fit a {shape} matrix")
    return rows[:, None] == cols[None, :], "class"


def retrieval_metrics(sim: Any, ks: Sequence[int] = (1, 5), gt: Any = None) -> dict[str, Any]:
    """Top-1 matching accuracy and Recall@K for CSI->text (rows) and text->CSI (columns).

    Args:
        sim: ``[N_csi, N_text]`` similarities (NumPy or torch).
        ks: the K of Recall@K; a K above the number of candidates counts every query that has
            a right candidate at all.
        gt: None (paired mode), one label per item (square matrix) or ``(row_labels,
            col_labels)`` (class mode); see the module docstring.

    Returns a flat dict: ``"top1_accuracy"`` (CSI->text R@1, the matrix figure's number),
    ``"csi_to_text_R@K"`` and ``"text_to_csi_R@K"`` for each K, ``"mode"``,
    ``"n_csi"``, ``"n_text"``, and ``"csi_without_match"`` / ``"text_without_match"``: queries
    whose class has no candidate on the other side (they count as misses).
    """
    sim = _as_numpy(sim)
    if sim.ndim != 2 or 0 in sim.shape:
        raise ValueError(f"need a non-empty [N_csi, N_text] matrix, got shape {sim.shape}")
    if not np.isfinite(sim).all():
        raise ValueError("the similarity matrix has NaN or infinite entries")
    if any(int(k) < 1 for k in ks):
        raise ValueError(f"every K must be >= 1, got {tuple(ks)}")
    correct, mode = _correct_mask(sim.shape, gt)
    out: dict[str, Any] = {"mode": mode, "n_csi": sim.shape[0], "n_text": sim.shape[1]}
    for name, s, c in (("csi_to_text", sim, correct), ("text_to_csi", sim.T, correct.T)):
        ranks = _hit_ranks(s, c)
        for k in ks:
            out[f"{name}_R@{int(k)}"] = float(np.mean(ranks < int(k)))
        out[f"{name.split('_')[0]}_without_match"] = int(np.isinf(ranks).sum())
    out["top1_accuracy"] = float(np.mean(_hit_ranks(sim, correct) < 1))
    return out
