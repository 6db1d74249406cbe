"""Missing beam sectors (NaN in the SNR stream) through the track data path and every track model.

A synthetic recording (no store, no CAE: random CSI embeddings) whose beam SNR misses ~20 % of
its sectors is cut into windows, normalised, collated and fed to each model: the normaliser
skips NaN per feature, the items keep NaN, the batch has a per-beam mask with mask 0 and
value 0 at a missing sector, and one training step of every model gives a finite loss and
finite gradients while the model tells a missing sector from an observed zero.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from wifisense.errors import ConfigError
from wifisense.track import data as track_data
from wifisense.track.config import load_track_config
from wifisense.track.factory import create_track_model
from wifisense.track.losses import track_loss

BEAMS, EMBED = 6, 4
WINDOW_S = 2.0
MISSING = 0.2


@pytest.fixture(scope="module")
def recording() -> SimpleNamespace:
    rng = np.random.default_rng(0)
    duration = 24.0
    pose_t = np.arange(0.0, duration, 0.1)
    csi_t = np.sort(rng.uniform(0, duration, 400))
    snr_t = np.sort(rng.uniform(0, duration, 150))
    xy = np.c_[2 + np.cos(pose_t / 3), 2 + np.sin(pose_t / 3)].astype(np.float32)
    snr = rng.normal(10, 4, (len(snr_t), BEAMS)).astype(np.float32)
    snr[rng.random(snr.shape) < MISSING] = np.nan
    snr[np.isnan(snr).all(1), 0] = 10.0          # the reader drops sweeps with no beam at all
    return SimpleNamespace(csi_t=csi_t, csi=rng.normal(size=(len(csi_t), EMBED)).astype(np.float32),
                           snr_t=snr_t, snr_x=snr, pose_t=pose_t, pose_xy=xy)


@pytest.fixture(scope="module")
def train_set(recording) -> track_data.TrackWindowDataset:
    windows = track_data.split_windows(track_data.parse_split("random"), recording, WINDOW_S, seed=0)["train"]
    norm = track_data.fit_normalisers(windows, recording.csi, recording.snr_x)
    streams = track_data.TrackStreams(csi_t=recording.csi_t, csi=norm.csi(recording.csi),
                                      snr_t=recording.snr_t, snr=norm.snr(recording.snr_x))
    return track_data.TrackWindowDataset(windows, streams, norm.xy)


def collate(dataset, n: int = 4, fill=None):
    """A batch of the first ``n`` windows; ``fill`` replaces the missing sectors by a number first."""
    items = [dataset[i] for i in range(n)]
    if fill is not None:
        items = [{**it, "snr": torch.nan_to_num(it["snr"], nan=fill)} for it in items]
    return track_data.make_collate(dataset.windows.query_t, ("csi", "snr"))(items)


def test_normaliser_ignores_nan_per_feature():
    values = np.array([[0.0, np.nan], [5.0, 1.0], [np.nan, 9.0], [2.0, 3.0]])
    scaler = track_data.MinMax.fit(values)
    # each extreme sits in a row where the other feature is missing
    assert (scaler.low, scaler.high) == ([0.0, 1.0], [5.0, 9.0])
    np.testing.assert_allclose(scaler(values), [[0, np.nan], [1, 0], [np.nan, 1], [0.4, 0.25]], rtol=1e-6)
    with pytest.raises(ConfigError, match=r"feature\(s\) \[1\] of 2 have no finite value"):
        track_data.MinMax.fit(np.array([[1.0, np.nan], [2.0, np.nan]]))


def test_normaliser_of_the_snr_band_sees_every_sector(recording, train_set):
    snr = recording.snr_x[track_data.frames_in_windows(train_set.windows.snr_range, len(recording.snr_x))]
    scaler = track_data.fit_normalisers(train_set.windows, None, recording.snr_x, input_scaling="minmax").snr
    np.testing.assert_allclose(scaler.low, np.nanmin(snr, 0))
    np.testing.assert_allclose(scaler.high, np.nanmax(snr, 0))


def test_items_keep_missing_sectors_as_nan(recording, train_set):
    lo, hi = train_set.windows.snr_range[0]
    item = train_set[0]
    np.testing.assert_array_equal(torch.isnan(item["snr"]).numpy(), np.isnan(recording.snr_x[lo:hi]))
    assert 0.1 < torch.isnan(item["snr"]).float().mean() < 0.35


def test_collate_masks_each_missing_sector(train_set):
    batch = collate(train_set)
    snr = batch.snr
    assert snr.mask.shape == snr.values.shape == (4, len(snr.times), BEAMS)     # [B, U, M]
    assert batch.csi.mask.shape == (4, len(batch.csi.times))                   # CSI: per frame
    for b in range(4):
        item = train_set[b]
        at = torch.searchsorted(snr.times, item["snr_t"])
        missing = torch.isnan(item["snr"])
        assert torch.equal(snr.mask[b, at], (~missing).float())
        assert torch.equal(snr.values[b, at][missing], torch.zeros(int(missing.sum())))
        assert torch.equal(snr.values[b, at][~missing], item["snr"][~missing])
    assert torch.isfinite(snr.values).all()


MODELS = [("ndf", ("csi", "snr")), ("ddnd", ("snr",)), ("linear_int", ("csi", "snr")),
          ("nearest_int", ("csi", "snr")), ("rnn_decay", ("csi", "snr")), ("rnn_dt", ("csi", "snr"))]


@pytest.mark.parametrize("name,bands", MODELS)
def test_every_model_trains_on_missing_sectors(train_set, name, bands):
    config = load_track_config("tiny")
    config.model = dataclasses.replace(config.model, csi_dim=EMBED, snr_dim=BEAMS)
    torch.manual_seed(0)
    model = create_track_model(name, bands=bands, config=config)
    batch = collate(train_set)
    model.train()
    loss, parts = track_loss(model(batch), batch, config.loss)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(v) for v in parts.values()), parts
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)

    # whatever lies under mask 0 is never read, by the model nor by the loss (NDF's reconstruction)
    junk = dataclasses.replace(batch, snr=dataclasses.replace(
        batch.snr, values=torch.where(batch.snr.mask > 0, batch.snr.values, 1e3)))
    with torch.no_grad():
        torch.manual_seed(1)                 # the same z0 sample for both (NDF samples in training)
        reference = track_loss(model(batch), batch, config.loss)[0]
        torch.manual_seed(1)
        torch.testing.assert_close(track_loss(model(junk), junk, config.loss)[0], reference)
        model.eval()
        xy = model(batch).xy
        torch.testing.assert_close(model(junk).xy, xy)
        # a missing sector is not an observed reading of 0 (the normalised minimum)
        assert not torch.allclose(xy, model(collate(train_set, fill=0.0)).xy)
