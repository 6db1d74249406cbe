"""A frozen causal LM steered by per-layer key/value prefixes that an MLP writes from a CSI embedding.

Only the MLP (``prefix_mapper``) trains. The prefixes enter the LM as ``past_key_values``:
transformers 5.x accepts them only as a ``DynamicCache``, which the forward extends in
place, so a fresh cache is built for every training forward (and once per generation
call, where growing it is exactly what incremental decoding wants). Caption tokens sit
at positions ``Lp, Lp+1, ...`` after the prefix, as transformers itself numbers tokens
that follow a cache. Gradient checkpointing would drop the cache, so it is switched off.
"""

from __future__ import annotations

import functools
import inspect

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from wifisense.caption.pretrained import freeze, load_pretrained
from wifisense.nn.mlp import make_mlp

IGNORE_INDEX = -100


@dataclass(frozen=True)
class PrefixGeometry:
    """Shape of one layer's cached keys/values: ``[batch, num_kv_heads, length, head_dim]``."""

    num_layers: int
    num_kv_heads: int
    head_dim: int

    @property
    def size_per_position(self) -> int:
        """Numbers the MLP writes per prefix position (keys and values of all layers)."""
        return self.num_layers * 2 * self.num_kv_heads * self.head_dim


def prefix_geometry(config) -> PrefixGeometry:
    """Layers, key/value heads and head size of any decoder config (GPT-2, Qwen2 with GQA, phi, Llama...)."""
    config = config.get_text_config(decoder=True)
    num_layers = config.num_hidden_layers
    num_heads = config.num_attention_heads
    num_kv_heads = getattr(config, "num_key_value_heads", None) or num_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // num_heads
    return PrefixGeometry(int(num_layers), int(num_kv_heads), int(head_dim))


def special_token_ids(tokenizer) -> tuple[int, int, int]:
    """``(start, end, pad)`` ids: BOS (or EOS when the LM has no BOS, e.g. GPT-2, Qwen2), EOS, PAD (or EOS)."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the LM tokenizer has no eos_token; set one (tokenizer.eos_token = ...) before use")
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    return start, eos, pad


def encode_captions(tokenizer, captions: Sequence[str], max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[start] caption [end]`` token ids, right-padded, with the attention mask; both ``[B, T]``.

    Special tokens are added here rather than by the tokenizer because LMs disagree on
    whether (and which) they add; captions longer than ``max_tokens`` are cut (keeping
    the end token so the LM still learns to stop).
    """
    start, end, pad = special_token_ids(tokenizer)
    pieces = tokenizer(list(captions), add_special_tokens=False)["input_ids"]
    rows = [torch.tensor([start, *ids[: max_tokens - 2], end]) for ids in pieces]
    input_ids = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=pad)
    lengths = torch.tensor([len(r) for r in rows])
    attention_mask = (torch.arange(input_ids.shape[1]) < lengths[:, None]).long()
    return input_ids, attention_mask


def _checkpointing_enabled(lm: nn.Module) -> bool:
    # transformers 5 renamed is_gradient_checkpointing (deprecated) to is_activation_checkpointing.
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):
        if hasattr(type(lm), name):
            return bool(getattr(lm, name))
    return False


class PrefixLM(nn.Module):
    """Caption decoder: frozen causal LM + trainable MLP from embedding to key/value prefixes.

    Args:
        lm: a loaded causal LM (``AutoModelForCausalLM``); it is frozen here.
        tokenizer: its tokenizer.
        embed_dim: size of the conditioning embedding.
        prefix_length: Lp, prefix positions per layer.
        hidden_dim: width of the MLP's hidden layer.
        max_caption_tokens: training captions are cut to this many tokens (start/end included).

    ``forward(embedding [B, E], input_ids [B, T], attention_mask [B, T]) -> (loss, logits [B, T, V])``
    with right-padded ``[start] caption [end]`` ids (``encode_captions``).
    ``caption_loss(embedding, captions)`` tokenises and calls forward.
    ``generate(embedding, max_new_tokens=30, num_beams=1, length_penalty=1.0) -> list[str]``.
    """

    def __init__(self, lm: nn.Module, tokenizer, embed_dim: int, prefix_length: int = 10,
                 hidden_dim: int = 512, max_caption_tokens: int = 40):
        super().__init__()
        if _checkpointing_enabled(lm):
            # Checkpointed layers run without the cache, i.e. without the prefix.
            lm.gradient_checkpointing_disable()
        self.lm = freeze(lm)
        self.tokenizer = tokenizer
        self.geometry = prefix_geometry(lm.config)
        self.prefix_length = prefix_length
        self.max_caption_tokens = max_caption_tokens
        self.prefix_mapper = make_mlp(embed_dim, [hidden_dim], prefix_length * self.geometry.size_per_position,
                                      activation=nn.Tanh)
        self.start_id, self.end_id, self.pad_id = special_token_ids(tokenizer)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, embed_dim: int, **kwargs) -> PrefixLM:
        """Load the LM and its tokenizer by hub name or directory (clear ConfigError when missing)."""
        lm = load_pretrained(name_or_path, "causal_lm")
        tokenizer = load_pretrained(name_or_path, "tokenizer")
        return cls(lm, tokenizer, embed_dim, **kwargs)

    def train(self, mode: bool = True) -> PrefixLM:
        super().train(mode)
        self.lm.eval()  # the LM stays frozen: no dropout even while the MLP trains
        return self

    # ------------------------------------------------------------------ prefixes

    def prefix_key_values(self, embedding: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer ``(keys, values)``, each ``[B, num_kv_heads, Lp, head_dim]`` in the LM's dtype."""
        g = self.geometry
        flat = self.prefix_mapper(embedding)
        kv = flat.view(embedding.shape[0], g.num_layers, 2, g.num_kv_heads, self.prefix_length, g.head_dim)
        kv = kv.to(next(self.lm.parameters()).dtype)
        return [(kv[:, layer, 0], kv[:, layer, 1]) for layer in range(g.num_layers)]

    def prefix_cache(self, embedding: torch.Tensor):
        """A NEW ``DynamicCache`` holding the prefixes (the LM's forward extends it in place)."""
        from transformers import DynamicCache
        return DynamicCache(ddp_cache_data=self.prefix_key_values(embedding), config=self.lm.config)

    def _lm_step(self, input_ids: torch.Tensor, cache, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits for ``input_ids`` that follow everything already in ``cache`` (prefix + earlier tokens)."""
        past = cache.get_seq_length()
        positions = torch.arange(past, past + input_ids.shape[1], device=input_ids.device)
        out = self.lm(input_ids=input_ids, attention_mask=attention_mask, **{self._cache_argument: cache},
                      position_ids=positions.unsqueeze(0).expand(input_ids.shape[0], -1), use_cache=True)
        return out.logits

    @functools.cached_property
    def _cache_argument(self) -> str:
        """``cache`` where the LM's forward takes it (transformers >= 5.2x, which warns that
        ``past_key_values`` goes away in 5.40), else ``past_key_values`` (earlier 5.x)."""
        return "cache" if "cache" in inspect.signature(self.lm.forward).parameters else "past_key_values"

    # ------------------------------------------------------------------ training

    def forward(self, embedding: torch.Tensor, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cache = self.prefix_cache(embedding)
        prefix_mask = attention_mask.new_ones(attention_mask.shape[0], self.prefix_length)
        logits = self._lm_step(input_ids, cache, torch.cat([prefix_mask, attention_mask], dim=1))
        labels = input_ids.masked_fill(attention_mask == 0, IGNORE_INDEX)
        # Token t+1 is predicted from position t; padding (and the start token) never are targets.
        loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                               labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX)
        return loss, logits

    def caption_loss(self, embedding: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
        """Autoregressive cross-entropy of ``captions`` given ``embedding``."""
        input_ids, attention_mask = encode_captions(self.tokenizer, captions, self.max_caption_tokens)
        device = embedding.device
        return self(embedding, input_ids.to(device), attention_mask.to(device))[0]

    # ------------------------------------------------------------------ generation

    @torch.no_grad()
    def generate_ids(self, embedding: torch.Tensor, max_new_tokens: int = 30, num_beams: int = 1,
                     length_penalty: float = 1.0) -> torch.Tensor:
        """Generated token ids ``[B, <= max_new_tokens]`` (start token excluded, ``pad`` after the end token)."""
        if num_beams == 1:
            return self.greedy_ids(embedding, max_new_tokens)
        return self.beam_search_ids(embedding, max_new_tokens, num_beams, length_penalty)

    def generate(self, embedding: torch.Tensor, max_new_tokens: int = 30, num_beams: int = 1,
                 length_penalty: float = 1.0) -> list[str]:
        """One caption per row of ``embedding`` (greedy for ``num_beams=1``, else beam search)."""
        ids = self.generate_ids(embedding, max_new_tokens, num_beams, length_penalty)
        return self.decode(ids)

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Text of each row up to its first end token."""
        texts = []
        for row in ids.tolist():
            if self.end_id in row:
                row = row[: row.index(self.end_id)]
            texts.append(self.tokenizer.decode(row, skip_special_tokens=True).strip())
        return texts

    @torch.no_grad()
    def greedy_ids(self, embedding: torch.Tensor, max_new_tokens: int = 30) -> torch.Tensor:
        """Greedy decoding of the whole batch at once; ids as in ``generate_ids``."""
        # Written by hand (not lm.generate) because the prefix must be a fresh cache and
        # the caption must start after it; all rows advance together, so no padding is needed.
        batch = embedding.shape[0]
        cache = self.prefix_cache(embedding)
        tokens = torch.full((batch, 1), self.start_id, dtype=torch.long, device=embedding.device)
        mask = torch.ones(batch, self.prefix_length + 1, dtype=torch.long, device=embedding.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=embedding.device)
        generated = []
        for _ in range(max_new_tokens):
            logits = self._lm_step(tokens, cache, mask)[:, -1]
            next_token = logits.argmax(dim=-1).masked_fill(finished, self.pad_id)
            generated.append(next_token)
            finished |= next_token == self.end_id
            if bool(finished.all()):
                break
            tokens = next_token[:, None]
            mask = torch.cat([mask, mask.new_ones(batch, 1)], dim=1)
        return torch.stack(generated, dim=1)

    @torch.no_grad()
    def beam_search_ids(self, embedding: torch.Tensor, max_new_tokens: int = 30, num_beams: int = 3,
                        length_penalty: float = 1.0) -> torch.Tensor:
        """Beam search of the whole batch at once; the best beam's ids as in ``generate_ids``."""
        # Batched beam search by hand: the prefix cache is built for B*K rows (each
        # embedding repeated per beam) and reordered with the surviving beams each step.
        # Finished beams keep their slot and score and emit padding; the final choice
        # divides each beam's log-probability by (its length ** length_penalty).
        batch, beams, device = embedding.shape[0], num_beams, embedding.device
        cache = self.prefix_cache(embedding.repeat_interleave(beams, dim=0))
        tokens = torch.full((batch * beams, 1), self.start_id, dtype=torch.long, device=device)
        mask = torch.ones(batch * beams, self.prefix_length + 1, dtype=torch.long, device=device)
        scores = torch.full((batch, beams), float("-inf"), device=device)
        scores[:, 0] = 0.0  # all beams start identical: expand only the first one
        finished = torch.zeros(batch * beams, dtype=torch.bool, device=device)
        lengths = torch.zeros(batch * beams, device=device)
        history = torch.empty(batch * beams, 0, dtype=torch.long, device=device)
        batch_offset = (torch.arange(batch, device=device) * beams)[:, None]
        for _ in range(max_new_tokens):
            logprobs = self._lm_step(tokens, cache, mask)[:, -1].float().log_softmax(dim=-1)
            vocab = logprobs.shape[-1]
            # A finished beam can only continue with padding, at no cost.
            logprobs[finished] = float("-inf")
            logprobs[finished, self.pad_id] = 0.0
            candidates = (scores[:, :, None] + logprobs.view(batch, beams, vocab)).view(batch, beams * vocab)
            scores, flat_index = candidates.topk(beams, dim=-1)
            source = (flat_index // vocab + batch_offset).view(-1)
            next_token = (flat_index % vocab).view(-1)
            cache.reorder_cache(source)
            was_finished = finished[source]
            history = torch.cat([history[source], next_token[:, None]], dim=1)
            lengths = lengths[source] + (~was_finished).float()
            finished = was_finished | (next_token == self.end_id)
            if bool(finished.all()):
                break
            tokens = next_token[:, None]
            mask = torch.cat([mask, mask.new_ones(batch * beams, 1)], dim=1)
        normalised = scores / lengths.view(batch, beams).clamp(min=1.0) ** length_penalty
        best = normalised.argmax(dim=-1) + batch_offset.view(-1)
        return history[best]
