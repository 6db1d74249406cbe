"""The capture-format registry, and read_csi / detect_format, which pick a format by content."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from wifisense.errors import CaptureError, ConfigError
from wifisense.io.readers.common import NotThisFormat, check_hint_names, check_plausible, read_bytes
from wifisense.io.recording import CSIRecording

log = logging.getLogger(__name__)

# Hints read_csi understands, in the order its errors list them. Each format reads the
# ones that apply to it; a registered format may add its own (see known_hints).
KNOWN_HINTS = ("nrxnum", "ntxnum", "tones", "chip", "bw", "rate_hz", "scaled")

# A wifisense store is what gets handed to read_csi by mistake most often: say so by name.
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

# Records (frames, packets) the short look of auto detection walks per format: enough to
# tell the formats apart, cheap on a large file. The chosen format then walks them all.
SNIFF_RECORDS = 8


@dataclass(frozen=True)
class CaptureFormat:
    """One capture format: how to recognise its content and how to read it.

    Attributes:
        name: what ``read_csi(format=...)`` and ``--format`` call it.
        description: device, tool and usual file type, for listings and errors.
        check: ``check(path, data, limit)`` walks the first ``limit`` records of the file's
            bytes (all of them when ``limit`` is None). It raises :class:`NotThisFormat`
            when the content does not have this format's structure, and CaptureError when
            it does but is truncated or corrupt; what it returns is for ``read``.
        read: ``read(path, data, hints)`` turns the file's bytes into a CSIRecording with
            CSI ``[T, S, Nrx, Ntx]``. ``hints`` are checked by name and free of None.
        hints: the read_csi hints this format reads (beyond them, :data:`KNOWN_HINTS`).
        extensions: usual file suffixes. Never used to detect a format: only to break a
            tie between content matches and to word the unknown-format error.
        detect_order: auto detection tries formats in increasing order (ties: in order of
            registration), so a distinctive signature is tried before a loose one.
    """

    name: str
    description: str
    check: Callable[[Path, bytes, int | None], object]
    read: Callable[[Path, bytes, dict], CSIRecording]
    hints: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    detect_order: int = 50
    # ``whole_records(data, ends=None)``: (bytes, CSI packets) of the longest prefix of whole, valid
    # records (each record's end offset appended to ``ends`` when given),
    # for a file cut or damaged part way (``read_csi(salvage=True)``) and for a log that is
    # still being written (``live.sources.GrowingCaptureSource``); None for formats that
    # cannot be cut at a record boundary this way
    whole_records: Callable[..., tuple[int, int]] | None = None

    def salvage(self, data: bytes) -> int | None:
        """Bytes of the whole, valid records before a file's damage (>= 1 CSI packet), or None."""
        if self.whole_records is None:
            return None
        end, packets = self.whole_records(data)
        return end if packets and 0 < end < len(data) else None

    def sniff(self, path: Path, data: bytes) -> bool:
        """Whether the first few records of ``data`` have this format's structure."""
        try:
            self.check(path, data, SNIFF_RECORDS)
        except NotThisFormat:
            return False
        except CaptureError:
            pass  # the structure matched but the file is cut or odd: the full scan says why
        return True


# Registration order is listing order (formats(), --format choices, errors).
_FORMATS: dict[str, CaptureFormat] = {}


def register_format(fmt: CaptureFormat) -> CaptureFormat:
    """Make ``fmt`` readable by read_csi and detectable by content; returns it."""
    if fmt.name == "auto" or fmt.name in _FORMATS:
        raise ConfigError(f"CSI format name {fmt.name!r} is taken; unregister_format it first")
    _FORMATS[fmt.name] = fmt
    return fmt


def unregister_format(name: str) -> None:
    get_format(name)
    del _FORMATS[name]


@contextlib.contextmanager
def registered_format(fmt: CaptureFormat) -> Iterator[CaptureFormat]:
    """Register ``fmt`` for the duration of a ``with`` block (tests, plug-ins tried once)."""
    register_format(fmt)
    try:
        yield fmt
    finally:
        unregister_format(fmt.name)


def get_format(name: str) -> CaptureFormat:
    try:
        return _FORMATS[name]
    except KeyError:
        raise ConfigError(f"unknown CSI format {name!r}; choose auto or one of "
                          f"{', '.join(_FORMATS)}") from None


def formats() -> tuple[CaptureFormat, ...]:
    """The registered formats in registration order."""
    return tuple(_FORMATS.values())


def capture_format_choices() -> tuple[str, ...]:
    """``auto`` and every registered format's name: the choices of a command's ``--format``."""
    return ("auto",) + tuple(fmt.name for fmt in formats())


def known_hints() -> tuple[str, ...]:
    """:data:`KNOWN_HINTS` plus any hint a registered format adds."""
    extra = [h for fmt in _FORMATS.values() for h in fmt.hints if h not in KNOWN_HINTS]
    return KNOWN_HINTS + tuple(dict.fromkeys(extra))


# --------------------------------------------------------------------------- public API


def detect_format(path: str | os.PathLike) -> str:
    """Name the CSI format of ``path`` (one of the registered formats) from its content.

    Content decides (magic bytes, record structure); the extension only breaks ties.
    Raises CaptureError for missing, empty, unrecognised or non-CSI files.
    """
    path = Path(path)
    data = read_bytes(path)
    return detect_from_bytes(path, data)


def read_csi(path: str | os.PathLike, format: str = "auto", strict: bool = False, salvage: bool = False,
             **hints) -> CSIRecording:
    """Read one CSI capture into a :class:`CSIRecording` with CSI ``[T, S, Nrx, Ntx]``.

    Args:
        path: the capture file.
        format: ``"auto"`` (detect by content) or a registered format name (see
            :func:`formats`).
        **hints: ``nrxnum``/``ntxnum`` (Intel: default 3/3, the NIC's maximum, so every
            Intel file has the same shape; Atheros: default from the records),
            ``tones`` (Atheros, default from the records), ``chip`` (Nexmon, e.g.
            ``"4358"``; default: the first chip whose decode is plausible), ``bw``
            (Nexmon MHz, default from the packet size), ``rate_hz`` (packet rate used
            only when the file has no usable clock), ``scaled`` (Intel: return
            ``get_scaled_csi()``, default False = the values the NIC reported).
        strict: a record the format's walk found but the parser could not read (a corrupt
            header, a damaged row) is an error; by default such records are skipped, counted
            in ``source["skipped_records"]`` and warned about.
        salvage: a file that is truncated or damaged part way (a log cut when its tool was
            killed; public data sets hold such files) gives the records before the damage,
            with a warning and ``source["damaged_tail_bytes"]``, where the format can find
            them (Intel 5300); by default such a file is a CaptureError.

    Raises:
        CaptureError: unknown format, empty/truncated/corrupt file, wrong format or hint,
            no packets, no clock and no ``rate_hz``, non-finite or implausible CSI.
        ConfigError: an unknown hint name or format name.
    """
    path = Path(path)
    hints = check_hint_names(hints, known_hints())
    if format != "auto":
        get_format(format)  # an unknown name is a ConfigError before the file is read
    data = read_bytes(path)
    try:
        fmt, recording = _read_bytes_as(path, data, format, hints)
    except CaptureError as error:
        kept = _salvage(path, data, format) if salvage and not strict else None
        if kept is None:
            raise
        fmt, cut = kept
        log.warning("%s: %s; kept the %d bytes of whole records before it (%d bytes dropped)",
                    path, str(error).removeprefix(f"{path}: "), cut, len(data) - cut)
        fmt, recording = _read_bytes_as(path, data[:cut], fmt, hints)
        recording.source["damaged_tail_bytes"] = len(data) - cut
    recording.source.setdefault("format", fmt)
    recording.source.setdefault("path", str(path))
    recording.source["format_detected"] = format == "auto"
    _report_skipped(path, recording, strict)
    check_plausible(path, recording)
    return recording


def _read_bytes_as(path: Path, data: bytes, format: str, hints: dict) -> tuple[str, CSIRecording]:
    detected = detect_from_bytes(path, data, wanted=None if format == "auto" else format)
    fmt = detected if format == "auto" else format
    try:
        return fmt, get_format(fmt).read(path, data, hints)
    except NotThisFormat as exc:  # a reader's own walk; detection already checked the structure
        raise CaptureError(path, f"is corrupt as {fmt}: {exc.args[0]}") from None


def _salvage(path: Path, data: bytes, format: str) -> tuple[str, int] | None:
    """(format, byte length) of the whole valid records before a file's damage, or None."""
    candidates = [get_format(format)] if format != "auto" else [f for f in formats() if f.whole_records]
    for fmt in candidates:
        if format == "auto" and not fmt.sniff(path, data):
            continue
        cut = fmt.salvage(data)
        if cut is not None:
            return fmt.name, cut
    return None


def _report_skipped(path: Path, recording: CSIRecording, strict: bool) -> None:
    """Say how many records were skipped (never drop them silently); strict: refuse."""
    skipped = int(recording.source.setdefault("skipped_records", 0))
    if skipped <= 0:
        recording.source["skipped_records"] = 0
        return
    total = recording.source.get("records", skipped + recording.csi.shape[0])
    if strict:
        raise CaptureError(path, f"{skipped} of {total} records could not be read (corrupt header or "
                                 "row); without --strict they are skipped and counted")
    log.warning("%s: %d of %d records could not be read (corrupt header or row) and were skipped; "
                "--strict makes this an error", path, skipped, total)


# ------------------------------------------------------------------ detection


def detect_from_bytes(path: Path, data: bytes, wanted: str | None = None) -> str:
    """Return the format whose record structure ``data`` has (checking ``wanted`` first).

    With ``wanted`` set, a mismatch raises a CaptureError that says what the content
    looks like instead; truncation and corruption found by the full scan also raise.
    """
    if data.startswith(HDF5_SIGNATURE):
        raise CaptureError(path, "is an HDF5 file (a wifisense store?), not a CSI capture; "
                                 "use `wifisense inspect` or `wifisense validate` on it")
    if wanted is not None:
        fmt = get_format(wanted)
        try:
            fmt.check(path, data, None)
            return wanted
        except NotThisFormat as exc:
            looks_like = _first_match(path, data, exclude=wanted)
            hint = (f"; its content looks like {looks_like} (try --format {looks_like} "
                    f"or --format auto)" if looks_like else "")
            raise CaptureError(path, f"does not read as {wanted} ({fmt.description}): "
                                     f"{exc.args[0]}{hint}") from None
    # A short look settles the format; the full scan (truncation, corrupt records) of the
    # chosen one follows here and again when its reader runs.
    found = _first_match(path, data)
    if found is None:
        ext = path.suffix.lower()
        claimed = [fmt.name for fmt in _FORMATS.values() if ext in fmt.extensions]
        guess = f" (the extension {ext!r} suggests {claimed[0]}, but the content does not " \
                f"match it)" if claimed else ""
        raise CaptureError(path, "unknown capture format: the content matches none of "
                                 f"{', '.join(_FORMATS)}{guess}")
    _full_check(path, data, found)
    return found


def _full_check(path: Path, data: bytes, name: str) -> None:
    """Walk every record of the format the first records matched.

    Damage after the first records can break the structure itself (a record header that no
    longer reads as this format's); that is corruption of a file whose format is known, so
    it is a CaptureError naming the format, never a "not this format" left uncaught.
    """
    try:
        get_format(name).check(path, data, None)
    except NotThisFormat as exc:
        raise CaptureError(path, f"starts as {name} ({get_format(name).description}) but is "
                                 f"corrupt further on: {exc.args[0]}") from None


def _first_match(path: Path, data: bytes, exclude: str | None = None) -> str | None:
    """First format, in detect order, whose structure matches the first records of ``data``."""
    # sorted() is stable, so formats with equal detect_order keep their registration order.
    ordered = sorted(_FORMATS.values(), key=lambda fmt: fmt.detect_order)
    matches = [fmt.name for fmt in ordered if fmt.name != exclude and fmt.sniff(path, data)]
    if not matches:
        return None
    # Structures are distinct, so several matches mean a tiny or odd file. Then an
    # extension that exactly one format claims (.pcap, .csi, .csv) breaks the tie; .dat is
    # both Intel's and Atheros's, so there the more distinctive match wins.
    claimants = [fmt.name for fmt in _FORMATS.values() if path.suffix.lower() in fmt.extensions]
    if len(claimants) == 1 and claimants[0] in matches:
        return claimants[0]
    return matches[0]
