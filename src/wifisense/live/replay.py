"""Replay a capture at its recorded timing: Nexmon pcaps as UDP packets, ESP32-CSI-Tool CSV and
beam-SNR CSV as lines, and Intel 5300, Atheros and PicoScenes logs as records, to standard output
or appended to a file (as a capture tool writes its log). For tests, demos and users without the
hardware at hand; it sends only where told."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path
from typing import BinaryIO

import numpy as np

from wifisense.errors import CaptureError, ConfigError

REPLAYABLE = ("nexmon", "esp32", "intel5300", "atheros", "picoscenes", "beam_snr_csv")


def beam_snr_messages(path: Path) -> tuple[bytes, list[tuple[float, bytes]]]:
    """(header line, [(time, data line)]) of a beam-SNR CSV, checked as ``read_beam_snr_csv`` checks it."""
    from wifisense.io.logs import BeamSNRLineDecoder, read_beam_snr_csv

    read_beam_snr_csv(path)                     # the whole file's checks, with line and column
    decoder, header, messages = BeamSNRLineDecoder(str(path)), None, []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        had_header = decoder.header is not None
        decoded = decoder.decode(line)
        if not had_header and decoder.header is not None:
            header = (line.strip() + "\n").encode()
        elif decoded is not None:
            messages.append((decoded[0], (line.strip() + "\n").encode()))
    return header or b"", messages


def shift_csv_time(line: bytes, seconds: float) -> bytes:
    """A beam-SNR CSV data line with its timestamp (first cell) moved on by ``seconds``."""
    first, sep, rest = line.partition(b",")
    return f"{float(first) + seconds:.6f}".encode() + sep + rest


def capture_messages(path: str | Path) -> tuple[str, bytes, list[tuple[float, bytes]]]:
    """(format, header, [(capture time in seconds, message)]): UDP payloads of a Nexmon pcap, the
    ``CSI_DATA`` lines of an ESP32-CSI-Tool CSV (times from their 1-MHz local clock), the data
    lines of a beam-SNR CSV (``header``: its header line, sent once first; empty otherwise) or the
    records of an Intel 5300, Atheros or PicoScenes log."""
    from wifisense.io.logs import sniff_log_kind
    from wifisense.io.readers.esp32 import Esp32LineDecoder
    from wifisense.io.readers.nexmon import udp_payloads
    from wifisense.io.readers.registry import detect_format

    path = Path(path)
    if sniff_log_kind(path) == "beam_snr_csv":
        return ("beam_snr_csv", *beam_snr_messages(path))
    fmt = detect_format(path)
    if fmt == "nexmon":
        return fmt, b"", udp_payloads(path, path.read_bytes())
    if fmt == "esp32":
        decoder, messages = Esp32LineDecoder(str(path)), []
        for line in path.read_text(encoding="ascii", errors="replace").splitlines():
            decoded = decoder.decode(line)
            if decoded is not None:
                messages.append((decoded[0], (line.rstrip("\r") + "\n").encode("ascii")))
        return fmt, b"", messages
    if fmt == "intel5300":
        from wifisense.io.readers.intel5300 import IntelRecordDecoder, records

        decoder, messages = IntelRecordDecoder(source=str(path)), []
        for record in records(path.read_bytes())[0]:
            decoded = decoder.decode(record)
            if decoded is not None:
                messages.append((decoded[0], record))
        return fmt, b"", messages
    if fmt in ("atheros", "picoscenes"):
        return fmt, b"", record_messages(path, fmt)
    raise CaptureError(path, f"is a {fmt} capture; replay sends Nexmon pcaps (as UDP packets), "
                             "ESP32-CSI-Tool CSV and beam-SNR CSV (as lines) and Intel 5300 logs (as records)")


def record_messages(path: Path, fmt: str) -> list[tuple[float, bytes]]:
    """[(time, record bytes)] of a header-less record log (Atheros, PicoScenes): each record with
    the time of its packet (a record without CSI: the next packet's time)."""
    from wifisense.io.readers import read_csi
    from wifisense.io.readers.registry import get_format

    data = path.read_bytes()
    times = np.asarray(read_csi(path, format=fmt).timestamps, np.float64)
    reading = get_format(fmt)
    ends: list[int] = []
    reading.whole_records(data, ends)
    records = [data[start:end] for start, end in zip([0] + ends[:-1], ends)]
    carries = [reading.whole_records(record)[1] > 0 for record in records]     # from the headers
    if sum(carries) != times.size:          # the headers cannot tell (PicoScenes): read each frame
        carries = []
        for record in records:
            try:
                carries.append(reading.read(path, record, {}).csi.shape[0] > 0)
            except CaptureError:
                carries.append(False)
    packet_of = np.cumsum(carries) - 1                       # the packet each CSI record is
    later = np.minimum(np.cumsum(carries), times.size - 1)   # a record without CSI: the next packet
    return [(float(times[packet_of[i] if carries[i] else later[i]]), record) for i, record in enumerate(records)]


def shift_esp32_clock(line: str, seconds: float) -> str:
    """An ESP32 ``CSI_DATA`` line with its 1-MHz local clock moved on by ``seconds`` (32-bit
    wrap kept), so that a looped replay reads as one longer recording."""
    import csiread

    column = list(csiread.ESP32(None, if_report=False).dt).index("local_timestamp")
    fields = line.rstrip("\n").split(",")       # the CSI list has no commas inside its brackets
    fields[column] = str((int(fields[column]) + round(seconds * 1e6)) % 2**32)
    return ",".join(fields) + "\n"


def parse_udp_target(spec: str) -> tuple[str, int]:
    host, _, port = spec[len("udp://"):].rpartition(":") if spec.startswith("udp://") else ("", "", "")
    if not host or not port.isdigit():
        raise ConfigError(f"--to {spec}: expected udp://HOST:PORT, e.g. udp://127.0.0.1:5500")
    return host, int(port)


def replay(path: str | Path, to: str = "udp://127.0.0.1:5500", speed: float = 1.0, loop: int = 1,
           out: BinaryIO | None = None) -> dict:
    """Send every message of ``path`` at its recorded spacing divided by ``speed`` (0 = as fast as
    possible), ``loop`` times; a looped ESP32 or Intel replay moves its device clock on, so the
    loops read as one longer recording. ``to``: ``udp://HOST:PORT`` (Nexmon), ``-`` (standard
    output, or ``out``) or a file path the messages are appended to (ESP32, Intel 5300).
    Returns what was sent."""
    from wifisense.io.readers.intel5300 import shift_record_clock

    if speed < 0 or loop < 1:
        raise ConfigError(f"--speed must be >= 0 and --loop >= 1, got {speed} and {loop}")
    fmt, header, messages = capture_messages(path)
    if not messages:
        raise CaptureError(path, "holds no CSI packets to replay")
    udp = to.startswith("udp://")
    if udp != (fmt == "nexmon"):
        raise ConfigError(f"--to {to}: a {fmt} capture is replayed " + (
            "as UDP packets: --to udp://HOST:PORT" if fmt == "nexmon" else "to - (standard output) or a file"))
    from wifisense.io.readers.atheros import shift_record_clock as shift_atheros_clock

    shift = {"esp32": lambda m, s: shift_esp32_clock(m.decode("ascii"), s).encode("ascii"),
             "intel5300": shift_record_clock, "atheros": shift_atheros_clock, "beam_snr_csv": shift_csv_time}.get(fmt)
    if loop > 1 and shift is None and not udp:     # Nexmon packets carry no clock: the receiver stamps them
        raise ConfigError(f"--loop {loop}: a looped {fmt} replay would repeat its clock (its timestamps sit deep "
                          "in each frame); replay it once")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM) if udp else None
    target = parse_udp_target(to) if udp else None
    stream = None if udp else (out or (sys.stdout.buffer if to == "-" else open(to, "ab")))
    if header:
        stream.write(header)            # a CSV's header line first, once
        stream.flush()
    sent, started = 0, time.monotonic()
    span = messages[-1][0] - messages[0][0]
    gap = span / max(len(messages) - 1, 1)        # the next loop starts one mean spacing later
    try:
        for k in range(loop):
            offset = k * (span + gap)
            for t, message in messages:
                if speed > 0:
                    wait = (t - messages[0][0] + offset) / speed - (time.monotonic() - started)
                    if wait > 0:
                        time.sleep(wait)
                if udp:
                    sock.sendto(message, target)
                else:
                    stream.write(shift(message, offset) if k and shift else message)
                    stream.flush()
                sent += 1
    finally:
        if sock is not None:
            sock.close()
        if stream is not None and out is None and to != "-":
            stream.close()
    return {"format": fmt, "sent": sent, "seconds": time.monotonic() - started, "to": to}
