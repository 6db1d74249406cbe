"""Sub-commands of the live room: ``live`` (read CSI as it arrives) and ``replay`` (send a capture at its timing)."""

from __future__ import annotations

import json
import math
import sys
import time
from typing import TextIO

# The ring holds this many packets per second of window: above the 2,000 packets/s a live
# source must sustain, so a burst overwrites nothing that a window still needs.
RING_PACKETS_PER_SECOND = 5000


def register(sub) -> None:
    p = sub.add_parser(
        "live", help="read CSI as it arrives (Nexmon UDP, ESP32 lines) and report packets per window",
        description="Read CSI from a running capture tool and print one JSON line per --hop: the packets in "
        "the last --window seconds, their rate, and the received / rejected / overwritten counters. Sources: "
        "udp://HOST:PORT (Nexmon CSI UDP packets; needs --chip and --bw), - (ESP32-CSI-Tool lines on "
        "standard input), serial:DEVICE or a file that is still growing (ESP32 lines). Memory stays bounded "
        "(a ring buffer); Ctrl-C stops with a summary. Captions and trajectories from a trained model on "
        "these windows are the next step (issue 14).")
    p.add_argument("--source", default="udp://0.0.0.0:5500", metavar="SPEC",
                   help="udp://HOST:PORT, -, serial:DEVICE or a file path (default: %(default)s)")
    p.add_argument("--chip", default=None, help="Nexmon chip: 4358, 4366c0, 43455c0 or 4339")
    p.add_argument("--bw", type=int, default=None, help="Nexmon bandwidth in MHz: 20, 40 or 80")
    p.add_argument("--window", type=float, default=1.0, metavar="SECONDS", help="window length (default: %(default)s)")
    p.add_argument("--hop", type=float, default=1.0, metavar="SECONDS", help="time between reports (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long (default: run until Ctrl-C "
                   "or the end of standard input)")
    p.add_argument("--quiet-after", type=float, default=3.0, metavar="SECONDS",
                   help="warn when no packet came for this long (default: %(default)s)")
    p.add_argument("--out", default=None, metavar="JSONL", help="append the JSON lines to this file instead of "
                   "standard output")
    p.set_defaults(func=run_live)

    r = sub.add_parser(
        "replay", help="send a capture at its recorded timing (Nexmon pcap as UDP, ESP32 CSV as lines)",
        description="Replay a capture for `wifisense live` without the hardware: the UDP payloads of a Nexmon "
        "pcap to udp://HOST:PORT, or the CSI_DATA lines of an ESP32-CSI-Tool CSV to standard output, at the "
        "recorded spacing divided by --speed. It sends only to the address given.")
    r.add_argument("capture", metavar="CAPTURE", help="a Nexmon .pcap or an ESP32-CSI-Tool .csv")
    r.add_argument("--to", default=None, metavar="TARGET",
                   help="udp://HOST:PORT (Nexmon) or - (ESP32 lines) (default: udp://127.0.0.1:5500 for a "
                   "pcap, - for a CSV)")
    r.add_argument("--speed", type=float, default=1.0, help="timing speed-up; 0 = as fast as possible "
                   "(default: %(default)s)")
    r.add_argument("--loop", type=int, default=1, help="send the capture this many times (default: %(default)s)")
    r.set_defaults(func=run_replay)


def monitor(source, window: float = 1.0, hop: float = 1.0, seconds: float | None = None,
            quiet_after: float = 3.0, out: TextIO | None = None, err: TextIO | None = None) -> dict:
    """Read ``source`` until ``seconds`` pass, its input ends or Ctrl-C; one JSON line per hop. Returns the totals."""
    from wifisense.errors import ConfigError
    from wifisense.live.buffer import PacketRing

    if window <= 0 or hop <= 0:
        raise ConfigError(f"--window and --hop must be positive, got {window} and {hop}")
    out, err = out or sys.stdout, err or sys.stderr
    ring, reports = None, 0
    started = last_packet = time.monotonic()
    next_report = started + hop
    warned = False

    reported = -1

    def report(only_if_new: bool = False) -> None:
        nonlocal reports, reported
        if only_if_new and source.received == reported:
            return
        reported = source.received
        t, _ = ring.window(window) if ring is not None else ((), None)
        out.write(json.dumps({
            "time": ring.latest_time() if ring is not None else None, "window_s": window,
            "packets": len(t), "rate_hz": round(len(t) / window, 2),
            "received": source.received, "rejected": source.rejected,
            "overwritten": ring.overwritten if ring is not None else 0}) + "\n")
        out.flush()
        reports += 1

    try:
        while seconds is None or time.monotonic() - started < seconds:
            packet = source.read(timeout=min(hop, 0.1))
            now = time.monotonic()
            if packet is not None:
                if ring is None:
                    ring = PacketRing(math.ceil(window * RING_PACKETS_PER_SECOND), packet.csi.shape)
                ring.push(packet.t, packet.csi)
                last_packet, warned = now, False
            elif now - last_packet > quiet_after and not warned:
                print(f"[live] no packet from {source.name} for {now - last_packet:.0f} s", file=err, flush=True)
                warned = True
            if now >= next_report:
                report()
                next_report += hop * max(1, math.floor((now - next_report) / hop) + 1)
            if getattr(source, "ended", False):
                report(only_if_new=True)          # the input's last packets
                break
    except KeyboardInterrupt:
        print("[live] stopped", file=err, flush=True)
    finally:
        source.close()
    return {"received": source.received, "rejected": source.rejected, "reports": reports,
            "seconds": round(time.monotonic() - started, 3)}


def run_live(args) -> int:
    from wifisense.live.sources import open_source

    source = open_source(args.source, chip=args.chip, bw=args.bw)
    print(f"[live] reading {source.name}", file=sys.stderr, flush=True)
    out = open(args.out, "a", buffering=1, encoding="utf-8") if args.out else None
    try:
        totals = monitor(source, window=args.window, hop=args.hop, seconds=args.seconds,
                         quiet_after=args.quiet_after, out=out)
    finally:
        if out is not None:
            out.close()
    print(f"[live] {totals['received']} packets received, {totals['rejected']} rejected in {totals['seconds']:.1f} s",
          file=sys.stderr, flush=True)
    return 0


def run_replay(args) -> int:
    from wifisense.live.replay import capture_messages, replay

    to = args.to
    if to is None:
        to = "udp://127.0.0.1:5500" if capture_messages(args.capture)[0] == "nexmon" else "-"
    done = replay(args.capture, to=to, speed=args.speed, loop=args.loop)
    print(f"[replay] sent {done['sent']} {done['format']} packets to {done['to']} in {done['seconds']:.2f} s",
          file=sys.stderr, flush=True)
    return 0
