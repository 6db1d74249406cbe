"""Data-parallel training on 2 CPU processes (torchrun + gloo) matches one process on the full batch."""

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from wifisense.training import DistInfo, TrainConfig, Trainer, all_gather_with_grad, build_loader

WORKER_PATH = Path(__file__).with_name("_distributed_worker.py")


def load_worker():
    spec = importlib.util.spec_from_file_location("_distributed_worker", WORKER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_rank_results(tmp_path_factory):
    """Run the worker once under torchrun with 2 processes; return each rank's saved results."""
    out_dir = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}  # stay on the loopback interface
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={free_loopback_port()}",
               str(WORKER_PATH), str(out_dir)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = [torch.load(out_dir / f"rank{rank}.pt", weights_only=False) for rank in (0, 1)]
    return out_dir, results


def assert_grads_close(actual: dict, expected: dict, scale: float = 1.0):
    assert actual.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], scale * expected[name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.slow
def test_ddp_gradients_equal_full_batch_gradients(two_rank_results):
    worker = load_worker()
    _, ranks = two_rank_results
    model = worker.regression_model()
    x, y = worker.full_regression_batch()
    nn.functional.mse_loss(model(x), y).backward()
    expected = {name: p.grad for name, p in model.named_parameters()}
    for result in ranks:
        assert_grads_close(result["ddp_grads"], expected)


@pytest.mark.slow
def test_all_gathered_infonce_matches_full_batch_infonce(two_rank_results):
    worker = load_worker()
    _, ranks = two_rank_results
    towers = worker.TwoTowers()
    left, right = (t.clone().requires_grad_() for t in worker.full_pair_batch())
    a, b = towers(left, right)
    loss = worker.symmetric_infonce(a, b, all_gather_with_grad(a), all_gather_with_grad(b), row_offset=0)
    loss.backward()

    # The full-batch loss is the mean of the per-rank losses.
    torch.testing.assert_close((ranks[0]["infonce_loss"] + ranks[1]["infonce_loss"]) / 2, loss.detach())
    expected = {name: p.grad for name, p in towers.named_parameters()}
    half = worker.FULL_BATCH // 2
    for rank, result in enumerate(ranks):
        # Parameter gradients (after DDP's average) equal the single-process ones exactly ...
        assert_grads_close(result["infonce_grads"], expected)
        # ... because each rank's inputs receive world_size x their full-batch gradient.
        local = slice(rank * half, (rank + 1) * half)
        left_grad, right_grad = result["infonce_input_grads"]
        torch.testing.assert_close(left_grad, 2 * left.grad[local], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(right_grad, 2 * right.grad[local], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_two_rank_trainer_matches_one_process_on_the_full_batch(two_rank_results, tmp_path):
    worker = load_worker()
    out_dir, ranks = two_rank_results
    assert all(result["trainer_is_ddp"] for result in ranks)

    torch.set_num_threads(1)
    single = Trainer(worker.regression_model(), step_fn=worker.regression_step,
                     optimizer=lambda p: torch.optim.SGD(p, lr=0.2),
                     train_loader=build_loader(worker.trainer_dataset(), worker.FULL_BATCH, seed=4,
                                               dist_info=DistInfo()),
                     val_loader=build_loader(worker.trainer_dataset(), 8, shuffle=False, dist_info=DistInfo()),
                     config=TrainConfig(epochs=2, log_every=2, run_dir=str(tmp_path), quiet=True))
    summary = single.fit()
    for result in ranks:
        assert_grads_close(result["trainer_weights"], single.model.state_dict())
        assert result["summary"]["steps"] == summary["steps"] == 8
        assert result["summary"]["best"]["value"] == pytest.approx(summary["best"]["value"], rel=1e-5)
        assert result["summary"]["world_size"] == 2
    # Only rank 0 wrote files; its logs have one row per event, not one per rank.
    assert ranks[0]["file_writes"] > 0 and ranks[1]["file_writes"] == 0
    logged = (out_dir / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(logged) == len((tmp_path / "metrics.jsonl").read_text().splitlines())
    assert (out_dir / "run" / "model.safetensors").is_file()
