"""PrefixLM on tiny GPT-2, Qwen2 (grouped-query attention) and phi (partial rotary) LMs loaded by path."""

import pytest
import torch

from wifisense.caption.offline_lm import train_caption_lm, train_caption_tokenizer
from wifisense.caption.prefix_lm import PrefixLM, encode_captions
from wifisense.caption.pretrained import load_pretrained
from wifisense.caption.student import CSIStudent
from wifisense.errors import ConfigError

CORPUS = [
    "a person raises the left arm",
    "a person raises the right arm",
    "someone waves the right hand twice",
    "the person turns clockwise",
    "the person turns counterclockwise",
    "a man kicks with the left leg",
    "a person nods the head slowly",
    "a person bends the torso forward",
]
EMBED_DIM = 16


def _tiny_config(arch: str, vocab_size: int):
    from transformers import GPT2Config, PhiConfig, Qwen2Config
    if arch == "gpt2":
        return GPT2Config(vocab_size=vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=4)
    if arch == "qwen2":
        return Qwen2Config(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return PhiConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, partial_rotary_factor=0.5, max_position_embeddings=64)


@pytest.fixture(scope="module", params=["gpt2", "qwen2", "phi"])
def saved_lm(request, tmp_path_factory):
    """A randomly initialised tiny LM of each architecture, saved with its tokenizer like a hub checkpoint."""
    from transformers import AutoModelForCausalLM
    torch.manual_seed(0)
    tokenizer = train_caption_tokenizer(CORPUS, vocab_size=300)
    model = AutoModelForCausalLM.from_config(_tiny_config(request.param, len(tokenizer)))
    path = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return request.param, path


def _prefix_lm(path, seed=0, **kwargs):
    torch.manual_seed(seed)
    lm = load_pretrained(path, "causal_lm")
    tokenizer = load_pretrained(path, "tokenizer")
    return PrefixLM(lm, tokenizer, EMBED_DIM, prefix_length=3, hidden_dim=32, **kwargs)


def _amplify(model: PrefixLM, scale: float = 8.0) -> PrefixLM:
    # Default-initialised prefixes are small; larger ones make prefix effects obvious in a random LM.
    with torch.no_grad():
        model.prefix_mapper[-1].weight.mul_(scale)
    return model


def test_loaded_by_path_with_geometry_of_the_lm(saved_lm):
    arch, path = saved_lm
    model = _prefix_lm(path)
    expected = {"gpt2": (2, 4, 8), "qwen2": (3, 2, 8), "phi": (2, 4, 8)}[arch]
    g = model.geometry
    assert (g.num_layers, g.num_kv_heads, g.head_dim) == expected
    # The LM's own cache must have exactly the shapes the prefixes get.
    ids = torch.tensor([[model.start_id, 5, 6]])
    cache = model.lm(input_ids=ids, use_cache=True).past_key_values
    assert len(cache.layers) == g.num_layers
    for layer, (keys, values) in zip(cache.layers, model.prefix_key_values(torch.randn(1, EMBED_DIM))):
        assert layer.keys.shape[:2] == keys.shape[:2] and layer.keys.shape[-1] == keys.shape[-1]
        assert keys.shape == values.shape == (1, g.num_kv_heads, 3, g.head_dim)


def test_training_step_changes_only_the_prefix_mapper(saved_lm):
    _, path = saved_lm
    model = _prefix_lm(path).train()
    assert not model.lm.training and all(not p.requires_grad for p in model.lm.parameters())
    lm_before = {k: v.clone() for k, v in model.lm.state_dict().items()}
    mapper_before = {k: v.clone() for k, v in model.prefix_mapper.state_dict().items()}
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss = model.caption_loss(torch.randn(4, EMBED_DIM), CORPUS[:4])
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    for key, value in model.lm.state_dict().items():
        assert torch.equal(value, lm_before[key]), key
    assert any(not torch.equal(v, mapper_before[k]) for k, v in model.prefix_mapper.state_dict().items())


def test_loss_ignores_padding(saved_lm):
    _, path = saved_lm
    model = _prefix_lm(path)
    embedding = torch.randn(1, EMBED_DIM)
    ids, mask = encode_captions(model.tokenizer, [CORPUS[0]], 40)
    padded_ids = torch.cat([ids, torch.full((1, 5), 7)], dim=1)       # arbitrary tokens under a zero mask
    padded_mask = torch.cat([mask, torch.zeros(1, 5, dtype=torch.long)], dim=1)
    with torch.no_grad():
        loss, _ = model(embedding, ids, mask)
        padded_loss, _ = model(embedding, padded_ids, padded_mask)
    assert padded_loss.item() == pytest.approx(loss.item(), rel=1e-5)


def test_prefix_changes_the_output(saved_lm):
    _, path = saved_lm
    model = _amplify(_prefix_lm(path)).eval()
    start = torch.tensor([[model.start_id]])
    with torch.no_grad():
        plain = model.lm(input_ids=start).logits[0, -1]
        a, b = torch.randn(2, EMBED_DIM)
        with_a = model._lm_step(start, model.prefix_cache(a[None]), torch.ones(1, 4, dtype=torch.long))[0, -1]
        with_b = model._lm_step(start, model.prefix_cache(b[None]), torch.ones(1, 4, dtype=torch.long))[0, -1]
    assert not torch.allclose(plain, with_a, atol=1e-3)
    assert not torch.allclose(with_a, with_b, atol=1e-3)
    ids = model.generate_ids(torch.randn(6, EMBED_DIM), max_new_tokens=8)
    assert len({tuple(row.tolist()) for row in ids}) > 1


def test_batched_greedy_equals_one_by_one_and_beam_one_equals_greedy(saved_lm):
    _, path = saved_lm
    model = _amplify(_prefix_lm(path)).eval()
    embeddings = torch.randn(5, EMBED_DIM, generator=torch.Generator().manual_seed(1))
    batched = model.greedy_ids(embeddings, max_new_tokens=10)
    for i in range(5):
        single = model.greedy_ids(embeddings[i:i + 1], max_new_tokens=10)[0]
        row = batched[i]
        assert torch.equal(row[: len(single)], single)
        assert bool((row[len(single):] == model.pad_id).all())
    assert torch.equal(model.beam_search_ids(embeddings, max_new_tokens=10, num_beams=1), batched)
    texts = model.generate(embeddings, max_new_tokens=10, num_beams=3)
    assert len(texts) == 5 and all(isinstance(t, str) for t in texts)


def test_hand_greedy_matches_transformers_generate_on_the_same_prefix_cache(saved_lm):
    # generate() wants ids for the cached positions too, so dummy ids stand in for the prefix;
    # agreeing with it shows the positions and masks after the prefix follow transformers' own.
    _, path = saved_lm
    model = _amplify(_prefix_lm(path)).eval()
    embeddings = torch.randn(3, EMBED_DIM, generator=torch.Generator().manual_seed(3))
    ids = torch.full((3, model.prefix_length + 1), model.start_id)
    with torch.no_grad():
        reference = model.lm.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                      **{model._cache_argument: model.prefix_cache(embeddings)}, max_new_tokens=8,
                                      do_sample=False, eos_token_id=model.end_id, pad_token_id=model.pad_id)
    assert model.decode(reference[:, ids.shape[1]:]) == model.generate(embeddings, max_new_tokens=8)


def test_beam_search_finds_a_sequence_at_least_as_likely_as_greedy(saved_lm):
    _, path = saved_lm
    model = _amplify(_prefix_lm(path)).eval()
    embeddings = torch.randn(4, EMBED_DIM, generator=torch.Generator().manual_seed(2))

    def sequence_logprob(ids):  # log-probability of the generated ids (up to and including the end token)
        start = torch.full((ids.shape[0], 1), model.start_id)
        full = torch.cat([start, ids], dim=1)
        cache = model.prefix_cache(embeddings)
        mask = torch.ones(ids.shape[0], model.prefix_length + full.shape[1], dtype=torch.long)
        logprobs = model._lm_step(full, cache, mask)[:, :-1].log_softmax(-1).gather(-1, ids[..., None])[..., 0]
        ended = (ids == model.end_id).long().cumsum(1)
        keep = (ended == 0) | ((ended == 1) & (ids == model.end_id))
        return (logprobs * keep).sum(1)

    with torch.no_grad():
        greedy = model.greedy_ids(embeddings, max_new_tokens=6)
        beam = model.beam_search_ids(embeddings, max_new_tokens=6, num_beams=4, length_penalty=0.0)
        width = max(greedy.shape[1], beam.shape[1])
        pad = lambda x: torch.nn.functional.pad(x, (0, width - x.shape[1]), value=model.pad_id)  # noqa: E731
        assert bool((sequence_logprob(pad(beam)) >= sequence_logprob(pad(greedy)) - 1e-4).all())


def test_missing_lm_gives_a_config_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="no-such-lm"):
        load_pretrained(tmp_path / "no-such-lm", "causal_lm")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="save_pretrained"):
        load_pretrained(empty, "causal_lm")


def test_hub_name_missing_offline_gives_a_config_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="wifisense-test/not-a-model.*hf download"):
        load_pretrained("wifisense-test/not-a-model", "causal_lm")


def test_offline_lm_round_trips_through_auto_classes(tmp_path):
    model, tokenizer = train_caption_lm(CORPUS, tmp_path / "lm", vocab_size=300, n_layer=1, n_embd=32, n_head=2,
                                        n_positions=64, steps=5, batch_size=8)
    lm = load_pretrained(tmp_path / "lm", "causal_lm")
    loaded_tokenizer = load_pretrained(tmp_path / "lm", "tokenizer")
    assert type(lm).__name__ == "GPT2LMHeadModel"
    ids = loaded_tokenizer(CORPUS[1], add_special_tokens=False)["input_ids"]
    assert ids == tokenizer(CORPUS[1], add_special_tokens=False)["input_ids"]
    assert loaded_tokenizer.decode(ids) == CORPUS[1]
    for key, value in model.state_dict().items():
        assert torch.equal(value, lm.state_dict()[key]), key


@pytest.mark.slow
def test_student_and_prefix_lm_memorise_eight_captions(tmp_path):
    """Student + prefix MLP trained jointly on 8 random CSI clips reproduce their 8 captions exactly."""
    torch.manual_seed(0)
    train_caption_lm(CORPUS, tmp_path / "lm", vocab_size=300, n_layer=2, n_embd=64, n_head=2, n_positions=64,
                     max_prefix_length=4, steps=100, batch_size=8, learning_rate=5e-3, seed=0)
    torch.manual_seed(0)
    prefix_lm = PrefixLM.from_pretrained(tmp_path / "lm", EMBED_DIM, prefix_length=4, hidden_dim=64)
    student = CSIStudent(in_channels=3, embed_dim=EMBED_DIM, num_receivers=2, resnet_width=4)
    amplitude, phase = torch.randn(2, 8, 2, 32, 3, 16)
    rx_valid = torch.ones(8, 2, dtype=torch.bool)
    params = [p for p in [*student.parameters(), *prefix_lm.parameters()] if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=3e-3)
    input_ids, attention_mask = encode_captions(prefix_lm.tokenizer, CORPUS, 32)
    student.train(), prefix_lm.train()
    for _ in range(80):
        loss, _ = prefix_lm(student(amplitude, phase, rx_valid), input_ids, attention_mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    student.eval(), prefix_lm.eval()
    with torch.no_grad():
        captions = prefix_lm.generate(student(amplitude, phase, rx_valid), max_new_tokens=40)
    assert captions == CORPUS, f"final loss {loss.item():.4f}"
