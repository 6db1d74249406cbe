"""Latent ODE: a learned dz/dt = f(z) unrolled with torchdiffeq from z0 to any query times.

``LatentODE(func)(z0, times)`` returns the latent trajectory at ``times`` ([T] shared or
[B, T] per sample; per-sample times are solved once on their union and gathered back).
The solve starts at ``t0`` (the window start) and may run both forwards and backwards from
it. Function evaluations are counted on the ODE function (``nfe``), which is how solver
cost is reported.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchdiffeq import odeint, odeint_adjoint

from wifisense.nn.mlp import make_mlp


class ODEFunc(nn.Module):
    """Autonomous vector field dz/dt = f(z) (an MLP, plus optionally a linear term) counting evaluations.

    With ``linear`` the field is ``A z + MLP(z)``: a linear term lets the model express
    "position changes with velocity" (dp/dt = v, both parts of z) with one matrix, which a
    tanh MLP learns only slowly; without motion the decoded trajectory collapses to the window
    centroid for most of training.
    """

    def __init__(self, latent_dim: int, hidden_dim: int = 32, n_layers: int = 2, linear: bool = False):
        super().__init__()
        self.net = make_mlp(latent_dim, [hidden_dim] * n_layers, latent_dim, activation=nn.Tanh)
        self.linear = nn.Linear(latent_dim, latent_dim, bias=False) if linear else None
        self.nfe = 0

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        self.nfe += 1
        out = self.net(z)
        return out + self.linear(z) if self.linear is not None else out


class LinearODEFunc(nn.Module):
    """dz/dt = A z for a fixed matrix A (analytic solution expm(A t) z0; used to test solvers)."""

    def __init__(self, matrix: Tensor):
        super().__init__()
        self.register_buffer("matrix", torch.as_tensor(matrix))
        self.nfe = 0

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        self.nfe += 1
        return z @ self.matrix.T


def reparameterise(mean: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Sample z = mean + exp(logvar / 2) * eps, eps ~ N(0, I) (differentiable in mean and logvar)."""
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
    return mean + torch.exp(0.5 * logvar) * eps


class LatentODE(nn.Module):
    """Solve the initial-value problem z(t0) = z0, dz/dt = func(t, z) at the requested times.

    Args:
        func: the vector field module (counts its evaluations in ``func.nfe``).
        method: torchdiffeq solver name ("dopri5", "rk4", "euler", ...).
        rtol, atol: tolerances of adaptive solvers.
        adjoint: back-propagate with the adjoint method (``odeint_adjoint``, O(1) memory).
        options: extra solver options (e.g. {"step_size": 0.05} for fixed-step solvers).
    """

    def __init__(self, func: nn.Module, method: str = "dopri5", rtol: float = 1e-3, atol: float = 1e-4,
                 adjoint: bool = False, options: dict | None = None):
        super().__init__()
        self.func = func
        self.method, self.rtol, self.atol = method, rtol, atol
        self.adjoint = adjoint
        self.options = dict(options or {})

    @property
    def nfe(self) -> int:
        return int(getattr(self.func, "nfe", 0))

    def reset_nfe(self) -> None:
        self.func.nfe = 0

    def _solve(self, z0: Tensor, grid: Tensor) -> Tensor:
        """odeint on a monotonic grid starting at the initial time: [len(grid), B, d]."""
        if grid.shape[0] == 1:
            return z0.unsqueeze(0)
        solver = odeint_adjoint if self.adjoint else odeint
        return solver(self.func, z0, grid, rtol=self.rtol, atol=self.atol, method=self.method,
                      options=self.options or None)

    def forward(self, z0: Tensor, times: Tensor, t0: float = 0.0) -> Tensor:
        """z0 [B, d], times [T] or [B, T] (any order, repeats allowed) -> z [B, T, d]."""
        per_sample = times.dim() == 2
        start = torch.as_tensor([t0], dtype=times.dtype, device=times.device)
        grid, inverse = torch.unique(torch.cat([start, times.reshape(-1)]), sorted=True, return_inverse=True)
        i0 = int(inverse[0])
        # solve forwards over grid[i0:] and backwards over grid[:i0+1], both starting at t0
        forward = self._solve(z0, grid[i0:])
        backward = self._solve(z0, grid[: i0 + 1].flip(0)).flip(0)
        path = torch.cat([backward[:-1], forward], dim=0).transpose(0, 1)    # [B, G, d]
        index = inverse[1:]
        if per_sample:
            index = index.reshape(times.shape)                                # [B, T]
            return torch.gather(path, 1, index.unsqueeze(-1).expand(-1, -1, path.shape[-1]))
        return path[:, index]
