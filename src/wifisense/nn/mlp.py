"""A plain multi-layer perceptron, the small building block both tasks use."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def make_mlp(in_dim: int, hidden: Sequence[int], out_dim: int, activation: type[nn.Module] = nn.ReLU,
             dropout: float = 0.0, final_activation: nn.Module | None = None) -> nn.Sequential:
    """Linear layers of the given widths with ``activation`` (and dropout) between them."""
    layers: list[nn.Module] = []
    dims = [in_dim, *hidden]
    for a, b in zip(dims[:-1], dims[1:]):
        layers.append(nn.Linear(a, b))
        layers.append(activation())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(dims[-1], out_dim))
    if final_activation is not None:
        layers.append(final_activation)
    return nn.Sequential(*layers)


class MLP(nn.Module):
    """``make_mlp`` as a module that acts on the last axis of any-shaped input."""

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int,
                 activation: type[nn.Module] = nn.ReLU, dropout: float = 0.0):
        super().__init__()
        self.net = make_mlp(in_dim, hidden, out_dim, activation, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
