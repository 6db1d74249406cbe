"""Union-of-time-points batching of irregular sequences, packing, and the track batch type."""

import math

import pytest
import torch

from wifisense.track.batching import (
    IrregularBatch,
    TrackBatch,
    collate_union,
    pack_observations,
)


def test_collate_union_places_values_at_union_times():
    t1, x1 = torch.tensor([0.0, 0.5, 1.0]), torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    t2, x2 = torch.tensor([0.25, 0.5]), torch.tensor([[7.0, 8.0], [9.0, 10.0]])
    batch = collate_union([(t1, x1), (t2, x2)])
    assert torch.equal(batch.times, torch.tensor([0.0, 0.25, 0.5, 1.0]))
    assert batch.values.shape == (2, 4, 2) and batch.mask.shape == (2, 4)
    assert torch.equal(batch.mask, torch.tensor([[1.0, 0, 1, 1], [0, 1, 1, 0]]))
    assert torch.equal(batch.values[0, [0, 2, 3]], x1)
    assert torch.equal(batch.values[1, [1, 2]], x2)
    assert torch.all(batch.values[0, 1] == 0) and torch.all(batch.values[1, [0, 3]] == 0)
    assert torch.equal(batch.lengths(), torch.tensor([3, 2]))


def test_collate_union_unsorted_input_duplicates_and_nan_features():
    t = torch.tensor([0.8, 0.1, 0.1])
    x = torch.tensor([[1.0, float("nan")], [2.0, 4.0], [4.0, float("nan")]])
    batch = collate_union([(t, x)], feature_mask=True)
    assert torch.equal(batch.times, torch.tensor([0.1, 0.8]))
    assert batch.mask.shape == (1, 2, 2)
    # duplicates at t=0.1 are averaged per feature over their non-NaN values
    assert torch.allclose(batch.values[0, 0], torch.tensor([3.0, 4.0]))
    assert torch.equal(batch.mask[0], torch.tensor([[1.0, 1.0], [1.0, 0.0]]))
    assert batch.values[0, 1, 1] == 0 and not torch.isnan(batch.values).any()
    assert torch.equal(batch.point_mask(), torch.tensor([[True, True]]))


def test_collate_union_rejects_bad_shapes():
    with pytest.raises(ValueError, match="sample 1"):
        collate_union([(torch.zeros(2), torch.zeros(2, 3)), (torch.zeros(2), torch.zeros(3, 3))])


def test_sample_roundtrip():
    rng = torch.Generator().manual_seed(0)
    samples = [(torch.sort(torch.rand(n, generator=rng)).values, torch.randn(n, 3, generator=rng)) for n in (4, 7, 1)]
    batch = collate_union(samples)
    for i, (t, x) in enumerate(samples):
        t_back, x_back, m_back = batch.sample(i)
        assert torch.equal(t_back, t) and torch.equal(x_back, x) and torch.all(m_back == 1)


@pytest.mark.parametrize("descending", [False, True])
def test_pack_observations_orders_each_sample(descending):
    samples = [(torch.tensor([0.0, 0.5, 1.0]), torch.tensor([[1.0], [2.0], [3.0]])),
               (torch.tensor([0.25]), torch.tensor([[7.0]])),
               (torch.zeros(0), torch.zeros(0, 1))]
    times, values, mask, valid = pack_observations(collate_union(samples), descending=descending)
    assert times.shape == (3, 3) and values.shape == (3, 3, 1)
    assert torch.equal(valid, torch.tensor([[True, True, True], [True, False, False], [False, False, False]]))
    first = [1.0, 2.0, 3.0][::-1] if descending else [1.0, 2.0, 3.0]
    assert values[0, :, 0].tolist() == first
    # padding repeats the last valid time (zero gap) and carries no value
    assert times[1].tolist() == [0.25, 0.25, 0.25] and values[1, 1:].abs().sum() == 0
    assert times[2].tolist() == [0.0, 0.0, 0.0] and mask[2].sum() == 0


def test_track_batch_query_broadcast_and_to():
    csi = collate_union([(torch.tensor([0.0, 1.0]), torch.ones(2, 2))] * 2)
    batch = TrackBatch(csi=csi, snr=None, query_t=torch.linspace(0, 1, 5), target_xy=torch.zeros(2, 5, 2))
    assert batch.query_times().shape == (2, 5) and batch.batch_size == 2
    assert torch.all(batch.query_weights() == 1)
    with pytest.raises(KeyError, match="snr"):
        batch.band("snr")
    moved = batch.to(torch.float64)
    assert moved.csi.values.dtype == torch.float64 and moved.snr is None
    assert isinstance(moved.csi, IrregularBatch) and math.isclose(float(moved.query_t[-1]), 1.0)
