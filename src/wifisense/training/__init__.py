"""The shared training loop: devices, precision, distributed, checkpoints, logging."""
