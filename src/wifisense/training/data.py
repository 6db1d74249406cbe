"""DataLoaders whose order is a function of (seed, epoch) only, so runs shard and resume exactly."""

from __future__ import annotations

from collections.abc import Callable

from torch.utils.data import DataLoader, Dataset, DistributedSampler

from wifisense.training.distributed import DistInfo, get_dist_info


def build_loader(dataset: Dataset, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, num_workers: int = 0, collate_fn: Callable | None = None,
                 pin_memory: bool = False, dist_info: DistInfo | None = None) -> DataLoader:
    """A DataLoader over this rank's shard, shuffled by ``seed + epoch``.

    It always uses a ``DistributedSampler`` — with one replica when not distributed —
    because its permutation depends only on ``seed`` and the epoch the Trainer sets with
    ``set_epoch``, not on the global RNG: that is what lets a resumed run see the same
    batches. ``batch_size`` is per rank. Use ``drop_last=True`` for contrastive training
    (``all_gather_with_grad`` needs equal local batches). For evaluation (``shuffle=False``)
    on several ranks the sampler pads the last shard with repeated samples, so averaged
    metrics are very slightly weighted; evaluate on one rank when that matters.
    """
    info = dist_info if dist_info is not None else get_dist_info()
    sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank,
                                 shuffle=shuffle, seed=seed, drop_last=drop_last)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last,
                      num_workers=num_workers, collate_fn=collate_fn, pin_memory=pin_memory)
