"""Benchmark: packets/s of the CSI calibration chain (phase fit, then conjugate multiplication) on one core.

Times ``conjugate_multiply(remove_sto(csi, k))`` (or ``sanitize_phase`` then conjugate
multiplication with ``--method sanitize``) on complex64 CSI ``[N, 30, 3, 3]`` for the
vectorised library functions and for a straightforward per-packet NumPy loop doing the
same maths, in one run, checks they agree, and prints a table plus JSON
(``benchmarks/results/preprocess.json`` by default).

    python benchmarks/preprocess.py [--packets 8192] [--repeats 7] [--out FILE]
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

from wifisense.machine import cpu_model
from wifisense.signal import (
    INTEL5300_SUBCARRIERS_20MHZ,
    amplitude,
    conjugate_multiply,
    polar,
    remove_sto,
    sanitize_phase,
)

TARGET_PACKETS_PER_S = 250_000
TARGET_SPEEDUP = 20.0
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "preprocess.json"


def library_chain(csi, subcarriers, method: str):
    """The vectorised chain: one call per function over all packets."""
    if method == "sto":
        return conjugate_multiply(remove_sto(csi, subcarriers))
    return conjugate_multiply(polar(amplitude(csi), sanitize_phase(csi, subcarriers)))


def loop_chain(csi: np.ndarray, subcarriers: np.ndarray, method: str) -> np.ndarray:
    """The same maths written the straightforward way: one packet at a time with NumPy."""
    k = subcarriers.astype(np.float64)
    out = np.empty_like(csi)
    for p in range(csi.shape[0]):
        h = csi[p]  # [S, Nrx, Ntx]
        phase = np.unwrap(np.angle(h), axis=0)
        if method == "sto":
            # SpotFi: one line through the phases of all antennas of the packet.
            antennas = h.shape[1] * h.shape[2]
            slope, _ = np.polyfit(np.repeat(k, antennas), phase.reshape(-1), 1)
            h = h * np.exp(-1j * slope * k)[:, None, None]
        else:
            for rx in range(h.shape[1]):
                for tx in range(h.shape[2]):
                    line = np.polyval(np.polyfit(k, phase[:, rx, tx], 1), k)
                    phase[:, rx, tx] -= line
            h = np.abs(h) * np.exp(1j * phase)
        out[p] = h * np.conj(h[:, :1, :])
    return out


def time_it(function, repeats: int, warmup: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (this thread) seconds of ``repeats`` calls after ``warmup`` ones.

    CPU time is kept too because shared machines make wall time depend on other load.
    """
    for _ in range(warmup):
        function()
    wall, cpu = [], []
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.thread_time()
        function()
        cpu.append(time.thread_time() - cpu_start)
        wall.append(time.perf_counter() - wall_start)
    return wall, cpu


def rate_summary(packets: int, timings: tuple[list[float], list[float]]) -> dict:
    wall, cpu = timings
    return {
        "packets": packets,
        "repeats": len(wall),
        "median_s": statistics.median(wall),
        "best_s": min(wall),
        "packets_per_s_median": packets / statistics.median(wall),
        "packets_per_s_best": packets / min(wall),
        "packets_per_cpu_s_median": packets / statistics.median(cpu),
    }


def machine_info(torch_module) -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "load_average_1_5_15": list(load) if load else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": getattr(torch_module, "__version__", None),
        "threads": {name: os.environ[name] for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        "torch_threads": torch_module.get_num_threads() if torch_module else None,
    }


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=8192, help="N for the library run")
    parser.add_argument("--loop-packets", type=int, default=1024,
                        help="N for the per-packet loop (it is slow; rates are per packet)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--method", choices=("sto", "sanitize"), default="sto",
                        help="phase fit before conjugate multiplication")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch CPU row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch = None
    if not args.no_torch:
        import torch

        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)

    rng = np.random.default_rng(args.seed)
    shape = (args.packets, 30, 3, 3)
    csi = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    subcarriers = INTEL5300_SUBCARRIERS_20MHZ
    loop_csi = csi[: args.loop_packets]

    # Same result: the library (float32) against the loop (float64 maths), on loop_csi.
    expected = loop_chain(loop_csi, subcarriers, args.method)
    got = library_chain(loop_csi, subcarriers, args.method)
    scale = float(np.abs(expected).max())
    max_abs_diff = float(np.abs(got - expected).max())
    agree = max_abs_diff <= 1e-4 * scale

    rows = {
        "library_numpy": rate_summary(args.packets, time_it(
            lambda: library_chain(csi, subcarriers, args.method), args.repeats, args.warmup)),
        "loop_numpy": rate_summary(args.loop_packets, time_it(
            lambda: loop_chain(loop_csi, subcarriers, args.method), max(3, args.repeats // 2), 1)),
    }
    if torch is not None:
        csi_t = torch.from_numpy(csi)
        rows["library_torch"] = rate_summary(args.packets, time_it(
            lambda: library_chain(csi_t, subcarriers, args.method), args.repeats, args.warmup))

    library_rate = rows["library_numpy"]["packets_per_s_median"]
    speedup = library_rate / rows["loop_numpy"]["packets_per_s_median"]
    result = {
        "benchmark": "preprocess",
        "chain": ("conjugate_multiply(remove_sto(csi, k))" if args.method == "sto"
                  else "conjugate_multiply(polar(amplitude(csi), sanitize_phase(csi, k)))"),
        "csi": {"shape_per_packet": list(shape[1:]), "dtype": "complex64"},
        "rows": rows,
        "speedup_library_vs_loop": speedup,
        "agreement": {"max_abs_diff": max_abs_diff, "max_abs_value": scale, "agree": agree},
        "targets": {
            "packets_per_s": TARGET_PACKETS_PER_S,
            "speedup": TARGET_SPEEDUP,
            "packets_per_s_met": library_rate >= TARGET_PACKETS_PER_S,
            "speedup_met": speedup >= TARGET_SPEEDUP,
        },
        "machine": machine_info(torch),
    }

    print(f"chain: {result['chain']}  (complex64 [N, 30, 3, 3], one core)")
    print(f"{'implementation':<16}{'N':>8}{'median pkt/s':>16}{'best pkt/s':>16}"
          f"{'pkt/CPU-s':>16}")
    for name, row in rows.items():
        print(f"{name:<16}{row['packets']:>8}{row['packets_per_s_median']:>16,.0f}"
              f"{row['packets_per_s_best']:>16,.0f}{row['packets_per_cpu_s_median']:>16,.0f}")
    print(f"speed-up library/loop (median wall): {speedup:.1f}x  (target >= {TARGET_SPEEDUP:.0f}x: "
          f"{'met' if result['targets']['speedup_met'] else 'MISSED'})")
    print(f"library rate target >= {TARGET_PACKETS_PER_S:,} pkt/s: "
          f"{'met' if result['targets']['packets_per_s_met'] else 'MISSED'}")
    print(f"library == loop: {agree} (max |diff| {max_abs_diff:.2e} of max |value| {scale:.2e})")
    print(f"machine: {result['machine']['cpu']}, load {result['machine']['load_average_1_5_15']}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
