"""Irregular multi-band batches: union-of-time-points layout with masks, and the track batch/output types.

Every track model (NDF and all baselines) takes one :class:`TrackBatch` and returns one
:class:`TrackOutput`, so a single training step trains any of them.

Irregular sequences of different lengths and time points are batched as in the latent-ODE
reference code (Rubanova et al., 2019): all time points of all samples are merged into one
sorted union ``times [U]``; ``values [B, U, D]`` holds each sample's observation at the union
points it has (zeros elsewhere) and ``mask`` says which entries are real. Everything here is
vectorised (``torch.unique`` + scatter), with no Python loop over samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import torch
from torch import Tensor


@dataclass
class IrregularBatch:
    """A batch of irregularly sampled sequences on the union of their time points.

    times:  float [U]                sorted, unique union of all samples' time points
    values: float [B, U, D]          observation of sample b at times[u] (0 where unobserved)
    mask:   float [B, U] or [B, U, D]  1 where observed (per time point or per feature)
    """

    times: Tensor
    values: Tensor
    mask: Tensor

    @property
    def batch_size(self) -> int:
        return self.values.shape[0]

    @property
    def dim(self) -> int:
        return self.values.shape[-1]

    def feature_mask(self) -> Tensor:
        """The mask as float [B, U, D] (a per-time-point mask is broadcast over features)."""
        mask = self.mask if self.mask.dim() == 3 else self.mask.unsqueeze(-1)
        return mask.to(self.values.dtype).expand_as(self.values)

    def point_mask(self) -> Tensor:
        """bool [B, U]: True where the sample has at least one observed feature at times[u]."""
        return self.mask.bool() if self.mask.dim() == 2 else self.mask.bool().any(-1)

    def lengths(self) -> Tensor:
        """long [B]: number of observed time points per sample."""
        return self.point_mask().sum(-1)

    def to(self, *args, **kwargs) -> IrregularBatch:
        return IrregularBatch(self.times.to(*args, **kwargs), self.values.to(*args, **kwargs),
                              self.mask.to(*args, **kwargs))

    def sample(self, index: int) -> tuple[Tensor, Tensor, Tensor]:
        """(t [n], x [n, D], mask [n, D]) of one sample's observed points (for tests/references)."""
        keep = self.point_mask()[index]
        return self.times[keep], self.values[index, keep], self.feature_mask()[index, keep]


def collate_union(samples: Sequence[tuple[Tensor, Tensor]], feature_mask: bool = False,
                  dtype: torch.dtype = torch.float32) -> IrregularBatch:
    """Merge ``(t [n_i], x [n_i, D])`` sequences into one :class:`IrregularBatch`.

    NaN entries of ``x`` count as unobserved features. Repeated time points within a sample
    are averaged (per feature, over the non-NaN values). With ``feature_mask`` the mask is
    [B, U, D], otherwise [B, U] (a point counts as observed if any feature is).
    """
    if len(samples) == 0:
        raise ValueError("collate_union needs at least one sample")
    times = [torch.as_tensor(t, dtype=dtype).reshape(-1) for t, _ in samples]
    xs = [torch.as_tensor(x, dtype=dtype) for _, x in samples]
    xs = [x.unsqueeze(-1) if x.dim() == 1 else x for x in xs]
    dim = xs[0].shape[-1]
    for i, (t, x) in enumerate(zip(times, xs)):
        if x.dim() != 2 or x.shape[0] != t.shape[0] or x.shape[1] != dim:
            raise ValueError(f"sample {i}: expected x of shape [{t.shape[0]}, {dim}], got {tuple(x.shape)}")
    lengths = torch.tensor([t.shape[0] for t in times])
    all_t = torch.cat(times)
    all_x = torch.cat(xs)
    union, position = torch.unique(all_t, sorted=True, return_inverse=True)
    sample_id = torch.repeat_interleave(torch.arange(len(samples)), lengths)

    observed = ~torch.isnan(all_x)
    values = torch.zeros(len(samples), union.shape[0], dim, dtype=dtype)
    counts = torch.zeros_like(values)
    # accumulate=True so duplicate (sample, time) pairs are summed and then averaged.
    values.index_put_((sample_id, position), torch.where(observed, all_x, 0.0), accumulate=True)
    counts.index_put_((sample_id, position), observed.to(dtype), accumulate=True)
    values = values / counts.clamp(min=1.0)
    mask = (counts > 0).to(dtype)
    if not feature_mask:
        mask = mask.amax(-1)
    return IrregularBatch(union, values, mask)


def pack_observations(batch: IrregularBatch, descending: bool = False) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-sample packed view: each sample's observed points moved to the front, in time order.

    Returns ``times [B, N]``, ``values [B, N, D]``, ``mask [B, N, D]`` and ``valid bool [B, N]``
    where N is the largest number of observed points of any sample; slot j of sample b is its
    j-th observation (counted from the last one when ``descending``). Padding slots have
    ``valid=False``, zero values and a time equal to the sample's last valid time (or 0).
    Recurrent encoders loop over N slots instead of U union points: same result, fewer steps.
    """
    observed = batch.point_mask()
    order_t = torch.arange(batch.times.shape[0], device=batch.times.device)
    if descending:
        order_t = order_t.flip(0)
    observed_in_order = observed[:, order_t]
    # stable sort puts observed points first while keeping their time order
    rank = torch.argsort((~observed_in_order).to(torch.int8), dim=1, stable=True)
    union_index = order_t[rank]
    n_max = int(observed.sum(-1).max().item()) if observed.numel() else 0
    union_index = union_index[:, :n_max]
    valid = torch.gather(observed, 1, union_index)
    times = batch.times[union_index]
    values = torch.gather(batch.values, 1, union_index.unsqueeze(-1).expand(-1, -1, batch.dim))
    mask = torch.gather(batch.feature_mask(), 1, union_index.unsqueeze(-1).expand(-1, -1, batch.dim))
    # padding slots repeat the sample's last valid time, so time gaps over padding are zero
    if n_max:
        last_valid = (valid.sum(-1, keepdim=True) - 1).clamp(min=0)
        last_time = torch.gather(times, 1, last_valid)
        last_time = torch.where(valid.any(-1, keepdim=True), last_time, torch.zeros_like(last_time))
        times = torch.where(valid, times, last_time)
    return times, values * valid.unsqueeze(-1), mask * valid.unsqueeze(-1), valid


@dataclass
class TrackBatch:
    """One batch of multi-band windows, time normalised per window to [0, 1].

    csi:         IrregularBatch of per-frame CSI embeddings (D = embedding size), or None
    snr:         IrregularBatch of beam SNR vectors (D = number of beam patterns), or None
    query_t:     float [Tq] shared query times, or [B, Tq] per-sample query times
    target_xy:   float [B, Tq, 2] ground-truth coordinates at the query times (None at inference)
    query_mask:  float [B, Tq] 1 where the query is real (None = all real)
    """

    csi: IrregularBatch | None
    snr: IrregularBatch | None
    query_t: Tensor
    target_xy: Tensor | None = None
    query_mask: Tensor | None = None

    def band(self, name: str) -> IrregularBatch:
        value = getattr(self, name, None)
        if name not in BANDS or value is None:
            raise KeyError(f"batch has no band {name!r} (bands: {BANDS})")
        return value

    @property
    def batch_size(self) -> int:
        for name in BANDS:
            if getattr(self, name) is not None:
                return getattr(self, name).batch_size
        return self.target_xy.shape[0]

    def query_times(self) -> Tensor:
        """float [B, Tq]: query times per sample (a shared [Tq] is broadcast)."""
        q = self.query_t
        return q.unsqueeze(0).expand(self.batch_size, -1) if q.dim() == 1 else q

    def query_weights(self) -> Tensor:
        """float [B, Tq] query mask (all ones if none was given)."""
        if self.query_mask is not None:
            return self.query_mask.to(self.query_t.dtype)
        return torch.ones(self.query_times().shape, dtype=self.query_t.dtype, device=self.query_t.device)

    def to(self, *args, **kwargs) -> TrackBatch:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return TrackBatch(**{k: (v.to(*args, **kwargs) if v is not None else None) for k, v in moved.items()})


BANDS = ("csi", "snr")


@dataclass
class TrackOutput:
    """What every track model returns; NDF fills the optional fields used by the ELBO.

    xy:          float [B, Tq, 2] predicted coordinates at the query times
    recon:       band -> float [B, U_band, D_band] reconstruction at that band's union times
    z0_mean:     band -> float [B, d_band] mean of q(z0)
    z0_logvar:   band -> float [B, d_band] log-variance of q(z0)
    latents:     band -> float [B, Tq, d_band] latent trajectories at the query times
    fused:       float [B, Tq, d_fused] fused latent (the coordinate decoder's input)
    fusion_weights: float [B, 2] weighted-importance weights (None for other fusions)
    nfe:         number of ODE function evaluations in this forward pass
    """

    xy: Tensor
    recon: dict[str, Tensor] = field(default_factory=dict)
    z0_mean: dict[str, Tensor] = field(default_factory=dict)
    z0_logvar: dict[str, Tensor] = field(default_factory=dict)
    latents: dict[str, Tensor] = field(default_factory=dict)
    fused: Tensor | None = None
    fusion_weights: Tensor | None = None
    nfe: int = 0

    def detach(self) -> TrackOutput:
        def d(v):
            if isinstance(v, Tensor):
                return v.detach()
            if isinstance(v, dict):
                return {k: t.detach() for k, t in v.items()}
            return v
        return replace(self, **{f.name: d(getattr(self, f.name)) for f in fields(self)})
