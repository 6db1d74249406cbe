"""The WiFi2Cap ablations: train and evaluate every design's runs once, and tabulate them like the paper.

Designs (rows; see ``DESIGNS``):

- ``main``   the full pipeline, the CSI->LM baseline and the mirror modes none / teacher
             ("full" is also the mirror-full row);
- ``stages`` S2-2+S3 / S1+S2-1+S3 / all stages;
- ``mirror`` mirror-consistency loss none / teacher only / full;
- ``lm``     the offline LM and every LM given (hub name or local directory);
- ``text``   MiniLM and every text encoder given (a CLIP checkpoint uses its text tower).

Every row is turned into :class:`~wifisense.caption.train.CaptionTrainSettings`; rows whose
resolved settings are identical share one run (``out_dir/runs/<name>``, the name saying how
the run differs from the full pipeline). A run whose ``metrics.json`` already holds the
split is neither retrained nor re-evaluated, so an interrupted ablation resumes where it
stopped (and ``caption train`` itself resumes an interrupted stage).

Stage sharing: a stage's result depends only on the settings of that stage and the
stages before it (e.g. S1+S2-1+S3 and the full pipeline train identical S1 and S2-1;
the mirror-teacher run's S1 and S2-1 equal the full run's; the LM rows differ only in
S3). Before a run trains, finished stages with the same *stage key* are linked in from
another run of the ablation, and ``caption train`` then skips them as already finished,
exactly as when a run is resumed. The offline LM directory is shared the same way.

Writes ``out_dir/ablation.json`` (the contract's shape, written atomically) and
``out_dir/ablation.md`` (one table per design, footnotes for metrics not computed, and
a correct and a partly wrong example as in the paper's Table II).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from wifisense.errors import ConfigError, StoreError
from wifisense.runs.rundir import share_tree

DESIGNS = ("main", "stages", "mirror", "lm", "text")
DESIGN_TITLES = {
    "main": "Full pipeline vs CSI->LM baseline vs mirror modes",
    "stages": "Training stages",
    "mirror": "Mirror-consistency loss",
    "lm": "Language model",
    "text": "Text backbone",
}
METRIC_KEYS = ("BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "SPICE", "direction_accuracy", "class_top1", "clip_top1",
               "R@1", "R@5")
# Markdown columns: (metric key, header).
TABLE_COLUMNS = (("BLEU-4", "BLEU-4"), ("METEOR", "METEOR"), ("ROUGE-L", "ROUGE-L"), ("CIDEr", "CIDEr"),
                 ("SPICE", "SPICE"), ("direction_accuracy", "Direction acc."), ("class_top1", "Top-1"))
ALL_STAGES = ("s1", "s2-1", "s2-2", "s3")
OFFLINE_LM = "offline"
MINILM = "minilm"
RUNS_DIR = "runs"
RUN_RECORD = "ablation_run.json"     # per run: its settings key and stage keys (what may be shared)
JSON_FILE = "ablation.json"
MARKDOWN_FILE = "ablation.md"
STAGE_FILES_DONE = ("metrics.json", "model.safetensors", "config.json")


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class RowSpec:
    """One table row: how it differs from the full pipeline (None = the preset's / full's choice)."""

    name: str
    stages: tuple[str, ...] = ALL_STAGES
    baseline: str | None = None
    mirror: str | None = None
    lm: str | None = None
    text_encoder: str | None = None


def design_rows(design: str, lms: Sequence[str] = (), text_encoders: Sequence[str] = ()) -> list[RowSpec]:
    """The rows of one design (see the module docstring)."""
    if design == "main":
        return [RowSpec("full", mirror="full"), RowSpec("baseline", baseline="csi-lm"),
                RowSpec("mirror-none", mirror="none"), RowSpec("mirror-teacher", mirror="teacher")]
    if design == "stages":
        return [RowSpec("s2-2+s3", stages=("s2-2", "s3"), mirror="full"),
                RowSpec("s1+s2-1+s3", stages=("s1", "s2-1", "s3"), mirror="full"),
                RowSpec("all", mirror="full")]
    if design == "mirror":
        return [RowSpec(mode, mirror=mode) for mode in ("none", "teacher", "full")]
    if design == "lm":
        names = [OFFLINE_LM] + [n for n in lms if n != OFFLINE_LM]
        return [RowSpec(name, mirror="full", lm=name) for name in dict.fromkeys(names)]
    if design == "text":
        names = [MINILM] + [n for n in text_encoders if n != MINILM]
        return [RowSpec(name, mirror="full", text_encoder=name) for name in dict.fromkeys(names)]
    raise ConfigError(f"unknown ablation design {design!r}; choose from {', '.join(DESIGNS)}")


def parse_designs(text: str) -> tuple[str, ...]:
    """``"main,stages"`` or ``"all"`` -> designs in canonical order."""
    names = [d.strip().lower() for d in text.split(",") if d.strip()]
    if names in ([], ["all"]):
        return DESIGNS
    unknown = [d for d in names if d not in DESIGNS]
    if unknown:
        raise ConfigError(f"--designs: unknown design(s) {', '.join(unknown)}; choose from all, {', '.join(DESIGNS)}")
    return tuple(d for d in DESIGNS if d in names)


# --------------------------------------------------------------------------- resolved runs


@dataclass
class PlannedRun:
    """One distinct configuration to train and evaluate (shared by every row that resolves to it)."""

    name: str
    settings: Any                      # CaptionTrainSettings
    model: dict                        # resolved model config (before the data fixes input shapes)
    key: str                           # identity of the whole run
    stage_keys: dict[str, str]         # identity of each stage's result (see stage_keys)
    lm_key: str | None                 # identity of the offline LM directory, when the LM is offline
    rows: list[tuple[str, str]] = field(default_factory=list)   # (design, row name)


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _slug(name: str) -> str:
    """A directory-safe short name for an LM / encoder (a local directory: its name plus a hash of its path)."""
    local = Path(name).exists()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name.rstrip("/")).name if local else name).strip("-.") or "model"
    if local:
        slug += "-" + hashlib.sha256(str(Path(name).resolve()).encode()).hexdigest()[:6]
    return slug


def _text_encoder_name(teacher: dict) -> str:
    return teacher["clip_model"] if teacher["text_encoder"] == "clip" else teacher["text_model"]


def run_name(row: RowSpec, model: dict, reference: dict) -> str:
    """Canonical run directory name: how the row differs from the full pipeline ("full" when it does not).

    ``model`` is the row's resolved config, ``reference`` the full pipeline's (preset plus
    the ablation's overrides), so e.g. MiniLM is "full" in the tiny preset but
    "text-minilm" in the paper preset, whose text tower is CLIP's.
    """
    if row.baseline:
        return "baseline" if row.baseline == "csi-lm" else row.baseline
    parts = []
    if tuple(row.stages) != ALL_STAGES:
        parts.append("+".join(row.stages))
    if model["loss"]["mirror_mode"] != "full":
        parts.append(f"mirror-{model['loss']['mirror_mode']}")
    if model["prefix_lm"]["lm"] != reference["prefix_lm"]["lm"]:
        parts.append(f"lm-{_slug(row.lm or model['prefix_lm']['lm'])}")
    if _text_encoder_name(model["teacher"]) != _text_encoder_name(reference["teacher"]):
        parts.append(f"text-{_slug(row.text_encoder or _text_encoder_name(model['teacher']))}")
    return "_".join(parts) or "full"


def stage_keys(settings, model: dict, data: str) -> dict[str, str]:
    """Per stage of ``settings``, a key of everything that stage's trained weights depend on.

    The key covers the store, seed, batch size, step cap, and, for the stage and every
    stage before it in this run, its epochs, learning rate and the mirror terms it
    actually uses (S1: the teacher hinge when the mode is teacher or full; S2-2: the
    student hinge only when full). The LM settings enter only at S3 / csi-lm, so runs
    differing only in their LM share S1-S2-2. Conservative otherwise: every other model
    field is in every key.
    """
    body = {k: v for k, v in model.items() if k not in ("prefix_lm", "offline_lm", "name")}
    body["loss"] = {k: v for k, v in model["loss"].items() if k != "mirror_mode"}
    mode = model["loss"]["mirror_mode"]
    base = {"data": data, "seed": settings.seed, "batch_size": settings.batch_size, "max_steps": settings.max_steps,
            "patience": settings.patience, "model": body}
    chain, keys = [], {}
    for stage in settings.stages:
        link: dict[str, Any] = {"stage": stage, "epochs": settings.stage_epochs(stage), "lr": settings.stage_lr(stage)}
        if stage == "s1":
            link["teacher_mirror"] = mode != "none"
        if stage == "s2-2":
            link["student_mirror"] = mode == "full"
        if stage in ("s3", "csi-lm"):
            link["lm"] = {"prefix_lm": model["prefix_lm"], "offline_lm": model["offline_lm"]}
        chain.append(link)
        keys[stage] = _digest({**base, "chain": chain})
    return keys


def offline_lm_key(settings, model: dict, data: str) -> str | None:
    """What the offline LM (``RUN/lm``) depends on: store, seed, its config and the caption length/prefix."""
    if model["prefix_lm"]["lm"] != OFFLINE_LM:
        return None
    p = model["prefix_lm"]
    return _digest({"data": data, "seed": settings.seed, "offline_lm": model["offline_lm"],
                    "prefix_length": p["prefix_length"], "max_caption_tokens": p["max_caption_tokens"]})


def resolve_row(row: RowSpec, base, data: str, reference: dict) -> PlannedRun:
    """The row's CaptionTrainSettings (run directory filled in when it trains) and its keys."""
    from wifisense.caption.config import load_caption_config
    from wifisense.caption.train import encoder_overrides

    overrides = dict(base.overrides)
    overrides.update(encoder_overrides(lm=row.lm, text_encoder=row.text_encoder, mirror=row.mirror))
    stages = ("csi-lm",) if row.baseline == "csi-lm" else tuple(row.stages)
    settings = replace(base, stages=stages, baseline=row.baseline, overrides=overrides)
    model = load_caption_config(settings.preset, overrides).to_dict()
    if row.baseline:
        model["loss"]["mirror_mode"] = "none"      # the pipeline trains the baseline without mirror loss
    # The baseline has no teacher: its teacher settings cannot change the run.
    identity = {**model, "teacher": None} if row.baseline else model
    train = {"epochs": {s: settings.stage_epochs(s) for s in stages}, "lr": {s: settings.stage_lr(s) for s in stages}}
    key = _digest({"data": data, "stages": stages, "baseline": row.baseline, "model": identity, "train": train,
                   "seed": settings.seed, "batch_size": settings.batch_size, "max_steps": settings.max_steps,
                   "patience": settings.patience})
    return PlannedRun(run_name(row, model, reference), settings, model, key, stage_keys(settings, model, data),
                      offline_lm_key(settings, model, data))


def plan_runs(designs: Sequence[str], base, data: str, lms: Sequence[str], text_encoders: Sequence[str]
              ) -> tuple[dict[str, list[tuple[RowSpec, PlannedRun]]], list[PlannedRun]]:
    """Rows per design, each with its (shared) run; and the distinct runs, full pipeline first."""
    from wifisense.caption.config import load_caption_config

    reference = load_caption_config(base.preset, base.overrides).to_dict()
    runs: dict[str, PlannedRun] = {}
    by_design: dict[str, list[tuple[RowSpec, PlannedRun]]] = {}
    for design in designs:
        by_design[design] = []
        for row in design_rows(design, lms, text_encoders):
            planned = resolve_row(row, base, data, reference)
            same = runs.setdefault(planned.key, planned)
            clash = [r for r in runs.values() if r.name == same.name and r.key != same.key]
            if clash:
                raise ConfigError(f"ablation rows {row.name!r} and {clash[0].rows[0][1]!r} need different runs "
                                  f"under the same name {same.name!r}")
            same.rows.append((design, row.name))
            by_design[design].append((row, same))
    # The full pipeline first: most other runs share its earlier stages.
    return by_design, sorted(runs.values(), key=lambda r: r.name != "full")


# --------------------------------------------------------------------------- sharing finished stages


def stage_finished(stage_dir: Path) -> bool:
    """Whether ``caption train`` would treat the stage as finished (its summary, weights and config exist)."""
    if not all((stage_dir / name).is_file() for name in STAGE_FILES_DONE):
        return False
    try:
        return bool(json.loads((stage_dir / "metrics.json").read_text()).get("stop_reason"))
    except (OSError, json.JSONDecodeError):
        return False


def read_record(run_dir: Path) -> dict:
    path = run_dir / RUN_RECORD
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def share_finished_stages(target: PlannedRun, target_dir: Path, runs_dir: Path) -> dict[str, str]:
    """Link into ``target_dir`` every leading stage (and the offline LM) another run already finished with the same key.

    Only stages absent from ``target_dir`` are linked; returns ``{stage or "lm": source run name}``.
    """
    sources = {}
    for other in sorted(p for p in runs_dir.iterdir() if p.is_dir() and p != target_dir) if runs_dir.is_dir() else []:
        record = read_record(other)
        if record:
            sources[other] = record
    shared: dict[str, str] = {}
    for stage in target.settings.stages:
        if (target_dir / stage).exists():
            if not stage_finished(target_dir / stage):
                break                      # the run's own partial stage: caption train resumes it
            continue
        source = next((d for d, rec in sources.items()
                       if rec.get("stage_keys", {}).get(stage) == target.stage_keys[stage]
                       and stage_finished(d / stage)), None)
        if source is None:
            break
        if not (target_dir / "preprocess.json").exists() and (source / "preprocess.json").is_file():
            target_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / "preprocess.json", target_dir / "preprocess.json")
        share_tree(source / stage, target_dir / stage)
        shared[stage] = source.name
    if target.lm_key and not (target_dir / "lm").exists():
        source = next((d for d, rec in sources.items() if rec.get("lm_key") == target.lm_key
                       and (d / "lm" / "config.json").is_file()), None)
        if source is not None:
            target_dir.mkdir(parents=True, exist_ok=True)
            share_tree(source / "lm", target_dir / "lm")
            shared["lm"] = source.name
    return shared


# --------------------------------------------------------------------------- metrics of a run


def row_metrics(split_metrics: dict) -> tuple[dict[str, float | None], dict[str, str]]:
    """The contract's metric keys from a run's ``metrics.json[split]``; None + reason where not computed."""
    captions = split_metrics.get("captions", {})
    values: dict[str, float | None] = {name: captions.get(name) for name in ("BLEU-4", "METEOR", "ROUGE-L", "CIDEr",
                                                                          "SPICE")}
    reasons = {name: reason for name, reason in (captions.get("not_computed") or {}).items() if name in values}
    direction = split_metrics.get("direction", {})
    values["direction_accuracy"] = direction.get("accuracy")
    if values["direction_accuracy"] is None:
        reasons["direction_accuracy"] = (f"no {split_metrics.get('split', 'evaluated')} clip has a direction word "
                                         "in its references")
    similarity = split_metrics.get("similarity", {})
    retrieval = similarity.get("retrieval") or {}
    values["class_top1"] = similarity.get("class_top1_accuracy")
    values["clip_top1"] = similarity.get("clip_top1_accuracy")
    values["R@1"] = retrieval.get("csi_to_text_R@1")
    values["R@5"] = retrieval.get("csi_to_text_R@5")
    for name in ("class_top1", "clip_top1", "R@1", "R@5"):
        if values[name] is None:
            reasons[name] = similarity.get("reason", "similarity analysis not computed")
    for name, value in values.items():
        if value is not None and not isinstance(value, (int, float)):
            raise ValueError(f"metric {name} is {value!r}, not a number")
        if value is None and name not in reasons:
            reasons[name] = "not computed"
    return {name: values[name] for name in METRIC_KEYS}, {k: reasons[k] for k in METRIC_KEYS if k in reasons}


def train_seconds(run_dir: Path, stages: Sequence[str]) -> float | None:
    """Sum of the Trainer's ``train_seconds`` over the run's stages (shared stages count in every run using them)."""
    total, seen = 0.0, False
    for stage in stages:
        try:
            value = json.loads((run_dir / stage / "metrics.json").read_text()).get("train_seconds")
        except (OSError, json.JSONDecodeError):
            continue
        if value is not None:
            total, seen = total + float(value), True
    return round(total, 3) if seen else None


def _split_metrics(run_dir: Path, split: str) -> dict | None:
    try:
        payload = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    entry = payload.get(split) if isinstance(payload, dict) else None
    return entry if isinstance(entry, dict) and "captions" in entry else None


# --------------------------------------------------------------------------- qualitative examples


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s-]", " ", text.lower()).split())


def pick_examples(predictions: list[dict]) -> dict[str, dict | None]:
    """A correct and a partly wrong example from a run's ``predictions_<split>.json`` (as in the paper's Table II).

    Correct: a prediction equal to one of its references (case and punctuation aside);
    failing that, the best per-clip BLEU-4. Partly wrong: not equal to any reference but
    sharing words with one, preferring a wrong side only (the prediction with its
    direction words swapped is a reference), then a wrong direction, then the best BLEU-4.
    """
    from wifisense.caption.mirror import swap_directions
    from wifisense.metrics.captions import caption_scores, direction_accuracy

    if not predictions:
        return {"correct": None, "partly_wrong": None}
    keys = [str(i) for i in range(len(predictions))]
    refs = {k: p["references"] for k, p in zip(keys, predictions)}
    preds = {k: p["prediction"] for k, p in zip(keys, predictions)}
    bleu = caption_scores(refs, preds, spice=False, meteor=False, per_sample=True)["per_sample"]["BLEU-4"]
    direction_ok = direction_accuracy(refs, preds, per_sample=True)["correct"]

    def example(i: int, note: str) -> dict:
        p = predictions[i]
        return {"index": p.get("index"), "class": p.get("class"), "references": p["references"],
                "prediction": p["prediction"], "BLEU-4": round(float(bleu[i]), 4), "note": note}

    exact = [i for i, p in enumerate(predictions)
             if _normalise(p["prediction"]) in {_normalise(r) for r in p["references"]}]
    correct = (example(exact[0], "correct") if exact else
               example(max(range(len(keys)), key=lambda i: bleu[i]), "closest (best BLEU-4; no prediction matches a reference)"))
    shares = [i for i, p in enumerate(predictions) if i not in exact and p["prediction"].strip()
              and set(_normalise(p["prediction"]).split()) & {w for r in p["references"] for w in _normalise(r).split()}]
    side_only = [i for i in shares if _normalise(swap_directions(predictions[i]["prediction"]))
                 in {_normalise(r) for r in predictions[i]["references"]}]
    wrong_side = [i for i in shares if direction_ok.get(keys[i]) is False]
    if side_only:
        partly = example(side_only[0], "partly wrong: the wrong side")
    elif wrong_side:
        partly = example(max(wrong_side, key=lambda i: bleu[i]), "partly wrong: a wrong direction word")
    elif shares:
        partly = example(max(shares, key=lambda i: bleu[i]), "partly wrong: shares words with a reference but differs")
    else:
        partly = None
    return {"correct": correct, "partly_wrong": partly}


# --------------------------------------------------------------------------- the ablation


class _SharedMeteor:
    """One METEOR Java process for every evaluation of the ablation, started on first use ("auto" without Java)."""

    def __init__(self, resources: contextlib.ExitStack):
        self.resources, self.scorer = resources, None

    def get(self):
        from wifisense.metrics.captions import MeteorScorer, find_java

        if self.scorer is None:
            java = find_java()
            if java is None:
                return "auto"          # caption_scores reports METEOR as not computed, with the reason
            self.scorer = self.resources.enter_context(MeteorScorer(java))
        return self.scorer


class _Progress:
    """One line per step on stderr: which run, n of N, elapsed time (silent when quiet)."""

    def __init__(self, total: int, quiet: bool):
        self.total, self.quiet, self.started = total, quiet, time.perf_counter()

    def say(self, n: int, name: str, rows: list[tuple[str, str]], what: str) -> None:
        if self.quiet:
            return
        used = ", ".join(f"{d}/{r}" for d, r in rows)
        elapsed = time.perf_counter() - self.started
        print(f"[ablate {n}/{self.total} | {elapsed / 60:.1f} min] {name} ({used}): {what}", file=sys.stderr,
              flush=True)


def _base_settings(store: str, preset: str, epochs, max_steps, batch_size, seed, device, quiet, overrides):
    from wifisense.caption.train import ALL_STAGE_NAMES, CaptionTrainSettings

    if epochs is None:
        per_stage = {}
    elif isinstance(epochs, int):
        per_stage = {s: int(epochs) for s in ALL_STAGE_NAMES}
    else:
        per_stage = {str(k): int(v) for k, v in dict(epochs).items()}
        unknown = sorted(set(per_stage) - set(ALL_STAGE_NAMES))
        if unknown:
            raise ConfigError(f"epochs: unknown stage(s) {', '.join(unknown)}; known: {', '.join(ALL_STAGE_NAMES)}")
    return CaptionTrainSettings(data=store, run="", preset=preset, overrides=dict(overrides or {}), epochs=per_stage,
                                max_steps=max_steps, batch_size=batch_size, device=device, seed=seed, quiet=quiet)


def _check_store(store: str, split: str) -> None:
    from wifisense.caption.data import store_split_sizes
    from wifisense.io.store import store_kind

    if not Path(store).is_file():
        raise ConfigError(f"--data {store}: no such file")
    if store_kind(store) != "caption":
        raise StoreError(store, None, "is not a caption store (`wifisense simulate actions` writes one)")
    sizes = store_split_sizes(store)
    if not sizes.get(split):
        raise StoreError(store, f"/splits/{split}", f"missing or empty; the ablation evaluates on it "
                         f"(store has {sorted(sizes)})")


def prepare_run(planned: PlannedRun, run_dir: Path, runs_dir: Path) -> dict[str, str]:
    """Check ``run_dir`` belongs to ``planned``, link in stages other runs finished, record the run's keys.

    Returns every part shared into the run so far (``{stage or "lm": source run}``).
    """
    from wifisense.training.checkpoint import write_json

    record = read_record(run_dir)
    if record and record.get("key") != planned.key:
        raise ConfigError(f"{run_dir}: was trained by an ablation with other settings (model, epochs, steps, "
                          "batch size or seed differ); use another --out or delete that run")
    shared = dict(record.get("shared", {}))
    shared.update(share_finished_stages(planned, run_dir, runs_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / RUN_RECORD, {"name": planned.name, "key": planned.key, "stage_keys": planned.stage_keys,
                                      "lm_key": planned.lm_key, "stages": list(planned.settings.stages),
                                      "baseline": planned.settings.baseline, "shared": shared,
                                      "rows": [f"{d}/{r}" for d, r in planned.rows]})
    return shared


def _row_entry(row: RowSpec, planned: PlannedRun, run_dir: Path, out_dir: Path, split: str) -> dict:
    model = planned.model
    metrics = _split_metrics(run_dir, split) or {}
    values, reasons = row_metrics(metrics) if metrics else ({k: None for k in METRIC_KEYS},
                                                           {k: "the run was not evaluated" for k in METRIC_KEYS})
    text = None if planned.settings.baseline else _text_encoder_name(model["teacher"])
    return {"name": row.name, "stages": ",".join(planned.settings.stages),
            "mirror": "none" if planned.settings.baseline else model["loss"]["mirror_mode"],
            "baseline": planned.settings.baseline, "lm": model["prefix_lm"]["lm"], "text_encoder": text,
            "run": run_dir.relative_to(out_dir).as_posix(), "train_s": train_seconds(run_dir, planned.settings.stages),
            "shared_stages": read_record(run_dir).get("shared", {}),
            "metrics": values, "not_computed": reasons}


def run_ablation(store, out_dir, designs=("main",), preset="tiny", lms=None, text_encoders=None,
                 epochs=None, max_steps=None, batch_size=32, seed=0, device="auto", quiet=False,
                 split="test", overrides=None) -> dict:
    """Train and evaluate the runs of ``designs`` into ``out_dir``; write and return ``ablation.json``'s content.

    ``epochs``: None (the trainer's default per stage), an int for every stage, or
    ``{stage: epochs}``. ``overrides``: dotted model-config overrides applied to every
    run. ``lms`` / ``text_encoders``: extra rows for the ``lm`` / ``text`` designs.
    """
    from wifisense.io.atomic import atomic_write_text
    from wifisense.training.checkpoint import write_json

    started = time.perf_counter()
    store = str(Path(store).resolve())
    designs = parse_designs(",".join(designs)) if not isinstance(designs, str) else parse_designs(designs)
    _check_store(store, split)
    out_dir = Path(out_dir)
    runs_dir = out_dir / RUNS_DIR
    base = _base_settings(store, preset, epochs, max_steps, batch_size, seed, device, quiet, overrides)
    by_design, runs = plan_runs(designs, base, store, list(lms or ()), list(text_encoders or ()))

    from wifisense.caption.evaluate import evaluate_run
    from wifisense.caption.train import train_caption

    progress = _Progress(len(runs), quiet)
    with contextlib.ExitStack() as resources:
        meteor = _SharedMeteor(resources)
        for n, planned in enumerate(runs, 1):
            run_dir = runs_dir / planned.name
            if read_record(run_dir).get("key") == planned.key and _split_metrics(run_dir, split) is not None:
                progress.say(n, planned.name, planned.rows, f"already evaluated on {split}; skipped")
                continue
            shared = prepare_run(planned, run_dir, runs_dir)
            fresh = [s for s in planned.settings.stages if s not in shared]
            progress.say(n, planned.name, planned.rows, "training " + ", ".join(fresh or ["nothing"])
                         + (" (shared: " + ", ".join(f"{k} from {v}" for k, v in shared.items()) + ")" if shared else ""))
            train_caption(replace(planned.settings, run=str(run_dir)))
            progress.say(n, planned.name, planned.rows, f"evaluating on {split}")
            evaluate_run(run_dir, split=split, device=device, progress=not quiet, meteor=meteor.get())

    result: dict[str, Any] = {"store": store, "preset": preset, "seed": seed, "split": split,
                              "epochs": epochs, "max_steps": max_steps, "batch_size": batch_size,
                              "wall_s": None, "designs": {}, "figures": {}, "examples": {}}
    for design, rows in by_design.items():
        result["designs"][design] = {"title": DESIGN_TITLES[design], "rows": [
            _row_entry(row, planned, runs_dir / planned.name, out_dir, split) for row, planned in rows]}
    source = next((r for r in runs if r.name == "full"), runs[0])
    source_dir = runs_dir / source.name
    figure = ((_split_metrics(source_dir, split) or {}).get("similarity") or {}).get("figure")
    if figure and Path(figure).is_file():
        result["figures"]["similarity"] = Path(os.path.relpath(figure, out_dir)).as_posix()
    predictions_file = source_dir / f"predictions_{split}.json"
    if predictions_file.is_file():
        result["examples"] = {"run": source_dir.relative_to(out_dir).as_posix(),
                              **pick_examples(json.loads(predictions_file.read_text()))}
    result["wall_s"] = round(time.perf_counter() - started, 3)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / JSON_FILE, result)
    atomic_write_text(out_dir / MARKDOWN_FILE, ablation_markdown(result))
    return result


# --------------------------------------------------------------------------- Markdown


def _cell(value: float | None, mark: str) -> str:
    return f"—{mark}" if value is None else f"{value:.3f}"


def ablation_markdown(result: dict) -> str:
    """One table per design (rows = designs' rows, columns = the paper's metrics), footnotes, examples."""
    notes: dict[tuple[str, str], str] = {}       # (metric, reason) -> footnote mark

    def mark(metric: str, reason: str) -> str:
        key = (metric, reason)
        if key not in notes:
            notes[key] = f"[^{len(notes) + 1}]"
        return notes[key]

    lines = ["# Caption ablation", "",
             (f"Store `{result['store']}`, preset `{result['preset']}`, seed {result['seed']}, "
             f"evaluated on the `{result['split']}` split; wall time {result['wall_s']:.0f} s."), ""]
    header = ["Design", *(h for _, h in TABLE_COLUMNS), "Train (s)", "Run"]
    for design in result["designs"].values():
        lines += [f"## {design['title']}", "", "| " + " | ".join(header) + " |",
                  "|" + "|".join(["---"] + ["---:"] * (len(header) - 2) + ["---"]) + "|"]
        for row in design["rows"]:
            cells = [f"**{row['name']}**" if row["name"] in ("full", "all") else row["name"]]
            for key, _ in TABLE_COLUMNS:
                value = row["metrics"].get(key)
                cells.append(_cell(value, mark(key, row["not_computed"].get(key, "not computed"))
                                   if value is None else ""))
            cells.append("—" if row["train_s"] is None else f"{row['train_s']:.0f}")
            cells.append(f"`{row['run']}`")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [("Direction acc.: share of clips whose caption names the correct side for every direction word of "
              "the reference. Top-1: CSI x class-caption similarity matrix, share of classes whose best match is "
              "their own caption. Train (s): optimiser time summed over the run's stages (stages shared between "
              "runs count in each)."), ""]
    figure = result.get("figures", {}).get("similarity")
    if figure:
        lines += [f"![CSI x text similarity]({figure})", ""]
    examples = result.get("examples") or {}
    if examples.get("correct") or examples.get("partly_wrong"):
        lines += [f"## Examples (`{examples.get('run')}`)", "", "| Kind | Class | Reference | Prediction |",
                  "|---|---|---|---|"]
        for key in ("correct", "partly_wrong"):
            ex = examples.get(key)
            if ex:
                cells = [ex["note"], f"`{ex['class']}`", ex["references"][0], ex["prediction"]]
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    for (metric, reason), note in notes.items():
        lines.append(f"{note}: {metric} not computed: {reason}")
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="FILE", help="caption store (.h5) with train and test splits")
    parser.add_argument("--designs", default="main", help=f"comma-separated designs: {', '.join(DESIGNS)} or 'all' "
                        "(default: %(default)s)")
    parser.add_argument("--lm", nargs="+", action="extend", default=[], metavar="NAME_OR_PATH", dest="lms",
                        help="extra LMs for the 'lm' design (hub names or local directories)")
    parser.add_argument("--text-encoder", nargs="+", action="extend", default=[], metavar="NAME_OR_PATH", dest="text_encoders",
                        help="extra text encoders for the 'text' design (sentence encoders or CLIP checkpoints)")
    parser.add_argument("--out", default="caption_ablation", metavar="DIR",
                        help="output directory: runs/, ablation.json, ablation.md (default: %(default)s)")
    parser.add_argument("--preset", default="tiny", help="model preset (tiny, paper) or a JSON config "
                        "(default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="model config override for every run, e.g. student.resnet_width=8 (repeatable)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of every stage (default: 10)")
    parser.add_argument("--stage-epochs", default="", metavar="S=N,...",
                        help="per-stage epochs, e.g. s1=20,s3=5,csi-lm=20 (overrides --epochs for those stages)")
    parser.add_argument("--max-steps", type=int, default=None, help="cap on optimizer steps per stage")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per batch (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--split", default="test", help="split to evaluate on (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from wifisense.caption.train import (
        ALL_STAGE_NAMES,
        parse_overrides,
        parse_stage_values,
    )

    epochs = {s: args.epochs for s in ALL_STAGE_NAMES} if args.epochs is not None else {}
    epochs.update(parse_stage_values(args.stage_epochs))
    result = run_ablation(args.data, args.out, designs=parse_designs(args.designs), preset=args.preset,
                          lms=args.lms, text_encoders=args.text_encoders, epochs=epochs or None,
                          max_steps=args.max_steps, batch_size=args.batch_size, seed=args.seed, device=args.device,
                          quiet=bool(getattr(args, "quiet", False)), split=args.split,
                          overrides=parse_overrides(args.overrides))
    print(ablation_markdown(result), end="")
    print(f"-> {Path(args.out) / JSON_FILE}, {Path(args.out) / MARKDOWN_FILE}")
    return 0
