"""Reading real CSI captures (Intel 5300, Atheros, Nexmon, ESP32, PicoScenes) into CSIRecording.

Parsing is done by csiread 1.4.1. Its C parsers trust the file completely: an Atheros
file read as Intel crashes the interpreter, a wrong Nexmon chip silently yields zeros or
noise, and a truncated or random file often parses "successfully" into fewer or empty
packets. So every file is first walked record by record here (cheap: headers only) to
detect the format by content, check the hints against what the records say, and find
truncation; only a file that passes is handed to csiread. The result is checked again
(no packets, non-finite, all-zero or implausible CSI) before it is returned: this module
never returns silent zeros, it raises :class:`wifisense.errors.CaptureError`.

Axis order of the result is ``[T, S, Nrx, Ntx]``; timestamps are float64 seconds.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError, ConfigError
from wifisense.io.recording import CSIRecording

SUPPORTED_FORMATS = ("intel5300", "atheros", "nexmon", "esp32", "picoscenes")

FORMAT_DESCRIPTIONS = {
    "intel5300": "Intel 5300, Linux 802.11n CSI Tool (.dat)",
    "atheros": "Qualcomm Atheros, Atheros CSI Tool (.dat)",
    "nexmon": "Broadcom, Nexmon CSI (.pcap)",
    "esp32": "Espressif ESP32, ESP32-CSI-Tool (.csv)",
    "picoscenes": "PicoScenes (.csi)",
}

# Hints read_csi understands; each format uses the ones that apply to it.
KNOWN_HINTS = ("nrxnum", "ntxnum", "tones", "chip", "bw", "rate_hz", "scaled")

NEXMON_CHIPS = ("4358", "4366c0", "43455c0", "4339")

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
PCAP_MAGICS = {  # first four bytes -> (byte order, timestamps in nanoseconds)
    b"\xd4\xc3\xb2\xa1": ("<", False), b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True), b"\xa1\xb2\x3c\x4d": (">", True),
}
PICOSCENES_MAGIC = struct.pack("<I", 0x20150315)

# PicoScenes RxSBasic.Timestamp ticks per second, by RxSBasic.DeviceType (as in CSIKit).
PICOSCENES_TICKS_PER_S = {0x1234: 1e9, 0x2000: 1e9, 0x2100: 1e6, 0x5300: 1e6, 0x9300: 1e6}
PICOSCENES_DEVICES = {0x1234: "USRP SDR", 0x2000: "Intel AX200", 0x2100: "Intel AX210",
                      0x5300: "Intel IWL5300", 0x9300: "Qualcomm Atheros QCA9300"}

INTEL_HEADER_BYTES = 20      # bfee header before the packed CSI
ATHEROS_HEADER_BYTES = 25    # csi_struct before the CSI and payload
NEXMON_PREFIX_BYTES = 42 + 18  # Ethernet+IPv4+UDP headers, then the nexmon CSI header

# An uncorrupted Nexmon decode has (near-)empty DC and edge guard bins; a decode with the
# wrong chip's number format does not. Ratio of median |CSI| on those bins to the rest.
NEXMON_NULL_RATIO_MAX = 0.25


class _NotThisFormat(Exception):
    """The content does not have this format's record structure (reason in args[0])."""


# --------------------------------------------------------------------------- public API


def detect_format(path: str | os.PathLike) -> str:
    """Name the CSI format of ``path`` (one of ``SUPPORTED_FORMATS``) from its content.

    Content decides (magic bytes, record structure); the extension only breaks ties.
    Raises CaptureError for missing, empty, unrecognised or non-CSI files.
    """
    path = Path(path)
    data = _read_bytes(path)
    return _detect_from_bytes(path, data)


def read_csi(path: str | os.PathLike, format: str = "auto", **hints) -> CSIRecording:
    """Read one CSI capture into a :class:`CSIRecording` with CSI ``[T, S, Nrx, Ntx]``.

    Args:
        path: the capture file.
        format: ``"auto"`` (detect by content) or one of ``SUPPORTED_FORMATS``.
        **hints: ``nrxnum``/``ntxnum`` (Intel: default 3/3, the NIC's maximum, so every
            Intel file has the same shape; Atheros: default from the records),
            ``tones`` (Atheros, default from the records), ``chip`` (Nexmon, e.g.
            ``"4358"``; default: the first chip whose decode is plausible), ``bw``
            (Nexmon MHz, default from the packet size), ``rate_hz`` (packet rate used
            only when the file has no usable clock), ``scaled`` (Intel: return
            ``get_scaled_csi()``, default False = the values the NIC reported).

    Raises:
        CaptureError: unknown format, empty/truncated/corrupt file, wrong format or hint,
            no packets, no clock and no ``rate_hz``, non-finite or implausible CSI.
        ConfigError: an unknown hint name or format name.
    """
    path = Path(path)
    unknown = sorted(set(hints) - set(KNOWN_HINTS))
    if unknown:
        raise ConfigError(f"unknown read_csi hint(s) {unknown}; known: {list(KNOWN_HINTS)}")
    hints = {k: v for k, v in hints.items() if v is not None}
    if format not in ("auto",) + SUPPORTED_FORMATS:
        raise ConfigError(f"unknown CSI format {format!r}; choose auto or one of "
                          f"{', '.join(SUPPORTED_FORMATS)}")
    data = _read_bytes(path)
    detected = _detect_from_bytes(path, data, wanted=None if format == "auto" else format)
    fmt = detected if format == "auto" else format
    reader = _READERS[fmt]
    recording = reader(path, data, hints)
    recording.source.setdefault("format", fmt)
    recording.source.setdefault("path", str(path))
    recording.source["format_detected"] = format == "auto"
    _check_plausible(path, recording)
    return recording


# ------------------------------------------------------------------ detection helpers


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CaptureError(path, "file not found") from None
    except IsADirectoryError:
        raise CaptureError(path, "is a directory, not a capture file") from None
    except OSError as exc:
        raise CaptureError(path, f"cannot read: {exc.strerror or exc}") from None
    if not data:
        raise CaptureError(path, "file is empty")
    return data


def _structure_checks() -> dict:
    return {
        "nexmon": _scan_nexmon_pcap,
        "picoscenes": _scan_picoscenes,
        "intel5300": _scan_intel,
        "atheros": _scan_atheros,
        "esp32": _scan_esp32,
    }


def _detect_from_bytes(path: Path, data: bytes, wanted: str | None = None) -> str:
    """Return the format whose record structure ``data`` has (checking ``wanted`` first).

    With ``wanted`` set, a mismatch raises a CaptureError that says what the content
    looks like instead; truncation and corruption found by the full scan also raise.
    """
    if data.startswith(HDF5_SIGNATURE):
        raise CaptureError(path, "is an HDF5 file (a wifisense store?), not a CSI capture; "
                                 "use `wifisense inspect` or `wifisense validate` on it")
    checks = _structure_checks()
    if wanted is not None:
        try:
            checks[wanted](path, data, limit=None)
            return wanted
        except _NotThisFormat as exc:
            looks_like = _first_match(path, data, exclude=wanted)
            hint = (f"; its content looks like {looks_like} (try --format {looks_like} "
                    f"or --format auto)" if looks_like else "")
            raise CaptureError(path, f"does not read as {wanted} ({FORMAT_DESCRIPTIONS[wanted]}): "
                                     f"{exc.args[0]}{hint}") from None
    # Order by how distinctive the signature is; a short look settles the format and the
    # full scan (truncation, corrupt records) happens when the chosen reader runs.
    found = _first_match(path, data)
    if found is None:
        ext = path.suffix.lower()
        by_ext = {".pcap": "nexmon", ".csi": "picoscenes", ".csv": "esp32", ".dat": "intel5300"}
        guess = f" (the extension {ext!r} suggests {by_ext[ext]}, but the content does not " \
                f"match it)" if ext in by_ext else ""
        raise CaptureError(path, "unknown capture format: the content matches none of "
                                 f"{', '.join(SUPPORTED_FORMATS)}{guess}")
    checks[found](path, data, limit=None)
    return found


def _first_match(path: Path, data: bytes, exclude: str | None = None) -> str | None:
    """First format whose structure matches the first few records of ``data``."""
    matches = []
    for name, check in _structure_checks().items():
        if name == exclude:
            continue
        try:
            check(path, data, limit=8)
        except _NotThisFormat:
            continue
        except CaptureError:
            pass  # the structure matched but the file is cut or odd: the full scan says why
        matches.append(name)
    if not matches:
        return None
    # Both Intel and Atheros use .dat; their structures are distinct, but if a tiny file
    # happens to satisfy both, the extension breaks the tie.
    ext_pref = {".pcap": "nexmon", ".csi": "picoscenes", ".csv": "esp32"}.get(path.suffix.lower())
    return ext_pref if ext_pref in matches else matches[0]


def _truncated(path: Path, what: str) -> CaptureError:
    return CaptureError(path, f"file is truncated: {what}")


# ------------------------------------------------------------------ structure scans
# These walk record headers with a Python loop: records have variable lengths, so the
# walk is inherently sequential; it touches a few bytes per record and is fast enough.


@dataclass
class _IntelScan:
    packets: int
    max_nrx: int
    max_ntx: int


def _scan_intel(path: Path, data: bytes, limit: int | None) -> _IntelScan:
    """Walk Linux 802.11n CSI Tool records: [u16 BE length][u8 code][length-1 bytes]."""
    pos, n, records, packets, max_nrx, max_ntx = 0, len(data), 0, 0, 0, 0
    while pos < n and (limit is None or records < limit):
        if n - pos < 3:
            if records == 0:
                raise _NotThisFormat("too short for one Intel record")
            raise _truncated(path, f"{n - pos} trailing byte(s) at offset {pos} are not a record")
        field_len = int.from_bytes(data[pos:pos + 2], "big")
        code = data[pos + 2]
        if code not in (0xBB, 0xC1) or field_len < 1:
            raise _NotThisFormat(f"record {records} at byte {pos} has code 0x{code:02x} and "
                                 f"length {field_len} (expected code 0xbb or 0xc1)")
        end = pos + 2 + field_len
        if code == 0xBB:
            head = data[pos + 3:pos + 3 + INTEL_HEADER_BYTES]
            if len(head) < INTEL_HEADER_BYTES:
                raise _truncated(path, f"CSI record {records} at byte {pos} is cut inside its header")
            nrx, ntx = head[8], head[9]
            csi_len = int.from_bytes(head[16:18], "little")
            if not (1 <= nrx <= 3 and 1 <= ntx <= 3):
                raise _NotThisFormat(f"record {records} at byte {pos} claims Nrx={nrx}, Ntx={ntx}")
            expected = (30 * (nrx * ntx * 8 * 2 + 3) + 7) // 8
            if csi_len != expected or field_len - 1 != INTEL_HEADER_BYTES + csi_len:
                raise _NotThisFormat(f"record {records} at byte {pos} has CSI length {csi_len} "
                                     f"in a {field_len}-byte record (expected {expected})")
            packets += 1
            max_nrx, max_ntx = max(max_nrx, nrx), max(max_ntx, ntx)
        if end > n:
            raise _truncated(path, f"record {records} at byte {pos} needs {field_len + 2} bytes, "
                                   f"only {n - pos} left")
        pos = end
        records += 1
    return _IntelScan(packets, max_nrx, max_ntx)


@dataclass
class _AtherosScan:
    endian: str
    packets: int
    max_nr: int
    max_nc: int
    tones: set


def _scan_atheros(path: Path, data: bytes, limit: int | None) -> _AtherosScan:
    """Walk Atheros CSI Tool records in either byte order (the tool writes host order)."""
    errors = []
    for endian in ("little", "big"):
        try:
            return _scan_atheros_endian(path, data, limit, endian)
        except _NotThisFormat as exc:
            errors.append(exc.args[0])
    raise _NotThisFormat(errors[0])


def _scan_atheros_endian(path: Path, data: bytes, limit: int | None, endian: str) -> _AtherosScan:
    order = "<" if endian == "little" else ">"
    header = struct.Struct(order + "QHHBBBBBBBBBBBH")
    pos, n, records, packets, max_nr, max_nc, tones = 0, len(data), 0, 0, 0, 0, set()
    while pos < n and (limit is None or records < limit):
        if n - pos < 2 + ATHEROS_HEADER_BYTES:
            if records == 0:
                raise _NotThisFormat("too short for one Atheros record")
            raise _truncated(path, f"{n - pos} trailing byte(s) at offset {pos} are not a record")
        rec_len = int.from_bytes(data[pos:pos + 2], endian)
        (_, csi_len, channel, _err, _noise, _rate, bandwidth, num_tones, nr, nc, *_rssi,
         payload_len) = header.unpack_from(data, pos + 2)
        if rec_len != ATHEROS_HEADER_BYTES + csi_len + payload_len:
            raise _NotThisFormat(f"record {records} at byte {pos}: length {rec_len} != header "
                                 f"{ATHEROS_HEADER_BYTES} + CSI {csi_len} + payload {payload_len}")
        if csi_len:
            if not (1 <= nr <= 3 and 1 <= nc <= 3 and num_tones in (56, 114) and bandwidth in (0, 1)):
                raise _NotThisFormat(f"record {records} at byte {pos}: implausible nr={nr}, "
                                     f"nc={nc}, tones={num_tones}, bandwidth code {bandwidth}")
            if csi_len != num_tones * nr * nc * 20 // 8:  # 10-bit I + 10-bit Q per value
                raise _NotThisFormat(f"record {records} at byte {pos}: CSI length {csi_len} does "
                                     f"not fit {num_tones} tones x {nr} x {nc}")
            if not 2000 <= channel <= 6000:
                raise _NotThisFormat(f"record {records} at byte {pos}: channel {channel} MHz")
            packets += 1
            max_nr, max_nc = max(max_nr, nr), max(max_nc, nc)
            tones.add(num_tones)
        if pos + 2 + rec_len > n:
            raise _truncated(path, f"record {records} at byte {pos} needs {rec_len + 2} bytes, "
                                   f"only {n - pos} left")
        pos += 2 + rec_len
        records += 1
    return _AtherosScan(endian, packets, max_nr, max_nc, tones)


@dataclass
class _NexmonScan:
    packets: int
    nfft: int


def _scan_nexmon_pcap(path: Path, data: bytes, limit: int | None) -> _NexmonScan:
    """Walk a pcap file and check that its packets are Nexmon CSI UDP packets."""
    if data[:4] not in PCAP_MAGICS:
        raise _NotThisFormat("no pcap magic number")
    order, _ = PCAP_MAGICS[data[:4]]
    if len(data) < 24:
        raise _truncated(path, "pcap global header is incomplete")
    record = struct.Struct(order + "IIII")
    pos, n, packets, nffts = 24, len(data), 0, set()
    while pos < n and (limit is None or packets < limit):
        if n - pos < record.size:
            raise _truncated(path, f"{n - pos} trailing byte(s) at offset {pos} are not a packet")
        _, _, incl_len, _ = record.unpack_from(data, pos)
        body = pos + record.size
        if body + incl_len > n:
            raise _truncated(path, f"packet {packets} at byte {pos} needs {incl_len} bytes, "
                                   f"only {n - body} left")
        csi_bytes = incl_len - NEXMON_PREFIX_BYTES
        magic = data[body + 42:body + 44]
        if magic != b"\x11\x11" or csi_bytes <= 0 or csi_bytes % 4:
            raise _NotThisFormat(f"packet {packets} at byte {pos} is not a Nexmon CSI packet "
                                 f"(no 0x1111 magic after the UDP header)")
        nffts.add(csi_bytes // 4)
        pos = body + incl_len
        packets += 1
    if packets == 0:
        raise _NotThisFormat("pcap file holds no packets")
    if len(nffts) > 1:
        raise CaptureError(path, f"packets carry different CSI sizes {sorted(nffts)} bins; "
                                 "split the capture by bandwidth first")
    nfft = nffts.pop()
    if nfft not in (64, 128, 256):
        raise CaptureError(path, f"Nexmon packets carry {nfft} CSI bins; supported: 64, 128, 256 "
                                 "(20/40/80 MHz)")
    return _NexmonScan(packets, nfft)


def _scan_picoscenes(path: Path, data: bytes, limit: int | None) -> int:
    """Walk PicoScenes frames: [u32 LE length][magic 0x20150315 ...]. Returns frame count."""
    pos, n, frames = 0, len(data), 0
    while pos < n and (limit is None or frames < limit):
        if n - pos < 8:
            if frames == 0:
                raise _NotThisFormat("too short for one PicoScenes frame")
            raise _truncated(path, f"{n - pos} trailing byte(s) at offset {pos} are not a frame")
        frame_len = int.from_bytes(data[pos:pos + 4], "little")
        if data[pos + 4:pos + 8] != PICOSCENES_MAGIC:
            raise _NotThisFormat(f"frame {frames} at byte {pos} lacks the PicoScenes magic")
        if pos + 4 + frame_len > n:
            raise _truncated(path, f"frame {frames} at byte {pos} needs {frame_len + 4} bytes, "
                                   f"only {n - pos} left")
        pos += 4 + frame_len
        frames += 1
    return frames


def _scan_esp32(path: Path, data: bytes, limit: int | None) -> int:
    """Check that the text lines are ESP32-CSI-Tool ``CSI_DATA`` rows. Returns row count."""
    head = data[:4096] if limit is not None else data
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        raise _NotThisFormat("not ASCII text") from None
    rows = [line for line in text.splitlines() if line.startswith("CSI_DATA")]
    if not rows:
        raise _NotThisFormat("no CSI_DATA lines")
    return len(rows)


# ------------------------------------------------------------------ csiread plumbing


@contextlib.contextmanager
def _quiet_csiread() -> Iterator[None]:
    """Silence csiread's prints, including those its C code writes straight to fd 1."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real stdout (embedded interpreter): only Python-level redirect
        with contextlib.redirect_stdout(io.StringIO()):
            yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _csiread_call(path: Path, fmt: str, make):
    """Run a csiread constructor + read(); any exception becomes a CaptureError."""
    try:
        with _quiet_csiread():
            parsed = make()
    except CaptureError:
        raise
    except Exception as exc:  # csiread raises bare Exception/ValueError on bad input
        raise CaptureError(path, f"csiread could not parse it as {fmt}: "
                                 f"{type(exc).__name__}: {exc}") from exc
    return parsed


def _timestamps_or_rate(path: Path, ticks: np.ndarray | None, ticks_per_s: float,
                        hints: dict, n: int, unwrap32: bool = False) -> tuple[np.ndarray, bool]:
    """Seconds from device ticks, or from ``rate_hz`` when the file has no usable clock."""
    usable = ticks is not None and ticks.size == n and (n < 2 or np.ptp(ticks) > 0)
    if usable:
        t = ticks.astype(np.int64)
        if unwrap32:
            t = _unwrap_u32(t)
        seconds = t.astype(np.float64) / ticks_per_s
        back = np.flatnonzero(np.diff(seconds) < 0)
        if back.size:
            i = int(back[0])
            raise CaptureError(path, f"timestamps go backwards at packet {i + 1} "
                                     f"({seconds[i]:.6f} s -> {seconds[i + 1]:.6f} s)")
        return seconds, False
    rate = hints.get("rate_hz")
    if rate is None:
        raise CaptureError(path, "the capture has no usable clock (all packet timestamps are "
                                 "equal); give the packet rate with --rate HZ (rate_hz=...)")
    if not rate > 0:
        raise ConfigError(f"rate_hz must be positive, got {rate}")
    return np.arange(n, dtype=np.float64) / float(rate), True


def _unwrap_u32(ticks: np.ndarray) -> np.ndarray:
    """Undo wraparound of a 32-bit counter (e.g. Intel timestamp_low, 1 MHz, wraps ~72 min)."""
    step = np.diff(ticks)
    wraps = np.cumsum(step < -(1 << 31))
    return ticks + np.concatenate([[0], wraps]) * (1 << 32)


def _hint_int(hints: dict, name: str, default: int) -> int:
    value = hints.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"hint {name} must be an integer, got {value!r}") from None


# ------------------------------------------------------------------ per-format readers


def _read_intel(path: Path, data: bytes, hints: dict) -> CSIRecording:
    import csiread
    from csiread.utils import scidx

    scan = _scan_intel(path, data, limit=None)
    if scan.packets == 0:
        raise CaptureError(path, "no CSI (0xbb) packets in this Intel 5300 log")
    nrxnum, ntxnum = _hint_int(hints, "nrxnum", 3), _hint_int(hints, "ntxnum", 3)
    if scan.max_nrx > nrxnum or scan.max_ntx > ntxnum:
        raise CaptureError(path, f"packets have up to Nrx={scan.max_nrx}, Ntx={scan.max_ntx} but "
                                 f"hints say nrxnum={nrxnum}, ntxnum={ntxnum}; raise the hints")

    def make():
        parsed = csiread.Intel(str(path), nrxnum=nrxnum, ntxnum=ntxnum, if_report=False)
        parsed.read()
        return parsed

    parsed = _csiread_call(path, "intel5300", make)
    n = int(parsed.count)
    # csiread already undoes the NIC's RF-chain permutation (``perm``), as read_bfee.c does,
    # so the receive axis is in physical antenna order (checked against a hand decode in the tests).
    csi = parsed.get_scaled_csi() if hints.get("scaled") else parsed.csi
    ht40 = (np.asarray(parsed.rate) & 0x800) != 0  # rate_n_flags bit 11: 40 MHz
    if ht40.any() and not ht40.all():
        raise CaptureError(path, "the log mixes 20 MHz and 40 MHz packets; split it first")
    bandwidth = 40 if ht40.any() else 20
    # 30 reported subcarriers: 802.11n grouping Ng=2 at 20 MHz, Ng=4 at 40 MHz.
    subcarriers = scidx(bandwidth, 2 if bandwidth == 20 else 4)
    t, derived = _timestamps_or_rate(path, np.asarray(parsed.timestamp_low), 1e6, hints, n,
                                     unwrap32=True)
    rssi = np.stack([parsed.rssi_a, parsed.rssi_b, parsed.rssi_c], axis=1)[:, :nrxnum]
    nrx, ntx = np.asarray(parsed.Nrx), np.asarray(parsed.Ntx)
    source = {
        "format": "intel5300", "path": str(path), "device": "Intel WiFi Link 5300",
        "tool": "Linux 802.11n CSI Tool", "reader": "csiread.Intel",
        "nrxnum": nrxnum, "ntxnum": ntxnum, "scaled": bool(hints.get("scaled", False)),
        "nrx_range": [int(nrx.min()), int(nrx.max())], "ntx_range": [int(ntx.min()), int(ntx.max())],
        # Packets with fewer streams than nrxnum/ntxnum are zero in the unused slots.
        "zero_padded_streams": bool((nrx < nrxnum).any() or (ntx < ntxnum).any()),
        "clock": "timestamp_low (1 MHz NIC clock, 32-bit unwrapped)" if not derived else "none",
        "per_packet": {"nrx": nrx, "ntx": ntx, "bfee_count": np.asarray(parsed.bfee_count),
                       "perm": np.asarray(parsed.perm), "agc": np.asarray(parsed.agc),
                       "noise": np.asarray(parsed.noise), "rate": np.asarray(parsed.rate)},
    }
    valid = _stream_mask(n, csi.shape[2], csi.shape[3], nrx, ntx)
    return CSIRecording(csi=csi, timestamps=t, subcarriers=subcarriers, timestamps_derived=derived,
                        bandwidth_mhz=float(bandwidth), carrier_hz=None, rssi=rssi.astype(np.float32),
                        source={**source, "_valid_streams": valid})


def _stream_mask(n: int, nrxnum: int, ntxnum: int, nrx: np.ndarray, ntx: np.ndarray) -> np.ndarray:
    """bool [T, Nrx, Ntx]: True where a packet actually carried that stream."""
    return ((np.arange(nrxnum)[None, :, None] < nrx[:, None, None])
            & (np.arange(ntxnum)[None, None, :] < ntx[:, None, None]))


def _read_atheros(path: Path, data: bytes, hints: dict) -> CSIRecording:
    import csiread

    scan = _scan_atheros(path, data, limit=None)
    if scan.packets == 0:
        raise CaptureError(path, "no packets with CSI in this Atheros log")
    if len(scan.tones) > 1:
        raise CaptureError(path, f"packets mix {sorted(scan.tones)} tones (20 and 40 MHz); "
                                 "split the capture first")
    file_tones = scan.tones.pop()
    tones = _hint_int(hints, "tones", file_tones)
    nrxnum = _hint_int(hints, "nrxnum", scan.max_nr)
    ntxnum = _hint_int(hints, "ntxnum", scan.max_nc)
    if tones != file_tones:
        raise CaptureError(path, f"hint tones={tones} is wrong: the records carry {file_tones} "
                                 f"tones ({20 if file_tones == 56 else 40} MHz)")
    if scan.max_nr > nrxnum or scan.max_nc > ntxnum:
        raise CaptureError(path, f"packets have up to nr={scan.max_nr}, nc={scan.max_nc} but "
                                 f"hints say nrxnum={nrxnum}, ntxnum={ntxnum}")

    def make():
        parsed = csiread.Atheros(str(path), nrxnum=nrxnum, ntxnum=ntxnum, tones=tones,
                                 if_report=False)
        parsed.read(endian=scan.endian)
        return parsed

    parsed = _csiread_call(path, "atheros", make)
    n = int(parsed.count)
    bandwidth = 40 if tones == 114 else 20
    subcarriers = (np.r_[-28:0, 1:29] if tones == 56 else np.r_[-58:-1, 2:59])
    ticks = np.asarray(parsed.timestamp).astype(np.int64)
    t, derived = _timestamps_or_rate(path, ticks, 1e6, hints, n,
                                     unwrap32=bool(ticks.size and ticks.max() < (1 << 32)))
    channels = np.unique(np.asarray(parsed.tx_channel))
    rssi = np.stack([parsed.rssi_1, parsed.rssi_2, parsed.rssi_3], axis=1)[:, :nrxnum]
    nr, nc = np.asarray(parsed.nr), np.asarray(parsed.nc)
    source = {
        "format": "atheros", "path": str(path), "device": "Qualcomm Atheros (ath9k)",
        "tool": "Atheros CSI Tool", "reader": "csiread.Atheros", "endian": scan.endian,
        "nrxnum": nrxnum, "ntxnum": ntxnum, "tones": tones,
        "channels_mhz": [int(c) for c in channels],
        "zero_padded_streams": bool((nr < nrxnum).any() or (nc < ntxnum).any()),
        "clock": "timestamp (1 MHz)" if not derived else "none",
        "per_packet": {"nr": nr, "nc": nc, "rate": np.asarray(parsed.Rate),
                       "tx_channel": np.asarray(parsed.tx_channel)},
        "_valid_streams": _stream_mask(n, nrxnum, ntxnum, nr, nc),
    }
    carrier = float(channels[0]) * 1e6 if channels.size == 1 else None
    return CSIRecording(csi=parsed.csi, timestamps=t, subcarriers=subcarriers,
                        timestamps_derived=derived, bandwidth_mhz=float(bandwidth),
                        carrier_hz=carrier, rssi=rssi.astype(np.float32), source=source)


def _nexmon_null_bins(nfft: int) -> np.ndarray:
    """bool [nfft] over k = -nfft/2..nfft/2-1: DC and outer guard bins, empty in every
    802.11 a/n/ac layout of that width (outermost 3-4 bins at each edge)."""
    k = np.arange(-nfft // 2, nfft // 2)
    return (k == 0) | (np.abs(k) >= nfft // 2 - 3)


def _nexmon_decode_ok(csi_shifted: np.ndarray) -> tuple[bool, str]:
    """Whether a Nexmon decode looks like a channel, with the reason if not."""
    amp = np.abs(csi_shifted)
    if not np.isfinite(amp).all():
        return False, "non-finite values"
    if not amp.any():
        return False, "all-zero CSI"
    null = _nexmon_null_bins(amp.shape[1])
    data_amp = amp[:, ~null]
    zero_frac = float((data_amp == 0).mean())
    if zero_frac > 0.25:
        return False, f"{zero_frac:.0%} of the in-band values are exactly zero"
    ratio = np.median(amp[:, null], axis=1) / np.maximum(np.median(data_amp, axis=1), 1e-12)
    if float(np.median(ratio)) > NEXMON_NULL_RATIO_MAX:
        return False, (f"no empty DC/guard subcarriers (their level is {np.median(ratio):.2f} "
                       f"of the in-band level), which is what a wrong number format gives")
    return True, ""


def _read_nexmon(path: Path, data: bytes, hints: dict) -> CSIRecording:
    import csiread

    scan = _scan_nexmon_pcap(path, data, limit=None)
    file_bw = {64: 20, 128: 40, 256: 80}[scan.nfft]
    bw = _hint_int(hints, "bw", file_bw)
    if bw != file_bw:
        raise CaptureError(path, f"hint bw={bw} is wrong: the packets carry {scan.nfft} CSI bins "
                                 f"({file_bw} MHz)")
    chip = hints.get("chip")
    if chip is not None and str(chip) not in NEXMON_CHIPS:
        raise CaptureError(path, f"unknown Nexmon chip {chip!r}; csiread supports "
                                 f"{', '.join(NEXMON_CHIPS)}")

    def decode(c):
        def make():
            parsed = csiread.Nexmon(str(path), chip=c, bw=bw, if_report=False)
            parsed.read()
            return parsed
        parsed = _csiread_call(path, "nexmon", make)
        # csiread returns FFT order (DC first); shift so subcarriers run -nfft/2..nfft/2-1.
        return parsed, np.fft.fftshift(np.asarray(parsed.csi), axes=1)

    if chip is not None:
        parsed, csi = decode(str(chip))
        ok, why = _nexmon_decode_ok(csi)
        if not ok:
            others = [c for c in NEXMON_CHIPS if c != str(chip) and _nexmon_decode_ok(decode(c)[1])[0]]
            better = f"; it decodes plausibly with --chip {others[0]}" if others else ""
            raise CaptureError(path, f"CSI decoded with chip={chip} looks like garbage ({why}): "
                                     f"--chip is probably wrong{better}")
        chip_guessed = False
    else:
        for candidate in NEXMON_CHIPS:
            parsed, csi = decode(candidate)
            if _nexmon_decode_ok(csi)[0]:
                chip, chip_guessed = candidate, True
                break
        else:
            raise CaptureError(path, "no Nexmon chip decodes this capture plausibly; give the "
                                     f"chip with --chip ({', '.join(NEXMON_CHIPS)})")
    n = int(parsed.count)
    frac = 1e-9 if parsed.nano else 1e-6
    ticks = np.asarray(parsed.sec).astype(np.int64) * (1_000_000_000 if parsed.nano else 1_000_000) \
        + np.asarray(parsed.usec).astype(np.int64)
    t, derived = _timestamps_or_rate(path, ticks, 1.0 / frac, hints, n)
    chanspec = int(np.asarray(parsed.chan_spec)[0]) if n else 0
    carrier = _broadcom_chanspec_carrier_hz(chanspec)
    source = {
        "format": "nexmon", "path": str(path), "device": f"Broadcom bcm{chip}",
        "tool": "Nexmon CSI", "reader": "csiread.Nexmon", "chip": str(chip),
        "chip_guessed": chip_guessed, "bw": bw, "chanspec": f"0x{chanspec:04x}",
        "clock": "pcap capture time (host clock)" if not derived else "none",
        "cores": sorted(int(c) for c in np.unique(parsed.core)),
        "spatial_streams": sorted(int(s) for s in np.unique(parsed.spatial)),
        # One packet per (core, spatial stream): regroup by seq/core/spatial if needed.
        "per_packet": {"seq": np.asarray(parsed.seq), "core": np.asarray(parsed.core),
                       "spatial": np.asarray(parsed.spatial)},
    }
    subcarriers = np.arange(-scan.nfft // 2, scan.nfft // 2)
    return CSIRecording(csi=csi[:, :, None, None], timestamps=t, subcarriers=subcarriers,
                        timestamps_derived=derived, bandwidth_mhz=float(bw), carrier_hz=carrier,
                        rssi=None, source=source)


def _broadcom_chanspec_carrier_hz(chanspec: int) -> float | None:
    """Centre frequency from a d11ac chanspec (channel in bits 0-7, band in bits 14-15)."""
    channel, band = chanspec & 0xFF, chanspec & 0xC000
    if channel == 0:
        return None
    if band == 0xC000:
        return (5000 + 5 * channel) * 1e6
    if band == 0x0000:
        return (2484 if channel == 14 else 2407 + 5 * channel) * 1e6
    return None


def _read_esp32(path: Path, data: bytes, hints: dict) -> CSIRecording:
    """ESP32-CSI-Tool CSV rows ``CSI_DATA,...,[imag real imag real ...]``.

    Parsed with the csv module and NumPy instead of csiread.ESP32: that parser is marked
    experimental and mis-reads CRLF line ends, a last line without newline, header lines
    and truncated rows (bare ValueErrors). The column list and the imaginary-first order
    are csiread's (and ESP-IDF's).
    """
    import csv

    import csiread

    columns = list(csiread.ESP32(None, if_report=False).dt)  # 25 fields then "csi"
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise CaptureError(path, f"not an ESP32-CSI-Tool CSV (byte {exc.start} is not ASCII)") from None
    rows, line_numbers = [], []
    for line_no, fields in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not fields or not fields[0].startswith("CSI_DATA"):
            continue  # header or other console output the tool interleaves
        if len(fields) != len(columns):
            raise CaptureError(path, f"line {line_no} has {len(fields)} fields, expected "
                                     f"{len(columns)}; the file is truncated or not ESP32-CSI-Tool output")
        if not (fields[-1].startswith("[") and fields[-1].rstrip().endswith("]")):
            raise CaptureError(path, f"line {line_no}: the CSI list is not closed by ']'; the "
                                     "file is truncated or not ESP32-CSI-Tool output")
        rows.append(fields)
        line_numbers.append(line_no)
    if not rows:
        raise CaptureError(path, "no CSI_DATA rows")
    lengths = sorted({len(r[-1].strip("[] ").split()) for r in rows})
    if len(lengths) != 1 or lengths[0] % 2 or lengths[0] < 128:
        raise CaptureError(path, f"rows carry CSI lengths {lengths}; expected one even length "
                                 ">= 128 (64 LLTF subcarriers, imaginary and real)")
    n_ints = lengths[0]
    try:
        ints = np.array([r[-1].strip("[] ").split() for r in rows], dtype=np.int64)
        meta = {name: np.array([r[i] for r in rows]) for i, name in enumerate(columns[:-1])}
        local_us = meta["local_timestamp"].astype(np.int64)
        rssi = meta["rssi"].astype(np.float32)
        channel = meta["channel"].astype(np.int64)
    except ValueError as exc:
        raise CaptureError(path, f"non-numeric value in a CSI_DATA row: {exc}") from None
    csi = ints[:, 1::2] + 1j * ints[:, 0::2]  # ESP-IDF stores imaginary before real
    n_sub = n_ints // 2
    if n_sub != 64:
        # Rows with HT-LTF after the 64 LLTF bins: keep the LLTF part, which every
        # packet type has, so all rows share one subcarrier layout.
        csi = csi[:, :64]
    # The LLTF buffer of this tool's CSV comes out with guard nulls at both ends and the
    # DC bin in the middle (checked on real captures), i.e. already in -32..31 order.
    subcarriers = np.arange(-32, 32)
    t, derived = _timestamps_or_rate(path, local_us, 1e6, hints, len(rows), unwrap32=True)
    channels = np.unique(channel)
    carrier = (2484 if channels[0] == 14 else 2407 + 5 * int(channels[0])) * 1e6 \
        if channels.size == 1 and 1 <= channels[0] <= 14 else None
    source = {
        "format": "esp32", "path": str(path), "device": "Espressif ESP32",
        "tool": "ESP32-CSI-Tool", "reader": "csv + numpy (csiread.ESP32 column layout)",
        "macs": sorted(set(meta["mac"].tolist())), "channels": [int(c) for c in channels],
        "csi_values_per_row": n_ints, "lltf_only": n_sub != 64,
        "clock": "local_timestamp (1 MHz, 32-bit unwrapped)" if not derived else "none",
        "per_packet": {"line": np.asarray(line_numbers), "sig_mode": meta["sig_mode"].astype(int),
                       "bandwidth": meta["bandwidth"].astype(int)},
    }
    return CSIRecording(csi=csi[:, :, None, None], timestamps=t, subcarriers=subcarriers,
                        timestamps_derived=derived, bandwidth_mhz=20.0, carrier_hz=carrier,
                        rssi=rssi[:, None], source=source)


def _read_picoscenes(path: Path, data: bytes, hints: dict) -> CSIRecording:
    import csiread

    frames = _scan_picoscenes(path, data, limit=None)

    def make(pl_size):
        def run():
            parsed = csiread.Picoscenes(str(path), pl_size, if_report=False)
            parsed.read()
            return parsed
        return run

    # First pass learns the CSI shape from the frame infos; the second allocates it.
    probe = _csiread_call(path, "picoscenes", make(None))
    info = probe.raw["CSI"]["Info"]
    has_csi = info["NumTones"] > 0
    if probe.count == 0 or not has_csi.any():
        raise CaptureError(path, f"no frames with CSI among {frames} PicoScenes frames")
    shape = [int(info["NumTones"].max()), int(info["NumRx"].max()),
             int((info["NumTx"].astype(int) + info["NumESS"]).max())]
    parsed = _csiread_call(path, "picoscenes", make({"CSI": shape}))
    raw = parsed.raw[has_csi]
    csi = np.asarray(raw["CSI"]["CSI"])
    index = np.asarray(raw["CSI"]["SubcarrierIndex"])
    if not (index == index[0]).all():
        raise CaptureError(path, "the subcarrier layout changes between frames; split by bandwidth")
    basic = raw["RxSBasic"]
    device = int(basic["DeviceType"][0])
    n = len(raw)
    ticks_per_s = PICOSCENES_TICKS_PER_S.get(device)
    ticks = np.asarray(basic["Timestamp"]).astype(np.int64) if ticks_per_s else None
    t, derived = _timestamps_or_rate(path, ticks, ticks_per_s or 1.0, hints, n)
    csi_info = raw["CSI"]["Info"]
    carriers = np.unique(csi_info["CarrierFreq"])
    cbw = np.unique(csi_info["CBW"])
    nrx = np.asarray(csi_info["NumRx"]).astype(int)
    ntx = np.asarray(csi_info["NumTx"]).astype(int) + np.asarray(csi_info["NumESS"]).astype(int)
    rssi = np.stack([basic["RSSI1"], basic["RSSI2"], basic["RSSI3"]], axis=1)[:, :shape[1]]
    source = {
        "format": "picoscenes", "path": str(path),
        "device": PICOSCENES_DEVICES.get(device, f"PicoScenes device 0x{device:04x}"),
        "tool": "PicoScenes", "reader": "csiread.Picoscenes", "frames": frames,
        "frames_without_csi": int((~has_csi).sum()),
        "zero_padded_streams": bool((nrx < shape[1]).any() or (ntx < shape[2]).any()),
        "clock": "RxSBasic.Timestamp" if not derived else "none",
        "per_packet": {"nrx": nrx, "ntx": ntx, "mcs": np.asarray(basic["MCS"]).astype(int)},
        "_valid_streams": _stream_mask(n, shape[1], shape[2], nrx, ntx),
    }
    return CSIRecording(csi=csi, timestamps=t, subcarriers=index[0].astype(np.int64),
                        timestamps_derived=derived,
                        bandwidth_mhz=float(cbw[0]) if cbw.size == 1 else None,
                        carrier_hz=float(carriers[0]) if carriers.size == 1 else None,
                        rssi=rssi.astype(np.float32), source=source)


_READERS = {
    "intel5300": _read_intel,
    "atheros": _read_atheros,
    "nexmon": _read_nexmon,
    "esp32": _read_esp32,
    "picoscenes": _read_picoscenes,
}


# ------------------------------------------------------------------ content checks


def _check_plausible(path: Path, recording: CSIRecording) -> None:
    """Raise instead of returning CSI nobody should train on (empty, NaN, all zeros)."""
    valid = recording.source.pop("_valid_streams", None)
    csi = recording.csi
    if csi.shape[0] == 0:
        raise CaptureError(path, "no packets were parsed")
    bad = ~np.isfinite(csi)
    if bad.any():
        raise CaptureError(path, f"{int(bad.sum())} non-finite CSI value(s), first in packet "
                                 f"{int(np.argwhere(bad)[0][0])}")
    # Zero-padded streams (fewer antennas in a packet than in the array) are expected to
    # be zero; every stream a packet did carry must not be all-zero.
    power = np.abs(csi).sum(axis=1)  # [T, Nrx, Ntx]
    carried = valid if valid is not None else np.ones_like(power, dtype=bool)
    if not power[carried].any():
        fmt = recording.source.get("format")
        raise CaptureError(path, f"all CSI values are zero; the {fmt} format hints (chip, "
                                 "tones, antenna counts) probably do not match the capture")
    dead = carried & (power == 0)
    dead_packets = np.flatnonzero(dead.all(axis=(1, 2)) & carried.any(axis=(1, 2)))
    if dead_packets.size > 0.5 * csi.shape[0]:
        raise CaptureError(path, f"{dead_packets.size} of {csi.shape[0]} packets have all-zero "
                                 "CSI; the format hints probably do not match the capture")
    recording.source["all_zero_packets"] = int(dead_packets.size)
