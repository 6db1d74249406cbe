"""Tests for wifisense.signal on analytic cases, NumPy/torch agreement, leading axes and a real capture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from wifisense.errors import ConfigError
from wifisense.signal import (
    HT20_PILOT_SUBCARRIERS,
    INTEL5300_SUBCARRIERS_20MHZ,
    amplitude,
    amplitude_db,
    complex_to_real,
    conjugate_multiply,
    drop_subcarriers,
    hampel,
    normalize,
    polar,
    remove_sto,
    resample_uniform,
    sanitize_phase,
    select_subcarriers,
    unwrap_phase,
)

K = INTEL5300_SUBCARRIERS_20MHZ  # 30 unevenly spaced subcarrier indices
REAL_CAPTURE = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "intel5300_log_all_csi_6_7_6.dat"


def random_csi(rng, shape, dtype=np.complex64):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def ramp_csi(rng, packets=16, nrx=3, ntx=2):
    """CSI ``|h| exp(j(slope*k + offset + per-antenna phase))``, slope and offset random per packet."""
    slopes = rng.uniform(-0.4, 0.4, (packets, 1, 1, 1))
    offsets = rng.uniform(-np.pi, np.pi, (packets, 1, 1, 1))
    antenna_phase = rng.uniform(-np.pi, np.pi, (1, K.size, nrx, ntx)) * 0.3
    magnitude = rng.uniform(0.5, 2.0, (packets, K.size, nrx, ntx))
    phase = slopes * K[None, :, None, None] + offsets + antenna_phase
    return magnitude * np.exp(1j * phase), slopes, antenna_phase


# ---------------------------------------------------------------- phase unwrapping


def test_unwrap_matches_numpy_for_complex_and_real_input():
    rng = np.random.default_rng(0)
    csi = random_csi(rng, (5, 30, 3, 2), np.complex128)
    expected = np.unwrap(np.angle(csi), axis=-3)
    np.testing.assert_allclose(unwrap_phase(csi), expected, atol=1e-9)
    np.testing.assert_allclose(unwrap_phase(np.angle(csi)), expected, atol=1e-9)
    torch_result = unwrap_phase(torch.from_numpy(csi))
    assert isinstance(torch_result, torch.Tensor)
    np.testing.assert_allclose(torch_result.numpy(), expected, atol=1e-9)


def test_unwrap_recovers_a_steep_ramp_on_any_axis():
    k = np.arange(40.0)
    true_phase = 2.5 * k + 0.3  # steps of 2.5 rad < pi: recoverable
    csi = np.exp(1j * true_phase)[None, :]  # caption-like layout [A, S]
    np.testing.assert_allclose(unwrap_phase(csi, axis=-1)[0], true_phase, atol=1e-9)


# ---------------------------------------------------------------- sanitisation


def test_sanitize_phase_zeroes_a_linear_ramp_with_offset():
    k = np.arange(-28, 29)
    csi = 3.0 * np.exp(1j * (0.7 * k - 1.1))[:, None, None]  # [S, 1, 1]
    np.testing.assert_allclose(sanitize_phase(csi, k), 0.0, atol=1e-9)


def test_sanitize_phase_zeroes_per_packet_random_slopes_and_keeps_nonlinear_part():
    rng = np.random.default_rng(1)
    slopes = rng.uniform(-0.4, 0.4, (20, 1, 3, 3))
    offsets = rng.uniform(-np.pi, np.pi, (20, 1, 3, 3))
    ramps = np.exp(1j * (slopes * K[None, :, None, None] + offsets))
    np.testing.assert_allclose(sanitize_phase(ramps, K), 0.0, atol=1e-9)
    # A quadratic on top of the ramp survives as the quadratic's own residual.
    bump = 0.002 * (K - K.mean()) ** 2
    bumped = ramps * np.exp(1j * bump)[None, :, None, None]
    expected = sanitize_phase(np.broadcast_to(bump[None, :, None, None], bumped.shape), K)
    np.testing.assert_allclose(sanitize_phase(bumped, K), expected, atol=1e-9)
    assert np.abs(expected).max() > 0.1


def test_sanitize_phase_accepts_phase_and_caption_layout():
    rng = np.random.default_rng(2)
    slopes = rng.uniform(-0.5, 0.5, (4, 6, 3, 1))  # [R, T, A, 1]
    phase = np.angle(np.exp(1j * (slopes * K + 0.2)))  # wrapped [R, T, A, S]
    np.testing.assert_allclose(sanitize_phase(phase, K, axis=-1), 0.0, atol=1e-9)


# ---------------------------------------------------------------- SpotFi STO removal


def test_remove_sto_removes_common_slope_exactly_and_keeps_antenna_differences():
    rng = np.random.default_rng(3)
    csi, slopes, antenna_phase = ramp_csi(rng, packets=32, nrx=3, ntx=2)
    calibrated, fitted = remove_sto(csi, K, return_slope=True)
    # The per-antenna phases have a slope of their own, which the joint fit also takes:
    # the fitted slope is the true one plus the mean per-antenna LS slope.
    kc = K - K.mean()
    antenna_slope = np.mean(np.tensordot(kc / np.sum(kc ** 2), antenna_phase[0], axes=(0, 0)))
    np.testing.assert_allclose(fitted, slopes + antenna_slope, atol=1e-9)
    np.testing.assert_allclose(np.abs(calibrated), np.abs(csi), rtol=1e-12)
    # Phase differences between antennas are untouched.
    before = csi[..., 1:, :] * np.conj(csi[..., :1, :])
    after = calibrated[..., 1:, :] * np.conj(calibrated[..., :1, :])
    np.testing.assert_allclose(after, before, atol=1e-9)
    # After removal, the joint slope of every packet is zero.
    _, refit = remove_sto(calibrated, K, return_slope=True)
    np.testing.assert_allclose(refit, 0.0, atol=1e-9)
    # And packets with different random slopes now agree up to a constant phase.
    unit = calibrated / np.abs(calibrated)
    relative = unit * np.conj(unit[:, :1, :1, :1])  # drop each packet's constant phase
    np.testing.assert_allclose(relative, np.broadcast_to(relative[:1], relative.shape), atol=1e-9)


def test_remove_sto_on_caption_layout_uses_one_slope_per_time_step():
    rng = np.random.default_rng(4)
    slopes = rng.uniform(-0.3, 0.3, (2, 5, 1, 1))  # [R, T, A=1, S=1]
    csi = np.exp(1j * (slopes * K + rng.uniform(-1, 1, (2, 5, 3, 1))))  # [R, T, A, S]
    _, fitted = remove_sto(csi, K, sc_axis=-1, antenna_axes=(-2,), return_slope=True)
    np.testing.assert_allclose(fitted, slopes, atol=1e-9)


def test_remove_sto_in_numpy_blocks_equals_one_shot(monkeypatch):
    from wifisense.signal import phase as phase_module

    rng = np.random.default_rng(16)
    cases = [(random_csi(rng, (50, 30, 3, 3)), {}),
             (random_csi(rng, (4, 7, 30, 3, 2)), {}),
             (random_csi(rng, (3, 9, 3, 30)), {"sc_axis": -1, "antenna_axes": (-2,)})]
    one_shot = [remove_sto(csi, K, return_slope=True, **kw) for csi, kw in cases]
    monkeypatch.setattr(phase_module, "_BLOCK_BYTES", 3000)  # a few packets per block
    for (csi, kw), (expected, expected_slope) in zip(cases, one_shot):
        got, slope = remove_sto(csi, K, return_slope=True, **kw)
        # complex64 input: blocks and one shot sum in another order (NumPy's SIMD paths), which
        # moves a few of 13,500 elements by up to ~4e-6 (30 float32 ulps) with numpy 2.x here
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(slope, expected_slope, rtol=1e-6, atol=1e-7)
        assert got.dtype == csi.dtype


def test_remove_sto_keeps_complex64():
    rng = np.random.default_rng(5)
    csi = random_csi(rng, (8, 30, 3, 3))
    assert remove_sto(csi, K).dtype == np.complex64
    assert remove_sto(torch.from_numpy(csi), K).dtype == torch.complex64


# ---------------------------------------------------------------- conjugate multiplication


def test_conjugate_multiply_cancels_a_common_random_phase_exactly():
    rng = np.random.default_rng(6)
    csi = random_csi(rng, (10, 30, 3, 3), np.complex128)
    common = np.exp(1j * rng.uniform(-np.pi, np.pi, (10, 30, 1, 1)))
    np.testing.assert_allclose(conjugate_multiply(csi * common), conjugate_multiply(csi), atol=1e-12)
    out = conjugate_multiply(csi, ref=1)
    np.testing.assert_allclose(out[:, :, 2], csi[:, :, 2] * np.conj(csi[:, :, 1]))
    np.testing.assert_allclose(out[:, :, 1].imag, 0.0, atol=1e-12)  # |h_ref|^2
    dropped = conjugate_multiply(csi, ref=1, keep_ref=False)
    assert dropped.shape == (10, 30, 2, 3)
    np.testing.assert_allclose(dropped, out[:, :, [0, 2]])


def test_conjugate_multiply_caption_axis_and_bad_ref():
    rng = np.random.default_rng(7)
    csi = random_csi(rng, (3, 4, 3, 30))  # [R, T, A, S]
    out = conjugate_multiply(csi, axis=-2, keep_ref=False)
    np.testing.assert_allclose(out, csi[:, :, 1:] * np.conj(csi[:, :, :1]))
    with pytest.raises(ValueError, match="out of range"):
        conjugate_multiply(csi, ref=3, axis=-2)


# ---------------------------------------------------------------- subcarrier selection


def test_drop_subcarriers_removes_pilots_and_nulls():
    k = np.arange(-32, 32)
    csi = np.arange(2 * 64).reshape(2, 64, 1, 1) * (1 + 0j)
    kept, kept_k = drop_subcarriers(csi, k)
    assert kept_k.size == 52 and not np.isin(kept_k, [0, 7, -21, 29, -32]).any()
    np.testing.assert_array_equal(kept[0, :, 0, 0].real, kept_k + 32)
    sel, sel_k = select_subcarriers(torch.from_numpy(csi), k, HT20_PILOT_SUBCARRIERS)
    assert isinstance(sel, torch.Tensor) and list(sel_k) == [-21, -7, 7, 21]
    np.testing.assert_array_equal(sel[0, :, 0, 0].real.numpy(), sel_k + 32)
    # Intel 5300 groups hold no pilot or DC index, so nothing is dropped.
    assert drop_subcarriers(np.zeros((1, 30, 1, 1)), K)[1].size == 30 - 2  # +-21 are pilots


# ---------------------------------------------------------------- Hampel filter


def test_hampel_replaces_spikes_and_leaves_clean_signal_alone():
    rng = np.random.default_rng(8)
    t = np.linspace(0, 2, 400)
    clean = np.sin(2 * np.pi * 1.5 * t)[:, None] * np.array([1.0, 2.0])  # [T, 2]
    assert np.array_equal(hampel(clean, window=7), clean)
    spiky = clean.copy()
    # At most one spike per window, so each window's median is a clean sample.
    spikes = rng.choice(np.arange(10, 390, 20), 12, replace=False) + rng.integers(-3, 4, 12)
    spiky[spikes, 0] += 5.0
    spiky[spikes, 1] -= 8.0
    filtered, mask = hampel(spiky, window=7, return_mask=True)
    assert mask[spikes].all() and mask.sum() == 2 * spikes.size
    np.testing.assert_allclose(filtered, clean, atol=0.1)
    assert np.array_equal(filtered[~mask], spiky[~mask])
    # Edge spikes are caught too (mirrored windows).
    edge = clean.copy()
    edge[0, 0] = 10.0
    assert hampel(edge)[0, 0] < 1.0
    # Series shorter than the window: no mirrored-sample bias, a lone spike still caught.
    np.testing.assert_array_equal(hampel(np.array([0.0, 1.0])), [0.0, 1.0])
    np.testing.assert_array_equal(hampel(np.array([1.0, 1.2, 9.0, 1.1, 0.9]), window=7),
                                  [1.0, 1.2, 1.1, 1.1, 0.9])


def test_hampel_complex_and_torch_agree_with_numpy():
    rng = np.random.default_rng(9)
    csi = random_csi(rng, (50, 30, 3, 3))
    csi[10, 4, 1, 2] += 40.0
    filtered = hampel(csi, window=5)
    assert abs(filtered[10, 4, 1, 2]) < 10.0
    torch_filtered = hampel(torch.from_numpy(csi), window=5)
    np.testing.assert_allclose(torch_filtered.numpy(), filtered, atol=1e-6)
    with pytest.raises(ConfigError):
        hampel(csi, window=4)


# ---------------------------------------------------------------- resampling


def test_resample_recovers_jittered_sinusoid_and_flags_gap():
    rng = np.random.default_rng(10)
    rate = 100.0
    t = np.arange(0, 5, 1 / rate) + rng.uniform(-0.3, 0.3, 500) / rate
    t.sort()
    keep = (t < 2.0) | (t > 2.2)  # a 200 ms gap
    t = t[keep] + 1000.0  # absolute device clock
    freq = 2.0
    x = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)  # [T, 2]
    grid, x_uniform, gap = resample_uniform(t, x, rate_hz=rate)
    assert grid.shape == (x_uniform.shape[0],) and np.allclose(np.diff(grid), 1 / rate)
    expected = np.stack([np.sin(2 * np.pi * freq * grid), np.cos(2 * np.pi * freq * grid)], axis=1)
    gap_times = grid[gap] - 1000.0
    # Points just outside the flagged gap interpolate across it, so judge away from it.
    clear = (np.abs(grid - 1000.0 - 2.1) > 0.1 + 2.5 / rate)
    assert np.abs(x_uniform - expected)[clear].max() < 0.01
    assert gap.sum() >= 10 and gap_times.min() > 2.0 - 0.01 and gap_times.max() < 2.2 + 0.01
    # Nearest keeps packets as they are; complex data works in both methods.
    z = np.exp(1j * 2 * np.pi * freq * t)
    _, z_nearest, _ = resample_uniform(t, z, rate_hz=rate, method="nearest")
    assert np.isin(z_nearest, z).all()
    _, z_linear, _ = resample_uniform(t, z, rate_hz=rate)
    assert np.abs(z_linear - np.exp(1j * 2 * np.pi * freq * grid))[clear].max() < 0.01


def test_resample_on_other_axis_with_explicit_grid_and_torch():
    rng = np.random.default_rng(11)
    t = np.sort(rng.uniform(0, 1, 40))
    x = rng.standard_normal((2, 40, 3))
    grid = np.linspace(-0.1, 1.1, 25)
    g, xu, gap = resample_uniform(t, x, grid=grid, axis=1)
    assert xu.shape == (2, 25, 3)
    np.testing.assert_allclose(xu[:, 0], x[:, 0])  # held before the first packet
    for i in range(3):
        np.testing.assert_allclose(xu[..., i], np.stack([np.interp(grid, t, row) for row in x[..., i]]))
    gt, xt, gapt = resample_uniform(torch.from_numpy(t), torch.from_numpy(x), grid=grid, axis=1)
    assert isinstance(xt, torch.Tensor) and gapt.dtype == torch.bool
    np.testing.assert_allclose(xt.numpy(), xu)
    np.testing.assert_array_equal(gapt.numpy(), gap)
    with pytest.raises(ConfigError):
        resample_uniform(t, x, axis=1)


# ---------------------------------------------------------------- features and normalisation


def test_features_and_normalize():
    rng = np.random.default_rng(12)
    csi = random_csi(rng, (6, 30, 3, 3))
    stacked = complex_to_real(csi)
    assert stacked.shape == (6, 30, 3, 3, 4) and stacked.dtype == np.float32
    np.testing.assert_allclose(stacked[..., 0] + 1j * stacked[..., 1], csi)
    np.testing.assert_allclose(stacked[..., 3] * np.exp(1j * stacked[..., 2]), csi, atol=1e-5)
    assert complex_to_real(csi, axis=1).shape == (6, 4, 30, 3, 3)
    rebuilt = polar(amplitude(csi), np.angle(csi))
    assert rebuilt.dtype == np.complex64
    np.testing.assert_allclose(rebuilt, csi, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(amplitude_db(csi), 20 * np.log10(amplitude(csi)), rtol=1e-5)
    assert np.isfinite(amplitude_db(np.zeros(3, complex))).all()
    amp = amplitude(csi)
    z = normalize(amp)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-3)
    m = normalize(amp, "minmax", axis=None)
    assert m.min() == 0.0 and abs(m.max() - 1.0) < 1e-6
    with pytest.raises(ConfigError):
        normalize(amp, "l2")


# ---------------------------------------------------------------- backends and leading axes


def _chain_outputs(csi):
    return {
        "amplitude": amplitude(csi),
        "amplitude_db": amplitude_db(csi),
        "unwrap": unwrap_phase(csi),
        "sanitize": sanitize_phase(csi, K),
        "sto": remove_sto(csi, K),
        "conj": conjugate_multiply(csi),
        "hampel": hampel(amplitude(csi), window=5),
        "normalize": normalize(amplitude(csi)),
        "minmax": normalize(amplitude(csi), "minmax"),
        "real": complex_to_real(csi),
        "polar": polar(amplitude(csi), sanitize_phase(csi, K)),
    }


def test_numpy_and_torch_agree():
    rng = np.random.default_rng(13)
    csi = random_csi(rng, (20, 30, 3, 3), np.complex128)
    numpy_out = _chain_outputs(csi)
    torch_out = _chain_outputs(torch.from_numpy(csi))
    for name, value in numpy_out.items():
        assert isinstance(torch_out[name], torch.Tensor), name
        np.testing.assert_allclose(torch_out[name].numpy(), value, atol=1e-9, err_msg=name)


def test_leading_batch_axis_equals_stacked_single_results():
    rng = np.random.default_rng(14)
    batch = random_csi(rng, (3, 12, 30, 3, 3), np.complex128)  # [B, T, S, Nrx, Ntx]
    for name in ("unwrap", "sanitize", "sto", "conj", "real", "amplitude"):
        whole = _chain_outputs(batch)[name]
        single = np.stack([_chain_outputs(b)[name] for b in batch])
        np.testing.assert_allclose(whole, single, atol=1e-12, err_msg=name)
    filtered = hampel(batch, window=5, axis=1)
    np.testing.assert_allclose(filtered, np.stack([hampel(b, window=5) for b in batch]))


def test_torch_versions_are_differentiable():
    rng = np.random.default_rng(15)
    csi = torch.from_numpy(random_csi(rng, (4, 30, 3, 3), np.complex128)).requires_grad_()
    loss = (sanitize_phase(csi, K).pow(2).sum()
            + conjugate_multiply(remove_sto(csi, K)).abs().sum()
            + complex_to_real(csi).sum()
            + hampel(amplitude(csi), window=3).sum())
    loss.backward()
    assert csi.grad is not None and torch.isfinite(csi.grad).all() and csi.grad.abs().sum() > 0
    t = torch.linspace(0, 1, 30, dtype=torch.float64)
    x = torch.randn(30, 2, dtype=torch.float64, requires_grad=True)
    resample_uniform(t, x, rate_hz=50.0)[1].sum().backward()
    assert x.grad is not None and x.grad.sum() > 0


# ---------------------------------------------------------------- real capture


def _read_real_capture():
    """``(csi, subcarriers)`` via wifisense.io.readers.read_csi if present, else csiread."""
    if not REAL_CAPTURE.exists():
        pytest.skip(f"real capture {REAL_CAPTURE} is missing (shared test data not present)")
    try:
        from wifisense.io.readers import read_csi
    except ImportError:  # the reader room is optional for this test
        read_csi = None
    if read_csi is not None:
        # This capture's packets all carry the same timestamp, so the reader needs a rate;
        # its value does not matter for per-packet preprocessing.
        recording = read_csi(REAL_CAPTURE, rate_hz=100.0)
        return recording.csi, np.asarray(recording.subcarriers)
    csiread = pytest.importorskip("csiread")
    reader = csiread.Intel(str(REAL_CAPTURE), nrxnum=3, ntxnum=3, if_report=False)
    reader.read()
    return reader.csi.astype(np.complex64), INTEL5300_SUBCARRIERS_20MHZ


def test_chain_on_real_intel5300_capture():
    csi, subcarriers = _read_real_capture()
    assert csi.ndim == 4 and csi.shape[1:] == (30, 3, 3)
    packets = csi.shape[0]
    amp = hampel(amplitude(csi), window=5)
    phase = sanitize_phase(csi, subcarriers)
    calibrated = conjugate_multiply(remove_sto(csi, subcarriers), keep_ref=False)
    features = complex_to_real(calibrated)
    for name, value, shape in [("amplitude", amp, (packets, 30, 3, 3)),
                               ("phase", phase, (packets, 30, 3, 3)),
                               ("calibrated", calibrated, (packets, 30, 2, 3)),
                               ("features", features, (packets, 30, 2, 3, 4))]:
        assert value.shape == shape, name
        assert np.isfinite(value).all(), name
    # No linear trend left over subcarriers: LS slope and mean of every antenna are ~0.
    kc = subcarriers - subcarriers.mean()
    residual_slope = np.tensordot(kc / np.sum(kc ** 2), phase, axes=(0, 1))
    assert np.abs(residual_slope).max() < 1e-5
    assert np.abs(phase.mean(axis=1)).max() < 1e-5
    # The raw unwrapped phase did have a trend (the check above can fail).
    raw_slope = np.tensordot(kc / np.sum(kc ** 2), unwrap_phase(csi), axes=(0, 1))
    assert np.abs(raw_slope).max() > 1e-2
