"""Post-ODE fusion of two bands' aligned latent trajectories into one latent per query time.

All fusions share one call: ``fusion(z1 [B, Tq, d1], z2 [B, Tq, d2], init1 [B, d1], init2 [B, d2])``
-> ``[B, Tq, d_out]``; the initial conditions are used only by :class:`WeightedImportanceFusion`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from wifisense.nn.mlp import make_mlp


class MLPFusion(nn.Module):
    """Concatenate the two latents and map them through an MLP (no hidden layer: one linear map).

    The tiny preset uses no hidden layer: every extra layer between the latents and the MLP
    coordinate decoder shrinks the coordinate gradient reaching the encoders, and with one the
    two-band model stayed on the "predict the mean" plateau in every short run we tried.
    """

    def __init__(self, dim1: int, dim2: int, out_dim: int, hidden: Sequence[int] = (32,)):
        super().__init__()
        self.out_dim = out_dim
        self.net = make_mlp(dim1 + dim2, list(hidden), out_dim)

    def forward(self, z1: Tensor, z2: Tensor, init1: Tensor | None = None, init2: Tensor | None = None) -> Tensor:
        return self.net(torch.cat([z1, z2], dim=-1))


class PairwiseFusion(nn.Module):
    """Pairwise interactions: outer (Kronecker) product of the two latents, flattened, then linear.

    With ``with_unimodal`` a constant 1 is appended to each latent first (as in Tensor Fusion
    Networks), so the product also holds each latent's own terms, not only their interactions.
    """

    def __init__(self, dim1: int, dim2: int, out_dim: int, with_unimodal: bool = True):
        super().__init__()
        self.out_dim, self.with_unimodal = out_dim, with_unimodal
        extra = 1 if with_unimodal else 0
        self.linear = nn.Linear((dim1 + extra) * (dim2 + extra), out_dim)

    def forward(self, z1: Tensor, z2: Tensor, init1: Tensor | None = None, init2: Tensor | None = None) -> Tensor:
        if self.with_unimodal:
            z1 = torch.cat([z1, torch.ones_like(z1[..., :1])], dim=-1)
            z2 = torch.cat([z2, torch.ones_like(z2[..., :1])], dim=-1)
        outer = z1.unsqueeze(-1) * z2.unsqueeze(-2)             # [..., d1, d2]
        return self.linear(outer.flatten(-2))


class WeightedImportanceFusion(nn.Module):
    """Weighted sum of the (projected) latents, weights = softmax of scores of the initial conditions.

    The weights are per sample ([B, 2], summing to 1) and shared over the query times: each band's
    z0 summarises how informative that band's window is.
    """

    def __init__(self, dim1: int, dim2: int, out_dim: int, hidden: int = 32):
        super().__init__()
        self.out_dim = out_dim
        self.project1 = nn.Linear(dim1, out_dim)
        self.project2 = nn.Linear(dim2, out_dim)
        self.score = make_mlp(dim1 + dim2, [hidden] if hidden > 0 else [], 2, activation=nn.Tanh)

    def importance_weights(self, init1: Tensor, init2: Tensor) -> Tensor:
        """[B, 2] softmax weights of band 1 and band 2."""
        return torch.softmax(self.score(torch.cat([init1, init2], dim=-1)), dim=-1)

    def forward(self, z1: Tensor, z2: Tensor, init1: Tensor | None = None, init2: Tensor | None = None) -> Tensor:
        if init1 is None or init2 is None:
            raise ValueError("WeightedImportanceFusion needs both bands' initial conditions")
        weights = self.importance_weights(init1, init2)            # [B, 2]
        w1 = weights[:, 0].reshape(-1, *([1] * (z1.dim() - 1)))
        w2 = weights[:, 1].reshape(-1, *([1] * (z2.dim() - 1)))
        return w1 * self.project1(z1) + w2 * self.project2(z2)


FUSIONS = {"mlp": MLPFusion, "pairwise": PairwiseFusion, "weighted": WeightedImportanceFusion}


def make_fusion(name: str, dim1: int, dim2: int, out_dim: int, hidden: int = 32) -> nn.Module:
    """Build a fusion by name: "mlp", "pairwise" or "weighted"; ``hidden`` 0 = no hidden layer (linear)."""
    if name == "mlp":
        return MLPFusion(dim1, dim2, out_dim, hidden=(hidden,) if hidden > 0 else ())
    if name == "pairwise":
        return PairwiseFusion(dim1, dim2, out_dim)
    if name == "weighted":
        return WeightedImportanceFusion(dim1, dim2, out_dim, hidden=hidden)
    raise ValueError(f"unknown fusion {name!r}; choose one of {sorted(FUSIONS)}")
