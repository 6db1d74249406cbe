"""Mirror consistency: swap direction words, flip frames, and the hinge losses that tie them together.

A horizontally flipped clip shows the mirrored action ("raises the left arm" becomes
"raises the right arm"), so an embedding that understands direction must sit closer
to its own caption than to the direction-swapped one (WiFi2Cap eq. 3 for the
video teacher, eq. 7 for the text-only CSI student).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from wifisense.directions import has_direction, swap_directions  # noqa: F401  (re-exported)

def flip_frames(frames: np.ndarray | torch.Tensor, width_axis: int = -2) -> np.ndarray | torch.Tensor:
    """Horizontally flipped frames; ``width_axis`` is -2 for ``[..., H, W, C]`` (the store's layout), -1 for ``[..., C, H, W]``."""
    if isinstance(frames, torch.Tensor):
        return torch.flip(frames, dims=(width_axis,))
    return np.ascontiguousarray(np.flip(frames, axis=width_axis))


def mirror_csi(csi: np.ndarray | torch.Tensor, receivers, antenna_axis: int = -2,
               receiver_axis: int = -4) -> np.ndarray | torch.Tensor:
    """The CSI of the mirrored clip in a room that is mirror-symmetric: receiver ``r`` of the
    result is receiver ``receivers[r]`` of ``csi`` with its antenna order reversed.

    ``csi`` is ``[..., R, T, A, S]`` (the caption sample layout). In such a room a left-side
    action at (x, y) gives exactly the CSI of the right-side action at the mirrored position
    with the mirrored receivers swapped (tested against the simulator's "symmetric" layout),
    so this is the CSI counterpart of :func:`flip_frames`. ``receivers`` is the store's
    ``mirror_receivers`` map (:func:`wifisense.caption.data.store_mirror_receivers`).
    """
    order = list(receivers)
    if isinstance(csi, torch.Tensor):
        index = torch.as_tensor(order, dtype=torch.long, device=csi.device)
        return torch.flip(torch.index_select(csi, receiver_axis, index), dims=(antenna_axis,))
    return np.ascontiguousarray(np.flip(np.take(csi, order, axis=receiver_axis), axis=antenna_axis))


def mirror_hinge(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over rows of ``max(0, margin - cos(anchor, positive) + cos(anchor, negative))``.

    ``mask`` (bool ``[N]``) keeps only rows where the negative really differs (captions with
    a direction word); with no row kept the result is a zero that still has a graph.
    """
    hinge = F.relu(margin - F.cosine_similarity(anchor, positive, dim=-1)
                   + F.cosine_similarity(anchor, negative, dim=-1))
    if mask is None:
        return hinge.mean()
    mask = mask.to(hinge.dtype)
    return (hinge * mask).sum() / mask.sum().clamp(min=1.0)


MIRROR_MODES = ("none", "teacher", "full")


class MirrorConsistencyLoss(nn.Module):
    """The weighted mirror hinge of the teacher (stage 1) and of the CSI student (stage 2-2).

    Args:
        mode: ``"none"`` (both terms are 0), ``"teacher"`` (stage-1 term only) or ``"full"`` (both).
        margin: hinge margin m.
        weight: lambda_mc, multiplies every returned term.

    ``teacher_loss(video, text, flipped_video, mirrored_text, mask=None)`` is eq. 3: the video
    embedding is closer to its caption than to the mirrored caption, and the flipped video is
    closer to the mirrored caption than to the original, each by ``margin``.
    ``student_loss(csi, text, mirrored_text, mask=None)`` is eq. 7: the CSI embedding is closer
    to its caption than to the mirrored caption. All inputs are ``[N, D]``; results are scalars.
    """

    def __init__(self, mode: str = "full", margin: float = 0.2, weight: float = 1.0):
        super().__init__()
        if mode not in MIRROR_MODES:
            raise ValueError(f"mirror mode must be one of {MIRROR_MODES}, got {mode!r}")
        self.mode = mode
        self.margin = float(margin)
        self.weight = float(weight)

    def teacher_loss(self, video: torch.Tensor, text: torch.Tensor, flipped_video: torch.Tensor,
                     mirrored_text: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.mode == "none":
            return video.new_zeros(())
        original = mirror_hinge(video, text, mirrored_text, self.margin, mask)
        flipped = mirror_hinge(flipped_video, mirrored_text, text, self.margin, mask)
        return self.weight * (original + flipped)

    def student_loss(self, csi: torch.Tensor, text: torch.Tensor, mirrored_text: torch.Tensor,
                     mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.mode != "full":
            return csi.new_zeros(())
        return self.weight * mirror_hinge(csi, text, mirrored_text, self.margin, mask)
