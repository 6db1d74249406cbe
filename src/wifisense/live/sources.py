"""Live sources: Nexmon CSI UDP packets, ESP32-CSI-Tool lines (standard input, a serial device,
a growing file), Intel 5300, Atheros and PicoScenes logs being written, and beam-SNR CSV lines
(60 GHz, for track).
Each decodes packets as they arrive with the readers' per-packet decoders and counts what it
received and rejected (a malformed packet is skipped, counted and its reason kept in
``last_error``: one bad line does not end a live session)."""

from __future__ import annotations

import os
import selectors
import socket
import stat
import struct
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError, ConfigError

NEXMON_PORT = 5500          # the port nexmon_csi sends to
# SO_TIMESTAMP (= SCM_TIMESTAMP): Python's socket module does not export it; 29 on Linux. Elsewhere
# packets get the time they were read.
SO_TIMESTAMP = getattr(socket, "SO_TIMESTAMP", 29 if sys.platform.startswith("linux") else None)


@dataclass
class Packet:
    """One decoded packet: ``t`` on the source's clock in seconds (the device's own clock where
    the packet carries one, else when the kernel received it), its values ``x`` (a CSI source:
    complex CSI ``[S, Nrx, Ntx]``; a beam-SNR source: SNR ``[M]`` in dB, NaN for a missing
    sector) and when it was read (``time.monotonic()``, for latency)."""

    t: float
    x: np.ndarray
    arrival: float


class _Counted:
    """What every source counts: packets received and rejected, and the last rejection's reason."""

    band = "csi"                 # what the packets carry: "csi" or "snr" (beam SNR)
    dtype = np.complex64         # of Packet.x
    received = rejected = 0
    last_error: str | None = None

    def _decode(self, decode, message, count_none: bool = True):
        """``decode(message)``, or None. A malformed packet (a CaptureError) is counted as rejected
        and its reason kept; a message the decoder passes over (None) is counted when ``count_none``."""
        try:
            decoded = decode(message)
        except CaptureError as error:
            self.rejected += 1
            self.last_error = str(error)
            return None
        if decoded is None and count_none:
            self.rejected += 1
        return decoded


class NexmonUDPSource(_Counted):
    """Nexmon CSI UDP packets received on ``host:port`` (one packet per core and spatial stream)."""

    def __init__(self, host: str = "0.0.0.0", port: int = NEXMON_PORT, chip: str = "4358", bw: int = 80):
        from wifisense.io.readers.nexmon import NexmonDecoder

        self.name = f"udp://{host}:{port}"
        self.decoder = NexmonDecoder(chip, bw)
        self.subcarriers = np.arange(-self.decoder.nfft // 2, self.decoder.nfft // 2)
        self.received = self.rejected = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)   # bursts wait in the kernel
        # the kernel's receive time of each datagram (not when we got round to reading it), so that
        # packets that waited in the buffer keep their spacing
        self._kernel_time = SO_TIMESTAMP is not None
        if self._kernel_time:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
        try:
            self.sock.bind((host, int(port)))
        except OSError as exc:
            self.sock.close()
            raise ConfigError(f"{self.name}: cannot listen there ({exc.strerror or exc})") from None
        self.port = self.sock.getsockname()[1]

    def read(self, timeout: float) -> Packet | None:
        """The next CSI packet, or None when none came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            self.sock.settimeout(left if left > 0 else 0.0)     # 0: look once without waiting
            try:
                payload, ancillary, _, _ = self.sock.recvmsg(65535, 64)
            except (socket.timeout, TimeoutError, BlockingIOError):
                return None
            arrival, received_at = time.monotonic(), time.time()
            for level, kind, data in ancillary:
                if self._kernel_time and level == socket.SOL_SOCKET and kind == SO_TIMESTAMP and len(data) >= 16:
                    seconds, micros = struct.unpack("qq", data[:16])     # struct timeval
                    received_at = seconds + micros * 1e-6
            csi = self._decode(self.decoder.decode, payload)
            if csi is None:
                continue
            self.received += 1
            return Packet(received_at, csi[:, None, None], arrival)

    def close(self) -> None:
        self.sock.close()


class _FollowedBytes:
    """Bytes as they arrive on a file descriptor: standard input, a pipe, a serial device, or a
    regular file that is still growing (polled like ``tail -f``; it never ends)."""

    def __init__(self, spec: str):
        self.buffer = b""
        self.eof = False
        if spec in ("-", "stdin"):
            self.fd, self._owned, self._regular = 0, False, False
        else:
            path = Path(spec)
            if not path.exists():
                raise ConfigError(f"{spec}: no such file or device")
            # A named FIFO is opened for reading and writing: opened read-only before its writer
            # (the capture tool) starts, or between two of its runs, it reads as ended at once;
            # holding a write end ourselves keeps it open, like a growing file that never ends.
            fifo = stat.S_ISFIFO(path.stat().st_mode)
            mode = os.O_RDWR if fifo and sys.platform.startswith("linux") else os.O_RDONLY
            self.fd = os.open(path, mode | getattr(os, "O_NONBLOCK", 0))
            self._owned, self._regular = True, path.is_file()
        self._selector = None if self._regular else selectors.DefaultSelector()
        if self._selector is not None:
            self._selector.register(self.fd, selectors.EVENT_READ)

    def fill(self, timeout: float) -> bool:
        """Append what arrives within ``timeout`` seconds to ``buffer``; False when nothing did
        (``timeout`` 0: look once without waiting)."""
        if self._regular:
            chunk = os.read(self.fd, 1 << 16)
            if not chunk and timeout > 0:
                time.sleep(min(timeout, 0.01))
            self.buffer += chunk
            return bool(chunk)
        if not self._selector.select(timeout):
            return False
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            self.eof = True
        self.buffer += chunk
        return bool(chunk)

    def next_line(self, deadline: float) -> bytes | None:
        """The next whole line (without its newline; the last one may lack it at the end of a
        pipe), or None when none arrives by ``deadline`` (``time.monotonic()``)."""
        while True:
            line, sep, rest = self.buffer.partition(b"\n")
            if sep or (self.eof and line):
                self.buffer = rest
                return line
            left = deadline - time.monotonic()
            if self.eof or (not self.fill(max(left, 0.0)) and left <= 0):
                return None                     # nothing more within the timeout (0: look once)

    def close(self) -> None:
        if self._selector is not None:
            self._selector.close()
        if self._owned:
            os.close(self.fd)


class Esp32LineSource(_Counted):
    """ESP32-CSI-Tool ``CSI_DATA`` lines from standard input, a serial device (configure its baud
    rate first, e.g. ``stty -F /dev/ttyUSB0 921600 raw``) or a file that is still growing.
    Other console lines are skipped and counted."""

    def __init__(self, spec: str = "-"):
        from wifisense.io.readers.esp32 import Esp32LineDecoder

        self.name = "<stdin>" if spec in ("-", "stdin") else spec
        self.decoder = Esp32LineDecoder(self.name)
        self.subcarriers = np.arange(-32, 32)       # the LLTF bins, as the file reader gives them
        self.received = self.rejected = 0
        self._input = _FollowedBytes(spec)

    @property
    def ended(self) -> bool:
        """A pipe or standard input reached its end (a growing file never ends)."""
        return self._input.eof and not self._input.buffer

    def read(self, timeout: float) -> Packet | None:
        deadline = time.monotonic() + timeout
        while (line := self._input.next_line(deadline)) is not None:
            arrival = time.monotonic()
            # another console line is counted (not a blank one), without a reason
            decoded = self._decode(self.decoder.decode, line.decode("ascii", errors="replace").rstrip("\r"),
                                   count_none=bool(line.strip()))
            if decoded is None:
                continue
            self.received += 1
            t, csi, _rssi = decoded
            return Packet(t, csi[:, None, None], arrival)
        return None

    def close(self) -> None:
        self._input.close()


class IntelLogSource(_Counted):
    """Linux 802.11n CSI Tool records (Intel 5300) from a log that ``log_to_file`` is still
    writing, or from standard input / a pipe (``log_to_file`` to a FIFO)."""

    def __init__(self, spec: str, nrxnum: int = 3, ntxnum: int = 3):
        from wifisense.io.readers.intel5300 import IntelRecordDecoder

        self.name = "<stdin>" if spec in ("-", "stdin") else spec
        self.decoder = IntelRecordDecoder(nrxnum, ntxnum, source=self.name)
        self.received = self.rejected = 0
        self._input = _FollowedBytes(spec)
        self._pending: deque[bytes] = deque()      # whole records not yet decoded

    @property
    def subcarriers(self) -> np.ndarray:
        return self.decoder.subcarriers if self.decoder.subcarriers is not None else np.asarray(
            [-28, -26, -24, -22, -20, -18, -16, -14, -12, -10, -8, -6, -4, -2, -1,
             1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 28])

    @property
    def ended(self) -> bool:
        return self._input.eof and not self._input.buffer and not self._pending

    def read(self, timeout: float) -> Packet | None:
        from wifisense.io.readers.intel5300 import records

        deadline = time.monotonic() + timeout
        while True:
            while self._pending:
                decoded = self._decode(self.decoder.decode, self._pending.popleft())
                if decoded is None:
                    continue
                self.received += 1
                return Packet(decoded[0], decoded[1], time.monotonic())
            found, used = records(self._input.buffer)
            if found:
                self._pending, self._input.buffer = deque(found), self._input.buffer[used:]
                continue
            left = deadline - time.monotonic()
            if self._input.eof or (not self._input.fill(max(left, 0.0)) and left <= 0):
                return None                     # nothing more within the timeout (0: look once)

    def close(self) -> None:
        self._input.close()


class GrowingCaptureSource(_Counted):
    """A capture log that its tool is still writing, in a record format without a file header
    (Atheros CSI Tool, PicoScenes; Intel 5300 has its own per-record ``IntelLogSource``):
    followed like ``tail -f``; each time whole records have arrived, they are read with the
    format's file reader and their packets queued. A chunk that does not read is rejected
    (counted, its reason kept); a partial record waits for its end."""

    def __init__(self, spec: str, fmt: str, **hints):
        from wifisense.io.readers.registry import get_format

        self.name = "<stdin>" if spec in ("-", "stdin") else spec
        self.format = get_format(fmt)
        if self.format.whole_records is None:
            raise ConfigError(f"--source {spec}: {fmt} logs cannot be followed while they grow")
        self.hints = hints
        self.subcarriers = None
        self.received = self.rejected = 0
        self._input = _FollowedBytes(spec)
        # packets read but not yet handed out: a log opened long after its tool started gives
        # them all in one chunk, so a deque (popping a list's head would copy the rest each time)
        self._pending: deque[tuple[float, np.ndarray]] = deque()

    @property
    def ended(self) -> bool:
        return self._input.eof and not self._input.buffer and not self._pending

    def _take_whole_records(self) -> None:
        end, _ = self.format.whole_records(self._input.buffer)
        if not end:
            return
        chunk, self._input.buffer = self._input.buffer[:end], self._input.buffer[end:]
        recording = self._decode(lambda data: self.format.read(Path(self.name), data, self.hints), chunk)
        if recording is None:
            return
        if self.subcarriers is None:
            self.subcarriers = np.asarray(recording.subcarriers)
        self._pending.extend(zip(np.asarray(recording.timestamps, np.float64), recording.csi))

    def read(self, timeout: float) -> Packet | None:
        deadline = time.monotonic() + timeout
        while True:
            if self._pending:
                t, csi = self._pending.popleft()
                self.received += 1
                return Packet(float(t), np.asarray(csi, np.complex64), time.monotonic())
            self._take_whole_records()
            if self._pending:
                continue
            left = deadline - time.monotonic()
            if self._input.eof or (not self._input.fill(max(left, 0.0)) and left <= 0):
                return None

    def close(self) -> None:
        self._input.close()


def _sniff_capture(path: str) -> str | None:
    """The record format a capture file already holds (its first records), or None."""
    from wifisense.io.readers.registry import formats

    p = Path(path)
    if not p.is_file() or p.stat().st_size == 0:
        return None
    with open(p, "rb") as f:
        head = f.read(1 << 16)
    return next((fmt.name for fmt in sorted(formats(), key=lambda f: f.detect_order)
                 if fmt.whole_records is not None and fmt.sniff(p, head)), None)


class BeamSNRLineSource(_Counted):
    """60 GHz beam-SNR CSV lines (``t,beam_0,beam_1,...``, the format ``ingest multiband --snr``
    reads) from a log that is still being written, a pipe or standard input: the first line
    is the header. A sweep's missing sectors (empty cells or nan) stay NaN."""

    band = "snr"
    dtype = np.float32

    def __init__(self, spec: str = "-"):
        from wifisense.io.logs import BeamSNRLineDecoder

        self.name = "<stdin>" if spec in ("-", "stdin") else spec
        self.decoder = BeamSNRLineDecoder(self.name)
        self.subcarriers = None
        self.received = self.rejected = 0
        self._input = _FollowedBytes(spec)

    @property
    def beam_names(self) -> list[str] | None:
        """The header's beam names, once the header has arrived."""
        return self.decoder.beam_names

    @property
    def ended(self) -> bool:
        return self._input.eof and not self._input.buffer

    def read(self, timeout: float) -> Packet | None:
        deadline = time.monotonic() + timeout
        while (line := self._input.next_line(deadline)) is not None:
            text = line.decode("utf-8", errors="replace")
            if self.decoder.header is None:      # a bad header is an error: nothing after it can be read
                decoded = self.decoder.decode(text)
            else:                                # the header, comments and empty sweeps are not rejections
                decoded = self._decode(self.decoder.decode, text, count_none=False)
            if decoded is None:
                continue
            self.received += 1
            return Packet(decoded[0], decoded[1], time.monotonic())
        return None

    def close(self) -> None:
        self._input.close()


def _is_beam_snr_log(path: str) -> bool:
    from wifisense.io.logs import sniff_log_kind

    return Path(path).is_file() and Path(path).stat().st_size > 0 and sniff_log_kind(path) == "beam_snr_csv"


def open_source(spec: str, chip: str | None = None, bw: int | None = None):
    """A live source from its spec: ``udp://HOST:PORT`` (Nexmon; ``chip`` and ``bw`` needed),
    ``intel5300:PATH``, ``atheros:PATH``, ``picoscenes:PATH`` or a ``.dat`` / ``.csi`` path (a
    log being written, its format from what it holds; ``intel5300:-`` etc. for standard input), ``snr:PATH`` or ``snr:-`` or a file that starts with a beam-SNR header
    (beam-SNR CSV lines), ``esp32:PATH``, ``serial:DEVICE``, ``-`` or any other path (ESP32 lines)."""
    if spec.startswith("udp://"):
        host, _, port = spec[len("udp://"):].rpartition(":")
        if not port.isdigit():
            raise ConfigError(f"--source {spec}: expected udp://HOST:PORT, e.g. udp://0.0.0.0:{NEXMON_PORT}")
        if chip is None or bw is None:
            raise ConfigError("--source udp://...: Nexmon packets need --chip (4358, 4366c0, 43455c0, 4339) and "
                              "--bw (20, 40, 80): a wrong chip decodes into noise without an error")
        return NexmonUDPSource(host or "0.0.0.0", int(port), chip, bw)
    for fmt in ("atheros", "picoscenes"):
        if spec.startswith(fmt + ":"):
            return GrowingCaptureSource(spec[len(fmt) + 1:], fmt)
    if ":" not in spec and spec.endswith((".dat", ".csi")):
        # what the file already holds decides; an empty or new file: .dat is Intel 5300, .csi PicoScenes
        found = _sniff_capture(spec) or ("picoscenes" if spec.endswith(".csi") else "intel5300")
        return IntelLogSource(spec) if found == "intel5300" else GrowingCaptureSource(spec, found)
    if spec.startswith("intel5300:"):
        return IntelLogSource(spec.removeprefix("intel5300:"))
    if spec.startswith("snr:") or (":" not in spec and _is_beam_snr_log(spec)):
        return BeamSNRLineSource(spec.removeprefix("snr:"))
    for prefix in ("serial:", "esp32:"):
        spec = spec.removeprefix(prefix)
    return Esp32LineSource(spec)
