"""ODE-RNN encoder: irregular observations -> Gaussian initial latent condition q(z0) (Rubanova et al., 2019).

The hidden state is carried BACKWARDS in time, starting at each sample's last observation:
between two observations it follows a small learned ODE dh/dt = f(h) (explicit Euler steps),
at an observation a GRU (or LSTM) cell takes the observed values and their mask. After the
earliest observation the state is propagated to the window start ``t0`` and mapped to the mean
and log-variance of z0.

Vectorisation: the loop runs over observation slots (the j-th-from-last observation of every
sample at once, see :func:`pack_observations`), never over samples. Each sample's Euler steps
depend only on its own gaps (a fixed number of steps per gap, with per-sample step sizes), so
a sample's z0 does not depend on which other samples share its batch. Samples that have run
out of observations keep their state (masked update). :func:`encode_loop` is the per-sample
reference used by tests to check exactly that.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from wifisense.nn.mlp import make_mlp
from wifisense.track.batching import IrregularBatch, pack_observations


class ODERNNEncoder(nn.Module):
    """Irregular sequence (values + mask) -> (mean, logvar) of z0, each [B, latent_dim].

    Args:
        input_dim: features per observation D.
        latent_dim: size of z0.
        hidden_dim: RNN hidden size.
        ode_hidden_dim: width of the hidden-state ODE function's hidden layer.
        cell: "gru" or "lstm" (for an LSTM the ODE evolves h; the cell state c is kept).
        euler_steps: explicit Euler steps per gap between consecutive observations.
        init_logvar: initial bias of the log-variance output; a negative value starts training
            with a narrow q(z0), so early sampling noise does not drown the coordinate signal.
        input_hidden: widths of an MLP applied to each observation (values and mask) before the
            cell; empty = the cell reads them directly. Like the MLP gates of the latent-ODE
            reference GRU unit, it lets the update read a nonlinear feature of a fingerprint-like
            observation (a beam-SNR sweep), which one GRU cell alone learns only slowly.
    """

    def __init__(self, input_dim: int, latent_dim: int, hidden_dim: int = 32, ode_hidden_dim: int = 32,
                 cell: str = "gru", euler_steps: int = 1, init_logvar: float = 0.0,
                 input_hidden: Sequence[int] = ()):
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        if euler_steps < 1:
            raise ValueError("euler_steps must be >= 1")
        self.input_dim, self.latent_dim, self.hidden_dim = input_dim, latent_dim, hidden_dim
        self.cell_type, self.euler_steps = cell, euler_steps
        self.ode_func = make_mlp(hidden_dim, [ode_hidden_dim], hidden_dim, activation=nn.Tanh)
        # the cell sees the values and the mask, so a missing feature differs from a zero value
        input_hidden = list(input_hidden)
        self.input_net = (make_mlp(2 * input_dim, input_hidden[:-1], input_hidden[-1], final_activation=nn.Tanh())
                          if input_hidden else nn.Identity())
        cell_cls = nn.GRUCell if cell == "gru" else nn.LSTMCell
        self.cell = cell_cls(input_hidden[-1] if input_hidden else 2 * input_dim, hidden_dim)
        self.to_z0 = make_mlp(hidden_dim, [hidden_dim], 2 * latent_dim, activation=nn.Tanh)
        with torch.no_grad():
            self.to_z0[-1].bias[latent_dim:].fill_(init_logvar)

    def evolve(self, h: Tensor, dt: Tensor) -> Tensor:
        """Euler-integrate dh/dt = f(h) over a per-sample time span ``dt [B]`` (negative = backwards)."""
        return self._euler(h, (dt / self.euler_steps).unsqueeze(-1))

    def _euler(self, h: Tensor, step: Tensor) -> Tensor:
        for _ in range(self.euler_steps):
            h = h + step * self.ode_func(h)
        return h

    def forward(self, batch: IrregularBatch, t0: float = 0.0) -> tuple[Tensor, Tensor]:
        times, values, mask, valid = pack_observations(batch, descending=True)
        n_batch, n_slots = valid.shape
        h = values.new_zeros(n_batch, self.hidden_dim)
        c = torch.zeros_like(h)
        t_prev = times[:, -1] if n_slots else values.new_zeros(n_batch)
        # Everything that does not depend on h is computed for all slots at once, outside the
        # recurrence: observation features, Euler step sizes, and which slots are valid in every
        # sample (there the masked update is skipped). At batch 1 the loop's per-op overhead is
        # most of the inference time, so this is what keeps a window under 20 ms.
        cell_inputs = self.input_net(torch.cat([values * mask, mask], dim=-1))
        # padding slots repeat the earliest time, so their gap (and ODE change) is exactly 0
        steps = (torch.diff(times, dim=1) / self.euler_steps).unsqueeze(-1)       # [B, S-1, 1]
        all_valid = valid.all(0).tolist()
        for j in range(n_slots):
            if j:               # slot 0 is the last observation: no gap before it
                h = self._euler(h, steps[:, j - 1])
            cell_in = cell_inputs[:, j]
            keep = None if all_valid[j] else valid[:, j].unsqueeze(-1)
            if self.cell_type == "gru":
                h_new = self.cell(cell_in, h)
                h = h_new if keep is None else torch.where(keep, h_new, h)
            else:
                h_new, c_new = self.cell(cell_in, (h, c))
                h, c = (h_new, c_new) if keep is None else (torch.where(keep, h_new, h), torch.where(keep, c_new, c))
        has_obs = valid.any(-1) if n_slots else torch.zeros(n_batch, dtype=torch.bool, device=h.device)
        h = self.evolve(h, torch.where(has_obs, t0 - t_prev, torch.zeros_like(t_prev)))
        mean, logvar = self.to_z0(h).chunk(2, dim=-1)
        return mean, logvar


def encode_loop(encoder: ODERNNEncoder, batch: IrregularBatch, t0: float = 0.0) -> tuple[Tensor, Tensor]:
    """Reference: run ``encoder`` on each sample alone (a Python loop, for tests and benchmarks)."""
    means, logvars = [], []
    for b in range(batch.batch_size):
        t, x, m = batch.sample(b)
        single = IrregularBatch(t, x.unsqueeze(0), m.unsqueeze(0))
        mean, logvar = encoder(single, t0=t0)
        means.append(mean)
        logvars.append(logvar)
    return torch.cat(means), torch.cat(logvars)
