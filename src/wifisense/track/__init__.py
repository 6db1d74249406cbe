"""Multi-band Neural Dynamic Fusion: asynchronous CSI + beam SNR to continuous 2-D trajectories.

Run a trained model with ``Tracker.from_pretrained(DIR_OR_RUN).track(csi, snr)``; train one
model with ``train_model(store, "ndf", ...)``, score it with ``evaluate_run``, compare NDF
with every baseline over seeds with ``run_compare``. The models are torch modules:
``NeuralDynamicFusion``, ``DDND``, ``LinearInt``, ``NearestInt``, ``RNNDecay``,
``RNNDeltaT`` and the fusions. Names are imported on first use (no torch at ``import``).
"""

_MODULES = {
    "Tracker": "pretrained",
    "TrackConfig": "config", "load_track_config": "config",
    "train_model": "train",
    "evaluate_run": "evaluate",
    "run_compare": "compare",
    "NeuralDynamicFusion": "ndf", "DDND": "ndf",
    "LinearInt": "baselines", "NearestInt": "baselines", "RNNDecay": "baselines", "RNNDeltaT": "baselines",
    "MLPFusion": "fusion", "PairwiseFusion": "fusion", "WeightedImportanceFusion": "fusion",
}
__all__ = list(_MODULES)


def __getattr__(name: str):
    module = _MODULES.get(name)
    if module == "pretrained":
        import wifisense.track.pretrained as found
    elif module == "config":
        import wifisense.track.config as found
    elif module == "train":
        import wifisense.track.train as found
    elif module == "evaluate":
        import wifisense.track.evaluate as found
    elif module == "compare":
        import wifisense.track.compare as found
    elif module == "ndf":
        import wifisense.track.ndf as found
    elif module == "baselines":
        import wifisense.track.baselines as found
    elif module == "fusion":
        import wifisense.track.fusion as found
    else:
        raise AttributeError(f"module 'wifisense.track' has no attribute {name!r}")
    return getattr(found, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
