"""The CSI student: per receiver an amplitude and a phase ResNet-18, gated fusion, projection, masked mean.

Input layout is the caption sample ``[B, R, T, A, S]`` (batch, receivers, time, antenna
pairs, subcarriers): each receiver's ``[T, A, S]`` block is an image with the A antenna
pairs as channels over time x subcarrier. Amplitude and sanitised phase go through two
backbones that share no weights. Receivers flagged invalid in ``rx_valid`` (missing,
dropped out) are not encoded at all and are left out of the mean, rather than zero-filled.

``share_across_receivers``: False (paper) gives every receiver its own encoder, so each
can learn its own viewpoint; True uses one encoder for all receivers (R times fewer
parameters, the receivers' data pooled for training). Compute is the same either way.

``time_pool`` > 1 averages the input over that many time steps before the backbones: it
divides the compute by about that factor and low-passes the per-packet noise (body motion
lives well below the 100 Hz packet rate once the static channel is removed).
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
        time_pool: average the input over this many time steps before the backbones (1 = off).

    ``forward(amplitude [B, R, T, A, S], phase [B, R, T, A, S], rx_valid [B, R] bool or None) -> [B, embed_dim]``,
    L2-normalised (all-zero for a sample with no valid receiver).
    ``encode_receivers(...)`` gives the per-receiver embeddings ``[B, R, embed_dim]`` (zeros where invalid).
    """

    def __init__(self, in_channels: int, embed_dim: int, num_receivers: int = 3, resnet_width: int = 64,
                 share_across_receivers: bool = False, time_pool: int = 1):
        super().__init__()
        if time_pool < 1:
            raise ValueError(f"time_pool must be >= 1, got {time_pool}")
        self.time_pool = int(time_pool)
        self.num_receivers = num_receivers
        self.embed_dim = embed_dim
        self.share_across_receivers = share_across_receivers
        count = 1 if share_across_receivers else num_receivers
        self.receivers = nn.ModuleList(ReceiverEncoder(in_channels, embed_dim, resnet_width) for _ in range(count))

    @classmethod
    def from_config(cls, config, embed_dim: int) -> CSIStudent:
        """Build from a ``StudentConfig``."""
        return cls(config.in_channels, embed_dim, config.num_receivers, config.resnet_width,
                   config.share_across_receivers, getattr(config, "time_pool", 1))

    def pool_time(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, T, A, S] -> [N, ceil(T / time_pool), A, S]`` by averaging (a partial last window is averaged too)."""
        if self.time_pool == 1:
            return x
        n, t, a, s = x.shape
        pooled = F.avg_pool1d(x.permute(0, 2, 3, 1).reshape(n, a * s, t), self.time_pool, ceil_mode=True)
        return pooled.reshape(n, a, s, -1).permute(0, 3, 1, 2)

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
                out[rx_valid] = self.receivers[0](self.pool_time(amplitude[rx_valid]), self.pool_time(phase[rx_valid]))
            return out
        for r, encoder in enumerate(self.receivers):
            rows = rx_valid[:, r].nonzero(as_tuple=True)[0]
            if rows.numel():
                out[rows, r] = encoder(self.pool_time(amplitude[rows, r]), self.pool_time(phase[rows, r]))
        return out

    def forward(self, amplitude: torch.Tensor, phase: torch.Tensor,
                rx_valid: torch.Tensor | None = None) -> torch.Tensor:
        per_receiver = self.encode_receivers(amplitude, phase, rx_valid)
        valid = rx_valid.to(torch.bool) if rx_valid is not None else \
            torch.ones(per_receiver.shape[:2], dtype=torch.bool, device=per_receiver.device)
        return F.normalize(masked_mean(per_receiver, valid), dim=-1)
