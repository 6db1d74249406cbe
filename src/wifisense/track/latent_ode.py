"""Latent ODE: a learned dz/dt = f(z) unrolled with torchdiffeq from z0 to any query times.

``LatentODE(func)(z0, times)`` returns the latent trajectory at ``times`` ([T] shared or
[B, T] per sample; per-sample times are solved once on their union and gathered back).
The solve starts at ``t0`` (the window start, or a time inside the window) and may run both
forwards and backwards from it; for an autonomous field both directions share one solver call
(see :class:`TwoWayField`). Function evaluations are counted on the ODE function (``nfe``), which is how solver
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

    autonomous = True   # f ignores t: LatentODE may solve both directions from t0 in one call

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

    autonomous = True

    def __init__(self, matrix: Tensor):
        super().__init__()
        self.register_buffer("matrix", torch.as_tensor(matrix))
        self.nfe = 0

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        self.nfe += 1
        return z @ self.matrix.T


class TwoWayField(nn.Module):
    """Forward and backward halves of an autonomous solve from t0 as ONE system in the offset s = |t - t0|.

    The state stacks the forward copy of z (rows ``:batch``) over the backward copy (rows ``batch:``);
    d/ds of the backward copy is ``-f``. One solver call with one evaluation of ``func`` per stage
    replaces two solves, which halves the function evaluations and the solver's per-step Python
    overhead when z0 sits inside the window (``model.z0_time``). Wrapped as a module so the adjoint
    method finds ``func``'s parameters.
    """

    def __init__(self, func: nn.Module, batch: int):
        super().__init__()
        self.func, self.batch = func, batch

    def forward(self, s: Tensor, y: Tensor) -> Tensor:
        out = self.func(s, y)
        return torch.cat([out[: self.batch], -out[self.batch:]], dim=0)


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

    def _solve(self, z0: Tensor, grid: Tensor, func: nn.Module | None = None) -> Tensor:
        """odeint on a monotonic grid starting at the initial time: [len(grid), B, d]."""
        if grid.shape[0] == 1:
            return z0.unsqueeze(0)
        solver = odeint_adjoint if self.adjoint else odeint
        return solver(self.func if func is None else func, z0, grid, rtol=self.rtol, atol=self.atol,
                      method=self.method, options=self.options or None)

    def _solve_both_ways(self, z0: Tensor, forward_grid: Tensor, backward_grid: Tensor) -> tuple[Tensor, Tensor]:
        """Paths on an ascending ``forward_grid`` and a descending ``backward_grid``, both starting at t0."""
        n_forward = forward_grid.shape[0]
        if n_forward == 1 or backward_grid.shape[0] == 1 or not getattr(self.func, "autonomous", False):
            return self._solve(z0, forward_grid), self._solve(z0, backward_grid)
        t0 = forward_grid[0]
        offsets, index = torch.unique(torch.cat([forward_grid - t0, t0 - backward_grid]), sorted=True,
                                      return_inverse=True)
        batch = z0.shape[0]
        path = self._solve(torch.cat([z0, z0], dim=0), offsets, TwoWayField(self.func, batch))
        return path[index[:n_forward], :batch], path[index[n_forward:], batch:]

    def forward(self, z0: Tensor, times: Tensor, t0: float = 0.0) -> Tensor:
        """z0 [B, d], times [T] or [B, T] (any order, repeats allowed) -> z [B, T, d]."""
        per_sample = times.dim() == 2
        start = torch.as_tensor([t0], dtype=times.dtype, device=times.device)
        grid, inverse = torch.unique(torch.cat([start, times.reshape(-1)]), sorted=True, return_inverse=True)
        i0 = int(inverse[0])
        # solve forwards over grid[i0:] and backwards over grid[:i0+1], both starting at t0
        forward, backward = self._solve_both_ways(z0, grid[i0:], grid[: i0 + 1].flip(0))
        backward = backward.flip(0)
        path = torch.cat([backward[:-1], forward], dim=0).transpose(0, 1)    # [B, G, d]
        index = inverse[1:]
        if per_sample:
            index = index.reshape(times.shape)                                # [B, T]
            return torch.gather(path, 1, index.unsqueeze(-1).expand(-1, -1, path.shape[-1]))
        return path[:, index]
