"""The WiFi2Cap training stages as declarations: what each trains, needs and reads, how it is built, its loss step.

- ``s1``   video-text teacher: symmetric InfoNCE video <-> caption, plus the mirror hinge
           (eq. 3: flipped frames vs direction-swapped captions) when mirror is teacher/full;
- ``s2-1`` CSI student <-> the frozen teacher's video embedding (InfoNCE);
- ``s2-2`` CSI student <-> caption embedding (InfoNCE) plus the text-only mirror hinge
           (eq. 7) when mirror is full. Without a stage-1 teacher the text projection
           trains here too (a random projection would otherwise define the space);
- ``s3``   prefix MLP over the frozen LM from the frozen student's embedding (LM loss);
- ``csi-lm`` (baseline): student + prefix MLP trained together by the LM loss only;
- ``no-csi`` (reference): the prefix MLP over the frozen LM given one constant (zero)
           embedding for every clip, i.e. the language prior: the caption a model that
           ignores the CSI writes. It shows at a glance whether a model uses its input.

A stage's ``build(pipeline, stage)`` makes its parts in a fixed order (the order decides
which random numbers initialise which part, so a seed gives the same weights) and returns
``(trainable parts, frozen helpers)``. It asks the pipeline (``caption.train.CaptionPipeline``)
for ``teacher()``, ``new_student()``, ``new_loss()``, ``new_mirror()``, ``prefix_lm()``,
``embedding_table(encode, csi=, frames=)`` and ``load_trained(stage, targets)``, which
loads each target from the stages the declaration names for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from wifisense.caption.mirror import has_direction, swap_directions
from wifisense.errors import ConfigError
from wifisense.nn.contrastive import class_aware_info_nce, in_batch_match_accuracy

log = logging.getLogger(__name__)


def teacher_parts(teacher) -> nn.ModuleDict:
    """The teacher's trainable modules (the frozen CLIP / sentence towers are left out)."""
    parts = {"temporal": teacher.temporal, "video_projection": teacher.video_projection,
             "text_projection": teacher.text_projection}
    if teacher.text_pooling is not None:
        parts["text_pooling"] = teacher.text_pooling
    if not teacher.frame_encoder_frozen:
        parts["frame_encoder"] = teacher.frame_encoder
    return nn.ModuleDict(parts)


def set_trainable(module: nn.Module, trainable: bool) -> nn.Module:
    module.requires_grad_(trainable)
    module.train(trainable)
    return module


def pick_captions(captions: Sequence[Sequence[str]], draws: Sequence[float] | None) -> list[str]:
    """One caption per clip: the paraphrase ``draws`` (one float in ``[0, 1)`` per clip) points at, else the first.

    While training, ``draws`` is the batch's ``caption_draw``, which the training collate
    derives from (seed, epoch, clip index) (see ``caption.data.clip_uniforms``), so the
    pick needs no RNG here and a resumed run picks exactly what the interrupted one did.
    """
    if draws is None:
        return [c[0] for c in captions]
    return [c[min(int(u * len(c)), len(c) - 1)] for u, c in zip(draws, captions)]


def constant_embedding(batch_size: int, embed_dim: int, device) -> torch.Tensor:
    """The no-csi reference's input: one and the same (zero) embedding for every clip."""
    return torch.zeros(batch_size, embed_dim, device=device)


def _direction_mask(captions: Sequence[str], device) -> torch.Tensor:
    return torch.tensor([has_direction(c) for c in captions], dtype=torch.bool, device=device)


class StageModel(nn.Module):
    """A stage's trainable parts as registered submodules; frozen helpers in ``self.frozen`` (not saved).

    ``forward(batch) -> (loss, metrics)`` runs the stage's declared step, so the Trainer's
    ``step_fn`` only calls the model, as DDP requires.
    """

    def __init__(self, stage: str, parts: dict[str, nn.Module], frozen: dict[str, Any]):
        super().__init__()
        self.stage = stage
        self.declaration = declaration(stage)
        for name, module in parts.items():
            self.add_module(name, module)
        self.frozen = frozen

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.declaration.step(self, batch)

    def captions(self, batch: dict) -> list[str]:
        """A random paraphrase per clip while training (the training loader's ``caption_draw``), else the first."""
        return pick_captions(batch["captions"], batch["caption_draw"] if self.training else None)

    def csi_embedding(self, batch: dict) -> torch.Tensor:
        return self.student(batch["amplitude"], batch["phase"], batch["rx_valid"])

    def contrastive(self, a: torch.Tensor, b: torch.Tensor, batch: dict) -> torch.Tensor:
        if self.frozen.get("class_aware"):
            return class_aware_info_nce(a, b, batch["class_id"].to(a.device), self.loss.temperature)
        return self.loss(a, b)


Parts = tuple[dict[str, nn.Module], dict[str, Any]]


@dataclass(frozen=True)
class Stage:
    """One training stage, declared: the pipeline plans, builds, loads and checks from these fields."""

    name: str
    trains: tuple[str, ...]           # the parts whose weights it saves (the rest of what it uses is frozen)
    build: Callable[[Any, Stage], Parts]
    step: Callable[[StageModel, dict], tuple[torch.Tensor, dict[str, torch.Tensor]]]
    # part -> the stages that train it: needs must have trained it first, may_use loads it when there
    needs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    may_use: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    frames: bool = False              # its batches carry video frames
    csi: bool = False                 # its batches carry CSI
    frames_table: bool = False        # it first embeds the store's frames into a frozen table
    contrastive: bool = False         # in-batch negatives: its training loader drops a short last batch
    embedding_noise: bool = False     # its training batches carry noise for the frozen embeddings (S3)

    @property
    def reads_frames(self) -> bool:
        """Whether the store must hold video frames for this stage."""
        return self.frames or self.frames_table

    def providers(self, part: str) -> tuple[str, ...]:
        """The stages this one loads ``part`` from, in training order (the latest wins)."""
        return self.needs.get(part) or self.may_use.get(part, ())


def _trainable_prefix(prefix_lm) -> nn.Module:
    return set_trainable(prefix_lm.prefix_mapper, True)


# --------------------------------------------------------------------------- s1: the video-text teacher


def _build_s1(pipeline, stage: Stage) -> Parts:
    teacher = pipeline.teacher()
    parts = {"teacher": set_trainable(teacher_parts(teacher), True), "loss": pipeline.new_loss(),
             "mirror": pipeline.new_mirror()}
    return parts, {"teacher": teacher}


def _step_s1(model: StageModel, batch: dict):
    teacher, mirror = model.frozen["teacher"], model.mirror
    captions = model.captions(batch)
    ids = batch["index"].tolist()
    video = teacher.encode_video(batch["frames"], ids)
    text = teacher.encode_text(captions)
    nce = model.contrastive(video, text, batch)
    metrics = {"infonce": nce.detach(), "match_acc": in_batch_match_accuracy(video, text, batch["class_id"])}
    loss = nce
    if mirror.mode != "none":
        flipped = teacher.encode_video(batch["frames"], ids, flip=True)
        mirrored = teacher.encode_text([swap_directions(c) for c in captions])
        hinge = mirror.teacher_loss(video, text, flipped, mirrored, _direction_mask(captions, video.device))
        loss = loss + hinge
        metrics["mirror"] = hinge.detach()
    return loss, metrics


S1 = Stage("s1", trains=("teacher",), build=_build_s1, step=_step_s1, frames=True, contrastive=True)


# --------------------------------------------------------------------------- s2-1: CSI student <-> teacher video


def _build_s2_1(pipeline, stage: Stage) -> Parts:
    teacher = pipeline.teacher()
    tparts = teacher_parts(teacher)
    pipeline.load_trained(stage, {"teacher": tparts})
    set_trainable(tparts, False)
    teacher.eval()
    video_table = pipeline.embedding_table(lambda b: teacher.encode_video(b["frames"], b["index"].tolist()),
                                           csi=False, frames=True)
    return {"student": pipeline.new_student(), "loss": pipeline.new_loss()}, {"video_table": video_table}


def _step_s2_1(model: StageModel, batch: dict):
    csi = model.csi_embedding(batch)
    video = model.frozen["video_table"][batch["index"]].to(csi)
    nce = model.contrastive(csi, video, batch)
    return nce, {"infonce": nce.detach(), "match_acc": in_batch_match_accuracy(csi, video, batch["class_id"])}


S2_1 = Stage("s2-1", trains=("student",), build=_build_s2_1, step=_step_s2_1, needs={"teacher": ("s1",)},
             csi=True, frames_table=True, contrastive=True)


# --------------------------------------------------------------------------- s2-2: CSI student <-> caption


def _build_s2_2(pipeline, stage: Stage) -> Parts:
    teacher = pipeline.teacher()
    tparts = teacher_parts(teacher)
    student = pipeline.new_student()
    found = pipeline.load_trained(stage, {"teacher": tparts, "student": student})
    set_trainable(tparts, False)
    teacher.eval()
    parts = {"student": student, "loss": pipeline.new_loss(), "mirror": pipeline.new_mirror()}
    if not found["teacher"]:
        # No stage-1 teacher: the caption side of the space is learnt here.
        text_head = {"text_projection": teacher.text_projection}
        if teacher.text_pooling is not None:
            text_head["text_pooling"] = teacher.text_pooling
        parts["teacher"] = set_trainable(nn.ModuleDict(text_head), True)
        log.info("s2-2: no stage-1 teacher in %s; the text projection trains with the student", pipeline.run)
    return parts, {"teacher": teacher}


def _step_s2_2(model: StageModel, batch: dict):
    teacher, mirror = model.frozen["teacher"], model.mirror
    csi = model.csi_embedding(batch)
    captions = model.captions(batch)
    text = teacher.encode_text(captions)
    nce = model.contrastive(csi, text, batch)
    metrics = {"infonce": nce.detach(), "match_acc": in_batch_match_accuracy(csi, text, batch["class_id"])}
    loss = nce
    if mirror.mode == "full":
        mirrored = teacher.encode_text([swap_directions(c) for c in captions])
        hinge = mirror.student_loss(csi, text, mirrored, _direction_mask(captions, csi.device))
        loss = loss + hinge
        metrics["mirror"] = hinge.detach()
    return loss, metrics


# It trains the teacher's text head only when no stage-1 teacher is there (see _build_s2_2).
S2_2 = Stage("s2-2", trains=("student",), build=_build_s2_2, step=_step_s2_2,
             may_use={"teacher": ("s1",), "student": ("s2-1",)}, csi=True, contrastive=True)


# --------------------------------------------------------------------------- s3: prefix MLP over the frozen LM


def _build_s3(pipeline, stage: Stage) -> Parts:
    student = pipeline.new_student()
    pipeline.load_trained(stage, {"student": student})
    set_trainable(student, False)
    csi_table = pipeline.embedding_table(lambda b: student(b["amplitude"], b["phase"], b["rx_valid"]),
                                         csi=True, frames=False)
    prefix_lm = pipeline.prefix_lm()
    return {"prefix": _trainable_prefix(prefix_lm)}, {"csi_table": csi_table, "prefix_lm": prefix_lm}


def _step_s3(model: StageModel, batch: dict):
    embedding = model.frozen["csi_table"][batch["index"]].to(model.frozen["device"])
    if model.training and "embedding_noise" in batch:
        # The table holds the frozen student's embeddings of its own training clips, which it
        # fits better than the clips it meets at test; noise of a set fraction of each
        # embedding's norm makes the prefix read embeddings as scattered as unseen clips'.
        noise = batch["embedding_noise"].to(embedding.device)
        scale = model.frozen["embedding_noise"] * embedding.norm(dim=-1, keepdim=True) / noise.shape[-1] ** 0.5
        embedding = embedding + scale * noise
    loss = model.frozen["prefix_lm"].caption_loss(embedding, model.captions(batch))
    return loss, {}


# Its batches carry no CSI: it reads the frozen student's embeddings from the table built first.
S3 = Stage("s3", trains=("prefix",), build=_build_s3, step=_step_s3, needs={"student": ("s2-1", "s2-2")},
           embedding_noise=True)


# --------------------------------------------------------------------------- csi-lm: the baseline


def _build_csi_lm(pipeline, stage: Stage) -> Parts:
    prefix_lm = pipeline.prefix_lm()
    return {"student": pipeline.new_student(), "prefix": _trainable_prefix(prefix_lm)}, {"prefix_lm": prefix_lm}


def _step_csi_lm(model: StageModel, batch: dict):
    embedding = model.csi_embedding(batch)
    loss = model.frozen["prefix_lm"].caption_loss(embedding, model.captions(batch))
    return loss, {}


CSI_LM = Stage("csi-lm", trains=("student", "prefix"), build=_build_csi_lm, step=_step_csi_lm, csi=True)


# --------------------------------------------------------------------------- no-csi: the language-prior reference


def _build_no_csi(pipeline, stage: Stage) -> Parts:
    prefix_lm = pipeline.prefix_lm()
    return {"prefix": _trainable_prefix(prefix_lm)}, {"prefix_lm": prefix_lm, "embed_dim": pipeline.config.embed_dim}


def _step_no_csi(model: StageModel, batch: dict):
    captions = model.captions(batch)
    embedding = constant_embedding(len(captions), model.frozen["embed_dim"], model.frozen["device"])
    return model.frozen["prefix_lm"].caption_loss(embedding, captions), {}


NO_CSI = Stage("no-csi", trains=("prefix",), build=_build_no_csi, step=_step_no_csi)


STAGE_DECLARATIONS: dict[str, Stage] = {s.name: s for s in (S1, S2_1, S2_2, S3, CSI_LM, NO_CSI)}


def declaration(name: str) -> Stage:
    """The declared stage ``name``; ConfigError for a name no stage has."""
    try:
        return STAGE_DECLARATIONS[name]
    except KeyError:
        raise ConfigError(f"unknown stage {name!r}") from None
