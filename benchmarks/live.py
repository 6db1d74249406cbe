"""Live sensing: the highest sustained packet rate without drops, caption latency, and memory over time (issue 14).

Three measurements, each with ``wifisense live`` in its own process pinned to one core
(``taskset``, when present) and the sender on another:

1. **Throughput.** Nexmon CSI UDP payloads (the real capture in ``../shared/data/real``,
   cycled) are sent to ``wifisense live`` on 127.0.0.1 at each ``--rates`` for
   ``--seconds``; received / sent and drops per rate. No model: the cost of receiving,
   decoding and buffering.
2. **Caption latency.** A tiny caption model is trained on clips ingested from the real
   ESP32 capture; the capture is replayed in real time through a pipe into
   ``wifisense live --model``; ``latency_ms`` (the hop's due time to its caption) of every
   hop, median and p99.
3. **Track latency.** A tiny two-band track model (RNN-Decay, CSI + beam SNR) is trained on
   a store ingested from the real Intel 5300 capture (looped) with made-up positions and beam
   SNR; the capture and the SNR log are replayed in real time into two growing files that
   ``wifisense live --model`` follows; ``latency_ms`` of every hop that gave new points,
   median and p99.
4. **Memory.** Peak and current RSS of the throughput receiver at 1 minute and at
   ``--minutes`` of a sustained stream (``VmRSS``/``VmHWM`` from ``/proc``).

Prints a table and writes JSON::

    python benchmarks/live.py --rates 1000,2000,4000,8000 --seconds 5 --minutes 10 --json live.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
NEXMON = REAL / "nexmon_bcm4358_example.pcap"
ESP32 = REAL / "esp32_example_csi.csv"
INTEL = REAL / "intel5300_example.dat"


def _cli(*args: str, core: int | None = 0) -> list[str]:
    pin = ["taskset", "-c", str(core)] if core is not None and shutil.which("taskset") else []
    return [*pin, sys.executable, "-m", "wifisense.cli", *args]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def send_paced(port: int, rate: float, seconds: float, on_second=None) -> int:
    """Cycle the real Nexmon payloads to 127.0.0.1:port at ``rate`` packets/s; returns packets sent."""
    from wifisense.io.readers.nexmon import udp_payloads

    payloads = [p for _, p in udp_payloads(NEXMON, NEXMON.read_bytes())]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    started, sent, next_second = time.perf_counter(), 0, 1
    try:
        while True:
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                break
            due = int(elapsed * rate) + 1 - sent      # packets owed by now
            for _ in range(max(0, due)):
                sock.sendto(payloads[sent % len(payloads)], ("127.0.0.1", port))
                sent += 1
            if on_second is not None and elapsed >= next_second:
                on_second(next_second)
                next_second += 1
            if due <= 0:
                time.sleep(min(0.0005, 1.0 / rate))
    finally:
        sock.close()
    return sent


def throughput(rate: float, seconds: float, minutes_marks=()) -> dict:
    port = _free_port()
    out = tempfile.NamedTemporaryFile("w+", suffix=".jsonl", delete=False)
    live = subprocess.Popen(_cli("live", "--source", f"udp://127.0.0.1:{port}", "--chip", "4358", "--bw", "80",
                                 "--seconds", str(seconds + 3), "--hop", "1", "--out", out.name),
                            stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)                                   # the receiver is listening
    memory = {}

    def mark(second: int) -> None:
        if second in minutes_marks:
            memory[second] = _rss_mb(live.pid)

    sent = send_paced(port, rate, seconds, mark)
    _, err = live.communicate(timeout=seconds + 60)
    lines = [json.loads(line) for line in Path(out.name).read_text().splitlines() if line.strip()]
    os.unlink(out.name)
    received = lines[-1]["sources"][f"udp://127.0.0.1:{port}"]["received"] if lines else 0
    return {"rate": rate, "seconds": seconds, "sent": sent, "received": received,
            "dropped": sent - received, "drop_fraction": (sent - received) / max(sent, 1),
            "rss_mb": {str(k): v for k, v in memory.items()}}


def _latency(live: subprocess.CompletedProcess, key: str) -> tuple[list[dict], dict]:
    """The JSON lines of a finished ``wifisense live`` run, and the count, median, p99 and max
    ``latency_ms`` of the hops whose line has a non-empty ``key`` (a caption, new track points)."""
    lines = [json.loads(line) for line in live.stdout.splitlines() if line.strip()]
    latency = np.array([line["latency_ms"] for line in lines if line.get(key)])
    if not latency.size:
        raise SystemExit(f"no {key} came back: {live.stderr[-2000:]}")
    return lines, {"count": int(latency.size), "median_ms": float(np.median(latency)),
                   "p99_ms": float(np.percentile(latency, 99)), "max_ms": float(latency.max())}


def caption_latency(hops: int, hop: float) -> dict:
    """Median and p99 latency of live captions from a tiny model on the real ESP32 capture."""
    tmp = Path(tempfile.mkdtemp(prefix="wifisense-live-bench-"))
    store = tmp / "esp32.h5"
    for k in range(8):
        side = "left" if k % 2 == 0 else "right"
        subprocess.run(_cli("-q", "ingest", "caption", "--rx", str(ESP32), "--caption", f"a person raises the {side} arm",
                            "--class", side, "--clip-rate", "100", "--seconds", "0.05", "--out", str(store),
                            *(["--append"] if k else []), core=None), check=True)
    subprocess.run(_cli("-q", "split", str(store), "--ratios", "0.5,0.25,0.25", core=None), check=True)
    shrink = {"embed_dim": 16, "student.resnet_width": 4, "prefix_lm.hidden_dim": 32,
              "prefix_lm.max_caption_tokens": 24, "offline_lm.n_layer": 1, "offline_lm.n_embd": 32,
              "offline_lm.n_head": 2, "offline_lm.vocab_size": 300, "offline_lm.n_positions": 32,
              "offline_lm.steps": 20}
    sets = [a for key, value in shrink.items() for a in ("--set", f"{key}={json.dumps(value)}")]
    subprocess.run(_cli("-q", "caption", "train", "--data", str(store), "--run", str(tmp / "run"), "--baseline",
                        "csi-lm", "--max-steps", "1", "--batch-size", "2", "--device", "cpu", *sets, core=None),
                   check=True)
    # the 13-packet capture lasts 0.09 s: loop it in real time for the whole measurement plus
    # the model's loading (lines sent meanwhile wait in the pipe)
    loops = int(np.ceil(((hops + 2) * hop + 20.0) / 0.1))
    replay = subprocess.Popen(_cli("replay", str(ESP32), "--speed", "1", "--loop", str(loops), core=1),
                              stdout=subprocess.PIPE)
    live = subprocess.run(_cli("live", "--source", "-", "--model", str(tmp / "run"), "--hop", str(hop),
                               "--seconds", str(hops * hop + 1)), stdin=replay.stdout, capture_output=True,
                          text=True, timeout=hops * hop + 120)
    replay.stdout.close()
    replay.kill()
    shutil.rmtree(tmp, ignore_errors=True)
    _, stats = _latency(live, "caption")
    return {"hop_s": hop, "captions": stats.pop("count"), **stats}


def track_latency(hops: int, hop: float) -> dict:
    """Median and p99 latency of live trajectory points from a tiny two-band model (Intel CSI + beam SNR)."""
    from wifisense.io.logs import write_beam_snr_csv, write_positions_csv
    from wifisense.io.readers import read_csi
    from wifisense.live.replay import replay

    tmp = Path(tempfile.mkdtemp(prefix="wifisense-live-bench-"))
    long_log = tmp / "long.dat"
    seconds = (hops + 2) * hop + 20.0          # the measurement plus the model's loading
    period = float(np.ptp(read_csi(INTEL).timestamps)) * 1.1
    replay(INTEL, to=str(long_log), speed=0, loop=int(np.ceil(seconds / period)) + 12)
    rec = read_csi(long_log)
    t0, t1 = rec.timestamps[0], rec.timestamps[-1]
    snr_t, pose_t = np.arange(t0, t1, 0.25), np.arange(t0, t1, 0.1)
    write_beam_snr_csv(tmp / "snr.csv", snr_t, np.random.default_rng(0).normal(10, 2, (snr_t.size, 8)))
    write_positions_csv(tmp / "pos.csv", pose_t, np.c_[2 + np.cos(pose_t), 2 + np.sin(pose_t)])
    subprocess.run(_cli("-q", "ingest", "multiband", "--csi", str(long_log), "--snr", str(tmp / "snr.csv"),
                        "--positions", str(tmp / "pos.csv"), "--out", str(tmp / "track.h5"), core=None), check=True)
    subprocess.run(_cli("-q", "track", "train", "--data", str(tmp / "track.h5"), "--model", "rnn-decay", "--bands",
                        "csi,snr", "--run", str(tmp / "run"), "--window", "2", "--epochs", "1", "--device", "cpu",
                        core=None), check=True)
    # both logs grow in real time on one clock, as a CSI tool and an SNR logger would write them
    writers = [subprocess.Popen(_cli("replay", str(path), "--to", str(tmp / f"live_{path.name}"), "--speed", "1",
                                     core=1)) for path in (long_log, tmp / "snr.csv")]
    while not all((tmp / name).is_file() for name in ("live_long.dat", "live_snr.csv")):
        time.sleep(0.05)
    live = subprocess.run(_cli("live", "--source", str(tmp / "live_long.dat"), "--source",
                               f"snr:{tmp / 'live_snr.csv'}", "--model", str(tmp / "run"), "--hop", str(hop),
                               "--seconds", str(hops * hop + 3)), capture_output=True, text=True,
                          timeout=hops * hop + 120)
    for writer in writers:
        writer.kill()
    shutil.rmtree(tmp, ignore_errors=True)
    lines, stats = _latency(live, "track")
    return {"hop_s": hop, "updates": stats.pop("count"), "points": sum(len(line.get("track") or []) for line in lines),
            **stats}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="1000,2000,4000,8000", help="packets per second to try")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each throughput run")
    parser.add_argument("--hops", type=int, default=50, help="captions to time")
    parser.add_argument("--hop", type=float, default=0.2, help="seconds between captions")
    parser.add_argument("--minutes", type=float, default=0.0,
                        help="also stream this long at 2,000 packets/s and read RSS at 1 minute and at the end")
    parser.add_argument("--json", default="live_benchmark.json", help="where to write the results")
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out: throughput, caption, track")
    args = parser.parse_args(argv)
    skip = {p for p in args.skip.split(",") if p}
    if not (NEXMON.is_file() and ESP32.is_file() and INTEL.is_file()):
        raise SystemExit(f"needs the real captures in {REAL}")
    results: dict = {"machine": os.uname().nodename, "cpus": os.cpu_count(), "throughput": []}
    if "throughput" not in skip:
        print(f"{'rate /s':>8} {'sent':>8} {'received':>9} {'dropped':>8}")
        for rate in (float(r) for r in args.rates.split(",")):
            row = throughput(rate, args.seconds)
            results["throughput"].append(row)
            print(f"{rate:8.0f} {row['sent']:8d} {row['received']:9d} {row['dropped']:8d}")
        clean = [r["rate"] for r in results["throughput"] if r["dropped"] == 0]
        results["max_rate_without_drops"] = max(clean) if clean else None
    if "caption" not in skip:
        results["caption_latency"] = c = caption_latency(args.hops, args.hop)
        print(f"caption latency over {c['captions']} hops of {c['hop_s']} s: median {c['median_ms']:.1f} ms, "
              f"p99 {c['p99_ms']:.1f} ms")
    if "track" not in skip:
        results["track_latency"] = c = track_latency(args.hops, args.hop)
        print(f"track latency over {c['updates']} hops of {c['hop_s']} s ({c['points']} points): median "
              f"{c['median_ms']:.1f} ms, p99 {c['p99_ms']:.1f} ms")
    if args.minutes > 0:
        seconds = args.minutes * 60
        row = throughput(2000.0, seconds, minutes_marks=(60, int(seconds) - 1))
        results["memory"] = row
        print(f"memory at 2,000 packets/s: RSS (current, peak) MB by second {row['rss_mb']}; "
              f"dropped {row['dropped']} of {row['sent']}")
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    print(f"-> {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
