"""The shared training loop: devices, precision, distributed, checkpoints, logging."""

from wifisense.training.checkpoint import load_weights, save_weights, unwrap_model
from wifisense.training.data import build_loader
from wifisense.training.device import Precision, move_to_device, select_device, select_precision
from wifisense.training.distributed import (DistInfo, all_gather_with_grad, all_reduce_mean, cleanup_distributed,
                                            get_dist_info, init_distributed, is_main_process)
from wifisense.training.seeding import seed_everything
from wifisense.training.trainer import Trainer, TrainConfig

__all__ = [
    "DistInfo", "Precision", "TrainConfig", "Trainer", "all_gather_with_grad", "all_reduce_mean", "build_loader",
    "cleanup_distributed", "get_dist_info", "init_distributed", "is_main_process", "load_weights",
    "move_to_device", "save_weights", "seed_everything", "select_device", "select_precision", "unwrap_model",
]
