"""Data-parallel training on torch.distributed, as launched by ``torchrun``.

Launch any training entry point with, e.g.::

    torchrun --nproc_per_node=4 -m wifisense ...            # one machine, 4 GPUs
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 \\
             --nproc_per_node=8 -m wifisense ...            # two machines

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; ``init_distributed``
reads them (NCCL on CUDA, gloo on CPU). Without them everything here is a no-op for one process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from wifisense.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job: global rank, number of processes, rank on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_dist_info() -> DistInfo:
    """The current process group's view, without initialising anything."""
    if not _is_initialized():
        return DistInfo()
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(),
                    local_rank=int(os.environ.get("LOCAL_RANK", 0)), backend=str(dist.get_backend()))


def init_distributed(backend: str | None = None, timeout_s: float = 1800.0) -> DistInfo:
    """Join the torchrun job described by the environment; a single process gets ``DistInfo()``.

    Safe to call more than once (later calls return the existing group's info). The
    backend defaults to NCCL when CUDA is available and gloo otherwise; with NCCL the
    current CUDA device is set to LOCAL_RANK first, so ``select_device("auto")`` then
    picks this process's GPU.
    """
    if _is_initialized():
        return get_dist_info()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
    missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise ConfigError(f"WORLD_SIZE={world_size} but {', '.join(missing)} is not set; "
                          "launch with torchrun, which sets them")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, init_method="env://", timeout=timedelta(seconds=timeout_s))
    return get_dist_info()


def is_main_process() -> bool:
    """True on global rank 0 (and in any non-distributed run): the one process that writes files."""
    return get_dist_info().is_main


def barrier() -> None:
    if _is_initialized():
        dist.barrier()


def cleanup_distributed() -> None:
    """Leave the process group (call once at the end of a torchrun entry point)."""
    if _is_initialized():
        dist.destroy_process_group()


def _collective_device() -> torch.device:
    # NCCL only moves CUDA tensors; gloo works on CPU tensors.
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_mean(values: Mapping[str, float]) -> dict[str, float]:
    """Average scalar metrics over all ranks (every rank must pass the same keys)."""
    if not _is_initialized() or dist.get_world_size() == 1:
        return {k: float(v) for k, v in values.items()}
    names = sorted(values)
    stacked = torch.tensor([float(values[k]) for k in names], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
    stacked /= dist.get_world_size()
    return dict(zip(names, stacked.tolist()))


def all_gather_objects(obj: Any) -> list[Any]:
    """One picklable object from every rank, in rank order (``[obj]`` when not distributed)."""
    if not _is_initialized() or dist.get_world_size() == 1:
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from all ranks along dim 0 (rank order), keeping gradients to each rank's part.

    Returns ``x`` unchanged when not distributed. Every rank must pass the same shape (use
    ``drop_last=True`` for contrastive training so local batches are equal). Built on torch's
    differentiable all-gather (``_functional_collectives.all_gather_single`` where it exists, as
    torch 2.13's deprecation notice for ``torch.distributed.nn.functional.all_gather`` asks;
    that public function on older torch). Its backward *sums* the gradients that all ranks
    send to each rank's slice (a reduce-scatter). Works with gloo (CPU) and NCCL.

    Loss convention, with which DDP gradients equal the single-process full-batch gradients
    exactly: rank ``r`` holds ``n`` local rows; it gathers the other side ``b_all = gather(b)``
    (``N = world_size * n`` rows) and computes the loss of its **local rows against all
    columns**, averaged over its ``n`` local rows, with targets offset by ``r * n``::

        logits = a_local @ b_all.T / tau                              # [n, N]
        targets = torch.arange(n) + rank * n
        loss = (cross_entropy(logits, targets)
                + cross_entropy(b_local @ a_all.T / tau, targets)) / 2

    The mean of these per-rank losses is the full-batch loss. The gradient that reaches
    rank ``r``'s embeddings is the gradient of the *sum* of all ranks' losses, i.e.
    ``world_size`` times the full-batch gradient of that slice, and DDP's averaging over
    ``world_size`` ranks cancels that factor. (Without DDP, average gradients with
    ``all_reduce(SUM) / world_size`` for the same result.) Do not multiply the loss by
    ``world_size``.
    """
    if not _is_initialized() or dist.get_world_size() == 1:
        return x
    import torch.distributed._functional_collectives as functional_collectives

    if hasattr(functional_collectives, "all_gather_single"):
        # Recent torch (which deprecates the public autograd all_gather below) points here.
        return functional_collectives.all_gather_single(x, 0, dist.group.WORLD)
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x), dim=0)
