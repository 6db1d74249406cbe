"""The stage-1 video-text teacher: frame encoder + temporal Transformer, text encoder, projection heads.

Frames go through a frame encoder (the frozen CLIP vision tower, or offline a small CNN
trained here), get learned positional embeddings, pass a small temporal Transformer,
are mean-pooled and projected. Captions go through a frozen text tower (CLIP's, or
all-MiniLM-L6-v2 with mean pooling, optionally next to a learned attention pooling over
its token features) and a trainable projection. Both embeddings are
L2-normalised. Frozen-encoder outputs are cached by sample id / text so later epochs
skip the expensive encoder.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from wifisense.caption.config import TeacherConfig
from wifisense.caption.mirror import flip_frames
from wifisense.caption.pretrained import freeze, load_pretrained
from wifisense.nn.resnet import channels_last

# CLIP's pixel normalisation (openai/clip-vit-*), also used for the small CNN so the two
# frame encoders see identically prepared frames.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class FeatureCache:
    """Outputs of a frozen encoder kept on the CPU, keyed by sample id or text.

    ``get_or_compute(keys, compute)`` returns the stacked features for ``keys``, calling
    ``compute([position])`` for each key not seen before (it must return that key's features).

    Each key is computed alone, never batched with others: an encoder's output depends in
    its last bits on its batch (padding, blocked matmuls), so a feature must not depend on
    which keys happened to miss together. Otherwise a resumed run, or a stage run after a
    skipped one, would cache other values than an uninterrupted run and end elsewhere.
    """

    def __init__(self):
        self._store: dict[Hashable, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._store

    def clear(self) -> None:
        self._store.clear()

    def get_or_compute(self, keys: Sequence[Hashable], compute: Callable[[list[int]], torch.Tensor],
                       device: torch.device | str | None = None) -> torch.Tensor:
        for i, key in enumerate(keys):
            if key not in self._store:
                self._store[key] = compute([i])[0].detach().cpu()
        return torch.stack([self._store[key] for key in keys]).to(device)

    def get_or_compute_sequences(self, keys: Sequence[Hashable],
                                 compute: Callable[[list[int]], Sequence[torch.Tensor]],
                                 device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Like ``get_or_compute`` for variable-length ``[L_i, D]`` features: ``(padded [B, L, D], mask [B, L])``."""
        for i, key in enumerate(keys):  # one at a time, as in get_or_compute
            if key not in self._store:
                self._store[key] = compute([i])[0].detach().cpu()
        sequences = [self._store[key] for key in keys]
        lengths = torch.tensor([len(x) for x in sequences])
        padded = torch.nn.utils.rnn.pad_sequence(sequences, batch_first=True)
        mask = torch.arange(padded.shape[1])[None, :] < lengths[:, None]
        return padded.to(device), mask.to(device)


def prepare_frames(frames: torch.Tensor, size: int) -> torch.Tensor:
    """``[B, L, H, W, 3]`` uint8 (or float in [0, 1]) -> ``[B*L, 3, size, size]`` CLIP-normalised float."""
    x = frames.reshape(-1, *frames.shape[-3:]).permute(0, 3, 1, 2)
    x = x.float() / 255.0 if not torch.is_floating_point(frames) else x.float()
    # Resized as one batched tensor op instead of CLIPImageProcessor, which works image by image on PIL.
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = x.new_tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


class SmallCNNFrameEncoder(nn.Module):
    """Offline frame encoder: four stride-2 conv blocks, global average pooling, linear. Trained in stage 1.

    ``forward(pixels [N, 3, H, W]) -> [N, out_dim]``.
    """

    frozen = False

    def __init__(self, width: int = 32, out_dim: int = 256):
        super().__init__()
        channels = [3, width, 2 * width, 4 * width, 8 * width]
        blocks: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            blocks += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(channels[-1], out_dim)
        self.out_dim = out_dim

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(channels_last(pixels)))


class CLIPFrameEncoder(nn.Module):
    """Frozen CLIP vision tower with its projection (``image_embeds``), from a CLIPModel checkpoint.

    ``forward(pixels [N, 3, S, S]) -> [N, projection_dim]``.
    """

    frozen = True

    def __init__(self, name_or_path: str):
        super().__init__()
        self.model = freeze(load_pretrained(name_or_path, "clip_vision"))
        self.out_dim = self.model.config.projection_dim
        self.image_size = self.model.config.image_size

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixels).image_embeds


class CLIPTextEncoder(nn.Module):
    """Frozen CLIP text tower with its projection (``text_embeds``). ``forward(texts) -> [N, projection_dim]``."""

    def __init__(self, name_or_path: str, max_tokens: int = 77):
        super().__init__()
        self.model = freeze(load_pretrained(name_or_path, "clip_text"))
        self.tokenizer = load_pretrained(name_or_path, "tokenizer")
        self.out_dim = self.model.config.projection_dim
        self.token_dim = self.model.config.hidden_size
        self.max_tokens = min(max_tokens, self.model.config.max_position_embeddings)

    def _run(self, texts: Sequence[str]):
        device = next(self.model.parameters()).device
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_tokens,
                               return_tensors="pt").to(device)
        return self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]), batch

    def token_features(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token final hidden states ``[N, T, hidden_size]`` (before CLIP's projection) and mask ``[N, T]``."""
        output, batch = self._run(texts)
        return output.last_hidden_state, batch["attention_mask"].bool()

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        return self._run(texts)[0].text_embeds


class SentenceTextEncoder(nn.Module):
    """Frozen sentence encoder (all-MiniLM-L6-v2 by default) with attention-masked mean pooling.

    ``forward(texts) -> [N, hidden_size]``.
    """

    def __init__(self, name_or_path: str = "minilm", max_tokens: int = 128):
        super().__init__()
        self.model = freeze(load_pretrained(name_or_path, "text_encoder"))
        self.tokenizer = load_pretrained(name_or_path, "tokenizer")
        self.out_dim = self.token_dim = self.model.config.hidden_size
        self.max_tokens = max_tokens

    def token_features(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token last hidden states ``[N, T, hidden_size]`` and the attention mask ``[N, T]`` (bool)."""
        device = next(self.model.parameters()).device
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_tokens,
                               return_tensors="pt").to(device)
        hidden = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        return hidden, batch["attention_mask"].bool()

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        hidden, mask = self.token_features(texts)
        return masked_mean(hidden, mask)


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``tokens [N, T, D]`` over the positions where ``mask [N, T]`` is true -> ``[N, D]``."""
    weights = mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class AttentionTextPooling(nn.Module):
    """Mean pooling next to a learned attention pooling over frozen token features.

    ``forward(tokens [N, T, D], mask [N, T]) -> [N, 2 D]`` (mean, attention-weighted mean).
    The token score ``w . x_t + b`` starts at zero, so the attention half starts as mean
    pooling; training moves weight onto the tokens the loss needs (e.g. "left" vs "right",
    one token among ~10 that mean pooling dilutes to cosine 0.98 between mirrored captions).
    """

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Linear(dim, 1)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)
        self.out_dim = 2 * dim

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(tokens).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1).unsqueeze(-1)
        return torch.cat([masked_mean(tokens, mask), (weights * tokens).sum(1)], dim=-1)


class TemporalTransformer(nn.Module):
    """Frame features + learned positional embeddings -> Transformer encoder -> mean over frames.

    ``forward(features [B, L, in_dim]) -> [B, dim]``.
    """

    def __init__(self, in_dim: int, num_frames: int, dim: int = 512, layers: int = 2, heads: int = 8,
                 dropout: float = 0.1):
        super().__init__()
        self.input = nn.Linear(in_dim, dim)
        self.position = nn.Parameter(torch.zeros(1, num_frames, dim))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=4 * dim, dropout=dropout,
                                           batch_first=True, norm_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        length = features.shape[1]
        if length > self.position.shape[1]:
            raise ValueError(f"clip has {length} frames, the teacher was built for {self.position.shape[1]}")
        x = self.input(features) + self.position[:, :length]
        return self.norm(self.encoder(x)).mean(dim=1)


class CaptionTeacher(nn.Module):
    """Video-text teacher of WiFi2Cap stage 1.

    Args:
        config: a ``TeacherConfig`` (frame/text encoder choice, sizes).
        embed_dim: size of the shared embedding space.

    ``encode_video(frames [B, L, H, W, 3], sample_ids=None, flip=False) -> [B, embed_dim]``;
    ``flip=True`` encodes the horizontally flipped clip. With a frozen frame encoder and
    ``sample_ids`` given, per-frame features are cached under ``(sample_id, flip)``.
    ``encode_text(texts) -> [B, embed_dim]`` (frozen text features cached by text).
    ``forward(frames, texts, sample_ids=None) -> (video [B, E], text [B, E])``. All outputs L2-normalised.
    """

    def __init__(self, config: TeacherConfig, embed_dim: int):
        super().__init__()
        self.config = config
        if config.frame_encoder == "clip":
            self.frame_encoder: nn.Module = CLIPFrameEncoder(config.clip_model)
            self.frame_size = self.frame_encoder.image_size
        else:
            self.frame_encoder = SmallCNNFrameEncoder(config.cnn_width, config.cnn_dim)
            self.frame_size = config.frame_size
        if config.text_encoder == "clip":
            self.text_encoder: nn.Module = CLIPTextEncoder(config.clip_model, config.max_text_tokens)
        else:
            self.text_encoder = SentenceTextEncoder(config.text_model, config.max_text_tokens)
        self.temporal = TemporalTransformer(self.frame_encoder.out_dim, config.num_frames, config.temporal_dim,
                                            config.temporal_layers, config.temporal_heads, config.dropout)
        self.video_projection = nn.Linear(config.temporal_dim, embed_dim)
        self.text_pooling: AttentionTextPooling | None = None
        text_dim = self.text_encoder.out_dim
        if config.text_pooling == "attention":
            self.text_pooling = AttentionTextPooling(self.text_encoder.token_dim)
            text_dim = self.text_pooling.out_dim
        self.text_projection = nn.Linear(text_dim, embed_dim)
        self.frame_cache = FeatureCache()
        self.text_cache = FeatureCache()

    @property
    def frame_encoder_frozen(self) -> bool:
        return bool(getattr(self.frame_encoder, "frozen", False))

    def train(self, mode: bool = True) -> CaptionTeacher:
        super().train(mode)
        self.text_encoder.eval()  # frozen towers stay in eval mode
        if self.frame_encoder_frozen:
            self.frame_encoder.eval()
        return self

    def frame_features(self, frames: torch.Tensor, sample_ids: Sequence[Hashable] | None = None,
                       flip: bool = False) -> torch.Tensor:
        """Per-frame encoder features ``[B, L, frame_dim]`` (from the cache where possible)."""
        batch, length = frames.shape[:2]
        device = self.temporal.position.device

        def compute(rows: list[int]) -> torch.Tensor:
            clip = frames[rows].to(device)
            if flip:
                clip = flip_frames(clip, width_axis=-2)
            pixels = prepare_frames(clip, self.frame_size)
            return self.frame_encoder(pixels).view(len(rows), length, -1)

        if not self.frame_encoder_frozen:
            return compute(list(range(batch)))
        with torch.no_grad():
            if sample_ids is None or not self.config.cache_frozen_features:
                return compute(list(range(batch)))
            keys = [(sample_id, bool(flip)) for sample_id in sample_ids]
            return self.frame_cache.get_or_compute(keys, compute, device)

    def encode_video(self, frames: torch.Tensor, sample_ids: Sequence[Hashable] | None = None,
                     flip: bool = False) -> torch.Tensor:
        features = self.frame_features(frames, sample_ids, flip)
        return F.normalize(self.video_projection(self.temporal(features)), dim=-1)

    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        """Frozen text-tower features ``[B, text_dim]`` (cached by text)."""
        texts = list(texts)
        if self.text_pooling is not None:   # the cache holds token features then
            return masked_mean(*self.text_token_features(texts))
        device = self.text_projection.weight.device
        with torch.no_grad():
            if not self.config.cache_frozen_features:
                return self.text_encoder(texts).to(device)
            return self.text_cache.get_or_compute(texts, lambda rows: self.text_encoder([texts[i] for i in rows]),
                                                  device)

    def text_token_features(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Frozen per-token features ``[B, T, text_dim]`` and mask ``[B, T]`` (each text cached unpadded)."""
        texts = list(texts)
        device = self.text_projection.weight.device

        def compute(rows: list[int]) -> list[torch.Tensor]:
            hidden, mask = self.text_encoder.token_features([texts[i] for i in rows])
            return [h[m] for h, m in zip(hidden, mask)]

        with torch.no_grad():
            if not self.config.cache_frozen_features:
                hidden, mask = self.text_encoder.token_features(texts)
                return hidden.to(device), mask.to(device)
            return self.text_cache.get_or_compute_sequences(texts, compute, device)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        if self.text_pooling is None:
            pooled = self.text_features(texts)
        else:
            pooled = self.text_pooling(*self.text_token_features(texts))
        return F.normalize(self.text_projection(pooled), dim=-1)

    def forward(self, frames: torch.Tensor, texts: Sequence[str],
                sample_ids: Sequence[Hashable] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode_video(frames, sample_ids), self.encode_text(texts)
