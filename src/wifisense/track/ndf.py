"""Multi-band Neural Dynamic Fusion (NDF) and its single-band form DDND.

Per band: an ODE-RNN encoder gives q(z0); a sampled z0 is unrolled by that band's latent ODE,
in one solve, to the query times (where the bands are aligned and fused) and to the band's own
observation times (where an MLP decoder reconstructs the band's inputs). The fused latent goes
through an MLP decoder to 2-D coordinates. Times are per-window normalised; z0 lives at t0 = 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from wifisense.nn.mlp import make_mlp
from wifisense.track.batching import TrackBatch, TrackOutput
from wifisense.track.config import TrackModelConfig
from wifisense.track.fusion import make_fusion
from wifisense.track.latent_ode import LatentODE, ODEFunc, reparameterise
from wifisense.track.ode_rnn import ODERNNEncoder


def band_dims(config: TrackModelConfig) -> tuple[dict[str, int], dict[str, int]]:
    """(input size, latent size) per band."""
    return ({"csi": config.csi_dim, "snr": config.snr_dim},
            {"csi": config.csi_latent_dim, "snr": config.snr_latent_dim})


def quantise_times(times: Tensor, bins: int) -> tuple[Tensor, Tensor]:
    """Round times to a grid of ``1 / bins`` and deduplicate: (grid times [G], index [U] into them).

    Why: torchdiffeq interpolates every requested output time in a Python loop, so the thousands
    of union CSI times of a batch cost far more than the solver steps themselves (~14 function
    evaluations). Reconstructing at times rounded to 1/200 of a window (25 ms for 5 s) changes the
    latent negligibly and caps the outputs at ``bins + 1``. ``bins <= 0`` keeps the exact times.
    """
    if bins <= 0:
        return times, torch.arange(times.shape[-1], device=times.device)
    rounded = torch.round(times * bins) / bins
    return torch.unique(rounded, sorted=True, return_inverse=True)


def solver_options(config: TrackModelConfig) -> dict:
    """torchdiffeq options for the configured solver (a step size only for fixed-step solvers)."""
    fixed_step = config.solver in ("euler", "midpoint", "rk4", "explicit_adams", "implicit_adams")
    return {"step_size": config.ode_step_size} if fixed_step and config.ode_step_size else {}


class NeuralDynamicFusion(nn.Module):
    """NDF: ``forward(batch: TrackBatch, sample=None, reconstruct=None) -> TrackOutput``.

    Args:
        config: model sizes and solver settings.
        bands: ("csi", "snr") for fusion, or one band for single-band mode (no fusion).
        fusion: "mlp", "pairwise" or "weighted" (two bands only).
        t0: time of the initial condition z0 (the window start).
    """

    def __init__(self, config: TrackModelConfig, bands: Sequence[str] = ("csi", "snr"), fusion: str = "mlp",
                 t0: float = 0.0):
        super().__init__()
        self.config, self.bands, self.fusion_name, self.t0 = config, tuple(bands), fusion, t0
        if not 1 <= len(self.bands) <= 2:
            raise ValueError(f"NDF takes one or two bands, got {self.bands}")
        input_dim, latent_dim = band_dims(config)
        self.encoders = nn.ModuleDict({
            b: ODERNNEncoder(input_dim[b], latent_dim[b], config.encoder_hidden_dim, config.encoder_ode_hidden_dim,
                             cell=config.encoder_cell, euler_steps=config.encoder_euler_steps,
                             init_logvar=config.encoder_init_logvar, input_hidden=config.encoder_input_hidden)
            for b in self.bands})
        self.odes = nn.ModuleDict({
            b: LatentODE(ODEFunc(latent_dim[b], config.ode_hidden_dim, config.ode_layers, linear=config.ode_linear),
                         method=config.solver,
                         rtol=config.rtol, atol=config.atol, adjoint=config.adjoint,
                         options=solver_options(config))
            for b in self.bands})
        self.recon_decoders = nn.ModuleDict({
            b: make_mlp(latent_dim[b], config.decoder_hidden, input_dim[b]) for b in self.bands})
        if len(self.bands) == 2:
            b1, b2 = self.bands
            self.fusion = make_fusion(fusion, latent_dim[b1], latent_dim[b2], config.fusion_dim,
                                      hidden=config.fusion_hidden_dim)
            fused_dim = config.fusion_dim
        else:
            self.fusion = None
            fused_dim = latent_dim[self.bands[0]]
        self.coord_decoder = make_mlp(fused_dim, config.decoder_hidden, 2)

    @property
    def nfe(self) -> int:
        return sum(ode.nfe for ode in self.odes.values())

    def encode(self, batch: TrackBatch) -> dict[str, tuple[Tensor, Tensor]]:
        """band -> (mean, logvar) of q(z0), each [B, latent]."""
        return {b: self.encoders[b](batch.band(b), t0=self.t0) for b in self.bands}

    def forward(self, batch: TrackBatch, sample: bool | None = None, reconstruct: bool | None = None) -> TrackOutput:
        """Predict coordinates at ``batch.query_t``.

        ``sample`` (default: in training mode) draws z0 from q(z0) instead of taking its mean.
        ``reconstruct`` (default: in training mode) also solves each band's latent ODE at the band's
        own times and decodes its inputs (``out.recon``, needed by the ELBO). Prediction skips it:
        the query-time solve alone gives the same coordinates (the adaptive solver's steps depend
        only on the span it covers, which starts at t0 either way), at a fraction of the cost.
        """
        sample = self.training if sample is None else sample
        reconstruct = self.training if reconstruct is None else reconstruct
        for ode in self.odes.values():
            ode.reset_nfe()
        query = batch.query_t
        n_query = query.shape[-1]
        out = TrackOutput(xy=query.new_zeros(0))
        initial: dict[str, Tensor] = {}
        for band, (mean, logvar) in self.encode(batch).items():
            observed = batch.band(band)
            z0 = initial[band] = reparameterise(mean, logvar) if sample else mean
            if reconstruct:
                # one solve covers the query times (alignment) and the band's own times (reconstruction)
                own_times, own_index = quantise_times(observed.times, self.config.recon_time_bins)
                if query.dim() == 2:
                    own_times = own_times.expand(query.shape[0], -1)
                path = self.odes[band](z0, torch.cat([query, own_times], dim=-1), t0=self.t0)
                out.recon[band] = self.recon_decoders[band](path[:, n_query:])[:, own_index]
            else:
                path = self.odes[band](z0, query, t0=self.t0)
            out.latents[band] = path[:, :n_query]
            out.z0_mean[band], out.z0_logvar[band] = mean, logvar
        if self.fusion is None:
            fused = out.latents[self.bands[0]]
        else:
            b1, b2 = self.bands
            init1, init2 = initial[b1], initial[b2]
            fused = self.fusion(out.latents[b1], out.latents[b2], init1, init2)
            if hasattr(self.fusion, "importance_weights"):
                out.fusion_weights = self.fusion.importance_weights(init1, init2)
        out.fused = fused
        out.xy = self.coord_decoder(fused)
        out.nfe = self.nfe
        return out


class DDND(NeuralDynamicFusion):
    """Dual-decoder neural dynamics: the single-band latent ODE (NDF with one band, no fusion)."""

    def __init__(self, config: TrackModelConfig, band: str = "csi", t0: float = 0.0):
        super().__init__(config, bands=(band,), t0=t0)
