"""Gated fusion of two feature vectors: a learned per-channel mix g*a + (1-g)*p."""

from __future__ import annotations

import torch
from torch import nn


class GatedFusion(nn.Module):
    """``g = sigmoid(W [a; p] + b)``, ``out = g * a + (1 - g) * p`` (WiFi2Cap's amplitude/phase unit).

    ``forward(a [..., dim], p [..., dim]) -> [..., dim]``; the gate is per channel and per sample.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.gate = nn.Linear(2 * dim, dim)

    def forward(self, a: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        if a.shape != p.shape:
            raise ValueError(f"GatedFusion needs equal shapes, got {tuple(a.shape)} and {tuple(p.shape)}")
        g = torch.sigmoid(self.gate(torch.cat([a, p], dim=-1)))
        return g * a + (1 - g) * p
