"""Track models: fusion shapes, interpolation exactness, NDF outputs, factory/config, CAE, and overfitting.

The overfitting tests train every model on 4 synthetic windows (irregular CSI-embedding and
beam-SNR sequences that are smooth functions of a circular 2-D path) and require the
coordinate loss to drop by > 90 % and the mean coordinate error to be small.
"""

import dataclasses
import math

import pytest
import torch

from wifisense.errors import ConfigError
from wifisense.track.baselines import LinearInt, NearestInt, interpolate_irregular
from wifisense.track.batching import IrregularBatch, TrackBatch, collate_union
from wifisense.track.cae import CSIAutoencoder, csi_frame_channels
from wifisense.track.config import (
    TrackConfig,
    load_track_config,
    track_config_from_dict,
    track_presets,
)
from wifisense.track.factory import create_track_model, make_optimizer
from wifisense.track.fusion import (
    MLPFusion,
    PairwiseFusion,
    WeightedImportanceFusion,
    make_fusion,
)
from wifisense.track.losses import coordinate_error, track_loss
from wifisense.track.ndf import DDND, NeuralDynamicFusion


@pytest.fixture(scope="module")
def tiny() -> TrackConfig:
    return load_track_config("tiny")


def circle_path(t: torch.Tensor, phase: float) -> torch.Tensor:
    return torch.stack([1.0 + 0.8 * torch.cos(2.0 * t + phase), 1.0 + 0.8 * torch.sin(2.0 * t + phase)], -1)


def synthetic_windows(csi_dim: int, snr_dim: int, n_windows: int = 4, n_query: int = 12, seed: int = 0) -> TrackBatch:
    """Irregular, asynchronous CSI/SNR sequences observing circular trajectories (times in [0, 1])."""
    g = torch.Generator().manual_seed(seed)
    to_csi, to_snr = torch.randn(2, csi_dim, generator=g), torch.randn(2, snr_dim, generator=g)
    query = torch.linspace(0, 1, n_query)
    csi, snr, targets = [], [], []
    for k in range(n_windows):
        phase = 2 * math.pi * k / n_windows
        t_csi = torch.sort(torch.rand(int(torch.randint(10, 16, (1,), generator=g)), generator=g)).values
        t_snr = torch.sort(torch.rand(int(torch.randint(5, 9, (1,), generator=g)), generator=g)).values
        csi.append((t_csi, torch.tanh(circle_path(t_csi, phase) @ to_csi)))
        snr.append((t_snr, torch.tanh(circle_path(t_snr, phase) @ to_snr)))
        targets.append(circle_path(query, phase))
    return TrackBatch(csi=collate_union(csi), snr=collate_union(snr), query_t=query, target_xy=torch.stack(targets))


# ---------------------------------------------------------------- fusion

@pytest.mark.parametrize("name,cls", [("mlp", MLPFusion), ("pairwise", PairwiseFusion),
                                      ("weighted", WeightedImportanceFusion)])
@pytest.mark.parametrize("hidden", [32, 0])
def test_fusion_shapes(name, cls, hidden):
    torch.manual_seed(0)
    fusion = make_fusion(name, 5, 3, 7, hidden=hidden)
    assert isinstance(fusion, cls)
    z1, z2, i1, i2 = torch.randn(4, 6, 5), torch.randn(4, 6, 3), torch.randn(4, 5), torch.randn(4, 3)
    assert fusion(z1, z2, i1, i2).shape == (4, 6, 7)
    if name == "mlp" and hidden == 0:      # no hidden layer: a linear map of the concatenated latents
        assert sum(isinstance(m, torch.nn.Linear) for m in fusion.modules()) == 1


def test_weighted_importance_weights_sum_to_one_and_mix_the_bands():
    torch.manual_seed(0)
    fusion = WeightedImportanceFusion(5, 3, 4)
    i1, i2 = torch.randn(8, 5), torch.randn(8, 3)
    weights = fusion.importance_weights(i1, i2)
    assert weights.shape == (8, 2) and torch.all(weights >= 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(8))
    z1, z2 = torch.randn(8, 6, 5), torch.randn(8, 6, 3)
    expected = weights[:, :1, None] * fusion.project1(z1) + weights[:, 1:, None] * fusion.project2(z2)
    torch.testing.assert_close(fusion(z1, z2, i1, i2), expected)
    with pytest.raises(ValueError):
        fusion(z1, z2)


def test_pairwise_fusion_is_bilinear_in_the_latents():
    torch.manual_seed(0)
    fusion = PairwiseFusion(3, 2, 4, with_unimodal=False)
    z1, z2 = torch.randn(2, 5, 3), torch.randn(2, 5, 2)
    bias = fusion.linear.bias
    torch.testing.assert_close(fusion(2 * z1, z2) - bias, 2 * (fusion(z1, z2) - bias))
    torch.testing.assert_close(fusion(z1, -z2) - bias, -(fusion(z1, z2) - bias))


# ---------------------------------------------------------------- interpolation baselines

def linear_samples():
    slope, offset = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 3.0])
    times = [torch.tensor([0.0, 0.3, 0.45, 1.0]), torch.tensor([0.1, 0.7]), torch.tensor([0.2, 0.25, 0.6, 0.8, 0.9])]
    return [(t, offset + t[:, None] * slope) for t in times], slope, offset


def test_linear_interpolation_is_exact_for_linear_inputs():
    samples, slope, offset = linear_samples()
    batch = collate_union(samples)
    # per sample: its first two observation times, their midpoint and a point 1/4 of the way on
    query = torch.stack([torch.stack([t[0], t[1], (t[0] + t[1]) / 2, (3 * t[0] + t[1]) / 4]) for t, _ in samples])
    out = interpolate_irregular(batch, query, "linear")
    torch.testing.assert_close(out, offset + query[..., None] * slope)


def test_interpolation_clamps_outside_and_nearest_picks_closer_point():
    samples, _, _ = linear_samples()
    batch = collate_union(samples)
    _, x1 = samples[1]                                   # observed at 0.1 and 0.7
    query = torch.tensor([[0.0, 0.1, 0.35, 0.45, 0.7, 1.0]]).expand(3, -1)
    linear = interpolate_irregular(batch, query, "linear")[1]
    torch.testing.assert_close(linear[0], x1[0])           # before the first: constant
    torch.testing.assert_close(linear[-1], x1[1])          # after the last: constant
    nearest = interpolate_irregular(batch, query, "nearest")[1]
    expected = torch.stack([x1[0], x1[0], x1[0], x1[1], x1[1], x1[1]])
    torch.testing.assert_close(nearest, expected)
    # exact at every observation time of every sample
    for b, (t, x) in enumerate(samples):
        q = torch.zeros(3, len(t))
        q[b] = t
        torch.testing.assert_close(interpolate_irregular(batch, q, "nearest")[b], x)


def test_interpolation_honours_feature_masks():
    t = torch.tensor([0.0, 0.5, 1.0])
    x = torch.tensor([[0.0, 10.0], [float("nan"), 20.0], [2.0, 30.0]])
    batch = collate_union([(t, x)], feature_mask=True)
    out = interpolate_irregular(batch, torch.tensor([[0.5, 0.75]]), "linear")
    torch.testing.assert_close(out[0], torch.tensor([[1.0, 20.0], [1.5, 25.0]]))


def test_interpolation_on_packed_slots_ignores_other_samples_and_empty_bands():
    """Each sample is interpolated from its own points only, whatever the batch's union holds."""
    torch.manual_seed(0)
    samples = [(torch.sort(torch.rand(n))[0], torch.randn(n, 3)) for n in (7, 2, 11)]
    batch = collate_union(samples)
    query = torch.rand(3, 5)
    for mode in ("linear", "nearest"):
        together = interpolate_irregular(batch, query, mode)
        for b, sample in enumerate(samples):
            alone = interpolate_irregular(collate_union([sample]), query[b:b + 1], mode)
            torch.testing.assert_close(together[b:b + 1], alone)
    empty = IrregularBatch(torch.zeros(0), torch.zeros(2, 0, 3), torch.zeros(2, 0))
    assert torch.equal(interpolate_irregular(empty, query[:2]), torch.zeros(2, 5, 3))


@pytest.mark.parametrize("cls,mode", [(LinearInt, "linear"), (NearestInt, "nearest")])
def test_interpolation_baselines_feed_aligned_bands_to_the_head(tiny, cls, mode):
    batch = synthetic_windows(tiny.model.csi_dim, tiny.model.snr_dim)
    model = cls(tiny.model, bands=("csi", "snr"))
    out = model(batch)
    assert out.xy.shape == (4, 12, 2)
    query = batch.query_times()
    expected = torch.cat([interpolate_irregular(batch.csi, query, mode), interpolate_irregular(batch.snr, query, mode)], -1)
    torch.testing.assert_close(out.fused, expected)


# ---------------------------------------------------------------- NDF

@pytest.mark.parametrize("fusion", ["mlp", "pairwise", "weighted"])
def test_ndf_output_structure(tiny, fusion):
    torch.manual_seed(0)
    batch = synthetic_windows(tiny.model.csi_dim, tiny.model.snr_dim)
    model = NeuralDynamicFusion(tiny.model, bands=("csi", "snr"), fusion=fusion).eval()
    out = model(batch, reconstruct=True)
    assert out.xy.shape == (4, 12, 2)
    assert out.recon["csi"].shape == batch.csi.values.shape and out.recon["snr"].shape == batch.snr.values.shape
    assert out.latents["csi"].shape == (4, 12, tiny.model.csi_latent_dim)
    assert out.fused.shape == (4, 12, tiny.model.fusion_dim)
    assert set(out.z0_mean) == {"csi", "snr"} and out.z0_logvar["snr"].shape == (4, tiny.model.snr_latent_dim)
    assert out.nfe > 0 and out.nfe == model.nfe
    assert (out.fusion_weights is not None) == (fusion == "weighted")
    # per-sample query times [B, Tq] equal to the shared ones give the same prediction
    shared = dataclasses.replace(batch, query_t=batch.query_times().clone())
    torch.testing.assert_close(model(shared).xy, out.xy, rtol=1e-4, atol=1e-5)


def test_ndf_eval_is_deterministic_and_training_samples(tiny):
    torch.manual_seed(0)
    batch = synthetic_windows(tiny.model.csi_dim, tiny.model.snr_dim)
    model = NeuralDynamicFusion(tiny.model)
    model.eval()
    torch.testing.assert_close(model(batch).xy, model(batch).xy)
    assert not torch.allclose(model(batch, sample=True).xy, model(batch, sample=True).xy)


@pytest.mark.parametrize("bands", [("csi", "snr"), ("snr",)])
def test_ndf_prediction_without_reconstruction_is_identical(tiny, bands):
    """Skipping the per-band reconstruction solves (the eval default) leaves the coordinates unchanged."""
    torch.manual_seed(0)
    batch = synthetic_windows(tiny.model.csi_dim, tiny.model.snr_dim)
    model = NeuralDynamicFusion(tiny.model, bands=bands).eval()
    with torch.no_grad():
        full = model(batch, reconstruct=True)
        nfe_full = model.nfe
        fast = model(batch)
        nfe_fast = model.nfe
    assert set(full.recon) == set(bands) and fast.recon == {}
    torch.testing.assert_close(fast.xy, full.xy, rtol=0, atol=1e-6)
    for band in bands:
        torch.testing.assert_close(fast.latents[band], full.latents[band], rtol=0, atol=1e-6)
    assert 0 < nfe_fast <= nfe_full
    # training mode reconstructs by default (the ELBO needs it)
    assert set(model.train()(batch).recon) == set(bands)


def test_single_band_ndf_and_ddnd(tiny):
    torch.manual_seed(0)
    batch = synthetic_windows(tiny.model.csi_dim, tiny.model.snr_dim)
    no_csi = dataclasses.replace(batch, csi=None)
    model = DDND(tiny.model, band="snr")
    out = model(no_csi)
    assert model.fusion is None and set(out.recon) == {"snr"} and out.xy.shape == (4, 12, 2)
    loss, parts = track_loss(out, no_csi, tiny.loss)
    assert set(parts) == {"coord", "recon_snr", "kl_snr"} and loss.requires_grad


def test_baseline_loss_is_the_coordinate_term(tiny):
    batch = synthetic_windows(tiny.model.csi_dim, tiny.model.snr_dim)
    batch.query_mask = torch.ones(4, 12)
    batch.query_mask[:, -3:] = 0
    out = create_track_model("rnn_dt", ("csi",), config=tiny)(batch)
    loss, parts = track_loss(out, batch)
    assert set(parts) == {"coord"}
    expected = (out.xy - batch.target_xy)[:, :-3].abs().mean()
    torch.testing.assert_close(loss, expected)


# ---------------------------------------------------------------- factory, configs, optimiser

def test_presets_and_factory(tiny):
    assert {"tiny", "paper"} <= set(track_presets())
    paper = load_track_config("paper")
    assert paper.model.csi_latent_dim > tiny.model.csi_latent_dim
    for name in ("ndf", "linear_int", "nearest_int", "rnn_decay", "rnn_dt"):
        for bands in (("csi",), ("snr",), ("csi", "snr")):
            model = create_track_model(name, bands, "mlp", tiny)
            assert model.bands == bands
    assert isinstance(create_track_model("ddnd", ("csi",), config=tiny), DDND)


def test_factory_and_config_errors(tmp_path, tiny):
    with pytest.raises(ConfigError, match="unknown track model"):
        create_track_model("transformer", ("csi",), config=tiny)
    with pytest.raises(ConfigError, match="single-band"):
        create_track_model("ddnd", ("csi", "snr"), config=tiny)
    with pytest.raises(ConfigError, match="bands"):
        create_track_model("ndf", ("wifi",), config=tiny)
    with pytest.raises(ConfigError, match="fusion"):
        create_track_model("ndf", ("csi", "snr"), "attention", tiny)
    with pytest.raises(ConfigError, match=r"model.*latnet_dim"):
        track_config_from_dict({"model": {"latnet_dim": 3}})
    with pytest.raises(ConfigError, match="unknown track preset"):
        load_track_config("huge")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json"):
        load_track_config(bad)
    good = tmp_path / "good.json"
    good.write_text('{"model": {"csi_dim": 5}, "data": {"window_s": 4.0}}')
    loaded = load_track_config(good)
    assert loaded.model.csi_dim == 5 and loaded.data == {"window_s": 4.0} and loaded.loss.coord == 1.0


def test_optimizer_is_adamax_with_one_cycle(tiny):
    model = create_track_model("linear_int", ("csi",), config=tiny)
    optimizer, scheduler = make_optimizer(model, tiny.optim, steps_per_epoch=5, epochs=2)
    assert isinstance(optimizer, torch.optim.Adamax)
    assert isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR)
    lrs = []
    for _ in range(10):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    assert max(lrs) > lrs[0] and lrs[-1] < max(lrs) / 10     # warm up, then anneal


# ---------------------------------------------------------------- CSI autoencoder

def test_csi_frame_channels_layout():
    csi = torch.complex(torch.randn(7, 30, 3), torch.randn(7, 30, 3))
    frames = csi_frame_channels(csi)
    assert frames.shape == (7, 12, 30) and frames.dtype == torch.float32
    torch.testing.assert_close(frames[:, 3:6], csi.imag.transpose(1, 2))
    torch.testing.assert_close(frames[:, 9:12], csi.abs().transpose(1, 2))


@pytest.mark.parametrize("length", [30, 56, 7])
def test_cae_shapes_keep_leading_axes(length):
    cae = CSIAutoencoder(12, length, 8, channels=(8, 16))
    frames = torch.randn(2, 5, 12, length)
    recon, embedding = cae(frames)
    assert recon.shape == frames.shape and embedding.shape == (2, 5, 8)


def test_cae_overfits_a_few_frames():
    torch.manual_seed(0)
    cae = CSIAutoencoder(12, 30, 8, channels=(8, 16))
    base = torch.linspace(0, 3, 30)
    frames = torch.stack([torch.sin(base * (1 + k % 4) + k) * (1 + 0.1 * c) for k in range(8) for c in range(12)]
                         ).reshape(8, 12, 30)
    optimizer = torch.optim.Adam(cae.parameters(), lr=3e-3)
    first = cae.reconstruction_loss(frames).item()
    for _ in range(300):
        optimizer.zero_grad()
        loss = cae.reconstruction_loss(frames)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05 * first


# ---------------------------------------------------------------- overfitting

def eval_coordinate_loss(model, batch) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        out = model(batch)
    model.train()
    return (out.xy - batch.target_xy).abs().mean().item(), coordinate_error(out.xy, batch.target_xy).mean().item()


def overfit(model, batch, loss_weights, steps: int) -> tuple[float, float, float]:
    before, _ = eval_coordinate_loss(model, batch)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        optimizer.zero_grad()
        loss, _ = track_loss(model(batch), batch, loss_weights)
        loss.backward()
        optimizer.step()
    after, error = eval_coordinate_loss(model, batch)
    return before, after, error


@pytest.mark.parametrize("name,bands", [
    ("linear_int", ("csi", "snr")), ("nearest_int", ("csi", "snr")), ("rnn_decay", ("csi", "snr")),
    ("rnn_dt", ("csi", "snr")), ("linear_int", ("snr",)), ("rnn_decay", ("csi",)), ("rnn_dt", ("snr",)),
])
def test_baselines_overfit_four_windows(tiny, name, bands):
    torch.manual_seed(0)
    batch = synthetic_windows(tiny.model.csi_dim, tiny.model.snr_dim)
    before, after, error = overfit(create_track_model(name, bands, config=tiny), batch, tiny.loss, steps=200)
    assert after < 0.1 * before, (before, after)
    assert error < 0.15


@pytest.mark.slow
@pytest.mark.parametrize("name,bands,fusion", [
    ("ndf", ("csi", "snr"), "mlp"), ("ndf", ("csi", "snr"), "pairwise"), ("ndf", ("csi", "snr"), "weighted"),
    ("ddnd", ("csi",), "mlp"),
])
def test_latent_ode_models_overfit_four_windows(tiny, name, bands, fusion):
    torch.manual_seed(0)
    batch = synthetic_windows(tiny.model.csi_dim, tiny.model.snr_dim)
    model = create_track_model(name, bands, fusion, tiny)
    before, after, error = overfit(model, batch, tiny.loss, steps=200)
    assert after < 0.1 * before, (before, after)
    assert error < 0.15


def test_ndf_solver_variants_agree(tiny):
    """Adjoint back-propagation, a fixed-step rk4 solver and an LSTM encoder all run the same model."""
    torch.manual_seed(0)
    batch = synthetic_windows(tiny.model.csi_dim, tiny.model.snr_dim)
    base = NeuralDynamicFusion(tiny.model).eval()
    for changes in ({"adjoint": True}, {"solver": "rk4", "ode_step_size": 0.05}):
        variant = NeuralDynamicFusion(dataclasses.replace(tiny.model, **changes)).eval()
        variant.load_state_dict(base.state_dict())
        torch.testing.assert_close(variant(batch).xy, base(batch).xy, rtol=1e-2, atol=1e-3)
    lstm = NeuralDynamicFusion(dataclasses.replace(tiny.model, encoder_cell="lstm"))
    loss, _ = track_loss(lstm(batch), batch, tiny.loss)
    loss.backward()
    assert all(p.grad is not None for p in lstm.encoders["csi"].cell.parameters())


def test_ndf_reconstruction_on_rounded_times_matches_exact_times(tiny):
    """Rounding reconstruction times to 1/200 of the window changes the reconstruction only slightly."""
    from wifisense.track.ndf import quantise_times

    times = torch.tensor([0.0, 0.0012, 0.0031, 0.5, 0.5004, 0.9999])
    grid, index = quantise_times(times, 200)
    assert grid.tolist() == pytest.approx([0.0, 0.005, 0.5, 1.0]) and index.tolist() == [0, 0, 1, 2, 2, 3]
    torch.testing.assert_close(quantise_times(times, 0)[0][quantise_times(times, 0)[1]], times)
    torch.manual_seed(0)
    batch = synthetic_windows(tiny.model.csi_dim, tiny.model.snr_dim)
    exact = NeuralDynamicFusion(dataclasses.replace(tiny.model, recon_time_bins=0)).eval()
    rounded = NeuralDynamicFusion(dataclasses.replace(tiny.model, recon_time_bins=200)).eval()
    rounded.load_state_dict(exact.state_dict())
    out_exact, out_rounded = exact(batch, reconstruct=True), rounded(batch, reconstruct=True)
    torch.testing.assert_close(out_rounded.xy, out_exact.xy)
    for band in ("csi", "snr"):
        assert out_rounded.recon[band].shape == out_exact.recon[band].shape
        torch.testing.assert_close(out_rounded.recon[band], out_exact.recon[band], rtol=0, atol=0.05)


def test_models_handle_a_window_without_observations_in_one_band(tiny):
    torch.manual_seed(0)
    batch = synthetic_windows(tiny.model.csi_dim, tiny.model.snr_dim)
    samples = [batch.snr.sample(b)[:2] for b in range(4)]
    samples[2] = (torch.zeros(0), torch.zeros(0, tiny.model.snr_dim))
    holed = dataclasses.replace(batch, snr=collate_union(samples))
    for name in ("ndf", "linear_int", "nearest_int", "rnn_decay", "rnn_dt"):
        out = create_track_model(name, ("csi", "snr"), config=tiny)(holed)
        loss, _ = track_loss(out, holed, tiny.loss)
        assert torch.isfinite(out.xy).all() and torch.isfinite(loss), name


@pytest.mark.parametrize("z0_time", [0.0, 0.5])
def test_ndf_initial_state_sits_at_the_configured_time(tiny, z0_time):
    # model.z0_time places q(z0) inside the window: the latent path passes through z0's mean there
    config = dataclasses.replace(tiny, model=dataclasses.replace(tiny.model, csi_dim=4, snr_dim=3, z0_time=z0_time))
    torch.manual_seed(0)
    model = create_track_model("ndf", bands=("csi", "snr"), config=config).eval()
    batch = synthetic_windows(4, 3, n_query=5)          # query times 0, 0.25, 0.5, 0.75, 1
    out = model(batch)
    anchor = int(torch.argmin(torch.abs(batch.query_t - z0_time)))
    for band in ("csi", "snr"):
        torch.testing.assert_close(out.latents[band][:, anchor], out.z0_mean[band])
        assert not torch.allclose(out.latents[band][:, (anchor + 2) % 5], out.z0_mean[band])


@pytest.mark.parametrize("name,bands", [("ndf", ("csi", "snr")), ("ddnd", ("snr",)), ("linear_int", ("csi", "snr")),
                                        ("nearest_int", ("csi", "snr")), ("rnn_decay", ("csi", "snr")),
                                        ("rnn_dt", ("csi", "snr"))])
def test_prediction_of_a_window_does_not_depend_on_its_batch(tiny, name, bands):
    # a window's prediction alone must equal its prediction beside longer windows (padding,
    # union time points and the last-observation lookup must not leak between samples)
    torch.manual_seed(0)
    model = create_track_model(name, bands, config=tiny).eval()
    if name in ("rnn_decay",):
        with torch.no_grad():   # a decay bias well away from 0, so padding steps would show
            model.rnns["csi"].decay.bias.fill_(0.7)
            model.rnns["snr"].decay.bias.fill_(0.7)
    batch = synthetic_windows(tiny.model.csi_dim, tiny.model.snr_dim, n_windows=4, n_query=9, seed=3)
    # window 0 is short: it stops observing at t = 0.4, so later queries come after its last point
    csi = [batch.csi.sample(b)[:2] for b in range(4)]
    snr = [batch.snr.sample(b)[:2] for b in range(4)]
    csi[0] = (csi[0][0][csi[0][0] < 0.4], csi[0][1][csi[0][0] < 0.4])
    snr[0] = (snr[0][0][snr[0][0] < 0.4], snr[0][1][snr[0][0] < 0.4])
    together = dataclasses.replace(batch, csi=collate_union(csi), snr=collate_union(snr))
    alone = dataclasses.replace(batch, csi=collate_union(csi[:1]), snr=collate_union(snr[:1]),
                                target_xy=batch.target_xy[:1])
    with torch.no_grad():
        xy_together = model(together).xy[0]
        xy_alone = model(alone).xy[0]
    # the adaptive ODE solver picks its steps from the whole batch's error: equal to solver tolerance
    tol = 2e-3 if name in ("ndf", "ddnd") else 1e-6
    torch.testing.assert_close(xy_alone, xy_together, rtol=0, atol=tol)
