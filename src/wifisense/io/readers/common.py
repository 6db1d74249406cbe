"""Helpers every capture reader shares: file bytes, hints, csiread calls, clocks, result checks."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError, ConfigError
from wifisense.io.recording import CSIRecording


# Lives here rather than in registry.py (which re-exports it) so that the record-walk
# guard below can raise it without an import cycle.
class NotThisFormat(Exception):
    """The content does not have this format's record structure (reason in args[0])."""


# ------------------------------------------------------------------ file and hints


def read_bytes(path: Path) -> bytes:
    """The whole file; a missing, unreadable or empty file is a CaptureError naming it."""
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


def csiread_call(path: Path, fmt: str, make):
    """Run a csiread constructor + read(); any exception becomes a CaptureError."""
    try:
        with quiet_csiread():
            parsed = make()
    except CaptureError:
        raise
    except Exception as exc:  # csiread raises bare Exception/ValueError on bad input
        raise CaptureError(path, f"csiread could not parse it as {fmt}: "
                                 f"{type(exc).__name__}: {exc}") from exc
    return parsed


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
                                 "equal); give the packet rate with --rate HZ (rate_hz=...)")
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
