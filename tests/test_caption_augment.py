"""Caption training draws (time shifts, paraphrase picks): a function of (seed, epoch, clip), with workers and resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wifisense.caption.data import CaptionInputSpec, ClipCollate, random_time_shifts, roll_time
from wifisense.caption.stages import pick_captions
from wifisense.errors import ConfigError
from wifisense.training import TrainConfig, Trainer, build_loader

R, T, A, S = 2, 16, 2, 3
PARAPHRASES = [f"caption {k}" for k in range(5)]


def tiny_spec() -> CaptionInputSpec:
    zeros, ones = [[0.0] * S] * A, [[1.0] * S] * A
    return CaptionInputSpec(num_receivers=R, num_steps=T, num_antenna_pairs=A, subcarriers=list(range(S)),
                            sample_rate_hz=16.0, amplitude_mean=zeros, amplitude_std=ones, phase_mean=zeros,
                            phase_std=ones)


def clip_items(n: int) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    csi = torch.complex(torch.randn(n, R, T, A, S, generator=g), torch.randn(n, R, T, A, S, generator=g))
    return [{"index": i, "csi": csi[i], "rx_valid": torch.ones(R, dtype=torch.bool),
             "class_id": torch.tensor(i % 3), "captions": PARAPHRASES} for i in range(n)]


def test_the_same_seed_and_epoch_give_the_same_shifts_and_picks():
    items = clip_items(12)
    one, two = ClipCollate(tiny_spec(), time_shift=True, seed=3), ClipCollate(tiny_spec(), time_shift=True, seed=3)
    a, b = one(items), two(items)
    assert torch.equal(a["amplitude"], b["amplitude"]) and torch.equal(a["phase"], b["phase"])
    assert a["caption_draw"] == b["caption_draw"]
    assert pick_captions(a["captions"], a["caption_draw"]) == pick_captions(b["captions"], b["caption_draw"])
    other = ClipCollate(tiny_spec(), time_shift=True, seed=4)(items)
    assert other["caption_draw"] != a["caption_draw"]
    # The shift is the clip's own draw: the unshifted features rolled by random_time_shifts.
    plain = ClipCollate(tiny_spec(), seed=3)(items)
    shift = random_time_shifts(plain["index"], T, seed=3, epoch=0)
    assert torch.equal(a["amplitude"], roll_time(plain["amplitude"], shift))
    assert len(set(shift.tolist())) > 1 and 0 <= shift.min() and shift.max() < T
    # A clip's draw is its own, whatever batch it lands in.
    assert one(items[5:7])["caption_draw"] == a["caption_draw"][5:7]


def test_every_epoch_draws_anew_even_when_one_batch_is_the_whole_training_set():
    items = clip_items(6)
    collate = ClipCollate(tiny_spec(), time_shift=True, seed=0)
    first = collate(items)
    collate.set_epoch(1)
    second = collate(items)
    assert not torch.equal(first["amplitude"], second["amplitude"])
    assert first["caption_draw"] != second["caption_draw"]
    collate.set_epoch(0)
    assert torch.equal(collate(items)["amplitude"], first["amplitude"])


def test_pick_captions_picks_by_draw_and_the_first_without():
    captions = [PARAPHRASES, PARAPHRASES[:2], PARAPHRASES[:1]]
    assert pick_captions(captions, None) == ["caption 0"] * 3
    assert pick_captions(captions, [0.99, 0.5, 0.7]) == ["caption 4", "caption 1", "caption 0"]
    assert pick_captions(captions, [1.0, 1.0, 1.0]) == ["caption 4", "caption 1", "caption 0"]


def test_evaluation_collate_draws_nothing_and_a_shift_needs_a_seed():
    batch = ClipCollate(tiny_spec())(clip_items(2))
    assert "caption_draw" not in batch
    with pytest.raises(ConfigError, match="needs a seed"):
        ClipCollate(tiny_spec(), time_shift=True)


def _epoch_batches(loader, epoch: int) -> list[dict]:
    loader.sampler.set_epoch(epoch)
    loader.collate_fn.set_epoch(epoch)
    return list(loader)


def test_workers_draw_what_one_process_draws_and_never_repeat_each_other():
    items = clip_items(16)

    def loader(workers: int):
        return build_loader(items, 4, seed=1, num_workers=workers,
                            collate_fn=ClipCollate(tiny_spec(), time_shift=True, seed=1))

    alone, parallel = loader(0), loader(2)
    for epoch in (0, 1):
        for a, b in zip(_epoch_batches(alone, epoch), _epoch_batches(parallel, epoch), strict=True):
            assert torch.equal(a["index"], b["index"]) and torch.equal(a["amplitude"], b["amplitude"])
            assert a["caption_draw"] == b["caption_draw"]
    draws = [u for batch in _epoch_batches(parallel, 0) for u in batch["caption_draw"]]
    assert len(set(draws)) == len(items)      # each worker's batches got their own draws


class DrawModel(nn.Module):
    """Fits the mean amplitude of each time step and the paraphrase draw (so both reach the weights)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(T, 1)

    def forward(self, batch):
        x = batch["amplitude"].mean(dim=(1, 3, 4))                        # [B, T], depends on the shift
        target = torch.tensor(batch["caption_draw"], dtype=x.dtype)
        loss = ((self.linear(x).squeeze(1) - target) ** 2).mean()
        return loss, {}


class Crash(Exception):
    pass


def _trainer(run_dir, crash_at: int | None = None) -> Trainer:
    torch.manual_seed(0)
    model = DrawModel()
    calls = {"n": 0}

    def step(model, batch):
        calls["n"] += model.training
        if calls["n"] == crash_at:
            raise Crash
        return model(batch)

    loader = build_loader(clip_items(20), 4, seed=2, collate_fn=ClipCollate(tiny_spec(), time_shift=True, seed=2))
    return Trainer(model, step_fn=step, optimizer=lambda p: torch.optim.SGD(p, lr=0.1), train_loader=loader,
                   config=TrainConfig(epochs=3, eval_every=3, log_every=1, seed=2, run_dir=str(run_dir), quiet=True))


def test_trainer_sets_the_collate_epoch_and_a_resumed_run_is_bit_identical(tmp_path):
    straight = _trainer(tmp_path / "straight")
    straight.fit()
    assert straight.train_loader.collate_fn.epoch == 2
    crashed = _trainer(tmp_path / "crashed", crash_at=8)   # checkpoint at step 6: resume mid-epoch 2
    with pytest.raises(Crash):
        crashed.fit()
    torch.manual_seed(123)
    resumed = _trainer(tmp_path / "crashed")
    resumed.fit(resume=True)
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
