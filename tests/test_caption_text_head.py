"""The teacher's text head: attention pooling over frozen MiniLM tokens, and the mirror hinge acting on it."""

import pytest
import torch

from wifisense.caption.config import TeacherConfig
from wifisense.caption.mirror import MirrorConsistencyLoss, swap_directions
from wifisense.caption.teacher import AttentionTextPooling, CaptionTeacher, FeatureCache, masked_mean
from wifisense.caption.stages import StageModel, teacher_parts
from wifisense.nn.contrastive import ContrastiveLoss

CAPTIONS = ["a person standing raises the left arm out to the side",
            "someone sitting turns the torso to the right",
            "a standing person nods the head"]


@pytest.fixture(scope="module")
def teacher_config() -> TeacherConfig:
    return TeacherConfig(frame_encoder="cnn", cnn_width=4, cnn_dim=16, frame_size=32, text_encoder="minilm",
                         num_frames=4, temporal_dim=16, temporal_layers=1, temporal_heads=2, max_text_tokens=32,
                         text_pooling="attention")


def test_attention_pooling_starts_as_mean_pooling_and_ignores_padding():
    torch.manual_seed(0)
    tokens = torch.randn(2, 5, 6)
    mask = torch.tensor([[True, True, True, False, False], [True] * 5])
    pooling = AttentionTextPooling(6)
    out = pooling(tokens, mask)
    assert out.shape == (2, 12)
    mean = torch.stack([tokens[0, :3].mean(0), tokens[1].mean(0)])
    torch.testing.assert_close(out[:, :6], mean)
    torch.testing.assert_close(out[:, 6:], mean)                  # zero scores = uniform weights
    garbage = tokens.clone()
    garbage[0, 3:] = 1e6                                          # padded positions never leak in
    torch.testing.assert_close(pooling(garbage, mask)[0], out[0])
    with torch.no_grad():                                         # a score can single out one token
        pooling.score.weight.copy_(100.0 * tokens[1, 2] / tokens[1, 2].norm())
    torch.testing.assert_close(pooling(tokens, mask)[1, 6:], tokens[1, 2], atol=1e-3, rtol=1e-3)


def test_sequence_cache_pads_and_computes_only_missing_keys():
    cache, computed = FeatureCache(), []

    def compute(rows):
        computed.append(list(rows))
        return [torch.full((len(keys[i]), 2), float(len(keys[i]))) for i in rows]

    keys = ["ab", "abcd"]
    padded, mask = cache.get_or_compute_sequences(keys, compute)
    assert padded.shape == (2, 4, 2) and mask.sum(1).tolist() == [2, 4]
    assert padded[0, 2:].abs().sum() == 0 and padded[1, 3, 0] == 4.0
    keys = ["abcd", "abc"]
    padded, mask = cache.get_or_compute_sequences(keys, compute)
    assert padded.shape == (2, 4, 2) and mask.sum(1).tolist() == [4, 3]
    assert computed == [[0], [1], [1]]  # each key alone


def test_teacher_text_head_caches_tokens_and_matches_uncached(teacher_config):
    teacher = CaptionTeacher(teacher_config, embed_dim=8).eval()
    assert teacher.text_projection.in_features == 2 * teacher.text_encoder.out_dim
    assert "text_pooling" in teacher_parts(teacher)
    cached = teacher.encode_text(CAPTIONS)
    assert len(teacher.text_cache) == 3
    teacher.config.cache_frozen_features = False
    try:
        torch.testing.assert_close(teacher.encode_text(CAPTIONS), cached, atol=1e-5, rtol=1e-5)
        # the mean half of the head is the sentence encoder's usual mean pooling
        torch.testing.assert_close(teacher.text_features(CAPTIONS), teacher.text_encoder(CAPTIONS))
    finally:
        teacher.config.cache_frozen_features = True
    torch.testing.assert_close(masked_mean(*teacher.text_token_features(CAPTIONS)), teacher.text_encoder(CAPTIONS),
                               atol=1e-5, rtol=1e-5)


def _text_margin(teacher, video, captions):
    with torch.no_grad():
        text = teacher.encode_text(captions)
        mirrored = teacher.encode_text([swap_directions(c) for c in captions])
    return ((video * text).sum(-1) - (video * mirrored).sum(-1)).mean().item()


def test_mirror_hinge_training_separates_a_caption_from_its_direction_swap(teacher_config):
    torch.manual_seed(0)
    teacher = CaptionTeacher(teacher_config, embed_dim=8).train()
    captions = CAPTIONS[:2]
    video = torch.nn.functional.normalize(torch.randn(2, 8), dim=-1)   # fixed anchors: only the text head moves
    mirror = MirrorConsistencyLoss("full", margin=0.2)
    head = [*teacher.text_pooling.parameters(), *teacher.text_projection.parameters()]
    optimizer = torch.optim.Adam(head, lr=1e-2)
    before = _text_margin(teacher, video, captions)
    for _ in range(30):
        text = teacher.encode_text(captions)
        mirrored = teacher.encode_text([swap_directions(c) for c in captions])
        loss = mirror.teacher_loss(video, text, -video, mirrored)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = _text_margin(teacher, video, captions)
    assert after > before + 0.1 and after > 0.2
    assert teacher.text_pooling.score.weight.abs().sum() > 0      # the attention learnt where to look


@pytest.mark.parametrize("mode", ["none", "teacher"])
def test_s1_without_mirror_never_calls_the_hinge(teacher_config, monkeypatch, mode):
    import wifisense.caption.mirror as mirror_module

    calls = []
    real = mirror_module.mirror_hinge
    monkeypatch.setattr(mirror_module, "mirror_hinge", lambda *a, **k: calls.append(1) or real(*a, **k))
    teacher = CaptionTeacher(teacher_config, embed_dim=8)
    model = StageModel("s1", {"teacher": teacher_parts(teacher), "loss": ContrastiveLoss(0.07),
                              "mirror": MirrorConsistencyLoss(mode)},
                       {"teacher": teacher, "class_aware": True, "device": torch.device("cpu")})
    batch = {"frames": torch.randint(0, 256, (3, 4, 32, 32, 3), dtype=torch.uint8), "index": torch.arange(3),
             "captions": [[c] for c in CAPTIONS], "class_id": torch.arange(3), "caption_draw": [0.0] * 3}
    loss, metrics = model(batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert (calls == [1, 1]) == (mode == "teacher") and ("mirror" in metrics) == (mode == "teacher")
    assert not calls if mode == "none" else len(calls) == 2
    # s2-2's text-only hinge runs in full mode only
    student_loss = MirrorConsistencyLoss(mode).student_loss(torch.randn(2, 8), torch.randn(2, 8), torch.randn(2, 8))
    assert student_loss.item() == 0.0 and len(calls) == (2 if mode == "teacher" else 0)
