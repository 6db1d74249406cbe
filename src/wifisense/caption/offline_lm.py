"""The offline caption LM: a byte-level BPE tokenizer and a small GPT-2 trained on the caption corpus.

Stands in for pretrained GPT-2 where no weights can be downloaded. Both parts are saved
with ``save_pretrained`` and load back through ``AutoTokenizer`` /
``AutoModelForCausalLM.from_pretrained(directory)``, the same path a hub GPT-2 takes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from wifisense.caption.prefix_lm import encode_captions

END_TOKEN = "<|endoftext|>"   # GPT-2's start/end token
PAD_TOKEN = "<pad>"
CAUSAL_LM_LOSS = "ForCausalLM"   # a key of transformers.loss.loss_utils.LOSS_MAPPING


def train_caption_tokenizer(captions: Sequence[str], vocab_size: int = 2000, min_frequency: int = 1):
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``captions`` (bos = eos = ``<|endoftext|>``, pad = ``<pad>``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
                                  special_tokens=[END_TOKEN, PAD_TOKEN],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(list(captions), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=END_TOKEN, eos_token=END_TOKEN,
                                   pad_token=PAD_TOKEN, unk_token=None)


def make_small_gpt2(tokenizer, n_layer: int = 2, n_embd: int = 128, n_head: int = 4, n_positions: int = 128):
    """A randomly initialised GPT2LMHeadModel sized for the tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                        n_head=n_head, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    model = GPT2LMHeadModel(config)
    # transformers 5.x picks the loss from the class name ("...ForCausalLM"); "GPT2LMHeadModel"
    # matches none, so every call with labels warned "loss_type=None ... unrecognized" and fell
    # back to the causal-LM loss. Naming that loss here is the same maths without the warning.
    model.loss_type = CAUSAL_LM_LOSS
    return model


def train_caption_lm(captions: Sequence[str], output_dir: str | os.PathLike | None = None, *,
                     vocab_size: int = 2000, n_layer: int = 2, n_embd: int = 128, n_head: int = 4,
                     n_positions: int = 128, max_prefix_length: int = 16, steps: int = 400,
                     batch_size: int = 32, learning_rate: float = 3e-3, max_caption_tokens: int = 40,
                     seed: int = 0, progress: bool = False):
    """Train tokenizer + small GPT-2 on ``captions``; save both to ``output_dir`` if given. Returns ``(model, tokenizer)``.

    Every batch starts at a random position offset in ``[0, max_prefix_length]`` because a
    PrefixLM places captions after its prefix positions; a GPT-2 with learned absolute
    positions must have seen those positions.
    """
    from tqdm.auto import tqdm

    if max_prefix_length + max_caption_tokens > n_positions:
        raise ValueError(f"n_positions={n_positions} is smaller than max_prefix_length + max_caption_tokens "
                         f"= {max_prefix_length + max_caption_tokens}")
    generator = torch.Generator().manual_seed(seed)   # batch rows and position offsets
    # Weight initialisation and dropout draw from torch's global CPU generator (transformers
    # offers no other): seed it inside a fork, so the caller's RNG state comes back untouched.
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        tokenizer = train_caption_tokenizer(captions, vocab_size=vocab_size)
        model = make_small_gpt2(tokenizer, n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_positions=n_positions)
        input_ids, attention_mask = encode_captions(tokenizer, captions, max_caption_tokens)
        labels = input_ids.masked_fill(attention_mask == 0, -100)
        optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=steps,
                                                        pct_start=0.1)
        model.train()
        bar = tqdm(range(steps), desc="offline LM", disable=not progress)
        for _ in bar:
            rows = torch.randint(len(captions), (min(batch_size, len(captions)),), generator=generator)
            offset = int(torch.randint(max_prefix_length + 1, (1,), generator=generator))
            length = int(attention_mask[rows].sum(1).max())
            ids = input_ids[rows, :length]
            positions = torch.arange(offset, offset + length).expand_as(ids)
            loss = model(input_ids=ids, attention_mask=attention_mask[rows, :length], position_ids=positions,
                         labels=labels[rows, :length]).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    if output_dir is not None:
        save_caption_lm(model, tokenizer, output_dir)
    return model, tokenizer


def save_caption_lm(model, tokenizer, output_dir: str | os.PathLike) -> Path:
    """Write model and tokenizer with ``save_pretrained`` into one directory (like a hub checkpoint)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir
