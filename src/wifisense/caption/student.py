"""The CSI student: per receiver an amplitude and a phase ResNet-18, gated fusion, projection, masked mean.

Input layout is the caption sample ``[B, R, T, A, S]`` (batch, receivers, time, antenna
pairs, subcarriers): each receiver's ``[T, A, S]`` block is an image with the A antenna
pairs as channels over time x subcarrier. Amplitude and sanitised phase go through two
backbones that share no weights. Receivers flagged invalid in ``rx_valid`` (missing,
dropped out) are not encoded at all and are left out of the mean, rather than zero-filled.

``share_across_receivers``: False (paper) gives every receiver its own encoder, so each
can learn its own viewpoint; True uses one encoder for all receivers (R times fewer
parameters, the receivers' data pooled for training). Compute is the same either way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wifisense.nn.fusion import GatedFusion
from wifisense.nn.resnet import ResNet18


class ReceiverEncoder(nn.Module):
    """One receiver's amplitude + phase ResNet-18s, gated fusion and projection to an L2-normalised embedding.

    ``forward(amplitude [N, T, A, S], phase [N, T, A, S]) -> [N, embed_dim]``.
    """

    def __init__(self, in_channels: int, embed_dim: int, resnet_width: int = 64):
        super().__init__()
        self.amplitude_backbone = ResNet18(in_channels, num_classes=0, width=resnet_width)
        self.phase_backbone = ResNet18(in_channels, num_classes=0, width=resnet_width)
        feature_dim = self.amplitude_backbone.feature_dim
        self.fusion = GatedFusion(feature_dim)
        self.projection = nn.Linear(feature_dim, embed_dim)

    def forward(self, amplitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        # [N, T, A, S] -> [N, A, T, S]: antenna pairs are the image channels.
        a = self.amplitude_backbone(amplitude.permute(0, 2, 1, 3))
        p = self.phase_backbone(phase.permute(0, 2, 1, 3))
        return F.normalize(self.projection(self.fusion(a, p)), dim=-1)


def masked_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``values [B, R, D]`` over the R rows where ``valid [B, R]``; a row with none valid gives 0."""
    weights = valid.to(values.dtype).unsqueeze(-1)
    return (values * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class CSIStudent(nn.Module):
    """WiFi2Cap's CSI encoder.

    Args:
        in_channels: antenna pairs A.
        embed_dim: output embedding size (the teacher's).
        num_receivers: R.
        resnet_width: first-stage width of every ResNet-18 (64 in the paper).
        share_across_receivers: one ReceiverEncoder for all receivers (see the module docstring).

    ``forward(amplitude [B, R, T, A, S], phase [B, R, T, A, S], rx_valid [B, R] bool or None) -> [B, embed_dim]``,
    L2-normalised (all-zero for a sample with no valid receiver).
    ``encode_receivers(...)`` gives the per-receiver embeddings ``[B, R, embed_dim]`` (zeros where invalid).
    """

    def __init__(self, in_channels: int, embed_dim: int, num_receivers: int = 3, resnet_width: int = 64,
                 share_across_receivers: bool = False):
        super().__init__()
        self.num_receivers = num_receivers
        self.embed_dim = embed_dim
        self.share_across_receivers = share_across_receivers
        count = 1 if share_across_receivers else num_receivers
        self.receivers = nn.ModuleList(ReceiverEncoder(in_channels, embed_dim, resnet_width) for _ in range(count))

    @classmethod
    def from_config(cls, config, embed_dim: int) -> CSIStudent:
        """Build from a ``StudentConfig``."""
        return cls(config.in_channels, embed_dim, config.num_receivers, config.resnet_width,
                   config.share_across_receivers)

    def encode_receivers(self, amplitude: torch.Tensor, phase: torch.Tensor,
                         rx_valid: torch.Tensor | None = None) -> torch.Tensor:
        batch, receivers = amplitude.shape[:2]
        if amplitude.dim() != 5 or amplitude.shape != phase.shape or receivers != self.num_receivers:
            raise ValueError(f"CSIStudent expects amplitude and phase [B, {self.num_receivers}, T, A, S], "
                             f"got {tuple(amplitude.shape)} and {tuple(phase.shape)}")
        if rx_valid is None:
            rx_valid = torch.ones(batch, receivers, dtype=torch.bool, device=amplitude.device)
        rx_valid = rx_valid.to(torch.bool)
        out = amplitude.new_zeros(batch, receivers, self.embed_dim)
        # Only valid receivers are encoded: an invalid receiver's (arbitrary) input must
        # not reach the output, not even through BatchNorm's batch statistics.
        if self.share_across_receivers:
            if rx_valid.any():
                out[rx_valid] = self.receivers[0](amplitude[rx_valid], phase[rx_valid])
            return out
        for r, encoder in enumerate(self.receivers):
            rows = rx_valid[:, r].nonzero(as_tuple=True)[0]
            if rows.numel():
                out[rows, r] = encoder(amplitude[rows, r], phase[rows, r])
        return out

    def forward(self, amplitude: torch.Tensor, phase: torch.Tensor,
                rx_valid: torch.Tensor | None = None) -> torch.Tensor:
        per_receiver = self.encode_receivers(amplitude, phase, rx_valid)
        valid = rx_valid.to(torch.bool) if rx_valid is not None else \
            torch.ones(per_receiver.shape[:2], dtype=torch.bool, device=per_receiver.device)
        return F.normalize(masked_mean(per_receiver, valid), dim=-1)
