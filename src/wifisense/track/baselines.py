"""Track baselines, each single- or multi-band: LinearInt, NearestInt, RNNDecay, RNNDeltaT (DDND is in ndf).

Every baseline turns each band into features at the query times, concatenates the bands
(fusion by concatenation) and maps each query point through an MLP to 2-D coordinates:

- ``LinearInt`` / ``NearestInt`` (frame-to-frame): each band's inputs interpolated in time,
  per feature, at the query times (constant beyond the first/last observation).
- ``RNNDecay`` (GRU-D-like): a GRU over the observations whose hidden state decays as
  exp(-relu(w * dt + b)) over the time gap; at a query time the state of the last observation
  at or before it is decayed over the remaining gap.
- ``RNNDeltaT``: a GRU that also reads the time gap since the previous observation; at a query
  time one more step with no observation and the remaining gap propagates the state.

For queries before a sample's first observation the RNNs use the first observation's state
(decayed / propagated over the absolute gap), so early queries are not left without input.
Everything is vectorised over samples and queries (searchsorted + gather); the RNNs loop only
over observation slots.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from wifisense.nn.mlp import make_mlp
from wifisense.track.batching import (
    IrregularBatch,
    TrackBatch,
    TrackOutput,
    pack_observations,
)
from wifisense.track.config import TrackModelConfig


def interpolate_irregular(batch: IrregularBatch, query: Tensor, mode: str = "linear") -> Tensor:
    """Interpolate each sample's observed values, feature by feature, at ``query [B, Tq]`` -> [B, Tq, D].

    ``mode`` is "linear" or "nearest" (ties go to the earlier point). Features a sample never
    observed give 0.
    """
    if mode not in ("linear", "nearest"):
        raise ValueError(f"mode must be 'linear' or 'nearest', got {mode!r}")
    # why packed: the union of a batch's CSI times is ~B x 150 points, almost all unobserved by any
    # one sample; per-sample packed slots (N ~ 150) make the sort and search ~B times smaller
    packed_t, packed_x, packed_m, valid = pack_observations(batch)
    n_batch, n_slots, dim = packed_x.shape
    if n_slots == 0:
        return packed_x.new_zeros(n_batch, query.shape[-1], dim)
    # one chain per (sample, feature), so per-feature masks are honoured
    observed = (packed_m.bool() & valid.unsqueeze(-1)).permute(0, 2, 1).reshape(n_batch * dim, n_slots)
    values = packed_x.permute(0, 2, 1).reshape(n_batch * dim, n_slots)
    slot_t = packed_t.repeat_interleave(dim, dim=0)                       # [B*D, N]
    rank = torch.argsort((~observed).to(torch.int8), dim=1, stable=True)   # observed first, in time order
    times = torch.where(torch.gather(observed, 1, rank), torch.gather(slot_t, 1, rank),
                        torch.full_like(values, float("inf")))
    values = torch.gather(values, 1, rank)
    counts = observed.sum(-1, keepdim=True)
    q = query.to(values.dtype).repeat_interleave(dim, dim=0)                # [B*D, Tq]
    after = torch.searchsorted(times, q.contiguous(), right=True)         # observations <= q
    last = (counts - 1).clamp(min=0)
    left = torch.minimum((after - 1).clamp(min=0), last)
    right = torch.minimum(after, last)
    t_left, t_right = torch.gather(times, 1, left), torch.gather(times, 1, right)
    v_left, v_right = torch.gather(values, 1, left), torch.gather(values, 1, right)
    span = t_right - t_left
    if mode == "linear":
        weight = torch.where(span > 0, (q - t_left) / torch.where(span > 0, span, 1.0), 0.0)
        out = v_left + weight * (v_right - v_left)
    else:
        out = torch.where((q - t_left) <= (t_right - q), v_left, v_right)
    out = torch.where(counts > 0, out, 0.0)
    return out.reshape(n_batch, dim, -1).permute(0, 2, 1)


def _query_slots(times: Tensor, query: Tensor) -> tuple[Tensor, Tensor]:
    """For packed ascending ``times [B, N]``: slot of the last observation <= each query, and the gap."""
    slot = (torch.searchsorted(times.contiguous(), query.contiguous(), right=True) - 1).clamp(min=0)
    gap = (query - torch.gather(times, 1, slot)).abs()
    return slot, gap


class _RNNBand(nn.Module):
    """One band's GRU over its observations, read out at query times; subclasses set the time model."""

    uses_dt_input = False

    def __init__(self, input_dim: int, hidden_dim: int):
        super().__init__()
        self.hidden_dim = hidden_dim
        extra = 1 if self.uses_dt_input else 0
        self.cell = nn.GRUCell(2 * input_dim + extra, hidden_dim)

    def step_input(self, x: Tensor, m: Tensor, dt: Tensor) -> Tensor:
        parts = [x * m, m] + ([dt.unsqueeze(-1)] if self.uses_dt_input else [])
        return torch.cat(parts, dim=-1)

    def between(self, h: Tensor, dt: Tensor) -> Tensor:
        """State change over a gap without observations (identity by default)."""
        return h

    def readout(self, h: Tensor, gap: Tensor) -> Tensor:
        """State at a query time ``gap`` after the chosen observation."""
        return self.between(h, gap)

    def forward(self, batch: IrregularBatch, query: Tensor) -> Tensor:
        times, values, mask, valid = pack_observations(batch)
        n_batch, n_slots = valid.shape
        h = values.new_zeros(n_batch, self.hidden_dim)
        if n_slots == 0:
            return h.unsqueeze(1).expand(-1, query.shape[1], -1)
        t_prev = times[:, 0]
        states = []
        for j in range(n_slots):
            dt = times[:, j] - t_prev
            # the gap model and the update apply to real observations only: a padding slot
            # (dt = 0) must leave the state alone, and exp(-relu(b)) at dt = 0 is not 1
            h_new = self.cell(self.step_input(values[:, j], mask[:, j], dt), self.between(h, dt))
            h = torch.where(valid[:, j].unsqueeze(-1), h_new, h)
            states.append(h)
            t_prev = times[:, j]
        states = torch.stack(states, dim=1)                                   # [B, N, H]
        slot, gap = _query_slots(times, query)
        # padding repeats the last time, so a query after it would pick a padding slot
        last_valid = (valid.sum(-1, keepdim=True) - 1).clamp(min=0)
        slot = torch.minimum(slot, last_valid)
        h_q = torch.gather(states, 1, slot.unsqueeze(-1).expand(-1, -1, self.hidden_dim))
        return self.readout(h_q, gap)


class DecayRNNBand(_RNNBand):
    """GRU with exponential hidden-state decay exp(-relu(w * dt + b)) between observations."""

    def __init__(self, input_dim: int, hidden_dim: int):
        super().__init__(input_dim, hidden_dim)
        self.decay = nn.Linear(1, hidden_dim)

    def between(self, h: Tensor, dt: Tensor) -> Tensor:
        return h * torch.exp(-torch.relu(self.decay(dt.unsqueeze(-1))))


class DeltaTRNNBand(_RNNBand):
    """GRU that reads the time gap as an extra input; a query is one more step with no observation."""

    uses_dt_input = True

    def readout(self, h: Tensor, gap: Tensor) -> Tensor:
        n_batch, n_query, hidden = h.shape
        input_dim = (self.cell.input_size - 1) // 2
        empty = h.new_zeros(n_batch * n_query, input_dim)
        step = self.step_input(empty, empty, gap.reshape(-1))
        return self.cell(step, h.reshape(-1, hidden)).reshape(n_batch, n_query, hidden)


class _ConcatBaseline(nn.Module):
    """Per-band features at the query times -> concatenation -> MLP -> coordinates."""

    def __init__(self, config: TrackModelConfig, bands: Sequence[str], feature_dims: dict[str, int]):
        super().__init__()
        self.config, self.bands = config, tuple(bands)
        self.head = make_mlp(sum(feature_dims[b] for b in self.bands), config.baseline_mlp_hidden, 2)

    def band_features(self, band: str, observed: IrregularBatch, query: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, batch: TrackBatch, reconstruct: bool | None = None) -> TrackOutput:
        """Coordinates at the query times; ``reconstruct`` is accepted for a uniform call (baselines have none)."""
        query = batch.query_times()
        features = [self.band_features(b, batch.band(b), query) for b in self.bands]
        fused = torch.cat(features, dim=-1)
        return TrackOutput(xy=self.head(fused), fused=fused)


class _InterpolationBaseline(_ConcatBaseline):
    mode = "linear"

    def __init__(self, config: TrackModelConfig, bands: Sequence[str] = ("csi", "snr")):
        super().__init__(config, bands, {"csi": config.csi_dim, "snr": config.snr_dim})

    def band_features(self, band: str, observed: IrregularBatch, query: Tensor) -> Tensor:
        return interpolate_irregular(observed, query, self.mode)


class LinearInt(_InterpolationBaseline):
    """Frame-to-frame baseline: linear interpolation of each band at the query times, concat, MLP."""

    mode = "linear"


class NearestInt(_InterpolationBaseline):
    """Frame-to-frame baseline: nearest-in-time observation of each band, concat, MLP."""

    mode = "nearest"


class _RNNBaseline(_ConcatBaseline):
    band_class: type[_RNNBand] = _RNNBand

    def __init__(self, config: TrackModelConfig, bands: Sequence[str] = ("csi", "snr")):
        hidden = config.baseline_hidden_dim
        super().__init__(config, bands, {b: hidden for b in bands})
        dims = {"csi": config.csi_dim, "snr": config.snr_dim}
        self.rnns = nn.ModuleDict({b: self.band_class(dims[b], hidden) for b in self.bands})

    def band_features(self, band: str, observed: IrregularBatch, query: Tensor) -> Tensor:
        return self.rnns[band](observed, query)


class RNNDecay(_RNNBaseline):
    """Sequence-to-sequence baseline: GRU-D-like decaying GRU per band, concat, MLP."""

    band_class = DecayRNNBand


class RNNDeltaT(_RNNBaseline):
    """Sequence-to-sequence baseline: GRU with time-gap input per band, concat, MLP."""

    band_class = DeltaTRNNBand
