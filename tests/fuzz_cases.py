"""The fuzz suite: bad variants of real captures, stores and logs, and what wifisense makes of them.

Every case must end in a clear one-line error that names the file (a WifisenseError), or
in a correct read. Anything else is a failure: a traceback (any other exception), a hang
(no answer within the time limit), a crash (the process dies) or a silent accept (a read
that loses records without saying so, or that reads bytes it should have refused).

Cases are derived deterministically from ``--seed``: from the real captures in
``../shared/data/real/`` and from a caption store, a multi-band store and beam-SNR /
positions CSVs made here. Categories:

- ``truncate``: the file cut at many offsets;
- ``flip_head`` / ``flip_body``: bit flips in the first 256 bytes / anywhere;
- ``huge_length`` / ``zero_length``: a 32-bit word (or 16-bit for Intel) set to a huge
  value or to zero at a record-header-like position;
- ``concat``: two files of different kinds glued together;
- ``special``: empty, all-zero and all-0xFF files, a directory, a FIFO, /dev/zero.

Cases run in a worker process that reports one JSON line per case; when the worker dies,
the case it was on is a crash and a new worker carries on. Run as a script for the table:

    python tests/fuzz_cases.py --per-source 40 --json fuzz.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
REAL_CAPTURES = ("intel5300_example.dat", "intel5300_log_all_csi_6_7_6.dat", "atheros_ath_csi_1.dat",
                 "nexmon_bcm4358_example.pcap", "picoscenes_iwl5300_example.csi", "esp32_example_csi.csv")
MADE = ("caption_store.h5", "multiband_store.h5", "beam_snr.csv", "positions.csv")
CATEGORIES = ("truncate", "flip_head", "flip_body", "huge_length", "zero_length", "concat", "special")
OUTCOMES = ("clear_error", "correct_read", "unclear_error", "traceback", "hang", "crash", "silent_accept")
FAILURES = ("unclear_error", "traceback", "hang", "crash", "silent_accept")
CASE_TIMEOUT_S = 20
# The worker's time limit for a contained read of a store (wifisense.io.h5open): a damaged
# heap that makes HDF5 loop is reported after this, well inside CASE_TIMEOUT_S.
READ_LIMIT_BASE_S = 5.0
# A worker silent this long is stuck where SIGALRM cannot reach (C code): the driver kills it
# and records the case as a hang, so the suite itself can never hang.
WORKER_SILENCE_S = 3 * CASE_TIMEOUT_S
# ESP32-CSI-Tool output is a console log: lines other than CSI_DATA rows are expected in it
TEXT_LOGS_WITH_OTHER_LINES = ("esp32_example_csi.csv",)
RATE_HZ = 100.0  # for captures without a clock (one of the real Intel logs)


@dataclass(frozen=True)
class Case:
    index: int
    category: str
    source: str       # file name of the pristine source, or "" for special files
    detail: str       # what was done, e.g. "cut at 1234"


# ----------------------------------------------------------------------------- sources


def make_sources(folder: Path) -> dict[str, Path]:
    """Pristine sources: the real captures that exist, and small stores and CSVs made here."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_store import make_caption, make_multiband

    from wifisense.io import store
    from wifisense.io.logs import write_beam_snr_csv, write_positions_csv

    folder.mkdir(parents=True, exist_ok=True)
    sources = {name: REAL_DIR / name for name in REAL_CAPTURES if (REAL_DIR / name).is_file()}
    made = {name: folder / name for name in MADE}
    if not made["caption_store.h5"].is_file():
        store.write_caption_store(made["caption_store.h5"], make_caption())
        store.write_multiband_store(made["multiband_store.h5"], make_multiband())
        rng = np.random.default_rng(0)
        write_beam_snr_csv(made["beam_snr.csv"], np.arange(20) * 0.2, rng.normal(10, 3, (20, 4)))
        write_positions_csv(made["positions.csv"], np.arange(20) * 0.1, rng.uniform(0, 5, (20, 2)))
    sources.update(made)
    return sources


def cases(sources: dict[str, Path], per_source: int, seed: int = 0) -> list[Case]:
    """``per_source`` cases per source and byte-level category, plus concatenations and special files."""
    out: list[Case] = []
    names = sorted(sources)
    rng = np.random.default_rng(seed)
    for name in names:
        size = sources[name].stat().st_size
        for category in ("truncate", "flip_head", "flip_body", "huge_length", "zero_length"):
            for k in range(per_source):
                if category == "truncate":
                    detail = f"cut at {int(rng.integers(1, size))}"
                elif category == "flip_head":
                    detail = f"flip {int(rng.integers(0, min(size, 256)))}:{int(rng.integers(0, 8))}"
                elif category == "flip_body":
                    detail = f"flip {int(rng.integers(0, size))}:{int(rng.integers(0, 8))}"
                else:
                    detail = f"word at {int(rng.integers(0, max(1, min(size - 4, 4096))))}"
                out.append(Case(len(out), category, name, detail))
    for a in names:
        for b in names:
            if a != b:
                out.append(Case(len(out), "concat", a, b))
    for detail in ("empty", "zeros", "ones", "directory", "fifo", "/dev/zero"):
        out.append(Case(len(out), "special", "", detail))
    return out


def materialise(case: Case, sources: dict[str, Path], folder: Path) -> Path:
    """Write the case's file (or make the special file) and return its path."""
    if case.category == "special":
        path = folder / f"case{case.index}.bin"
        if case.detail == "empty":
            path.write_bytes(b"")
        elif case.detail == "zeros":
            path.write_bytes(bytes(4096))
        elif case.detail == "ones":
            path.write_bytes(b"\xff" * 4096)
        elif case.detail == "directory":
            path = folder / f"case{case.index}.dat"
            path.mkdir(exist_ok=True)
        elif case.detail == "fifo":
            path = folder / f"case{case.index}.dat"
            if not path.exists():
                os.mkfifo(path)
        else:
            path = Path(case.detail)
        return path
    data = bytearray(sources[case.source].read_bytes())
    suffix = Path(case.source).suffix
    if case.category == "truncate":
        data = data[:int(case.detail.split()[-1])]
    elif case.category.startswith("flip"):
        pos, bit = (int(v) for v in case.detail.split()[-1].split(":"))
        data[pos] ^= 1 << bit
    elif case.category in ("huge_length", "zero_length"):
        pos = int(case.detail.split()[-1])
        word = b"\xff\xff\xff\x7f" if case.category == "huge_length" else b"\x00\x00\x00\x00"
        data[pos:pos + 4] = word
    elif case.category == "concat":
        data += sources[case.detail].read_bytes()
    path = folder / f"case{case.index}{suffix}"
    path.write_bytes(bytes(data))
    return path


# ----------------------------------------------------------------------------- one case


def _pristine_packets(sources: dict[str, Path], cache: dict) -> dict[str, np.ndarray]:
    from wifisense.io import read_csi

    if not cache:
        for name in REAL_CAPTURES:
            if name in sources:
                cache[name] = read_csi(sources[name], rate_hz=RATE_HZ).csi
    return cache


def classify(case: Case, path: Path, sources: dict[str, Path], pristine: dict) -> tuple[str, str]:
    """(outcome, message) of one case, run in this process."""
    from wifisense.errors import WifisenseError
    from wifisense.io import read_csi
    from wifisense.io.inspect import summarise_file
    from wifisense.io.validate import validate_store

    kind = "store" if case.source.endswith(".h5") else "csv" if case.source in ("beam_snr.csv", "positions.csv") \
        else "capture"
    try:
        if kind == "store":
            summarise_file(path)
            problems = validate_store(path)
            return "correct_read", f"{len(problems)} validate problem(s)"
        if kind == "csv" or case.category == "special":
            summarise_file(path)
            if case.category == "special" and case.detail in ("directory", "fifo", "/dev/zero", "empty"):
                return "silent_accept", "a special file was read"
            return "correct_read", ""
        recording = read_csi(path, rate_hz=RATE_HZ)
    except WifisenseError as exc:
        message = str(exc)
        if "\n" in message or str(path) not in message:
            return "unclear_error", message
        return "clear_error", message
    except Exception as exc:  # any other exception is a traceback for the user
        return "traceback", f"{type(exc).__name__}: {exc}"
    # A capture that was read: no packet may vanish without being counted.
    original = pristine[case.source]
    got = recording.csi.shape[0]
    # records read, skipped (counted) or parsed as frames without CSI (PicoScenes, reported)
    skipped = int(recording.source.get("skipped_records", 0)) + int(recording.source.get("frames_without_csi", 0))
    if case.category == "concat":
        other = pristine.get(case.detail)
        same_format = other is not None and Path(case.detail).suffix == Path(case.source).suffix \
            and recording.source.get("format") == _format_of(sources[case.detail])
        if same_format and got + skipped >= original.shape[0] + other.shape[0]:
            return "correct_read", f"two logs of one format: {got} packets"
        if case.source in TEXT_LOGS_WITH_OTHER_LINES and case.detail.endswith(".csv") and got >= original.shape[0]:
            return "correct_read", "other text lines are console output this format interleaves"
        return "silent_accept", f"read {got} packets from two glued files"
    if case.category == "truncate":
        ok = got <= original.shape[0] and np.array_equal(recording.csi, original[:got]) \
            or got + skipped >= original.shape[0]
        return ("correct_read", f"{got} packets") if ok else ("silent_accept", f"{got} packets, lost records")
    if got + skipped < original.shape[0]:
        return "silent_accept", f"{got} packets + {skipped} skipped < {original.shape[0]}"
    return "correct_read", f"{got} packets, {skipped} skipped"


def _format_of(path: Path) -> str | None:
    from wifisense.io.readers import detect_format

    try:
        return detect_format(path)
    except Exception:
        return None


# ----------------------------------------------------------------------------- worker and driver


def worker(folder: Path, per_source: int, seed: int, start: int) -> None:
    """Run cases from ``start`` on, one JSON line each (flushed, so the parent sees progress)."""
    import signal

    from wifisense.io import h5open

    h5open.READ_LIMIT_BASE_S = READ_LIMIT_BASE_S
    sources = make_sources(folder / "sources")
    all_cases = cases(sources, per_source, seed)
    pristine: dict = {}
    _pristine_packets(sources, pristine)

    def timeout(signum, frame):
        raise TimeoutError

    signal.signal(signal.SIGALRM, timeout)
    for case in all_cases[start:]:
        print(json.dumps({"index": case.index, "started": True}), flush=True)
        path = materialise(case, sources, folder)
        signal.alarm(CASE_TIMEOUT_S)
        try:
            outcome, message = classify(case, path, sources, pristine)
        except TimeoutError:
            outcome, message = "hang", f"no answer in {CASE_TIMEOUT_S} s"
        finally:
            signal.alarm(0)
        if path.is_file() and path.parent == folder:
            path.unlink()
        print(json.dumps({"index": case.index, "outcome": outcome, "message": message[:300]}), flush=True)


def run_suite(per_source: int, seed: int = 0, folder: Path | None = None) -> tuple[list[Case], dict[int, dict]]:
    """Run every case in worker processes; returns the cases and {index: result}."""
    own = folder is None
    folder = Path(tempfile.mkdtemp(prefix="wifisense-fuzz-")) if own else folder
    sources = make_sources(folder / "sources")
    all_cases = cases(sources, per_source, seed)
    results: dict[int, dict] = {}
    start = 0
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                                      os.environ.get("PYTHONPATH", "")]))
    while start < len(all_cases):
        # stderr goes to a file, not a pipe: a worker's warnings can pass a pipe's 64 KiB
        # while we are still reading its stdout, and then both sides would wait forever.
        with tempfile.TemporaryFile(mode="w+") as err:
            proc = subprocess.Popen([sys.executable, __file__, "--worker", "--folder", str(folder),
                                     "--per-source", str(per_source), "--seed", str(seed), "--start", str(start)],
                                    stdout=subprocess.PIPE, stderr=err, text=True, env=env)
            current = None
            heard = [time.monotonic()]
            done = threading.Event()
            silent = threading.Event()

            def watchdog():
                while not done.wait(1.0):
                    if time.monotonic() - heard[0] > WORKER_SILENCE_S:
                        silent.set()
                        proc.kill()
                        return

            guard = threading.Thread(target=watchdog, daemon=True)
            guard.start()
            for line in proc.stdout:
                heard[0] = time.monotonic()
                row = json.loads(line)
                if row.get("started"):
                    current = row["index"]
                else:
                    results[row["index"]] = row
                    current = None
            proc.wait()
            done.set()
            guard.join()
            err.seek(0)
            stderr = err.read()
        if current is None:
            if proc.returncode != 0 and len(results) < len(all_cases):
                raise RuntimeError(f"fuzz worker failed outside a case:\n{stderr[-3000:]}")
            break
        if silent.is_set():
            results[current] = {"index": current, "outcome": "hang",
                                "message": f"no answer in {WORKER_SILENCE_S} s (stuck in C code?)"}
        else:
            results[current] = {"index": current, "outcome": "crash",
                                "message": f"worker exit status {proc.returncode}: {stderr[-300:]}"}
        start = current + 1
    return all_cases, results


def table(all_cases: list[Case], results: dict[int, dict]) -> list[dict]:
    rows = []
    for category in CATEGORIES:
        chosen = [c for c in all_cases if c.category == category]
        counts = {o: sum(results[c.index]["outcome"] == o for c in chosen) for o in OUTCOMES}
        rows.append({"category": category, "cases": len(chosen), **counts})
    rows.append({"category": "all", "cases": len(all_cases),
                 **{o: sum(r[o] for r in rows) for o in OUTCOMES}})
    return rows


def format_table(rows: list[dict]) -> str:
    head = ["category", "cases", *OUTCOMES]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    lines += [" | ".join(str(r[h]) for h in head) for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-source", type=int, default=40, help="cases per source and category (default: 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the table, failures and wall time here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(Path(args.folder), args.per_source, args.seed, args.start)
        return 0
    started = time.perf_counter()
    all_cases, results = run_suite(args.per_source, args.seed)
    rows = table(all_cases, results)
    print(format_table(rows))
    failures = [{**vars(c), **results[c.index]} for c in all_cases if results[c.index]["outcome"] in FAILURES]
    for f in failures[:20]:
        print(f"FAIL {f['category']} {f['source']} {f['detail']}: {f['outcome']}: {f['message']}")
    wall = time.perf_counter() - started
    print(f"{len(all_cases)} cases in {wall:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"table": rows, "failures": failures, "wall_s": round(wall, 1),
                                               "per_source": args.per_source, "seed": args.seed}, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
