"""WiFi2Cap: CSI to action captions (teacher, student, prefix LM, mirror consistency).

Run a trained model with ``Captioner.from_pretrained(DIR_OR_RUN).caption(csi)``; train with
``train_caption(CaptionTrainSettings(...))``, score with ``evaluate_run``, compare rows over
seeds with ``run_ablation``. Names are imported on first use (no torch at ``import``).
"""

_MODULES = {
    "Captioner": "captioner",
    "CaptionModelConfig": "config", "load_caption_config": "config",
    "CaptionTrainSettings": "settings",
    "train_caption": "train",
    "evaluate_run": "evaluate",
    "run_ablation": "ablate",
    "MirrorConsistencyLoss": "mirror",
}
__all__ = list(_MODULES)


def __getattr__(name: str):
    module = _MODULES.get(name)
    if module == "captioner":
        import wifisense.caption.captioner as found
    elif module == "config":
        import wifisense.caption.config as found
    elif module == "settings":
        import wifisense.caption.settings as found
    elif module == "train":
        import wifisense.caption.train as found
    elif module == "evaluate":
        import wifisense.caption.evaluate as found
    elif module == "ablate":
        import wifisense.caption.ablate as found
    elif module == "mirror":
        import wifisense.caption.mirror as found
    else:
        raise AttributeError(f"module 'wifisense.caption' has no attribute {name!r}")
    return getattr(found, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
