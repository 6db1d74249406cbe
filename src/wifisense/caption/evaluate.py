"""Evaluating a caption run on a split: captions, caption metrics, direction accuracy, CSI x text similarity, retrieval.

``evaluate_run`` generates one caption per clip (greedy, or beam search with ``beams``),
scores it against all of the clip's reference paraphrases (BLEU-4, METEOR, ROUGE-L,
CIDEr; SPICE when installed, else reported as not computed with the reason), checks the
direction words (left/right, clockwise/counterclockwise), and, when the run has a text
embedding space (a teacher from stage 1 or a text projection from stage 2-2), compares
every clip's CSI embedding with one text embedding per class (the normalised mean of the
class's caption embeddings): clip -> class retrieval R@1/R@5 and the class x class
cosine-similarity matrix drawn as a PNG with its top-1 matching accuracy. Results go into
``RUN/metrics.json`` under the split's name (other splits' entries are kept), predictions
into ``RUN/predictions_<split>.json`` and figures into ``RUN/figures/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wifisense.caption.data import ClipCollate, caption_dataset, check_store_matches
from wifisense.caption.run import CaptionRun, load_caption_run
from wifisense.errors import ConfigError
from wifisense.runs.results import CI_BOOTSTRAP, CI_WILSON, Measurement

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
FIGURES_DIR = "figures"
RETRIEVAL_KS = (1, 5)


@torch.no_grad()
def generate_split(run: CaptionRun, store: str | os.PathLike, split: str, beams: int = 1,
                   max_tokens: int | None = None, batch_size: int = 32, progress: bool = True) -> dict[str, Any]:
    """Captions and CSI embeddings of every clip of ``split``.

    Returns ``{"index": [N] store indices, "class_id": [N], "references": N lists,
    "predictions": N strings, "embeddings": float32 [N, E] (CPU), "class_names": [C]}``.
    """
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    if beams < 1:
        raise ConfigError(f"--beams must be >= 1, got {beams}")
    dataset = caption_dataset(store, split, csi=True)
    if len(dataset) == 0:
        raise ConfigError(f"{store}: split {split!r} has no clips to evaluate")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=ClipCollate(run.spec))
    out: dict[str, list] = {"index": [], "class_id": [], "references": [], "predictions": [], "embeddings": []}
    for batch in tqdm(loader, desc=f"captioning {split}", unit="batch", disable=None if progress else True):
        embedding = run.embed(batch["amplitude"], batch["phase"], batch["rx_valid"])
        out["predictions"] += run.caption(embedding, num_beams=beams, max_new_tokens=max_tokens)
        out["embeddings"].append(embedding.float().cpu())
        out["index"] += batch["index"].tolist()
        out["class_id"] += batch["class_id"].tolist()
        out["references"] += batch["captions"]
    return {**out, "embeddings": torch.cat(out["embeddings"]), "class_names": dataset.class_names, "split": split}


def class_captions(store: str | os.PathLike) -> dict[int, list[str]]:
    """Every distinct caption of each class over the whole store (captions are class paraphrases)."""
    from wifisense.io.store import open_store

    with open_store(store, kind="caption") as f:
        table = f["captions"].asstr()[()].tolist()
        class_id = f["class_id"][()].tolist()
    out: dict[int, list[str]] = {}
    for c, row in zip(class_id, table):
        seen = out.setdefault(int(c), [])
        seen += [t for t in row if t and t not in seen]
    return out


@torch.no_grad()
def class_text_embeddings(run: CaptionRun, captions_by_class: dict[int, list[str]], classes: list[int]) -> torch.Tensor:
    """One L2-normalised text embedding per class: the mean of its captions' embeddings ``[C, E]``."""
    texts = [t for c in classes for t in captions_by_class[c]]
    owner = torch.tensor([i for i, c in enumerate(classes) for _ in captions_by_class[c]])
    embedded = run.teacher.encode_text(texts).float().cpu()
    sums = torch.zeros(len(classes), embedded.shape[1]).index_add_(0, owner, embedded)
    return F.normalize(sums, dim=-1)


def class_mean_embeddings(embeddings: torch.Tensor, class_id: torch.Tensor, classes: list[int]) -> torch.Tensor:
    """L2-normalised mean CSI embedding of each class in ``classes`` ``[C, E]``."""
    position = {c: i for i, c in enumerate(classes)}
    rows = torch.tensor([position[int(c)] for c in class_id])
    sums = torch.zeros(len(classes), embeddings.shape[1]).index_add_(0, rows, embeddings)
    return F.normalize(sums, dim=-1)


def split_name(generated: dict[str, Any]) -> str:
    return f"{generated.get('split', 'split')}, {len(generated['index'])} clips"


def similarity_analysis(run: CaptionRun, generated: dict[str, Any], store: str | os.PathLike,
                        figure_path: Path | None) -> dict[str, Any]:
    """Clip -> class-text retrieval and the class x class CSI x text similarity matrix (figure optional)."""
    from wifisense.metrics.retrieval import retrieval_metrics, similarity_matrix

    if run.teacher is None:
        baseline = run.run_config.get("baseline")
        reason = (f"the {baseline} baseline has no text embedding space" if baseline
                  else "the run has no trained text side (no stage s1 or s2-2)")
        return {"computed": False, "reason": reason}
    class_id = torch.tensor(generated["class_id"])
    classes = sorted(set(class_id.tolist()))
    texts = class_text_embeddings(run, class_captions(store), classes)
    clip_sim = similarity_matrix(generated["embeddings"], texts)                      # [N, C]
    text_class = np.asarray(classes)
    retrieval = retrieval_metrics(clip_sim, ks=RETRIEVAL_KS, gt=(class_id.numpy(), text_class))
    class_sim = similarity_matrix(class_mean_embeddings(generated["embeddings"], class_id, classes), texts)
    class_top1 = float(np.mean(class_sim.argmax(axis=1) == np.arange(len(classes))))
    names = [generated["class_names"][c] for c in classes]
    result = {"computed": True, "classes": names, "matrix": np.round(class_sim, 4).tolist(),
              "class_top1_accuracy": class_top1, "clip_top1_accuracy": retrieval["top1_accuracy"],
              "retrieval": retrieval}
    if figure_path is not None:
        from wifisense.report.figures import plot_similarity_matrix
        plot_similarity_matrix(class_sim, figure_path, row_labels=names, col_labels=names, top1=class_top1,
                               title=f"CSI x class-caption cosine similarity ({split_name(generated)})",
                               row_name="CSI embedding (class mean)", col_name="class caption embedding")
        result["figure"] = str(figure_path)
    return result


def evaluate_run(run_dir: str | os.PathLike, split: str = "test", data: str | os.PathLike | None = None,
                 beams: int = 1, max_tokens: int | None = None, batch_size: int = 32, examples: int = 10,
                 device: str = "auto", progress: bool = True, meteor: Any = "auto",
                 per_sample: bool = False) -> dict[str, Any]:
    """Evaluate a run on ``split`` (of its own store, or of ``data``); writes and returns the split's metrics.

    ``meteor``: as for ``wifisense.metrics.captions.caption_scores``; pass an open
    ``MeteorScorer`` when evaluating several runs, to start METEOR's Java process (which
    loads a large paraphrase table) once instead of once per run. ``per_sample``: the
    returned metrics also hold the per-clip scores (``"per_sample"``, not written to
    ``metrics.json``) that :func:`caption_measurements` needs for its intervals.
    """
    from wifisense.metrics.captions import caption_scores, direction_accuracy
    from wifisense.training.checkpoint import write_json

    run_dir = Path(run_dir)
    run = load_caption_run(run_dir, device)
    store = str(data or run.data)
    if not Path(store).is_file():
        raise ConfigError(f"{store}: the store to evaluate on does not exist (give --data)")
    check_store_matches(store, run.spec)
    generated = generate_split(run, store, split, beams, max_tokens, batch_size, progress)
    keys = [str(i) for i in generated["index"]]
    references = dict(zip(keys, generated["references"]))
    predictions = dict(zip(keys, generated["predictions"]))
    metrics: dict[str, Any] = {
        "split": split, "data": store, "beams": beams, "num_clips": len(keys),
        "captions": caption_scores(references, predictions, meteor=meteor, per_sample=per_sample),
        "direction": direction_accuracy(references, predictions, per_sample=per_sample),
        "similarity": similarity_analysis(run, generated, store, run_dir / FIGURES_DIR / f"similarity_{split}.png"),
    }
    metrics["retrieval"] = metrics["similarity"].get("retrieval")
    names = generated["class_names"]
    metrics["examples"] = [{"index": int(i), "class": names[c], "references": refs, "prediction": pred}
                           for i, c, refs, pred in list(zip(generated["index"], generated["class_id"],
                                                            generated["references"], generated["predictions"]))[:examples]]
    samples = {"captions": metrics["captions"].pop("per_sample", None),
               "direction": metrics["direction"].pop("correct", None)}
    all_metrics = _read_json(run_dir / METRICS_FILE)
    all_metrics[split] = metrics
    write_json(run_dir / METRICS_FILE, all_metrics)
    write_json(run_dir / f"predictions_{split}.json",
               [{"index": int(i), "class": names[c], "prediction": p, "references": r}
                for i, c, p, r in zip(generated["index"], generated["class_id"], generated["predictions"],
                                      generated["references"])])
    return {**metrics, "per_sample": samples} if per_sample else metrics


# --------------------------------------------------------------------------- typed measurements with intervals

# (name in results, key in metrics["captions"]); CAPTION_METRICS order is the tables' column order.
CAPTION_METRICS = ("BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "SPICE")
PROPORTION_METRICS = ("direction_accuracy", "class_top1", "clip_top1", "R@1", "R@5")
METRICS = CAPTION_METRICS + PROPORTION_METRICS
METEOR_NO_INTERVAL = ("no one-seed interval: corpus METEOR pools matches over clips (it is not a mean of "
                      "per-clip scores) and METEOR's Java scorer has no subset API; use several seeds")


def caption_measurements(metrics: dict[str, Any], seed: int = 0) -> list[Measurement]:
    """The split's metrics as typed measurements with their one-seed 95 % intervals.

    BLEU-4: percentile bootstrap over clips, corpus BLEU recomputed on every resample.
    ROUGE-L, CIDEr (IDF of the whole split), SPICE: bootstrap of the mean per-clip score.
    METEOR: no one-seed interval (see ``METEOR_NO_INTERVAL``). Direction accuracy, class
    top-1 (over classes), clip top-1 and R@K (over clips): Wilson intervals. ``metrics`` is
    what ``evaluate_run(..., per_sample=True)`` returns; a metric not computed is a
    measurement with no value and the reason in ``note``.
    """
    from wifisense.metrics.captions import corpus_bleu
    from wifisense.metrics.intervals import bootstrap_interval, mean_statistic, wilson_interval

    captions, samples = metrics["captions"], metrics.get("per_sample") or {}
    per_clip = samples.get("captions") or {}
    n = int(metrics["num_clips"])
    reasons = captions.get("not_computed") or {}
    out: list[Measurement] = []
    for name in CAPTION_METRICS:
        value = captions.get(name)
        if value is None:
            out.append(Measurement(name, None, n, note=reasons.get(name, "not computed")))
            continue
        if name == "METEOR":
            out.append(Measurement(name, float(value), n, note=METEOR_NO_INTERVAL))
            continue
        if name == "BLEU-4":
            stats = np.asarray(per_clip["bleu_statistics"], dtype=np.float64)
            low, high = bootstrap_interval(lambda idx: corpus_bleu(stats[idx]), n, seed=seed)
        else:
            low, high = bootstrap_interval(mean_statistic(per_clip[name]), n, seed=seed)
        out.append(Measurement(name, float(value), n, low, high, CI_BOOTSTRAP))

    direction = metrics["direction"]
    if direction.get("accuracy") is None:
        out.append(Measurement("direction_accuracy", None, 0,
                               note=f"no {metrics['split']} clip has a direction word in its references"))
    else:
        k, m = int(direction["n_correct"]), int(direction["n_considered"])
        out.append(Measurement("direction_accuracy", k / m, m, *wilson_interval(k, m), CI_WILSON,
                               note=f"clips whose references name a side; chance (side guessed) "
                                    f"{direction['chance']:.3f}"))
    similarity = metrics["similarity"]
    if not similarity.get("computed"):
        reason = similarity.get("reason", "similarity analysis not computed")
        out += [Measurement(name, None, 0, note=reason) for name in PROPORTION_METRICS[1:]]
        return out
    retrieval = similarity["retrieval"]
    for name, value, items, note in (
            ("class_top1", similarity["class_top1_accuracy"], len(similarity["classes"]),
             "classes whose mean CSI embedding is closest to their own caption"),
            ("clip_top1", similarity["clip_top1_accuracy"], retrieval["n_csi"], "clips"),
            ("R@1", retrieval["csi_to_text_R@1"], retrieval["n_csi"], "clips, CSI -> class caption"),
            ("R@5", retrieval["csi_to_text_R@5"], retrieval["n_csi"], "clips, CSI -> class caption")):
        k = int(round(value * items))
        out.append(Measurement(name, float(value), items, *wilson_interval(k, items), CI_WILSON, note=note))
    return out


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def evaluate_from_args(args: argparse.Namespace) -> int:
    metrics = evaluate_run(args.run, split=args.split, data=args.data, beams=args.beams, max_tokens=args.max_tokens,
                           batch_size=args.batch_size, examples=args.examples, device=args.device,
                           progress=not getattr(args, "quiet", False))
    scores = metrics["captions"]
    print(f"{args.split}: {metrics['num_clips']} clips, beams {args.beams}")
    print("  " + "  ".join(f"{name} {_fmt(scores.get(name))}" for name in ("BLEU-4", "METEOR", "ROUGE-L", "CIDEr",
                                                                         "SPICE")))
    for name, reason in (scores.get("not_computed") or {}).items():
        print(f"  {name} not computed: {reason}")
    direction = metrics["direction"]
    chance = f", chance {direction['chance']:.3f}" if direction.get("chance") is not None else ""
    print(f"  direction accuracy {_fmt(direction.get('accuracy'))} "
          f"({direction.get('n_considered')} clips with a direction{chance})")
    sim = metrics["similarity"]
    if sim.get("computed"):
        r = sim["retrieval"]
        print(f"  CSI x text top-1 matching: classes {_fmt(sim['class_top1_accuracy'])}, clips "
              f"{_fmt(sim['clip_top1_accuracy'])}; R@1 {_fmt(r['csi_to_text_R@1'])} R@5 {_fmt(r['csi_to_text_R@5'])}"
              f" -> {sim['figure']}")
    else:
        print(f"  similarity not computed: {sim['reason']}")
    for example in metrics["examples"][:3]:
        print(f"  [{example['index']}] {example['prediction']!r}  (truth: {example['references'][0]!r})")
    print(f"-> {Path(args.run) / METRICS_FILE}")
    return 0
