"""Helpers every capture reader shares: file bytes, hints, csiread calls, clocks, result checks."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from wifisense.errors import CaptureError, ConfigError
from wifisense.io.recording import CSIRecording


# Lives here rather than in registry.py (which re-exports it) so that the record-walk
# guard below can raise it without an import cycle.
class NotThisFormat(Exception):
    """The content does not have this format's record structure (reason in args[0])."""


# ------------------------------------------------------------------ file and hints


# Inputs are read whole into memory; beyond this size a file is refused rather than read
# (a capture this large should be split; an endless device file never ends at all).
MAX_INPUT_BYTES = 8 << 30


def read_bytes(path: Path, head: int | None = None, max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """The whole file (or its first ``head`` bytes), read once from one open descriptor.

    Only regular files are read: a FIFO would block forever and a device such as
    /dev/zero never ends, so both are refused before any byte is read (the open itself is
    non-blocking for that reason). A missing, unreadable, empty or oversized file is a
    CaptureError naming it.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise CaptureError(path, "file not found") from None
    except OSError as exc:
        raise CaptureError(path, f"cannot read: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise CaptureError(path, "is a directory, not a capture file")
        raise CaptureError(path, "is not a regular file (a pipe, device or socket); save the "
                                 "data to a file first")
    with os.fdopen(fd, "rb") as f:
        if head is None and info.st_size > max_bytes:
            raise CaptureError(path, f"is {info.st_size / 2**30:.1f} GiB, more than the "
                                     f"{max_bytes / 2**30:.0f} GiB read at once; split it first")
        try:
            # Exactly the size seen now: a file still growing is read up to this point.
            data = f.read(info.st_size if head is None else min(head, info.st_size))
        except OSError as exc:
            raise CaptureError(path, f"cannot read: {exc.strerror or exc}") from None
    if not data and head is None:
        raise CaptureError(path, "file is empty")
    return data


def truncated(path: Path, what: str) -> CaptureError:
    return CaptureError(path, f"file is truncated: {what}")


def require_bytes(path: Path, data: bytes, pos: int, size: int, done: int, what: str) -> None:
    """Guard of a record walk: ``size`` more bytes must follow ``pos``.

    Too few before the first record (``done == 0``) means the file is not this format at
    all; after one, it was cut. ``what`` names the record, e.g. "Intel record".
    """
    left = len(data) - pos
    if left >= size:
        return
    if done == 0:
        raise NotThisFormat(f"too short for one {what}")
    raise truncated(path, f"{left} trailing byte(s) at offset {pos} are not a {what.split()[-1]}")


def walk_whole_records(data: bytes, one_record, ends: list | None = None) -> tuple[int, int]:
    """(bytes, packets) of the whole, valid records at the start of ``data``: a log cut or damaged
    part way, or one that is still being written. ``one_record(view)`` checks the record at the
    start of ``view`` (a zero-copy slice, so a long log is walked once) and returns its
    (length in bytes, CSI packets), or raises NotThisFormat / CaptureError where the valid
    records end. Each record's end offset is appended to ``ends`` when given."""
    pos = packets = 0
    view = memoryview(data)
    while pos < len(data):
        try:
            length, found = one_record(view[pos:])
        except (NotThisFormat, CaptureError):
            break
        pos += length
        packets += found
        if ends is not None:
            ends.append(pos)
    return pos, packets


def check_hint_names(hints: dict, known: tuple[str, ...]) -> dict:
    """Refuse hint names nobody reads (a typo must not be ignored); drop hints set to None."""
    unknown = sorted(set(hints) - set(known))
    if unknown:
        raise ConfigError(f"unknown read_csi hint(s) {unknown}; known: {list(known)}")
    return {k: v for k, v in hints.items() if v is not None}


def hint_int(hints: dict, name: str, default: int) -> int:
    value = hints.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"hint {name} must be an integer, got {value!r}") from None


# ------------------------------------------------------------------ csiread plumbing


@contextlib.contextmanager
def quiet_csiread() -> Iterator[None]:
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


@contextlib.contextmanager
def private_copy(data: bytes, suffix: str = "") -> Iterator[str]:
    """The name of a private temporary file (mode 0600) holding exactly ``data``.

    csiread opens captures by name. Handing it the user's path would let the file change
    between our bounds check of ``data`` and csiread's own read (log rotation, a capture
    being rewritten), and csiread's C code crashes the process on records it was not
    promised. A private copy of the checked bytes closes that window.
    """
    fd, name = tempfile.mkstemp(prefix="wifisense-capture-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        yield name
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def csiread_call(path: Path, data: bytes, fmt: str, make, methods: tuple[str, ...] = ()):
    """Run ``make(file)`` (a csiread constructor + read()) on a private copy of ``data``.

    ``path`` is only named in errors; any exception becomes a CaptureError. Where the
    platform can fork, csiread runs in a child process and what it parsed comes back as a
    snapshot (every public array and number of the parser object, plus the results of the
    zero-argument ``methods`` named, e.g. ``get_scaled_csi``). csiread's C code trusts the
    lengths inside records our pre-scan cannot all check (PicoScenes segments, for one), and
    on some corrupt files it writes out of bounds: in a child that is a clear error about
    the file, not the end of the user's process. Elsewhere it runs in process.
    """
    with private_copy(data, path.suffix) as file:
        if not hasattr(os, "fork"):
            try:
                with quiet_csiread():
                    return make(file)
            except CaptureError:
                raise
            except Exception as exc:  # csiread raises bare Exception/ValueError on bad input
                raise CaptureError(path, f"csiread could not parse it as {fmt}: "
                                         f"{type(exc).__name__}: {exc}") from exc
        return _parse_in_child(path, fmt, lambda: make(file), methods)


def _snapshot(parsed, methods: tuple[str, ...]) -> tuple[dict, dict]:
    """The parser object's public data (arrays, numbers, strings) and the results of
    ``methods``, both picklable; :func:`_namespace` turns them back into one object."""
    values = {}
    for name in dir(parsed):
        if name.startswith("_"):
            continue
        try:
            value = getattr(parsed, name)
        except Exception:  # a property that needs state the file did not give
            continue
        if isinstance(value, (np.ndarray, np.generic, int, float, str, bytes, bool)) or value is None:
            values[name] = value
    return values, {name: getattr(parsed, name)() for name in methods}


def _namespace(values: dict, results: dict) -> SimpleNamespace:
    """Attributes as on the parser object; each method named gives its result when called."""
    calls = {name: (lambda result=result: result) for name, result in results.items()}
    return SimpleNamespace(**values, **calls)


def _parse_in_child(path: Path, fmt: str, make, methods: tuple[str, ...]):
    from wifisense.io.contain import ContainedCrash, ContainedFailure, run_contained

    try:
        return _namespace(*run_contained(lambda: _snapshot(make(), methods)))
    except ContainedCrash as exc:
        raise CaptureError(path, f"csiread crashed ({exc.args[0]}) parsing it as {fmt}: the file is "
                                 "corrupt in a way the record check did not catch") from None
    except ContainedFailure as exc:
        message = exc.args[0]
        if message.startswith("ended without a result"):
            raise CaptureError(path, f"csiread {message} parsing it as {fmt}") from None
        raise CaptureError(path, f"csiread could not parse it as {fmt}: {message}") from None


# ------------------------------------------------------------------ clocks and streams


def timestamps_or_rate(path: Path, ticks: np.ndarray | None, ticks_per_s: float,
                       hints: dict, n: int, unwrap32: bool = False) -> tuple[np.ndarray, bool]:
    """Seconds from device ticks, or from ``rate_hz`` when the file has no usable clock."""
    usable = ticks is not None and ticks.size == n and (n < 2 or np.ptp(ticks) > 0)
    if usable:
        t = ticks.astype(np.int64)
        if unwrap32:
            t = unwrap_u32(t)
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
                                 "equal); give the packet rate with --packet-rate HZ (rate_hz=...)")
    if not rate > 0:
        raise ConfigError(f"rate_hz must be positive, got {rate}")
    return np.arange(n, dtype=np.float64) / float(rate), True


def unwrap_u32(ticks: np.ndarray) -> np.ndarray:
    """Undo wraparound of a 32-bit counter (e.g. Intel timestamp_low, 1 MHz, wraps ~72 min)."""
    step = np.diff(ticks)
    wraps = np.cumsum(step < -(1 << 31))
    return ticks + np.concatenate([[0], wraps]) * (1 << 32)


def stream_mask(n: int, nrxnum: int, ntxnum: int, nrx: np.ndarray, ntx: np.ndarray) -> np.ndarray:
    """bool [T, Nrx, Ntx]: True where a packet actually carried that stream."""
    return ((np.arange(nrxnum)[None, :, None] < nrx[:, None, None])
            & (np.arange(ntxnum)[None, None, :] < ntx[:, None, None]))


# ------------------------------------------------------------------ result checks


def check_plausible(path: Path, recording: CSIRecording) -> None:
    """Raise instead of returning CSI nobody should train on (empty, NaN, all zeros).

    A reader may leave ``source["_valid_streams"]`` (see :func:`stream_mask`) so that
    zero-padded streams are not mistaken for dead ones; it is removed here.
    """
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
