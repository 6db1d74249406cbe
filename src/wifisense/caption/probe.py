"""A linear probe on simple CSI statistics: the floor any learned CSI encoder must clear.

Per clip, the mean and standard deviation over time of each (receiver, antenna pair,
subcarrier) amplitude and phase feature (:func:`wifisense.caption.data.csi_features`, in
any feature mode), standardised and fed to a multinomial logistic regression
(scikit-learn). Scored on another split as class top-1 and, for classes with a mirror
partner (a left/right or clockwise/counterclockwise pair), as *side accuracy*: whether the
probe ranks the clip's own class above its mirror partner. Both come with Wilson 95 %
intervals. It tells how much of the class, and of the side, simple statistics already
carry, so a collapsed or side-blind student is visible at a glance, and it measures what
a simulator setting or feature mode makes learnable without training a network.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from wifisense.errors import StoreError

PROBE_CHUNK_CLIPS = 64
# ``student.features = "auto"``: the modes tried, in order of preference on a tie (fewer channels first)
AUTO_FEATURE_MODES = ("dynamic", "sanitized")
PROBE_C = 1.0     # inverse L2 strength of the logistic regression (scikit-learn's default)


def probe_features(csi: np.ndarray, rx_valid: np.ndarray, subcarriers, mode: str) -> np.ndarray:
    """``[N, F]`` float32 statistics of complex CSI ``[N, R, T, A, S]`` (see the module docstring).

    Invalid receivers give zeros (after standardisation: the training mean).
    """
    from wifisense.caption.data import csi_features

    amp, phase = csi_features(csi, np.asarray(subcarriers), mode)            # [N, R, T, A', S]
    parts = [amp.mean(axis=2), amp.std(axis=2), phase.mean(axis=2), phase.std(axis=2)]
    stats = np.stack(parts, axis=2)                                            # [N, R, 4, A', S]
    stats = stats * rx_valid[:, :, None, None, None]
    return stats.reshape(stats.shape[0], -1).astype(np.float32)


def store_probe_features(store: str | os.PathLike, split: str, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """``(features [N, F], class_id [N])`` of a split of a caption store, read in chunks."""
    from wifisense.io.h5open import open_store, read_caption_csi, read_rows

    with open_store(store, kind="caption") as f:
        if "splits" not in f or split not in f["splits"]:
            raise StoreError(store, f"/splits/{split}", "no such split")
        rows = np.sort(f["splits"][split][()].astype(np.int64))
        subcarriers = f["meta/subcarriers"][()]
        features = []
        for start in range(0, rows.size, PROBE_CHUNK_CLIPS):
            chunk = rows[start:start + PROBE_CHUNK_CLIPS]
            features.append(probe_features(read_caption_csi(f, chunk), read_rows(f["rx_valid"], chunk).astype(bool),
                                           subcarriers, mode))
        class_id = read_rows(f["class_id"], rows).astype(np.int64)
    return np.concatenate(features) if features else np.zeros((0, 0), np.float32), class_id


@dataclass
class ProbeScore:
    """Class top-1 and mirror-pair side accuracy of the probe on one split."""

    class_top1: float                 # per clip: clips classified correctly (of ``n``)
    class_ci: tuple[float, float]
    n: int
    side_accuracy: float | None
    side_ci: tuple[float, float] | None
    n_side: int
    num_classes: int
    hits: int = 0                     # clips classified correctly
    mean_hits: int = 0                # classes whose clips' mean scores rank their own class first
    n_eval_classes: int = 0           # classes present in the split


def fit_probe(features: np.ndarray, class_id: np.ndarray, seed: int = 0, c: float = PROBE_C):
    """A scikit-learn pipeline (standardise, multinomial logistic regression) fitted on the clips."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000, random_state=seed))
    return model.fit(features, class_id)


def score_probe(model, features: np.ndarray, class_id: np.ndarray, mirror_of: np.ndarray) -> ProbeScore:
    """Class top-1 and side accuracy (own class vs mirror partner) with Wilson intervals."""
    from wifisense.metrics.intervals import wilson_interval

    classes = list(model.classes_)
    column = {c: i for i, c in enumerate(classes)}
    logits = model.decision_function(features)
    if logits.ndim == 1:            # scikit-learn's binary case: one score (the second class's)
        logits = np.c_[-logits, logits]
    predicted = np.asarray(classes)[logits.argmax(axis=1)]
    hits = int((predicted == class_id).sum())
    side_hits, n_side = 0, 0
    for row, cls in enumerate(class_id):
        partner = int(mirror_of[cls])
        if partner == cls or cls not in column or partner not in column:
            continue
        n_side += 1
        side_hits += int(logits[row, column[cls]] > logits[row, column[partner]])
    n = int(class_id.size)
    present = np.unique(class_id)
    mean_hits = sum(int(classes[logits[class_id == c].mean(axis=0).argmax()] == c) for c in present)
    return ProbeScore(
        class_top1=hits / n if n else float("nan"), class_ci=wilson_interval(hits, n), n=n,
        side_accuracy=side_hits / n_side if n_side else None,
        side_ci=wilson_interval(side_hits, n_side) if n_side else None, n_side=n_side,
        num_classes=len(classes), hits=hits, mean_hits=mean_hits, n_eval_classes=int(present.size))


def probe_store(store: str | os.PathLike, mode: str, fit_split: str = "train", eval_split: str = "val",
                seed: int = 0) -> ProbeScore:
    """Fit the probe on one split of a caption store and score it on another."""
    return _fit_and_score(store, mode, fit_split, eval_split, seed)[1]


def _fit_and_score(store, mode: str, fit_split: str, eval_split: str, seed: int):
    """(the probe fitted on ``fit_split``, its :class:`ProbeScore` on ``eval_split``)."""
    from wifisense.io.h5open import open_store

    with open_store(store, kind="caption") as f:
        mirror_of = f["meta/mirror_of"][()].astype(np.int64)
    model = fit_probe(*store_probe_features(store, fit_split, mode), seed)
    return model, score_probe(model, *store_probe_features(store, eval_split, mode), mirror_of)


# --------------------------------------------------------------------------- the probe as a study row

PROBE_FILE = "probe.npz"      # the fitted probe of a study run (arrays only: no pickle)


def save_probe(model, path: str | os.PathLike, features: str, seconds: float) -> None:
    """The fitted pipeline's arrays (scaler, weights, classes) and its settings, written atomically."""
    import io

    from wifisense.io.atomic import atomic_write_bytes

    scaler, logistic = model[0], model[-1]
    buffer = io.BytesIO()
    np.savez(buffer, mean=scaler.mean_, scale=scaler.scale_, coef=logistic.coef_, intercept=logistic.intercept_,
             classes=logistic.classes_, features=np.asarray(features), fit_seconds=np.asarray(seconds))
    atomic_write_bytes(path, buffer.getvalue())


class SavedProbe:
    """A probe read back from :data:`PROBE_FILE`: the same decision function as the fitted pipeline."""

    def __init__(self, path: str | os.PathLike):
        with np.load(path) as z:
            self.mean, self.scale, self.coef, self.intercept = z["mean"], z["scale"], z["coef"], z["intercept"]
            self.classes_ = z["classes"]
            self.features = str(z["features"])
            self.fit_seconds = float(z["fit_seconds"])

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        scores = ((x - self.mean) / self.scale) @ self.coef.T + self.intercept
        # scikit-learn's binary case has one column (the second class's score)
        return np.c_[-scores, scores] if scores.shape[1] == 1 else scores


def train_probe_run(store: str | os.PathLike, run_dir: str | os.PathLike, features: str, seed: int) -> None:
    """Fit the probe on the store's training split in the run's feature mode ("auto": the mode in
    ``RUN/preprocess.json`` when the study linked one in, else chosen as the student's is,
    :func:`choose_feature_mode`) and save it in the run."""
    import time
    from pathlib import Path

    from wifisense.caption.data import INPUT_SPEC_FILE, CaptionInputSpec

    started = time.perf_counter()
    model = None
    if features == "auto":
        spec_path = Path(run_dir) / INPUT_SPEC_FILE
        if spec_path.is_file():    # linked from a run of the same study and seed: the mode it chose
            features = CaptionInputSpec.load(spec_path).feature_mode
        else:
            features, _, models = _choose_feature_mode(store, seed)
            model = models.get(features)      # fitted on the training split already
    if model is None:
        x, y = store_probe_features(store, "train", features)
        model = fit_probe(x, y, seed)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    save_probe(model, Path(run_dir) / PROBE_FILE, features, time.perf_counter() - started)


def probe_measurements(store: str | os.PathLike, run_dir: str | os.PathLike, split: str) -> list:
    """The saved probe on ``split`` as study measurements, in the caption tables' metric names.

    ``class_top1``: classes whose clips' mean decision scores rank their own class first
    (the analogue of the student's mean CSI embedding closest to its own caption);
    ``clip_top1``: clips classified correctly; ``side_accuracy``: clips of a class with a
    mirror partner whose own class scores above the partner. Wilson intervals. The caption
    metrics and direction accuracy are not computed: a classifier writes no caption.
    """
    from pathlib import Path

    from wifisense.caption.evaluate import CAPTION_METRICS
    from wifisense.io.h5open import open_store
    from wifisense.metrics.intervals import wilson_interval
    from wifisense.runs.results import CI_WILSON, Measurement

    probe = SavedProbe(Path(run_dir) / PROBE_FILE)
    with open_store(store, kind="caption") as f:
        mirror_of = f["meta/mirror_of"][()].astype(np.int64)
    x, y = store_probe_features(store, split, probe.features)
    score = score_probe(probe, x, y, mirror_of)
    class_hits, n_classes = score.mean_hits, score.n_eval_classes
    why = "a linear classifier on CSI statistics: it writes no caption"
    out = [Measurement(name, None, score.n, note=why) for name in CAPTION_METRICS]
    out.append(Measurement("direction_accuracy", None, 0, note=why + " (see side_accuracy)"))
    out.append(Measurement("class_top1", class_hits / n_classes if n_classes else None, n_classes,
                           *wilson_interval(class_hits, n_classes), CI_WILSON,
                           note="classes whose clips' mean probe scores rank their own class first"))
    out.append(Measurement("clip_top1", score.class_top1, score.n, *score.class_ci, CI_WILSON,
                           note="clips the probe classifies correctly"))
    if score.side_accuracy is None:
        out.append(Measurement("side_accuracy", None, 0, note="no class with a mirror partner in this split"))
    else:
        out.append(Measurement("side_accuracy", score.side_accuracy, score.n_side, *score.side_ci, CI_WILSON,
                               note="clips of a mirrored class whose own class scores above its mirror partner"))
    out.append(Measurement("train_s", round(probe.fit_seconds, 3), 0, note="feature extraction and fit"))
    return out


def choose_feature_mode(store: str | os.PathLike, seed: int = 0) -> tuple[str, dict[str, float]]:
    """``student.features = "auto"``: the feature mode whose linear probe, fitted on the training
    split, scores the best class top-1 on the validation split (the first of
    :data:`AUTO_FEATURE_MODES` on a tie, and without a validation split), with every score.

    Why: the best input differs between data. On the simulator's default store the "dynamic"
    features gave a validation probe top-1 of 0.50 against 0.20 for "sanitized"; on real
    recordings it was the other way round (CSI-HAR 0.52 vs 0.77, WiAR 0.55 vs 0.84; issue
    16). Deciding on validation, per store, takes seconds.
    """
    mode, scores, _ = _choose_feature_mode(store, seed)
    return mode, scores


def _choose_feature_mode(store, seed: int) -> tuple[str, dict[str, float], dict]:
    """:func:`choose_feature_mode` plus the probe it fitted for each mode (none without a validation split)."""
    from wifisense.io.h5open import open_store

    with open_store(store, kind="caption") as f:
        has_val = "splits" in f and "val" in f["splits"] and len(f["splits"]["val"]) > 0
    if not has_val:
        return AUTO_FEATURE_MODES[0], {}, {}
    fitted = {mode: _fit_and_score(store, mode, "train", "val", seed) for mode in AUTO_FEATURE_MODES}
    models = {mode: model for mode, (model, _) in fitted.items()}
    scores = {mode: score.class_top1 for mode, (_, score) in fitted.items()}
    best = max(AUTO_FEATURE_MODES, key=lambda mode: (scores[mode], -AUTO_FEATURE_MODES.index(mode)))
    return best, scores, models
