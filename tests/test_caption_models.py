"""Caption model parts: ResNet-18, gated fusion, InfoNCE, CSI student, teacher encoders, configs and factory."""

import dataclasses
import math

import pytest
import torch

from wifisense.caption.config import OFFLINE_LM, CaptionModelConfig, TeacherConfig, list_presets, load_caption_config
from wifisense.caption.mirror import MirrorConsistencyLoss
from wifisense.caption.offline_lm import train_caption_tokenizer
from wifisense.caption.prefix_lm import PrefixLM
from wifisense.caption.pretrained import load_pretrained
from wifisense.caption.student import CSIStudent, masked_mean
from wifisense.caption.teacher import CaptionTeacher, FeatureCache
from wifisense.errors import ConfigError
from wifisense.nn.contrastive import ContrastiveLoss, info_nce
from wifisense.nn.fusion import GatedFusion
from wifisense.nn.resnet import ResNet18


# ----------------------------------------------------------------------------- ResNet-18

def _torchvision_resnet18_keys() -> list[str]:
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    keys = ["conv1.weight", *[f"bn1.{k}" for k in bn]]
    for stage in range(1, 5):
        for block in range(2):
            p = f"layer{stage}.{block}"
            keys += [f"{p}.conv1.weight", *[f"{p}.bn1.{k}" for k in bn],
                     f"{p}.conv2.weight", *[f"{p}.bn2.{k}" for k in bn]]
            if stage > 1 and block == 0:
                keys += [f"{p}.downsample.0.weight", *[f"{p}.downsample.1.{k}" for k in bn]]
    return keys + ["fc.weight", "fc.bias"]


def test_resnet18_matches_torchvision_names_and_parameter_count():
    model = ResNet18()
    assert list(model.state_dict()) == _torchvision_resnet18_keys()
    assert sum(p.numel() for p in model.parameters()) == 11_689_512
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 1000)


def test_resnet18_input_channels_and_width():
    model = ResNet18(in_channels=9, num_classes=0, width=8)
    assert model.feature_dim == 64
    assert model.conv1.weight.shape == (8, 9, 7, 7)
    assert model(torch.randn(3, 9, 50, 30)).shape == (3, 64)
    # A 3-channel torchvision checkpoint loads into a CSI backbone once conv1/fc are dropped.
    rgb = {k: v for k, v in ResNet18(width=8).state_dict().items() if not k.startswith(("conv1.", "fc."))}
    missing, unexpected = model.load_state_dict(rgb, strict=False)
    assert missing == ["conv1.weight"] and unexpected == []


# ----------------------------------------------------------------------------- fusion, InfoNCE

@pytest.mark.parametrize("width", [2, 4, 8])
def test_resnet18_channels_last_gives_the_default_layouts_gradients(width, monkeypatch):
    """The channels-last fast path must give the default layout's gradients, including for the
    narrow strided 1x1 shortcuts oneDNN gets wrong on channels-last input
    (uxlfoundation/oneDNN#6035: wrong weight gradients, or a heap corruption that crashed the
    process within a few dozen steps)."""
    import wifisense.nn.resnet as resnet

    torch.manual_seed(0)
    net = resnet.ResNet18(in_channels=3, num_classes=0, width=width)
    x = torch.randn(8, 3, 32, 16)

    def grads(layout):
        monkeypatch.setattr(resnet, "channels_last", layout)
        net.zero_grad()
        net(x).square().sum().backward()
        return {name: p.grad.clone() for name, p in net.named_parameters()}

    fast = resnet.channels_last
    plain = grads(lambda t: t)
    for _ in range(30):           # repeated passes: the corruption showed only after several
        got = grads(fast)
    for name in plain:           # the same up to float rounding (measured: 1e-5 of each tensor's largest value)
        scale = plain[name].abs().max().clamp(min=1e-12)
        assert (got[name] - plain[name]).abs().max() / scale < 1e-3, name


def test_gated_fusion_is_a_sigmoid_gated_mix():
    fusion = GatedFusion(4)
    a, p = torch.randn(2, 4), torch.randn(2, 4)
    gate = torch.sigmoid(torch.cat([a, p], -1) @ fusion.gate.weight.T + fusion.gate.bias)
    torch.testing.assert_close(fusion(a, p), gate * a + (1 - gate) * p)
    with torch.no_grad():
        fusion.gate.weight.zero_()
        fusion.gate.bias.fill_(30.0)
    torch.testing.assert_close(fusion(a, p), a)
    with torch.no_grad():
        fusion.gate.bias.fill_(-30.0)
    torch.testing.assert_close(fusion(a, p), p)


def test_info_nce_equals_a_hand_computed_3x3_case():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    b = torch.tensor([[0.8, 0.6], [0.0, 1.0], [1.0, 0.0]])
    tau = 0.5
    sims = [[sum(x * y for x, y in zip(ra, rb)) / tau for rb in b.tolist()] for ra in a.tolist()]

    def row_loss(row, target):  # -log softmax(row)[target] with an explicit log-sum-exp
        top = max(row)
        return top + math.log(sum(math.exp(v - top) for v in row)) - row[target]

    a_to_b = sum(row_loss(sims[i], i) for i in range(3)) / 3
    columns = [[sims[r][c] for r in range(3)] for c in range(3)]
    b_to_a = sum(row_loss(columns[i], i) for i in range(3)) / 3
    expected = (a_to_b + b_to_a) / 2
    assert info_nce(a, b, tau).item() == pytest.approx(expected, rel=1e-6)
    assert ContrastiveLoss(tau, learnable=False)(a, b).item() == pytest.approx(expected, rel=1e-6)


def test_contrastive_loss_learns_its_temperature():
    loss_fn = ContrastiveLoss(0.07, learnable=True)
    assert loss_fn.temperature.item() == pytest.approx(0.07, rel=1e-5)
    a, b = torch.randn(5, 8), torch.randn(5, 8)
    loss_fn(a, b).backward()
    assert loss_fn.logit_scale.grad is not None and loss_fn.logit_scale.grad.abs() > 0
    fixed = ContrastiveLoss(0.07, learnable=False)
    assert not any(True for _ in fixed.parameters())
    # Perfectly aligned, well separated pairs give a loss near zero; shuffled ones a large loss.
    eye = torch.eye(4)
    assert info_nce(eye, eye, 0.05).item() < 1e-6 < info_nce(eye, eye.roll(1, 0), 0.05).item()


# ----------------------------------------------------------------------------- student

@pytest.mark.parametrize("share", [False, True])
def test_student_ignores_an_invalid_receiver(share):
    torch.manual_seed(0)
    student = CSIStudent(in_channels=3, embed_dim=16, num_receivers=3, resnet_width=4,
                         share_across_receivers=share).train()
    amplitude, phase = torch.randn(2, 4, 3, 40, 3, 16)
    rx_valid = torch.tensor([[True, False, True], [True, True, True], [False, True, True], [True, True, False]])
    out = student(amplitude, phase, rx_valid)
    assert out.shape == (4, 16)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(4))
    changed_amplitude, changed_phase = amplitude.clone(), phase.clone()
    changed_amplitude[0, 1] = 1e3 * torch.randn_like(amplitude[0, 1])
    changed_phase[2, 0] = 1e3
    changed_amplitude[3, 2] = float("nan")   # even NaNs of a missing receiver stay out
    # Train mode: BatchNorm statistics too must not see the invalid receivers.
    torch.testing.assert_close(student(changed_amplitude, changed_phase, rx_valid), out)
    # ...while a valid receiver's input does change the output.
    changed_amplitude[1, 1] += 1.0
    assert not torch.allclose(student(changed_amplitude, changed_phase, rx_valid)[1], out[1])


def test_student_receiver_sharing_changes_only_the_parameter_count():
    separate = CSIStudent(3, 16, num_receivers=3, resnet_width=4, share_across_receivers=False)
    shared = CSIStudent(3, 16, num_receivers=3, resnet_width=4, share_across_receivers=True)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(separate) == 3 * count(shared)
    # Amplitude and phase backbones never share weights.
    encoder = shared.receivers[0]
    assert encoder.amplitude_backbone.conv1.weight.data_ptr() != encoder.phase_backbone.conv1.weight.data_ptr()


def test_masked_mean_and_no_valid_receiver():
    values = torch.tensor([[[1.0, 0.0], [3.0, 4.0], [100.0, 100.0]]])
    torch.testing.assert_close(masked_mean(values, torch.tensor([[True, True, False]])), torch.tensor([[2.0, 2.0]]))
    student = CSIStudent(3, 8, num_receivers=2, resnet_width=4).eval()
    out = student(torch.randn(2, 2, 32, 3, 16), torch.randn(2, 2, 32, 3, 16), torch.tensor([[False, False], [True, False]]))
    assert torch.equal(out[0], torch.zeros(8)) and out[1].norm().item() == pytest.approx(1.0, rel=1e-5)


# ----------------------------------------------------------------------------- teacher

CAPTIONS = ["a person raises the left arm", "a person raises the right arm", "someone nods the head"]


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    """A randomly initialised tiny CLIPModel with a tokenizer, saved like a hub checkpoint."""
    from transformers import CLIPConfig, CLIPModel
    torch.manual_seed(0)
    tokenizer = train_caption_tokenizer(CAPTIONS, vocab_size=280)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=32),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8),
        projection_dim=24)
    path = tmp_path_factory.mktemp("clip")
    CLIPModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _frames(batch=2, length=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, length, 40, 48, 3), dtype=torch.uint8, generator=g)


def test_teacher_with_clip_towers_loaded_by_path_caches_frozen_features(tiny_clip_dir):
    config = TeacherConfig(frame_encoder="clip", clip_model=str(tiny_clip_dir), text_encoder="clip",
                           num_frames=4, temporal_dim=32, temporal_layers=1, temporal_heads=4, max_text_tokens=32)
    teacher = CaptionTeacher(config, embed_dim=16).train()
    assert teacher.frame_encoder.out_dim == 24 and teacher.text_encoder.out_dim == 24
    assert teacher.frame_size == 32
    from transformers import CLIPModel
    full = CLIPModel.from_pretrained(tiny_clip_dir)   # the towers carry the checkpoint's own projections
    assert torch.equal(teacher.frame_encoder.model.visual_projection.weight, full.visual_projection.weight)
    assert torch.equal(teacher.text_encoder.model.text_projection.weight, full.text_projection.weight)
    frozen = [*teacher.frame_encoder.parameters(), *teacher.text_encoder.parameters()]
    assert frozen and all(not p.requires_grad for p in frozen)
    assert not teacher.frame_encoder.training and not teacher.text_encoder.training

    calls = []
    teacher.frame_encoder.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    frames = _frames()
    video, text = teacher(frames, CAPTIONS[:2], sample_ids=["clip-a", "clip-b"])
    assert video.shape == text.shape == (2, 16)
    torch.testing.assert_close(video.norm(dim=-1), torch.ones(2))
    assert calls == [4, 4]                                # 2 clips x 4 frames, each clip alone
    again = teacher.encode_video(frames, sample_ids=["clip-a", "clip-b"])
    assert calls == [4, 4]                                # served from the cache
    teacher.eval()
    torch.testing.assert_close(teacher.encode_video(frames, ["clip-a", "clip-b"]),
                               teacher.encode_video(frames))  # cached == recomputed
    flipped = teacher.encode_video(frames, sample_ids=["clip-a", "clip-b"], flip=True)
    assert len(teacher.frame_cache) == 4 and not torch.allclose(flipped, again)
    assert len(teacher.text_cache) == 2
    (video.sum() + text.sum()).backward()
    assert teacher.video_projection.weight.grad is not None and teacher.text_projection.weight.grad is not None
    assert teacher.temporal.position.grad is not None
    # attention pooling reads the CLIP tower's token states (its hidden size, before CLIP's own projection)
    attention = CaptionTeacher(dataclasses.replace(config, text_pooling="attention"), embed_dim=16)
    assert attention.text_projection.in_features == 2 * attention.text_encoder.token_dim
    assert attention.encode_text(CAPTIONS[:2]).shape == (2, 16)


def _training_losses(config: CaptionModelConfig) -> dict[str, torch.nn.Module]:
    """The losses as caption training builds them (CaptionPipeline.new_loss / new_mirror)."""
    loss = config.loss
    return {"contrastive": ContrastiveLoss(loss.temperature, loss.learnable_temperature),
            "mirror": MirrorConsistencyLoss(loss.mirror_mode, loss.mirror_margin, loss.mirror_weight)}


def test_tiny_preset_teacher_trains_its_cnn_and_uses_packaged_minilm():
    config = load_caption_config("tiny")
    teacher = CaptionTeacher(config.teacher, config.embed_dim).train()
    CSIStudent.from_config(config.student, config.embed_dim)   # the tiny student builds next to it
    assert type(teacher.text_encoder.model).__name__ == "BertModel"
    text = teacher.encode_text(CAPTIONS)
    assert text.shape == (3, 64)
    similar = (text[0] @ text[1]).item()      # MiniLM is pretrained: left/right arm captions are close
    assert similar > (text[0] @ text[2]).item()
    video = teacher.encode_video(_frames(3, 8), sample_ids=[0, 1, 2])
    assert len(teacher.frame_cache) == 0      # the CNN trains, so its features are never cached
    _training_losses(config)["contrastive"](video, text).backward()
    assert teacher.frame_encoder.head.weight.grad is not None


def test_feature_cache_computes_only_missing_keys_each_alone():
    cache, computed = FeatureCache(), []

    def compute(rows):
        computed.append(list(rows))
        return torch.tensor([[float(keys[i])] for i in rows])

    keys = [3, 5]
    assert cache.get_or_compute(keys, compute).tolist() == [[3.0], [5.0]]
    keys = [5, 7, 3]
    assert cache.get_or_compute(keys, compute).tolist() == [[5.0], [7.0], [3.0]]
    # one key per call: a cached feature never depends on which keys missed with it
    assert computed == [[0], [1], [1]] and len(cache) == 3


# ----------------------------------------------------------------------------- configs and building from them

def test_presets_load_and_overrides_apply():
    assert {"tiny", "paper"} <= set(list_presets())
    paper = load_caption_config("paper")
    assert (paper.student.resnet_width, paper.teacher.clip_model, paper.prefix_lm.lm) == \
        (64, "openai/clip-vit-base-patch32", "gpt2")
    tiny = load_caption_config("tiny", {"student.resnet_width": 4, "loss": {"mirror_mode": "teacher"}})
    assert tiny.student.resnet_width == 4 and tiny.loss.mirror_mode == "teacher"
    assert tiny.loss.mirror_margin == load_caption_config("tiny").loss.mirror_margin
    assert isinstance(tiny, CaptionModelConfig)


def test_bad_configs_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match="student: unknown field.*resnet_depth"):
        load_caption_config("tiny", {"student.resnet_depth": 50})
    with pytest.raises(ConfigError, match="loss.mirror_mode"):
        load_caption_config("tiny", {"loss.mirror_mode": "sometimes"})
    with pytest.raises(ConfigError, match="unknown caption preset 'huge'"):
        load_caption_config("huge")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="broken.json"):
        load_caption_config(broken)


def _prefix_lm(config: CaptionModelConfig) -> PrefixLM:
    """The prefix LM of a config as caption training loads it (load_caption_run)."""
    p = config.prefix_lm
    return PrefixLM.from_pretrained(p.lm, config.embed_dim, prefix_length=p.prefix_length, hidden_dim=p.hidden_dim,
                                    max_caption_tokens=p.max_caption_tokens)


def test_tiny_preset_needs_the_trained_offline_lm_and_builds_a_prefix_lm_from_a_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)                       # no directory named "offline" can stand in for the LM
    tiny = load_caption_config("tiny")
    assert tiny.prefix_lm.lm == OFFLINE_LM
    with pytest.raises(ConfigError, match="'offline'.*save_pretrained"):
        _prefix_lm(tiny)
    from transformers import GPT2Config, GPT2LMHeadModel
    tokenizer = train_caption_tokenizer(CAPTIONS, vocab_size=280)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2,
                               n_head=2)).save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    config = load_caption_config("tiny", {"prefix_lm.lm": str(tmp_path / "lm")})
    prefix_lm = _prefix_lm(config)
    assert prefix_lm.prefix_length == 4 and prefix_lm.geometry.num_layers == 2
    assert prefix_lm.caption_loss(torch.randn(2, 64), CAPTIONS[:2]).isfinite()
    losses = _training_losses(config)
    video, text = torch.nn.functional.normalize(torch.randn(2, 3, 64), dim=-1)
    assert losses["contrastive"](video, text).isfinite()
    assert losses["mirror"].teacher_loss(video, text, video.flip(-1), text.flip(-1)).isfinite()


def test_missing_clip_weights_give_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="clip_vision.*no-clip-here"):
        load_pretrained(tmp_path / "no-clip-here", "clip_vision")
