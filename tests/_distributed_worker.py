"""Worker for tests/test_distributed.py: run by torchrun with 2 CPU processes (gloo); saves rank<R>.pt.

The model/loss definitions here are also imported by the test for its single-process
references, so both sides compute exactly the same thing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

FULL_BATCH = 8
TAU = 0.1


def full_regression_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(11)
    x = torch.randn(FULL_BATCH, 4, generator=generator)
    return x, x.sum(dim=1, keepdim=True) + 0.1 * torch.randn(FULL_BATCH, 1, generator=generator)


def full_pair_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(12)
    return torch.randn(FULL_BATCH, 5, generator=generator), torch.randn(FULL_BATCH, 3, generator=generator)


def regression_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))


class TwoTowers(nn.Module):
    """Two small encoders into a shared 6-d space, like a CSI/text pair."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.left = nn.Linear(5, 6)
        self.right = nn.Linear(3, 6)

    def forward(self, left, right):
        return (nn.functional.normalize(self.left(left), dim=-1),
                nn.functional.normalize(self.right(right), dim=-1))


def symmetric_infonce(a_local, b_local, a_all, b_all, row_offset: int) -> torch.Tensor:
    """Local rows against all columns, mean over local rows (the all_gather_with_grad convention)."""
    targets = torch.arange(a_local.shape[0]) + row_offset
    return (nn.functional.cross_entropy(a_local @ b_all.T / TAU, targets)
            + nn.functional.cross_entropy(b_local @ a_all.T / TAU, targets)) / 2


def regression_step(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y), {}


def trainer_dataset():
    from torch.utils.data import TensorDataset

    generator = torch.Generator().manual_seed(13)
    x = torch.randn(32, 4, generator=generator)
    return TensorDataset(x, x[:, :1] - x[:, 1:2])


def main(out_dir: Path) -> None:
    from torch.nn.parallel import DistributedDataParallel

    import wifisense.training.trainer as trainer_module
    from wifisense.training import (TrainConfig, Trainer, all_gather_with_grad, build_loader, cleanup_distributed,
                                    init_distributed)

    torch.set_num_threads(1)
    info = init_distributed()
    assert info.world_size == 2 and info.backend == "gloo", info
    local = slice(info.rank * FULL_BATCH // 2, (info.rank + 1) * FULL_BATCH // 2)
    results: dict = {"rank": info.rank}

    # (a) DDP averages the gradients of the two half batches.
    model = DistributedDataParallel(regression_model())
    x, y = full_regression_batch()
    nn.functional.mse_loss(model(x[local]), y[local]).backward()
    results["ddp_grads"] = {name: p.grad.clone() for name, p in model.module.named_parameters()}

    # (b) InfoNCE over all-gathered embeddings.
    towers = DistributedDataParallel(TwoTowers())
    left, right = (t[local].clone().requires_grad_() for t in full_pair_batch())
    a_local, b_local = towers(left, right)
    loss = symmetric_infonce(a_local, b_local, all_gather_with_grad(a_local), all_gather_with_grad(b_local),
                             row_offset=info.rank * FULL_BATCH // 2)
    loss.backward()
    results["infonce_loss"] = loss.detach()
    results["infonce_grads"] = {name: p.grad.clone() for name, p in towers.module.named_parameters()}
    results["infonce_input_grads"] = (left.grad.clone(), right.grad.clone())

    # (c) The Trainer end to end: 4 samples per rank and step, checkpoints and logs by rank 0 only.
    writes = {"count": 0}
    for name in ("save_weights", "save_state", "write_json"):
        original = getattr(trainer_module, name)

        def counting(*args, _original=original, **kwargs):
            writes["count"] += 1
            return _original(*args, **kwargs)

        setattr(trainer_module, name, counting)
    trainer = Trainer(regression_model(), step_fn=regression_step, optimizer=lambda p: torch.optim.SGD(p, lr=0.2),
                      train_loader=build_loader(trainer_dataset(), FULL_BATCH // 2, seed=4),
                      val_loader=build_loader(trainer_dataset(), 8, shuffle=False),
                      config=TrainConfig(epochs=2, log_every=2, run_dir=str(out_dir / "run"), quiet=True))
    results["trainer_is_ddp"] = isinstance(trainer.train_model, DistributedDataParallel)
    results["summary"] = trainer.fit()
    results["trainer_weights"] = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    results["file_writes"] = writes["count"]

    torch.save(results, out_dir / f"rank{info.rank}.pt")
    cleanup_distributed()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
