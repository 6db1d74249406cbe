"""Multi-band Neural Dynamic Fusion: asynchronous CSI + beam SNR to continuous 2-D trajectories."""
