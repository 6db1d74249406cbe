"""Track losses: the NDF ELBO (L1 coordinates + L1 reconstructions + KL per band) for any model's output.

``track_loss(output, batch, weights)`` works for every track model: baselines only return
coordinates, so their loss is the coordinate term; NDF/DDND outputs add the reconstruction and
KL terms of each band they encode (an L1 reconstruction is a Laplace likelihood, hence ELBO).
"""

from __future__ import annotations

import torch
from torch import Tensor

from wifisense.track.batching import TrackBatch, TrackOutput
from wifisense.track.config import LossWeights


def gaussian_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) in closed form, summed over the last axis: [...]."""
    return 0.5 * (torch.exp(logvar) + mean.pow(2) - 1.0 - logvar).sum(-1)


def masked_l1(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean absolute error over the entries where ``mask`` is 1 (mask [B, T] or [B, T, D])."""
    error = (pred - target).abs()
    if mask is None:
        return error.mean()
    mask = mask.to(error.dtype)
    if mask.dim() == error.dim() - 1:
        mask = mask.unsqueeze(-1)
    mask = mask.expand_as(error)
    return (error * mask).sum() / mask.sum().clamp(min=1.0)


def coordinate_error(pred_xy: Tensor, target_xy: Tensor, query_mask: Tensor | None = None) -> Tensor:
    """Euclidean errors at the real query points, flattened: [n] (metres if coordinates are)."""
    distance = torch.linalg.vector_norm(pred_xy - target_xy, dim=-1)
    return distance[query_mask.bool()] if query_mask is not None else distance.reshape(-1)


def track_loss(output: TrackOutput, batch: TrackBatch, weights: LossWeights | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """(total loss, {term name: detached value}) for any track model's output."""
    weights = weights or LossWeights()
    if batch.target_xy is None:
        raise ValueError("track_loss needs batch.target_xy")
    parts = {"coord": masked_l1(output.xy, batch.target_xy, batch.query_weights())}
    total = weights.coord * parts["coord"]
    for band, recon in output.recon.items():
        observed = batch.band(band)
        parts[f"recon_{band}"] = masked_l1(recon, observed.values, observed.feature_mask())
        total = total + getattr(weights, f"recon_{band}") * parts[f"recon_{band}"]
    for band, mean in output.z0_mean.items():
        parts[f"kl_{band}"] = gaussian_kl(mean, output.z0_logvar[band]).mean()
        total = total + getattr(weights, f"kl_{band}") * parts[f"kl_{band}"]
    return total, {k: v.detach() for k, v in parts.items()}
