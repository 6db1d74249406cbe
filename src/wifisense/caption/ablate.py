"""The WiFi2Cap ablations as a Study: every design's rows (plus the "no CSI" reference row), trained and evaluated over seeds.

Designs (tables; see ``design_rows``):

- ``main``   the full pipeline, the CSI->LM baseline and the mirror modes none / teacher
             ("full" is also the mirror-full row);
- ``core``   the full pipeline and the CSI->LM baseline (what the demo trains);
- ``stages`` S2-2+S3 / S1+S2-1+S3 / all stages;
- ``mirror`` mirror-consistency loss none / teacher only / full;
- ``lm``     the offline LM and every LM given (hub name or local directory);
- ``text``   MiniLM and every text encoder given (a CLIP checkpoint uses its text tower).

Every table also gets the trivial reference row "no CSI" (the ``no-csi`` baseline: the
prefix LM given one constant embedding, i.e. the language prior), so a model that ignores
its input shows at a glance.

Rows are declarations on :class:`wifisense.runs.Study`: rows that resolve to one
configuration share one run (named by how it differs from the full pipeline), trained once
per seed in ``OUT/runs/<name>/seed<k>/``. A caption stage is a shareable *part*: its key
covers everything its weights depend on (the stage and every stage before it, e.g.
S1+S2-1+S3 trains the same S1 and S2-1 as the full pipeline, and LM rows differ only in
S3), so the study links a stage another run of the same seed finished, and ``caption
train`` skips it as finished. The offline LM directory is shared the same way. Finished
runs are skipped (an interrupted ablation resumes, seeds can be added later) and a folder
made with other settings is refused.

Writes ``OUT/results.csv`` / ``results.json`` (typed results: per seed and aggregated over
seeds with 95 % intervals), ``OUT/ablation.md`` (one table per design, rendered from those
results), ``OUT/figures.json`` (the similarity matrix figure) and ``OUT/examples.json`` (a
correct and a partly wrong caption, as in the paper's Table II).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from wifisense.options import add_device_option
from wifisense.caption.config import OFFLINE_LM
from wifisense.caption.data import INPUT_SPEC_FILE
from wifisense.caption.probe import PROBE_C, probe_measurements, train_probe_run
from wifisense.caption.settings import EPOCHS_HELP, STAGES, parse_name_list
from wifisense.errors import ConfigError, StoreError
from wifisense.runs.results import Measurement, Result
from wifisense.runs.study import Part, PlannedRun, Row, Study, as_json, parse_seeds

DESIGNS = ("main", "core", "stages", "mirror", "lm", "text")
MINILM = "minilm"
REFERENCE = "no CSI"                 # the trivial reference row of every table
REFERENCE_BASELINE = "no-csi"
PROBE = "probe"                      # the second reference row: a linear probe on CSI statistics
MARKDOWN_FILE = "ablation.md"
FIGURES_FILE = "figures.json"
EXAMPLES_FILE = "examples.json"
LM_PART = "lm"


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class RowSpec:
    """One table row: how it differs from the full pipeline (None = the preset's / full's choice)."""

    name: str
    stages: tuple[str, ...] = STAGES
    baseline: str | None = None
    mirror: str | None = None
    lm: str | None = None
    text_encoder: str | None = None


def design_rows(design: str, lms: Sequence[str] = (), text_encoders: Sequence[str] = (),
                reference: bool = False) -> list[RowSpec]:
    """The rows of one design (see the module docstring); ``reference`` appends the "no CSI" row."""
    if design == "main":
        rows = [RowSpec("full", mirror="full"), RowSpec("baseline", baseline="csi-lm"),
                RowSpec("mirror-none", mirror="none"), RowSpec("mirror-teacher", mirror="teacher")]
    elif design == "core":
        rows = [RowSpec("full", mirror="full"), RowSpec("baseline", baseline="csi-lm")]
    elif design == "stages":
        rows = [RowSpec("s2-2+s3", stages=("s2-2", "s3"), mirror="full"),
                RowSpec("s1+s2-1+s3", stages=("s1", "s2-1", "s3"), mirror="full"),
                RowSpec("all", mirror="full")]
    elif design == "mirror":
        rows = [RowSpec(mode, mirror=mode) for mode in ("none", "teacher", "full")]
    elif design == "lm":
        names = [OFFLINE_LM] + [n for n in lms if n != OFFLINE_LM]
        rows = [RowSpec(name, mirror="full", lm=name) for name in dict.fromkeys(names)]
    elif design == "text":
        names = [MINILM] + [n for n in text_encoders if n != MINILM]
        rows = [RowSpec(name, mirror="full", text_encoder=name) for name in dict.fromkeys(names)]
    else:
        raise ConfigError(f"unknown ablation design {design!r}; choose from {', '.join(DESIGNS)}")
    references = [RowSpec(REFERENCE, baseline=REFERENCE_BASELINE), RowSpec(PROBE, baseline=PROBE)]
    return rows + references if reference else rows


def parse_designs(text: str) -> tuple[str, ...]:
    """``"main,stages"`` or ``"all"`` -> designs in canonical order."""
    return parse_name_list(text, DESIGNS, "design", "--designs")


# --------------------------------------------------------------------------- resolved runs


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
    if tuple(row.stages) != STAGES:
        parts.append("+".join(row.stages))
    if model["loss"]["mirror_mode"] != "full":
        parts.append(f"mirror-{model['loss']['mirror_mode']}")
    if model["prefix_lm"]["lm"] != reference["prefix_lm"]["lm"]:
        parts.append(f"lm-{_slug(row.lm or model['prefix_lm']['lm'])}")
    if _text_encoder_name(model["teacher"]) != _text_encoder_name(reference["teacher"]):
        parts.append(f"text-{_slug(row.text_encoder or _text_encoder_name(model['teacher']))}")
    return "_".join(parts) or "full"


def stage_keys(settings, model: dict, data: str) -> dict[str, str]:
    """Per stage of ``settings``, a key of everything that stage's trained weights depend on (bar the seed).

    The key covers the store, batch size, step cap, and, for the stage and every stage
    before it in this run, its epochs, learning rate and the mirror terms it actually uses
    (S1: the teacher hinge when the mode is teacher or full; S2-2: the student hinge only
    when full). The LM settings enter only at S3 / the baselines, so runs differing only in
    their LM share S1-S2-2. Conservative otherwise: every other model field is in every
    key. The study adds the seed.
    """
    body = {k: v for k, v in model.items() if k not in ("prefix_lm", "offline_lm", "name")}
    body["loss"] = {k: v for k, v in model["loss"].items() if k != "mirror_mode"}
    mode = model["loss"]["mirror_mode"]
    base = {"data": data, "batch_size": settings.batch_size, "max_steps": settings.max_steps,
            "patience": settings.patience, "model": body}
    chain, keys = [], {}
    for stage in settings.stages:
        link: dict[str, Any] = {"stage": stage, "epochs": settings.stage_epochs(stage), "lr": settings.stage_lr(stage),
                                "budget": settings.budget_policy(stage)}
        if stage == "s1":
            link["teacher_mirror"] = mode != "none"
        if stage == "s2-2":
            link["student_mirror"] = mode == "full"
        if stage not in STAGES[:3]:
            link["lm"] = {"prefix_lm": model["prefix_lm"], "offline_lm": model["offline_lm"]}
        chain.append(link)
        keys[stage] = _digest({**base, "chain": chain})
    return keys


def input_spec_part(data: str, features: str) -> Part:
    """``RUN/preprocess.json`` as a part of its own: the input normalisation fitted on the
    training split, and with ``student.features = "auto"`` the feature mode chosen on
    validation. It depends on the store and the feature setting only, so every run of a
    seed (the baselines and the probe row too, which share no stage with the full
    pipeline) links the first one's instead of fitting it again (about 25 s on the demo
    store, most of it the auto choice's two probes)."""
    return Part(INPUT_SPEC_FILE, _digest({"data": data, "features": features}), chain=False)


def offline_lm_key(model: dict, data: str) -> str | None:
    """What the offline LM (``RUN/lm``) depends on, bar the seed: store, its config, caption length and prefix."""
    if model["prefix_lm"]["lm"] != OFFLINE_LM:
        return None
    p = model["prefix_lm"]
    return _digest({"data": data, "offline_lm": model["offline_lm"], "prefix_length": p["prefix_length"],
                    "max_caption_tokens": p["max_caption_tokens"]})


def row_settings(row: RowSpec, base):
    """The row's CaptionTrainSettings (no run directory, the base seed)."""
    from wifisense.caption.settings import BASELINE_STAGES, encoder_overrides

    overrides = dict(base.overrides)
    overrides.update(encoder_overrides(lm=row.lm, text_encoder=row.text_encoder, mirror=row.mirror))
    stages = BASELINE_STAGES[row.baseline] if row.baseline else tuple(row.stages)
    return replace(base, stages=stages, baseline=row.baseline, overrides=overrides)


def resolve_row(row: RowSpec, base, data: str, reference: dict) -> PlannedRun:
    """The study run a row needs: its config (what the trainer gets) and its shareable parts."""
    from wifisense.caption.config import load_caption_config

    if row.baseline == PROBE:
        # no network: fitted in seconds on the training split, in the full model's feature mode
        features = load_caption_config(base.preset, base.overrides).student.features
        return PlannedRun(PROBE, as_json({"stages": [], "baseline": PROBE, "features": features,
                                          "probe_c": PROBE_C}), (input_spec_part(data, features),))
    settings = row_settings(row, base)
    model = load_caption_config(settings.preset, settings.overrides).to_dict()
    if row.baseline:
        model["loss"]["mirror_mode"] = "none"      # the pipeline trains the baselines without mirror loss
    # A baseline has no teacher: its teacher settings cannot change the run.
    identity = {**model, "teacher": None} if row.baseline else model
    stages = settings.stages
    config = {"stages": list(stages), "baseline": row.baseline, "overrides": settings.overrides, "model": identity,
              "train": {"epochs": {s: settings.stage_epochs(s) for s in stages},
                        "budget": {s: settings.budget_policy(s) for s in stages},
                        "lr": {s: settings.stage_lr(s) for s in stages}}}
    # the input normalisation, fitted on the training split, is the same in every run of a seed
    parts = [input_spec_part(data, model["student"]["features"])]
    parts += [Part(stage, key, files=(INPUT_SPEC_FILE,)) for stage, key in stage_keys(settings, model, data).items()]
    lm_key = offline_lm_key(model, data)
    if lm_key:
        parts.append(Part(LM_PART, lm_key, chain=False))
    return PlannedRun(run_name(row, model, reference), as_json(config), tuple(parts))


def teacher_free(spec: RowSpec) -> RowSpec | None:
    """The row on a store without video frames: the stages that need no teacher (S1 and S2-1
    read frames), or None for a row that only differs from another by its teacher."""
    from wifisense.caption.stages import declaration

    if spec.baseline:
        return spec
    stages = tuple(s for s in spec.stages if not declaration(s).reads_frames)
    if spec.mirror == "teacher" or "s2-2" not in stages:
        return None      # the teacher-only hinge, or S1+S2-1+S3 (without the teacher: S3 on an untrained student)
    return replace(spec, stages=stages)


def caption_rows(designs: Sequence[str], base, data: str, lms: Sequence[str] = (),
                 text_encoders: Sequence[str] = (), frames: bool = True) -> list[Row]:
    """Every design's rows (with the reference rows), each with the run that produces it.

    ``frames=False`` (a store without video frames, e.g. a real data set): every row trains
    the teacher-free stages (S2-2, S3); rows that differ only in the teacher are left out.
    """
    from wifisense.caption.config import load_caption_config

    reference = load_caption_config(base.preset, base.overrides).to_dict()
    rows = []
    for design in designs:
        for spec in design_rows(design, lms, text_encoders, reference=True):
            if not frames:
                spec = teacher_free(spec)
                if spec is None:
                    continue
            rows.append(Row(design, spec.name, "", resolve_row(spec, base, data, reference)))
    return rows


# --------------------------------------------------------------------------- the task


def stage_finished(stage_dir: Path) -> bool:
    """Whether the stage finished training (an unreadable summary counts as not finished)."""
    from wifisense.caption.run import finished_stage_summary

    try:
        return finished_stage_summary(stage_dir) is not None
    except (OSError, json.JSONDecodeError):
        return False


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


class CaptionStudyTask:
    """The caption task on :class:`~wifisense.runs.Study`: ``caption train`` a run, evaluate it with intervals."""

    name = "caption"

    def __init__(self, base, device: str = "auto"):
        self.base, self.device = base, device        # base: CaptionTrainSettings shared by every row

    def settings(self, run: PlannedRun, run_dir, seed: int):
        c = run.config
        return replace(self.base, run=str(run_dir.path), seed=seed, stages=tuple(c["stages"]), baseline=c["baseline"],
                       overrides=dict(c["overrides"]))

    def train(self, run, run_dir, context) -> None:
        from wifisense.caption.train import train_caption

        if run.config["baseline"] == PROBE:
            train_probe_run(self.base.data, run_dir.path, run.config["features"], context.seed)
            return
        train_caption(self.settings(run, run_dir, context.seed))

    def evaluate(self, run, run_dir, split, context) -> list[Measurement]:
        from wifisense.caption.evaluate import caption_measurements, evaluate_run

        if run.config["baseline"] == PROBE:
            return probe_measurements(self.base.data, run_dir.path, split)
        metrics = evaluate_run(run_dir.path, split=split, device=self.device, progress=not context.progress.quiet,
                               meteor=self._meteor(context.resources), per_sample=True)
        seconds = train_seconds(run_dir.path, run.config["stages"])
        return caption_measurements(metrics, seed=context.seed) + [Measurement(
            "train_s", seconds, 0, note="optimiser seconds summed over the run's stages (a shared stage counts in "
                                        "every run that uses it)" if seconds is not None else "no training record")]

    @staticmethod
    def _meteor(resources: dict):
        """One METEOR Java process for the whole study (it loads a large paraphrase table); "auto" without Java."""
        from wifisense.metrics.captions import MeteorScorer, find_java

        if "meteor" not in resources:
            java = find_java()
            resources["meteor"] = MeteorScorer(java) if java else None
        return resources["meteor"] or "auto"    # "auto": caption_scores reports METEOR as not computed, with why

    def part_finished(self, run_dir, part: Part) -> bool:
        if part.name == LM_PART:
            return (run_dir.path / LM_PART / "config.json").is_file()
        if part.name == INPUT_SPEC_FILE:
            return (run_dir.path / INPUT_SPEC_FILE).is_file()
        return stage_finished(run_dir.path / part.name)


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


def _base_settings(store: str, preset: str, epochs, max_steps, batch_size, device, quiet, overrides):
    from wifisense.caption.settings import ALL_STAGE_NAMES, CaptionTrainSettings

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
                                max_steps=max_steps, batch_size=batch_size, device=device, quiet=quiet)


def _check_store(store: str, split: str) -> None:
    from wifisense.caption.data import store_split_sizes
    from wifisense.io.h5open import store_kind

    if not Path(store).is_file():
        raise ConfigError(f"--data {store}: no such file")
    if store_kind(store) != "caption":
        raise StoreError(store, None, "is not a caption store (`wifisense simulate actions` writes one)")
    sizes = store_split_sizes(store)
    if not sizes.get(split):
        raise StoreError(store, f"/splits/{split}", f"missing or empty; the ablation evaluates on it "
                         f"(store has {sorted(sizes)})")


def run_ablation(store, out_dir, designs=("main",), preset="tiny", lms=None, text_encoders=None,
                 epochs=None, max_steps=None, batch_size=32, seed=0, device="auto", quiet=False,
                 split="test", overrides=None, seeds=None, only=None) -> list[Result]:
    """Train and evaluate the runs of ``designs`` for every seed into ``out_dir``; returns every result line.

    ``epochs``: None (the trainer's default per stage), an int for every stage, or
    ``{stage: epochs}``. ``overrides``: dotted model-config overrides applied to every
    run. ``lms`` / ``text_encoders``: extra rows for the ``lm`` / ``text`` designs.
    ``seeds``: ``"0,1,2"``, ``"0-4"`` or a list (default: ``seed`` alone). ``only``: run
    names (``full``, ``baseline``, ``no-csi``, ``mirror-none``, ...) to train, the others
    are left alone; the tables show every row finished so far.
    """
    from wifisense.io.atomic import atomic_write_text

    started = time.perf_counter()
    store = str(Path(store).resolve())
    designs = parse_designs(designs if isinstance(designs, str) else ",".join(designs))
    seeds = parse_seeds(seeds, default=seed)
    _check_store(store, split)
    out_dir = Path(out_dir)
    base = _base_settings(store, preset, epochs, max_steps, batch_size, device, quiet, overrides)
    from wifisense.caption.data import store_has

    frames = store_has(store, "frames")
    rows = caption_rows(designs, base, store, list(lms or ()), list(text_encoders or ()), frames=frames)
    if not frames and not quiet:
        print(f"[ablate] {store}: no video frames, so every row trains the teacher-free stages (S2-2, S3); "
              "rows that differ only in the teacher are left out", file=sys.stderr, flush=True)
    settings = as_json({"data": store, "preset": preset, "epochs": base.epochs, "max_steps": max_steps,
                        "batch_size": batch_size, "overrides": base.overrides, "split": split})
    study = Study(CaptionStudyTask(base, device), rows, seeds, out_dir, settings, label="ablate", split=split,
                  quiet=quiet)
    results = study.run(only=only)

    source = next((r.run for r in rows if r.run.name == "full"), rows[0].run)
    run_dir = out_dir / "runs" / source.name / f"seed{seeds[0]}"
    figures = {}
    figure = run_dir / "figures" / f"similarity_{split}.png"
    if figure.is_file():
        figures["similarity"] = figure.relative_to(out_dir).as_posix()
    examples: dict[str, Any] = {"run": run_dir.relative_to(out_dir).as_posix(), "split": split}
    predictions = run_dir / f"predictions_{split}.json"
    if predictions.is_file():
        examples.update(pick_examples(json.loads(predictions.read_text())))
    atomic_write_text(out_dir / FIGURES_FILE, json.dumps(figures, indent=1) + "\n")
    atomic_write_text(out_dir / EXAMPLES_FILE, json.dumps(examples, indent=1) + "\n")
    atomic_write_text(out_dir / MARKDOWN_FILE, ablation_markdown(results, examples, figures, {
        "store": store, "preset": preset, "seeds": list(seeds), "split": split,
        "wall_s": time.perf_counter() - started}))
    return results


def ablation_markdown(results: Sequence[Result], examples: dict, figures: dict, about: dict) -> str:
    """One table per design (from the typed results), the similarity figure and the examples."""
    from wifisense.caption.report import ablation_tables, examples_table
    from wifisense.report.markdown import table_markdown

    seeds = ", ".join(str(s) for s in about["seeds"])
    lines = ["# Caption ablation", "",
             (f"Store `{about['store']}`, preset `{about['preset']}`, seed(s) {seeds}, evaluated on the "
              f"`{about['split']}` split; wall time {about['wall_s']:.0f} s (runs finished earlier are not retrained)."),
             ""]
    for table in ablation_tables(results):
        lines += table_markdown(table) + [""]
    if figures.get("similarity"):
        lines += [f"![CSI x text similarity]({figures['similarity']})", ""]
    table = examples_table(examples)
    if table is not None:
        lines += table_markdown(table) + [""]
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
                        help="output directory: runs/, results.csv/json, ablation.md, figures.json, examples.json "
                        "(default: %(default)s)")
    parser.add_argument("--preset", default="tiny", help="model preset (tiny, paper) or a JSON config "
                        "(default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="model config override for every run, e.g. student.resnet_width=8 (repeatable)")
    parser.add_argument("--epochs", type=int, default=None, help=EPOCHS_HELP)
    parser.add_argument("--stage-epochs", default="", metavar="S=N,...",
                        help="per-stage epochs, e.g. s1=20,s3=5,csi-lm=20 (overrides --epochs for those stages)")
    parser.add_argument("--max-steps", type=int, default=None, help="cap on optimizer steps per stage")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per batch (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of a one-seed study (default: %(default)s)")
    parser.add_argument("--seeds", default=None, metavar="LIST",
                        help="several seeds, e.g. 0,1,2 or 0-4: every run is trained once per seed and the tables "
                        "show the mean over seeds with a 95%% interval (default: --seed)")
    parser.add_argument("--split", default="test", help="split to evaluate on (default: %(default)s)")
    parser.add_argument("--only", default=None, metavar="RUNS",
                        help="train only these runs (comma-separated run names as in OUT/runs/, e.g. "
                        "full,no-csi), e.g. to share one study between processes or machines writing "
                        "into one --out; the tables show every row finished so far (default: all)")
    add_device_option(parser)


def run(args: argparse.Namespace) -> int:
    from wifisense.caption.settings import (
        ALL_STAGE_NAMES,
        parse_overrides,
        parse_stage_values,
    )

    epochs = {s: args.epochs for s in ALL_STAGE_NAMES} if args.epochs is not None else {}
    epochs.update(parse_stage_values(args.stage_epochs))
    run_ablation(args.data, args.out, designs=parse_designs(args.designs), preset=args.preset,
                 lms=args.lms, text_encoders=args.text_encoders, epochs=epochs or None,
                 max_steps=args.max_steps, batch_size=args.batch_size, seed=args.seed, device=args.device,
                 quiet=bool(getattr(args, "quiet", False)), split=args.split,
                 overrides=parse_overrides(args.overrides), seeds=args.seeds,
                 only=[n.strip() for n in args.only.split(",") if n.strip()] if args.only else None)
    out = Path(args.out)
    print((out / MARKDOWN_FILE).read_text(), end="")
    print(f"-> {out / 'results.csv'}, {out / MARKDOWN_FILE}")
    return 0
