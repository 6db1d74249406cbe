"""Latent ODE solves against analytic solutions, ODE-RNN batch independence, and the Gaussian KL."""

import pytest
import torch
from scipy.linalg import expm

from wifisense.track.batching import IrregularBatch, collate_union
from wifisense.track.latent_ode import LatentODE, LinearODEFunc, ODEFunc, reparameterise
from wifisense.track.losses import gaussian_kl
from wifisense.track.ode_rnn import ODERNNEncoder, encode_loop


def rotation_decay_matrix() -> torch.Tensor:
    return torch.tensor([[-0.3, 2.0, 0.0], [-2.0, -0.3, 0.5], [0.0, 0.0, -1.0]], dtype=torch.float64)


def analytic(matrix: torch.Tensor, z0: torch.Tensor, t: float, t0: float = 0.0) -> torch.Tensor:
    return z0 @ torch.from_numpy(expm(matrix.numpy() * (t - t0))).T


def test_dopri5_matches_matrix_exponential():
    matrix = rotation_decay_matrix()
    z0 = torch.tensor([[1.0, 0.0, -1.0], [0.5, 2.0, 0.3]], dtype=torch.float64)
    times = torch.tensor([0.7, 0.0, 1.5, 0.1, -0.4], dtype=torch.float64)   # unsorted, includes t < t0
    ode = LatentODE(LinearODEFunc(matrix), method="dopri5", rtol=1e-10, atol=1e-12)
    path = ode(z0, times, t0=0.0)
    assert path.shape == (2, 5, 3)
    expected = torch.stack([analytic(matrix, z0, float(t)) for t in times], dim=1)
    torch.testing.assert_close(path, expected, rtol=1e-8, atol=1e-9)


def test_per_sample_times_and_nonzero_t0():
    matrix = rotation_decay_matrix()
    z0 = torch.tensor([[1.0, 0.0, -1.0], [0.5, 2.0, 0.3]], dtype=torch.float64)
    times = torch.tensor([[0.2, 0.9, 1.3], [0.9, 0.4, 0.25]], dtype=torch.float64)
    path = LatentODE(LinearODEFunc(matrix), rtol=1e-10, atol=1e-12)(z0, times, t0=0.25)
    for b in range(2):
        for k in range(3):
            torch.testing.assert_close(path[b, k], analytic(matrix, z0[b:b + 1], float(times[b, k]), 0.25)[0],
                                       rtol=1e-8, atol=1e-9)


def test_solve_both_ways_from_an_inner_t0_is_one_call_and_exact():
    matrix = rotation_decay_matrix()
    z0 = torch.tensor([[1.0, 0.0, -1.0], [0.5, 2.0, 0.3]], dtype=torch.float64)
    times = torch.tensor([0.0, 0.2, 0.5, 0.9, 1.0], dtype=torch.float64)
    ode = LatentODE(LinearODEFunc(matrix), rtol=1e-10, atol=1e-12)
    path = ode(z0, times, t0=0.5)
    expected = torch.stack([analytic(matrix, z0, float(t), 0.5) for t in times], dim=1)
    torch.testing.assert_close(path, expected, rtol=1e-8, atol=1e-9)
    joint = ode.nfe
    separate = 0
    for half in (times[times >= 0.5], times[times <= 0.5].flip(0)):
        ode.reset_nfe()
        ode(z0, half, t0=0.5)
        separate += ode.nfe
    assert joint < separate        # one solver call for both directions, not two


def test_loose_tolerance_is_less_accurate_and_cheaper():
    # shows rtol/atol are really passed through to the solver
    matrix = rotation_decay_matrix()
    z0 = torch.tensor([[1.0, 0.0, -1.0]], dtype=torch.float64)
    times = torch.tensor([3.0], dtype=torch.float64)
    tight, loose = LatentODE(LinearODEFunc(matrix), rtol=1e-10, atol=1e-12), LatentODE(LinearODEFunc(matrix), rtol=1e-2, atol=1e-2)
    expected = analytic(matrix, z0, 3.0)
    err_tight = (tight(z0, times)[:, 0] - expected).abs().max()
    err_loose = (loose(z0, times)[:, 0] - expected).abs().max()
    assert err_loose > 10 * err_tight
    assert loose.nfe < tight.nfe


def test_function_evaluation_counter():
    func = LinearODEFunc(rotation_decay_matrix())
    ode = LatentODE(func, method="euler", options={"step_size": 0.1})
    z0 = torch.ones(1, 3, dtype=torch.float64)
    ode(z0, torch.tensor([1.0], dtype=torch.float64))
    assert ode.nfe == func.nfe == 10            # one evaluation per Euler step over [0, 1]
    ode.reset_nfe()
    assert ode.nfe == 0
    dopri = LatentODE(ODEFunc(3, 8))
    dopri(torch.zeros(2, 3), torch.tensor([0.5, 1.0]))
    assert dopri.nfe >= 7                       # dopri5: at least one step of 6 stages + the initial one


def test_adjoint_gives_same_gradients():
    torch.manual_seed(0)
    func = ODEFunc(3, 8)
    z0 = torch.randn(2, 3, requires_grad=True)
    times = torch.tensor([0.3, 1.0])
    grads = []
    for adjoint in (False, True):
        ode = LatentODE(func, rtol=1e-7, atol=1e-9, adjoint=adjoint)
        func.zero_grad()
        z0.grad = None
        ode(z0, times).pow(2).sum().backward()
        grads.append((z0.grad.clone(), func.net[0].weight.grad.clone()))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-4, atol=1e-5)


def random_samples(seed: int, sizes, dim: int = 3):
    g = torch.Generator().manual_seed(seed)
    return [(torch.sort(torch.rand(n, generator=g)).values, torch.randn(n, dim, generator=g)) for n in sizes]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("euler_steps", [1, 3])
def test_encoder_output_does_not_depend_on_batch_mates(cell, euler_steps):
    torch.manual_seed(0)
    encoder = ODERNNEncoder(3, 4, hidden_dim=8, ode_hidden_dim=8, cell=cell, euler_steps=euler_steps)
    target = random_samples(1, [5])[0]
    others = random_samples(2, [9, 2, 0, 6])
    alone = encoder(collate_union([target]))
    batched = encoder(collate_union([others[0], target, *others[1:]]))
    assert batched[0].shape == (5, 4)
    torch.testing.assert_close(batched[0][1], alone[0][0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(batched[1][1], alone[1][0], rtol=1e-5, atol=1e-6)


def test_encoder_with_input_mlp_is_batch_independent():
    torch.manual_seed(0)
    encoder = ODERNNEncoder(3, 4, hidden_dim=8, ode_hidden_dim=8, input_hidden=[16, 8])
    assert encoder.cell.input_size == 8
    batch = collate_union(random_samples(4, [4, 11, 1, 0, 3]))
    mean, logvar = encoder(batch)
    mean_ref, logvar_ref = encode_loop(encoder, batch)
    torch.testing.assert_close(mean, mean_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logvar, logvar_ref, rtol=1e-5, atol=1e-6)


def test_ode_func_linear_term_adds_a_z():
    torch.manual_seed(0)
    func = ODEFunc(3, hidden_dim=8, n_layers=1, linear=True)
    z = torch.randn(5, 3)
    torch.testing.assert_close(func(torch.tensor(0.0), z), func.net(z) + z @ func.linear.weight.T)
    assert ODEFunc(3, linear=False).linear is None


def test_vectorised_encoder_equals_per_sample_loop():
    torch.manual_seed(0)
    encoder = ODERNNEncoder(3, 4, hidden_dim=8, ode_hidden_dim=8, euler_steps=2)
    batch = collate_union(random_samples(3, [4, 11, 1, 7, 0, 3]))
    mean, logvar = encoder(batch, t0=0.0)
    mean_ref, logvar_ref = encode_loop(encoder, batch, t0=0.0)
    torch.testing.assert_close(mean, mean_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logvar, logvar_ref, rtol=1e-5, atol=1e-6)


def test_encoder_ignores_unobserved_entries_but_sees_observed_ones():
    torch.manual_seed(0)
    encoder = ODERNNEncoder(3, 4, hidden_dim=8)
    batch = collate_union(random_samples(4, [5, 3]))
    reference = encoder(batch)[0]
    garbage = batch.values.clone()
    garbage[~batch.point_mask()] = 1e3
    torch.testing.assert_close(encoder(IrregularBatch(batch.times, garbage, batch.mask))[0], reference)
    changed = batch.values.clone()
    first_observed = int(batch.point_mask()[1].nonzero()[0])
    changed[1, first_observed] += 1.0
    moved = encoder(IrregularBatch(batch.times, changed, batch.mask))[0]
    torch.testing.assert_close(moved[0], reference[0])
    assert not torch.allclose(moved[1], reference[1])


def test_encoder_feature_mask_hides_values():
    torch.manual_seed(0)
    encoder = ODERNNEncoder(2, 3, hidden_dim=8)
    t = torch.tensor([0.1, 0.6])
    x_hidden = torch.tensor([[1.0, float("nan")], [2.0, 3.0]])
    batch = collate_union([(t, x_hidden)], feature_mask=True)
    poked = batch.values.clone()
    poked[0, 0, 1] = 50.0            # the masked feature: must not matter
    torch.testing.assert_close(encoder(IrregularBatch(batch.times, poked, batch.mask))[0], encoder(batch)[0])


def test_gaussian_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mean = torch.tensor([[0.5, -1.0, 0.2], [0.0, 0.3, -0.4]], dtype=torch.float64)
    logvar = torch.tensor([[-0.5, 0.4, 0.0], [1.0, -1.2, 0.3]], dtype=torch.float64)
    closed = gaussian_kl(mean, logvar)
    n = 400_000
    z = mean + torch.exp(0.5 * logvar) * torch.randn(n, *mean.shape, generator=g, dtype=torch.float64)
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    monte_carlo = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)
    assert closed.shape == (2,)
    torch.testing.assert_close(monte_carlo, closed, rtol=0.0, atol=0.02)
    assert torch.all(gaussian_kl(torch.zeros(4, 3), torch.zeros(4, 3)) == 0)


def test_reparameterise_has_requested_moments_and_gradients():
    g = torch.Generator().manual_seed(0)
    mean = torch.tensor([1.0, -2.0], requires_grad=True)
    logvar = torch.tensor([0.0, -2.0], requires_grad=True)
    z = reparameterise(mean.expand(200_000, 2), logvar.expand(200_000, 2), generator=g)
    torch.testing.assert_close(z.mean(0), mean.detach(), atol=0.01, rtol=0)
    torch.testing.assert_close(z.var(0), logvar.detach().exp(), atol=0.01, rtol=0.02)
    z.sum().backward()
    assert mean.grad is not None and logvar.grad is not None
