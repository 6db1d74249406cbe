"""Benchmark: NDF training-step time and ODE function evaluations, vectorised vs per-sample encoder, inference latency (one core).

For each preset (``tiny``, ``paper``; random weights) on a batch of 5-s windows shaped like
the simulated recordings (CSI at ~30 Hz with jitter and 3 % loss, 60 GHz beam SNR at ~4 Hz
with jitter and contention gaps, 50 query points), it measures, in one run:

- one training step (forward, ELBO, backward, gradient clipping, Adamax step) of NDF on a
  batch of 64 windows, and the latent-ODE function evaluations (NFE) of that step;
- the union-of-time-points ODE-RNN encoder on the whole batch against a per-sample Python
  loop over the SAME encoder (``ode_rnn.encode_loop``), checking that both give the same q(z0);
- inference latency of one window (batch 1, inference_mode, coordinates only), and the amortised time per window at
  batch 64.

Inputs are synthetic (uniform in [0, 1], the range the pipeline normalises to): timing
depends on shapes and time points, not on values. Prints a table and writes JSON
(``benchmarks/results/track.json`` by default).

    python benchmarks/track.py [--presets tiny,paper] [--batch 64] [--repeats 5] [--out FILE]
"""

from __future__ import annotations

import os

# One core: thread pools must be capped before NumPy / torch load their BLAS / OpenMP.
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
              "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_name] = "1"

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from wifisense.machine import cpu_model
from wifisense.track import data as track_data
from wifisense.track.config import load_track_config
from wifisense.track.factory import create_track_model, make_optimizer
from wifisense.track.losses import track_loss
from wifisense.track.ode_rnn import encode_loop

TARGET_SPEEDUP = 10.0
TARGET_LATENCY_MS = 20.0
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "track.json"
NUM_BEAMS = 36                      # the trajectory simulator's default beam patterns


def irregular_times(rng: np.random.Generator, window_s: float, rate_hz: float, jitter_s: float, loss: float,
                    gaps_per_s: float = 0.0, gap_s: tuple[float, float] = (0.5, 2.0)) -> np.ndarray:
    """Sorted sample times in [0, window_s) like a jittered, lossy stream with random silent gaps."""
    t = rng.uniform(0, 1 / rate_hz) + np.arange(0, window_s, 1 / rate_hz)
    t = t + rng.normal(0, jitter_s, t.shape)
    keep = rng.random(t.shape) >= loss
    for _ in range(rng.poisson(gaps_per_s * window_s)):
        start = rng.uniform(0, window_s)
        keep &= ~((t >= start) & (t < start + rng.uniform(*gap_s)))
    t = np.sort(t[keep & (t >= 0) & (t < window_s)])
    return t if len(t) else np.array([window_s / 2])


def synthetic_batch(batch_size: int, window_s: float, csi_dim: int, snr_dim: int, seed: int = 0):
    """A TrackBatch of ``batch_size`` windows with per-window time points, via the pipeline's collate."""
    rng = np.random.default_rng(seed)
    query_t = track_data.query_grid(window_s, 10.0)
    items = []
    for _ in range(batch_size):
        csi_t = irregular_times(rng, window_s, 30.0, 3e-3, 0.03)
        snr_t = irregular_times(rng, window_s, 4.0, 0.02, 0.02, gaps_per_s=0.08)
        items.append({
            "csi_t": torch.from_numpy((csi_t / window_s).astype(np.float32)),
            "csi": torch.from_numpy(rng.random((len(csi_t), csi_dim), dtype=np.float32)),
            "snr_t": torch.from_numpy((snr_t / window_s).astype(np.float32)),
            "snr": torch.from_numpy(rng.random((len(snr_t), snr_dim), dtype=np.float32)),
            "target_xy": torch.from_numpy(rng.random((len(query_t), 2), dtype=np.float32)),
            "query_mask": torch.ones(len(query_t))})
    return track_data.make_collate(query_t, ("csi", "snr"))(items)


def time_it(function, repeats: int, warmup: int = 1) -> dict:
    """Median / best wall and median CPU (this thread) seconds; CPU time is kept because shared
    machines make wall time depend on other load."""
    for _ in range(warmup):
        function()
    wall, cpu = [], []
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.thread_time()
        function()
        cpu.append(time.thread_time() - cpu_start)
        wall.append(time.perf_counter() - wall_start)
    return {"repeats": repeats, "median_s": statistics.median(wall), "best_s": min(wall),
            "cpu_median_s": statistics.median(cpu)}


def bench_preset(preset: str, batch_size: int, window_s: float, repeats: int, loop_repeats: int, seed: int) -> dict:
    config = load_track_config(preset)
    config.model.csi_dim, config.model.snr_dim = config.cae.embed_dim, NUM_BEAMS
    torch.manual_seed(seed)
    model = create_track_model("ndf", bands=("csi", "snr"), fusion="mlp", config=config)
    batch = synthetic_batch(batch_size, window_s, config.model.csi_dim, config.model.snr_dim, seed)
    optimizer, scheduler = make_optimizer(model, config.optim, steps_per_epoch=1000, epochs=1)

    nfe = {}

    def train_step():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        output = model(batch)
        loss, _ = track_loss(output, batch, config.loss)
        nfe["forward"] = output.nfe
        loss.backward()
        nfe["step"] = model.nfe          # > forward only when the adjoint method re-solves backwards
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
        optimizer.step()
        scheduler.step()

    train = time_it(train_step, repeats)

    # encoder: the whole batch on the union of time points vs one sample at a time, same weights
    model.eval()
    encoders = {}
    with torch.no_grad():
        for band in ("csi", "snr"):
            encoder, observed = model.encoders[band], batch.band(band)
            vector_mean, vector_logvar = encoder(observed)
            loop_mean, loop_logvar = encode_loop(encoder, observed)
            diff = max(float((vector_mean - loop_mean).abs().max()), float((vector_logvar - loop_logvar).abs().max()))
            vector = time_it(lambda e=encoder, o=observed: e(o), repeats)
            loop = time_it(lambda e=encoder, o=observed: encode_loop(e, o), loop_repeats)
            encoders[band] = {"union_points": int(observed.times.shape[0]),
                              "max_points_per_window": int(observed.lengths().max()),
                              "vectorised": vector, "per_sample_loop": loop,
                              "speedup": loop["median_s"] / vector["median_s"],
                              "max_abs_diff": diff, "agree": diff <= 1e-4}
    # inference as track predict / eval run it (evaluate.predict_windows): inference_mode,
    # coordinates only (no reconstruction solves)
    with torch.inference_mode():
        single = synthetic_batch(1, window_s, config.model.csi_dim, config.model.snr_dim, seed + 1)
        latency = time_it(lambda: model(single, reconstruct=False), max(repeats * 4, 20), warmup=2)
        batched = time_it(lambda: model(batch, reconstruct=False), repeats)
    vector_total = sum(e["vectorised"]["median_s"] for e in encoders.values())
    loop_total = sum(e["per_sample_loop"]["median_s"] for e in encoders.values())
    return {
        "preset": preset,
        "parameters": sum(p.numel() for p in model.parameters()),
        "solver": config.model.solver, "rtol": config.model.rtol, "atol": config.model.atol,
        "train_step": {**train, "nfe_forward": nfe["forward"], "nfe_step": nfe["step"]},
        "encoder": {**encoders, "speedup_both_bands": loop_total / vector_total},
        "inference": {"window_batch1": latency, "latency_ms": 1e3 * latency["median_s"],
                      "batch": batched, "ms_per_window_at_batch": 1e3 * batched["median_s"] / batch_size},
    }


def machine_info() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "load_average_1_5_15": list(load) if load else None,
            "platform": platform.platform(), "python": sys.version.split()[0], "numpy": np.__version__,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,paper", help="comma list of track presets")
    parser.add_argument("--batch", type=int, default=64, help="windows per training batch")
    parser.add_argument("--window", type=float, default=5.0, help="window length in seconds")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loop-repeats", type=int, default=2, help="repeats of the (slow) per-sample loop")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    rows = [bench_preset(p.strip(), args.batch, args.window, args.repeats, args.loop_repeats, args.seed)
            for p in args.presets.split(",") if p.strip()]
    agree = all(e["agree"] for r in rows for b, e in r["encoder"].items() if b in ("csi", "snr"))
    speedup_met = all(r["encoder"]["speedup_both_bands"] >= TARGET_SPEEDUP for r in rows)
    latency_met = all(r["inference"]["latency_ms"] <= TARGET_LATENCY_MS for r in rows)
    result = {"benchmark": "track", "batch": args.batch, "window_s": args.window, "rows": rows,
              "targets": {"encoder_speedup": TARGET_SPEEDUP, "latency_ms": TARGET_LATENCY_MS,
                          "encoder_speedup_met": speedup_met, "latency_met": latency_met},
              "encoders_agree": agree, "machine": machine_info()}

    print(f"NDF, batch {args.batch} x {args.window:g}-s windows (synthetic, 30 Hz CSI / 4 Hz SNR), one core")
    print(f"{'preset':<8}{'params':>9}{'step ms':>10}{'step CPU ms':>13}{'NFE fwd':>9}{'NFE step':>10}"
          f"{'enc vec ms':>12}{'enc loop ms':>13}{'speed-up':>10}{'infer ms/win':>14}{'CPU ms/win':>12}"
          f"{'ms/win @B':>11}")
    for r in rows:
        enc = r["encoder"]
        vec = sum(enc[b]["vectorised"]["median_s"] for b in ("csi", "snr"))
        loop = sum(enc[b]["per_sample_loop"]["median_s"] for b in ("csi", "snr"))
        step = r["train_step"]
        print(f"{r['preset']:<8}{r['parameters']:>9,}{1e3 * step['median_s']:>10.1f}{1e3 * step['cpu_median_s']:>13.1f}"
              f"{step['nfe_forward']:>9}{step['nfe_step']:>10}{1e3 * vec:>12.1f}{1e3 * loop:>13.1f}"
              f"{enc['speedup_both_bands']:>9.1f}x{r['inference']['latency_ms']:>14.2f}"
              f"{1e3 * r['inference']['window_batch1']['cpu_median_s']:>12.2f}"
              f"{r['inference']['ms_per_window_at_batch']:>11.2f}")
    print(f"encoder speed-up target >= {TARGET_SPEEDUP:.0f}x: {'met' if speedup_met else 'MISSED'}; "
          f"latency target <= {TARGET_LATENCY_MS:.0f} ms/window: {'met' if latency_met else 'MISSED'}; "
          f"vectorised == per-sample encoder: {agree}")
    print(f"machine: {result['machine']['cpu']}, load {result['machine']['load_average_1_5_15']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
