"""No hidden global state: building models and drawing training augmentation leave the caller's RNGs alone, and caches belong to their model."""

import random

import numpy as np
import torch
from test_caption_augment import clip_items, tiny_spec

from wifisense.caption.config import load_caption_config
from wifisense.caption.data import ClipCollate
from wifisense.caption.offline_lm import train_caption_lm
from wifisense.caption.teacher import CaptionTeacher
from wifisense.caption.stages import pick_captions
from wifisense.training.seeding import capture_rng_state

CORPUS = [
    "a person raises the left arm",
    "a person raises the right arm",
    "someone waves the right hand twice",
    "the person turns clockwise",
    "a person kicks with the left leg",
]
SMALL_LM = dict(vocab_size=300, n_layer=1, n_embd=32, n_head=2, n_positions=64, max_prefix_length=4, steps=8,
                batch_size=4)


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_offline_lm_leaves_the_global_torch_rng_as_it_found_it():
    torch.manual_seed(1234)
    before = torch.random.get_rng_state()
    expected_next = torch.rand(4)                      # what the caller would draw next without the LM
    torch.random.set_rng_state(before)
    train_caption_lm(CORPUS, seed=0, **SMALL_LM)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(torch.rand(4), expected_next)


def test_offline_lm_is_deterministic_for_a_seed_whatever_the_global_rng():
    torch.manual_seed(1)
    first, tokenizer = train_caption_lm(CORPUS, seed=5, **SMALL_LM)
    torch.manual_seed(2)                               # a different caller state changes nothing
    torch.rand(100)
    second, _ = train_caption_lm(CORPUS, seed=5, **SMALL_LM)
    a, b = _weights(first), _weights(second)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other, _ = train_caption_lm(CORPUS, seed=6, **SMALL_LM)
    assert not all(torch.equal(a[k], v) for k, v in _weights(other).items())
    ids = tokenizer(CORPUS[0], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(first(input_ids=ids).logits, second(input_ids=ids).logits, rtol=0, atol=0)


def test_teacher_feature_caches_belong_to_each_teacher():
    config = load_caption_config("tiny")
    one = CaptionTeacher(config.teacher, config.embed_dim).eval()
    two = CaptionTeacher(config.teacher, config.embed_dim).eval()
    assert one.text_cache is not two.text_cache and one.frame_cache is not two.frame_cache
    one.encode_text(CORPUS[:2])
    assert len(one.text_cache) == 2 and len(two.text_cache) == 0


def test_caption_training_draws_leave_every_global_rng_alone():
    items = clip_items(4)
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)
    before = capture_rng_state()
    batch = ClipCollate(tiny_spec(), time_shift=True, seed=0)(items)
    pick_captions(batch["captions"], batch["caption_draw"])
    after = capture_rng_state()
    assert torch.equal(after["torch"], before["torch"]) and after["python"] == before["python"]
    assert torch.equal(after["numpy"]["key"], before["numpy"]["key"]) and after["numpy"]["pos"] == before["numpy"]["pos"]


def test_track_predict_plot_leaves_the_matplotlib_backend_alone(tmp_path):
    import matplotlib

    from wifisense.track.commands import _plot_trajectory

    (tmp_path / "config.json").write_text('{"task": {"room": [0, 0, 4, 3]}}')
    original = matplotlib.get_backend()
    matplotlib.use("svg")                  # a caller's choice, which library code must keep
    try:
        _plot_trajectory(tmp_path, np.array([[1.0, 1.0], [2.0, 1.5], [3.0, 2.0]]), tmp_path / "path.png")
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(original)
    assert (tmp_path / "path.png").read_bytes().startswith(b"\x89PNG")
