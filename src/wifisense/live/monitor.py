"""The live loop: read packets from one or more sources into ring buffers and, every hop, report
the windows (and a task's prediction on them) as one JSON line."""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

import numpy as np

from wifisense.errors import ConfigError, WifisenseError
from wifisense.live.buffer import PacketRing

# The ring holds this many packets per second of window: above the 2,000 packets/s a live
# source must sustain, so a burst overwrites nothing that a window still needs.
RING_PACKETS_PER_SECOND = 5000
# Packets read from one source before the loop looks at the others and at the clock.
BURST_PACKETS = 256
# When no source had a packet, each is waited on this long (divided among them) before the next
# look: the added delay of a packet that arrives on another source meanwhile.
IDLE_WAIT_S = 0.01


@dataclass
class Window:
    """The packets of one source in the last seconds: times ``[n]`` and values ``x`` (a CSI
    source: ``[n, S, Nrx, Ntx]`` complex; a beam-SNR source, ``band == "snr"``: ``[n, M]`` dB)."""

    name: str
    t: np.ndarray
    x: np.ndarray
    subcarriers: np.ndarray | None
    band: str = "csi"


class Predictor(Protocol):
    """What a task hands the live loop (e.g. ``caption.live.LiveCaptioner``)."""

    window_s: float                       # seconds of packets one prediction needs
    one_clock: bool                       # the sources share a clock: cut every window at the
                                          # newest time that all of them have reached

    def predict(self, windows: list[Window]) -> dict[str, Any]: ...


def human_line(line: dict) -> str:
    """A report as one short line for a terminal (the JSON fields, compactly)."""
    parts = [time.strftime("%H:%M:%S")]
    for name, c in line["sources"].items():
        parts.append(f"{name}: {c['rate_hz']:g} pkt/s ({c['received']} received, {c['rejected']} rejected"
                     + (f", {c['overwritten']} overwritten" if c["overwritten"] else "") + ")")
    if "caption" in line:
        parts.append(f"caption: {line['caption']!r} ({line.get('latency_ms', 0):.0f} ms)")
    if line.get("track"):
        t, x, y = line["track"][-1]
        parts.append(f"track: {len(line['track'])} new points, last ({x:.2f}, {y:.2f}) m at {t:.2f} s")
    if "error" in line:
        parts.append(f"no prediction: {line['error']}")
    return "  ".join(parts)


def monitor(sources, window: float = 1.0, hop: float = 1.0, seconds: float | None = None,
            quiet_after: float = 3.0, out: TextIO | None = None, err: TextIO | None = None,
            predictor: Predictor | None = None) -> dict:
    """Read ``sources`` until ``seconds`` pass, every input ends, or Ctrl-C; one JSON line per hop.

    Each line has the time of the newest packet, per source the packets in the last
    ``window`` seconds (the predictor's own window when there is one) and the received /
    rejected / overwritten counters; with a ``predictor`` also its prediction and
    ``latency_ms`` (from the hop's due time to the prediction). On a terminal the line is
    short text (:func:`human_line`) instead of JSON. Returns the totals.
    """
    sources = list(sources)
    if predictor is not None:
        window = max(window, predictor.window_s)
    if window <= 0 or hop <= 0:
        raise ConfigError(f"--window and --hop must be positive, got {window} and {hop}")
    out, err = out or sys.stdout, err or sys.stderr
    human = getattr(out, "isatty", lambda: False)()     # a person watching: text; a pipe or file: JSON
    rings: dict[str, PacketRing] = {}
    reports, reported = 0, -1
    started = time.monotonic()
    last_packet = {s.name: started for s in sources}
    warned: set[str] = set()
    told: set[str] = set()
    next_report = started + hop
    idle_wait = min(hop, IDLE_WAIT_S) / max(len(sources), 1)

    def received() -> int:
        return sum(s.received for s in sources)

    def report(due: float, only_if_new: bool = False) -> None:
        nonlocal reports, reported
        if only_if_new and received() == reported:
            return
        reported = received()
        line: dict[str, Any] = {"time": max((r.latest_time() for r in rings.values()), default=None),
                                "window_s": window, "sources": {}}
        windows = []
        end = None
        if getattr(predictor, "one_clock", False) and len(rings) == len(sources):
            end = min(r.latest_time() for r in rings.values())
        for source in sources:
            ring = rings.get(source.name)
            t, x = ring.window(window, end=end) if ring is not None else (np.zeros(0), None)
            line["sources"][source.name] = {"packets": len(t), "rate_hz": round(len(t) / window, 2),
                                            "received": source.received, "rejected": source.rejected,
                                            "overwritten": ring.overwritten if ring is not None else 0}
            if x is not None and len(t):
                windows.append(Window(source.name, t, x, source.subcarriers, getattr(source, "band", "csi")))
        if predictor is not None and windows:
            try:
                line.update(predictor.predict(windows))
            except WifisenseError as error:      # e.g. too few packets for the model's rate: say so, go on
                line["error"] = str(error)
            line["latency_ms"] = round((time.monotonic() - due) * 1000, 1)
        out.write((human_line(line) if human else json.dumps(line)) + "\n")
        out.flush()
        reports += 1

    try:
        idle = False
        while seconds is None or time.monotonic() - started < seconds:
            got = 0
            for source in sources:
                # drain what is there without waiting (a quiet source never holds up a busy one);
                # only after a pass that found nothing anywhere, wait a little on each source
                for k in range(BURST_PACKETS):
                    packet = source.read(timeout=idle_wait if idle and k == 0 else 0.0)
                    if packet is None:
                        break
                    got += 1
                    ring = rings.get(source.name)
                    if ring is None:
                        ring = rings[source.name] = PacketRing(math.ceil(window * RING_PACKETS_PER_SECOND),
                                                               packet.x.shape, getattr(source, "dtype", np.complex64))
                    try:
                        ring.push(packet.t, packet.x)
                    except ValueError as error:     # a packet of another shape (e.g. another bandwidth)
                        source.rejected += 1
                        source.last_error = f"{source.name}: {error}"
                    last_packet[source.name] = time.monotonic()
                    warned.discard(source.name)
                reason = getattr(source, "last_error", None)
                if reason and source.name not in told:
                    # a source's first malformed packet, once (the counters carry the rest)
                    print(f"[live] skipped a packet: {reason}", file=err, flush=True)
                    told.add(source.name)
                now = time.monotonic()
                if now - last_packet[source.name] > quiet_after and source.name not in warned:
                    print(f"[live] no packet from {source.name} for {now - last_packet[source.name]:.0f} s",
                          file=err, flush=True)
                    warned.add(source.name)
            idle = got == 0
            now = time.monotonic()
            if now >= next_report:
                report(next_report)
                next_report += hop * max(1, math.floor((now - next_report) / hop) + 1)
            if all(getattr(s, "ended", False) for s in sources):
                report(time.monotonic(), only_if_new=True)      # the inputs' last packets
                break
    except KeyboardInterrupt:
        print("[live] stopped", file=err, flush=True)
    finally:
        for source in sources:
            source.close()
    return {"received": received(), "rejected": sum(s.rejected for s in sources), "reports": reports,
            "seconds": round(time.monotonic() - started, 3)}
