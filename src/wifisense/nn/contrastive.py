"""Symmetric InfoNCE (the CLIP loss, also class-aware) between two batches of paired embeddings, multi-GPU aware."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float | torch.Tensor) -> torch.Tensor:
    """Mean of the a->b and b->a cross-entropies over ``a @ b.T / temperature``; row i pairs with column i.

    ``a``, ``b``: ``[N, D]`` (normally L2-normalised, so the logits are cosine similarities).
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"info_nce needs two [N, D] tensors of equal shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return _local_info_nce(a, b, a, b, 0, temperature)


def _local_info_nce(a_local: torch.Tensor, b_local: torch.Tensor, a_all: torch.Tensor, b_all: torch.Tensor,
                    offset: int, temperature: float | torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE of the local rows against all columns; local row i pairs with global row offset + i."""
    targets = torch.arange(a_local.shape[0], device=a_local.device) + offset
    a_to_b = F.cross_entropy(a_local @ b_all.t() / temperature, targets)
    b_to_a = F.cross_entropy(b_local @ a_all.t() / temperature, targets)
    return 0.5 * (a_to_b + b_to_a)


def _gather_across_ranks(x: torch.Tensor) -> torch.Tensor:
    """All ranks' rows concatenated (rank order), with gradients flowing back to each rank's own rows."""
    # Imported lazily: the distributed helpers are only needed when a process group runs.
    from wifisense.training.distributed import all_gather_with_grad
    return all_gather_with_grad(x)


def _distributed_active() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() \
        and torch.distributed.get_world_size() > 1


class ContrastiveLoss(nn.Module):
    """Symmetric InfoNCE with a learnable (CLIP-style log-parametrised) or fixed temperature.

    Args:
        temperature: initial (or fixed) temperature; CLIP starts at 0.07.
        learnable: learn ``log(1/temperature)`` as a parameter ``logit_scale``.
        max_logit_scale: clamp of ``1/temperature`` (100 in CLIP) so training cannot blow up.

    ``forward(a [N, D], b [N, D]) -> scalar``. Under torch.distributed both sides are
    all-gathered with gradients and each rank scores its local rows against the global
    batch (the convention of ``wifisense.training.distributed.all_gather_with_grad``, with
    which DDP gradients equal the full-batch gradients; local batches must be equal-sized).
    """

    def __init__(self, temperature: float = 0.07, learnable: bool = True, max_logit_scale: float = 100.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        init = torch.tensor(math.log(1.0 / temperature), dtype=torch.float32)
        if learnable:
            self.logit_scale = nn.Parameter(init)
        else:
            self.register_buffer("logit_scale", init)
        self.max_logit_scale = max_logit_scale

    @property
    def temperature(self) -> torch.Tensor:
        """The current temperature ``1 / exp(logit_scale)`` (after clamping)."""
        return 1.0 / self.logit_scale.clamp(max=math.log(self.max_logit_scale)).exp()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if not _distributed_active():
            return info_nce(a, b, self.temperature)
        offset = torch.distributed.get_rank() * a.shape[0]
        return _local_info_nce(a, b, _gather_across_ranks(a), _gather_across_ranks(b), offset, self.temperature)


def class_aware_info_nce(a: torch.Tensor, b: torch.Tensor, groups: torch.Tensor,
                         temperature: float | torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE where every column of the same group (class) as the row is a positive.

    The target of row i is uniform over the columns j with ``groups[j] == groups[i]``
    (i itself included), so two clips of one class in a batch are not pushed apart as
    negatives. With all groups distinct this is exactly the usual symmetric InfoNCE. Under
    torch.distributed both sides and the groups are all-gathered and each rank scores its
    local rows against all columns (the convention of :class:`ContrastiveLoss`).
    """
    if _distributed_active():
        a_all, b_all = _gather_across_ranks(a), _gather_across_ranks(b)
        groups_all = _gather_across_ranks(groups.to(torch.float64)).round().to(groups.dtype)
    else:
        a_all, b_all, groups_all = a, b, groups
    positives = (groups[:, None] == groups_all[None, :]).to(a.dtype)
    targets = positives / positives.sum(dim=1, keepdim=True)

    def cross_entropy(logits: torch.Tensor) -> torch.Tensor:
        return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()

    return 0.5 * (cross_entropy(a @ b_all.t() / temperature) + cross_entropy(b @ a_all.t() / temperature))


def in_batch_match_accuracy(a: torch.Tensor, b: torch.Tensor, class_id: torch.Tensor) -> torch.Tensor:
    """Fraction of rows of ``a`` whose most similar row of ``b`` has the same class (paraphrase duplicates count)."""
    best = (a @ b.t()).argmax(dim=1)
    return (class_id[best] == class_id).float().mean()
