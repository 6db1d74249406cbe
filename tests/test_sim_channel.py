"""Physical sanity of the shared channel model, checked against closed-form geometry."""

import numpy as np
import pytest

from wifisense.sim.channel import (
    HT20_SUBCARRIERS, SPEED_OF_LIGHT, ImpairmentConfig, Room, Scatterers, apply_impairments,
    channel_response, image_sources, linear_array, packet_times, subcarrier_frequencies,
)

FREQS = subcarrier_frequencies(5.32e9, HT20_SUBCARRIERS)


def test_subcarrier_frequencies_spacing():
    f = subcarrier_frequencies(5.0e9, [-2, 0, 3], spacing_hz=312.5e3)
    np.testing.assert_allclose(f, [5.0e9 - 625e3, 5.0e9, 5.0e9 + 937.5e3])


def test_moving_scatterer_turns_phase_by_path_length_change():
    tx = np.array([0.0, 0.0, 1.0])
    rx = np.array([[4.0, 0.0, 1.0]])
    base = np.array([2.0, 1.5, 1.0])
    # move the scatterer along the bisector (y), compute the exact bistatic change
    steps = np.array([0.0, 0.003, 0.011, 0.05])
    pos = base + steps[:, None] * np.array([0.0, 1.0, 0.0])
    h = channel_response(tx, rx, FREQS, room=None, include_los=False,
                         scatterers=Scatterers(pos[:, None, :], 0.3))
    assert h.shape == (4, FREQS.size, 1, 1)
    path = np.linalg.norm(pos - tx, axis=1) + np.linalg.norm(pos - rx[0], axis=1)
    delta = path[1:] - path[0]
    measured = np.angle(h[1:, :, 0, 0] * np.conj(h[:1, :, 0, 0]))
    expected = np.angle(np.exp(-2j * np.pi * FREQS[None] * delta[:, None] / SPEED_OF_LIGHT))
    np.testing.assert_allclose(np.angle(np.exp(1j * (measured - expected))), 0, atol=1e-4)
    assert np.all(np.abs(delta) > 0)


def test_los_phase_slope_is_the_delay():
    d = 5.3
    h = channel_response([0, 0, 1], [[d, 0, 1]], FREQS)[0, :, 0, 0]
    slope = np.polyfit(HT20_SUBCARRIERS, np.unwrap(np.angle(h)), 1)[0]
    np.testing.assert_allclose(slope, -2 * np.pi * 312.5e3 * d / SPEED_OF_LIGHT, rtol=1e-6)
    # Friis amplitude lambda / (4 pi d)
    np.testing.assert_allclose(np.abs(h), SPEED_OF_LIGHT / FREQS / (4 * np.pi * d), rtol=1e-5)


def test_image_path_lengths_match_mirrored_geometry():
    room = Room(0, 0, 8, 6, height=3, floor_ceiling=True)
    tx = np.array([1.5, 2.0, 1.2])
    rx = np.array([6.0, 4.5, 0.8])
    images = image_sources(tx, room, order=1)
    assert images.positions.shape == (6, 3)
    planes = [(0, 0.0), (0, 8.0), (1, 0.0), (1, 6.0), (2, 0.0), (2, 3.0)]
    for img, (axis, coord) in zip(images.positions, planes):
        # reflection point: where the rx -> image line crosses the plane
        frac = (coord - rx[axis]) / (img[axis] - rx[axis])
        point = rx + frac * (img - rx)
        assert 0 < frac < 1 and room.contains(point[None], margin=-1e-9)[0]
        np.testing.assert_allclose(np.linalg.norm(img - rx),
                                   np.linalg.norm(tx - point) + np.linalg.norm(point - rx))
        # angle of incidence = angle of reflection (normal components mirror)
        a, b = point - tx, rx - point
        np.testing.assert_allclose(a[axis] / np.linalg.norm(a), -b[axis] / np.linalg.norm(b))
    np.testing.assert_allclose(images.coefficients, [0.5] * 4 + [0.3] * 2)


def test_second_order_images_are_unique_and_vectorised():
    room = Room(0, 0, 5, 4)
    tx = np.array([[1.0, 1.0, 1.0], [2.0, 3.0, 1.5]])
    images = image_sources(tx, room, order=2, include_source=True)
    assert images.positions.shape == (2, 1 + 4 + 8, 3)   # 4 first order, 2 + 2 + 4 second
    assert len({tuple(p) for p in np.round(images.positions[0], 9)}) == 13
    np.testing.assert_allclose(images.positions[:, 0], tx)


def test_wall_reflection_adds_image_path():
    room = Room(0, 0, 8, 6)
    tx, rx = np.array([2.0, 3.0, 1.0]), np.array([[6.0, 3.0, 1.0]])
    free = channel_response(tx, rx, FREQS)
    walls = channel_response(tx, rx, FREQS, room=room)
    images = image_sources(tx, room)
    d = np.linalg.norm(images.positions - rx[0], axis=1)
    lam = SPEED_OF_LIGHT / FREQS
    extra = (images.coefficients[:, None] / (4 * np.pi * d[:, None]) * lam
             * np.exp(-2j * np.pi * FREQS * d[:, None] / SPEED_OF_LIGHT)).sum(0)
    np.testing.assert_allclose(walls[0, :, 0, 0] - free[0, :, 0, 0], extra, rtol=1e-4, atol=1e-7)


def test_shapes_static_background_and_multiple_tx():
    rng = np.random.default_rng(0)
    rx = linear_array([0.3, 0.3, 2.0], 4, 0.028, azimuth_deg=-45)
    furniture = Scatterers(rng.uniform([0, 0, 0], [8, 6, 2], (5, 3)), rng.normal(size=5) + 0j)
    body = Scatterers(rng.uniform([2, 2, 0], [3, 3, 2], (7, 3, 3)), 0.3)
    h = channel_response([4, 3, 1], rx, FREQS[:8], Room(), scatterers=body,
                         static_scatterers=furniture, tx_antennas=np.zeros((2, 3)))
    assert h.shape == (7, 8, 4, 2) and h.dtype == np.complex64
    assert np.all(np.isfinite(h))
    np.testing.assert_allclose(h[..., 0], h[..., 1])   # co-located tx antennas
    assert not np.allclose(h[0], h[1])                 # body moved
    with pytest.raises(ValueError):
        channel_response(np.zeros((3, 3)), rx, FREQS, scatterers=body)   # T=3 vs T=7


def test_conjugate_multiplication_cancels_cfo_and_sto():
    rng = np.random.default_rng(1)
    rx = linear_array([0, 0, 1], 3, 0.028)
    tx = np.c_[np.linspace(2, 3, 20), np.ones(20), np.ones(20)]
    h = channel_response(tx, rx, FREQS, Room())
    cfg = ImpairmentConfig(snr_db=None, cfo=True, sto_slope_std=0.1, agc_jitter_db=0.0)
    h_imp = apply_impairments(h, HT20_SUBCARRIERS, cfg, rng)
    # impairments really changed the phase ...
    assert np.abs(np.angle(h_imp[:, :, 0] * np.conj(h[:, :, 0]))).max() > 0.5
    # ... yet the antenna-pair conjugate product is untouched
    clean = h[:, :, 1, 0] * np.conj(h[:, :, 0, 0])
    dirty = h_imp[:, :, 1, 0] * np.conj(h_imp[:, :, 0, 0])
    np.testing.assert_allclose(dirty, clean, rtol=1e-4, atol=1e-12)


def test_awgn_level_and_agc():
    rng = np.random.default_rng(2)
    h = np.ones((4000, 30, 2, 1), dtype=np.complex64)
    noisy = apply_impairments(h, np.arange(30), ImpairmentConfig(
        snr_db=10.0, cfo=False, sto_slope_std=0.0, agc_jitter_db=0.0), rng)
    noise_power = np.mean(np.abs(noisy - h) ** 2)
    np.testing.assert_allclose(noise_power, 0.1, rtol=0.03)
    agc = apply_impairments(h, np.arange(30), ImpairmentConfig(
        snr_db=None, cfo=False, sto_slope_std=0.0, agc_jitter_db=2.0), rng)
    gain_db = 20 * np.log10(np.abs(agc[:, 0, 0, 0]))
    np.testing.assert_allclose(gain_db.std(), 2.0, rtol=0.1)
    assert np.allclose(agc[:, :1], agc)     # one gain per packet, shared by all tones/antennas


def test_packet_times_rate_loss_monotonic():
    rng = np.random.default_rng(3)
    t = packet_times(200.0, 30.0, jitter_s=3e-3, loss=0.1, rng=rng)
    assert np.all(np.diff(t) > 0)
    assert t[0] >= 0 and t[-1] < 200.0
    np.testing.assert_allclose(t.size / 200.0, 30.0 * 0.9, rtol=0.03)
    gaps = np.diff(t)
    assert gaps.max() > 1.9 / 30      # some packets were dropped
    assert np.std(gaps[gaps < 1.5 / 30]) > 1e-3   # and timing is irregular


def test_determinism_per_seed():
    h = channel_response([1, 1, 1], linear_array([0, 0, 1], 2, 0.03), FREQS, Room())
    h = np.broadcast_to(h, (10,) + h.shape[1:])
    cfg = ImpairmentConfig()
    a = apply_impairments(h, HT20_SUBCARRIERS, cfg, np.random.default_rng(7))
    b = apply_impairments(h, HT20_SUBCARRIERS, cfg, np.random.default_rng(7))
    c = apply_impairments(h, HT20_SUBCARRIERS, cfg, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_array_equal(packet_times(5, 30, 1e-3, 0.1, np.random.default_rng(7)),
                                  packet_times(5, 30, 1e-3, 0.1, np.random.default_rng(7)))


def test_fixed_noise_reference_power():
    rng = np.random.default_rng(4)
    h = np.full((3000, 10, 1, 1), 0.1, dtype=np.complex64)   # |h|^2 = 0.01
    cfg = ImpairmentConfig(snr_db=0.0, cfo=False, sto_slope_std=0.0, agc_jitter_db=0.0,
                           noise_reference_power=1.0)
    noise = apply_impairments(h, np.arange(10), cfg, rng) - h
    np.testing.assert_allclose(np.mean(np.abs(noise) ** 2), 1.0, rtol=0.05)
