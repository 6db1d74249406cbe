"""Beam-SNR and position logs as CSV: readers with line/column errors, and writers.

Beam SNR (60 GHz): a header line, then one row per measurement::

    t,beam_0,beam_1,...        first column: timestamp in seconds; one column per beam pattern
    0.000,12.5,3.1,...
    0.102,,nan,...             a beam sector missing from a sweep: an empty cell or nan

A missing sector is read as NaN (a missing value, never an observed reading); a sweep with
every sector missing carries nothing and is dropped (``BeamSNRLog.dropped_rows`` counts them).

Positions: a header naming ``t`` (or ``time``/``timestamp``), ``x`` and ``y`` in any order,
optionally ``heading`` (radians, counter-clockwise from +x); other columns are ignored::

    t,x,y,heading
    0.0,1.20,3.40,1.571

Lines starting with ``#`` and blank lines are skipped. Timestamps must be finite and
strictly increasing; every other value must be a finite number, except a missing beam sector.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError
from wifisense.io.atomic import atomic_write_text

TIME_COLUMN_NAMES = ("t", "time", "timestamp", "time_s", "timestamp_s", "t_s")
X_COLUMN_NAMES = ("x", "x_m")
Y_COLUMN_NAMES = ("y", "y_m")
HEADING_COLUMN_NAMES = ("heading", "heading_rad")


@dataclass
class BeamSNRLog:
    """60 GHz beam SNR: ``snr[i, m]`` is beam pattern ``m`` at time ``t[i]`` (NaN: missing)."""

    t: np.ndarray                   # float64 [N] seconds
    snr: np.ndarray                 # float32 [N, M] dB, NaN where the sector was missing
    beam_names: list[str] = field(default_factory=list)   # [M]
    missing_cells: int = 0          # NaN entries of ``snr`` (missing sectors of the kept sweeps)
    dropped_rows: int = 0           # sweeps of the file with every sector missing (not in ``t``)

    @property
    def missing_fraction(self) -> float:
        """Share of the kept sweeps' sector readings that are missing."""
        return self.missing_cells / self.snr.size if self.snr.size else 0.0


@dataclass
class PositionLog:
    """Ground-truth 2-D positions ``xy[i]`` (metres) at times ``t[i]`` (seconds), heading if logged."""

    t: np.ndarray                   # float64 [N]
    xy: np.ndarray                  # float64 [N, 2]
    heading: np.ndarray | None = None   # float64 [N] radians as logged (not wrapped), or None


# ------------------------------------------------------------------------- reading


def _read_table(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header cells, data rows and their 1-based line numbers (comments/blank lines dropped)."""
    from wifisense.io.readers.common import read_bytes

    try:
        # read_bytes refuses pipes and devices; utf-8-sig tolerates a spreadsheet's BOM
        text = read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CaptureError(path, f"not a text CSV file (byte {exc.start} is not UTF-8)") from None
    header: list[str] | None = None
    rows, line_numbers = [], []
    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            cells = [c.strip() for c in next(csv.reader([line]))]
        except csv.Error as exc:  # e.g. a field over the csv module's 131,072-character limit
            raise CaptureError(path, f"line {line_no}: not a CSV row ({exc})") from None
        if header is None:
            header = cells
        else:
            rows.append(cells)
            line_numbers.append(line_no)
    if header is None:
        raise CaptureError(path, "file is empty (no header line)")
    lowered = [h.lower() for h in header]
    dup = next((h for h in header if h and lowered.count(h.lower()) > 1), None)
    if dup is not None:
        raise CaptureError(path, f"header names column {dup!r} more than once")
    if not rows:
        raise CaptureError(path, "has a header but no data rows")
    return header, rows, line_numbers


# What a number in a log is: ASCII digits, point, sign, exponent (and nan/inf, which the
# callers then allow as missing or refuse). float() alone also takes "1_000", full-width and
# Arabic-Indic digits and surrounding spaces, none of which a logging tool writes.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf|infinity)",
                     re.ASCII | re.IGNORECASE)


def _parse_numbers(path: Path, header: list[str], rows: list[list[str]], line_numbers: list[int],
                   missing_ok: np.ndarray | None = None) -> np.ndarray:
    """float64 [N, C] from string cells, naming the line and column of the first bad cell.

    ``missing_ok`` (bool [C]) marks the columns where an empty cell or ``nan`` is a missing
    value (read as NaN); everywhere else every cell must be a finite number.
    """
    width = len(header)
    for cells, line_no in zip(rows, line_numbers):
        if len(cells) != width:
            raise CaptureError(path, f"line {line_no}: {len(cells)} values, but the header has "
                                     f"{width} columns ({', '.join(header)})")
    missing_ok = np.zeros(width, bool) if missing_ok is None else np.asarray(missing_ok, bool)
    if not all(_NUMBER.fullmatch(cell) or (may_miss and cell == "")
               for cells in rows for cell, may_miss in zip(cells, missing_ok)):
        _raise_first_bad_cell(path, header, rows, line_numbers, missing_ok)
    cells = np.array(rows, dtype=str).reshape(len(rows), width)
    cells[(cells == "") & missing_ok] = "nan"
    try:
        values = cells.astype(np.float64)  # vectorised fast path for clean files
    except ValueError:
        values = None
    if values is None or not (np.isfinite(values) | (np.isnan(values) & missing_ok)).all():
        _raise_first_bad_cell(path, header, rows, line_numbers, missing_ok)
    return values


def _raise_first_bad_cell(path: Path, header: list[str], rows: list[list[str]],
                          line_numbers: list[int], missing_ok: np.ndarray) -> None:
    # Only runs when the fast path failed, to say exactly where.
    for cells, line_no in zip(rows, line_numbers):
        for column, cell, may_miss in zip(header, cells, missing_ok):
            if may_miss and cell == "":
                continue
            if not _NUMBER.fullmatch(cell):
                raise CaptureError(path, f"line {line_no}, column {column!r}: {cell!r} is not a "
                                         "number (digits 0-9, '.', an optional sign and exponent)")
            value = float(cell)
            if not (np.isfinite(value) or (may_miss and np.isnan(value))):
                raise CaptureError(path, f"line {line_no}, column {column!r}: non-finite value "
                                         f"{cell!r}")
    raise CaptureError(path, "could not parse the values")  # pragma: no cover


def _check_increasing(path: Path, t: np.ndarray, line_numbers: list[int], column: str) -> None:
    steps = np.diff(t)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise CaptureError(path, f"line {line_numbers[i]}, column {column!r}: timestamp "
                                 f"{float(t[i])!r} is not after the previous one ({float(t[i - 1])!r}); "
                                 "timestamps must be strictly increasing")


def _beam_names(path, header: list[str]) -> list[str]:
    """The beam names of a beam-SNR header line (timestamp column first), or a CaptureError saying what is wrong."""
    if len(header) < 2:
        raise CaptureError(path, f"header has {len(header)} column(s); expected a timestamp "
                                 "column followed by one column per beam pattern")
    if header[0].lower() not in TIME_COLUMN_NAMES:
        if all(_NUMBER.fullmatch(cell) for cell in header):
            raise CaptureError(path, "has no header line (the first line holds numbers); add one "
                                     "such as t,beam0,beam1,...")
        raise CaptureError(path, f"first column is {header[0]!r}; a beam-SNR CSV starts with a "
                                 f"timestamp column named one of {', '.join(TIME_COLUMN_NAMES)}")
    beam_names = header[1:]
    position_like = [n for n in beam_names if n.lower() in X_COLUMN_NAMES + Y_COLUMN_NAMES]
    if position_like:
        raise CaptureError(path, f"has a position column {position_like[0]!r}: a positions CSV "
                                 "needs t, x and y columns; a beam-SNR CSV names its beams")
    empty = [i + 2 for i, name in enumerate(beam_names) if not name]
    if empty:
        raise CaptureError(path, f"header column {empty[0]} has no beam name")
    if len(set(beam_names)) != len(beam_names):
        dup = next(n for n in beam_names if beam_names.count(n) > 1)
        raise CaptureError(path, f"header names beam {dup!r} more than once")
    return beam_names


def read_beam_snr_csv(path: str | os.PathLike) -> BeamSNRLog:
    """Read a beam-SNR CSV (timestamp column, then one column per beam pattern)."""
    path = Path(path)
    header, rows, line_numbers = _read_table(path)
    beam_names = _beam_names(path, header)
    # every column but the timestamp may hold a missing sector
    values = _parse_numbers(path, header, rows, line_numbers, missing_ok=np.arange(len(header)) > 0)
    t = values[:, 0]
    _check_increasing(path, t, line_numbers, header[0])
    snr = values[:, 1:].astype(np.float32)
    empty = np.isnan(snr).all(axis=1)
    if empty.all():
        raise CaptureError(path, f"every one of the {len(t)} rows has all beams missing "
                                 "(empty or nan)")
    return BeamSNRLog(t=t[~empty], snr=snr[~empty], beam_names=list(beam_names),
                      missing_cells=int(np.isnan(snr[~empty]).sum()), dropped_rows=int(empty.sum()))


class BeamSNRLineDecoder:
    """One line of a beam-SNR CSV at a time (a log being written, a pipe) -> (time in seconds,
    SNR ``float32 [M]`` with NaN for a missing sector), or None for the header, comments, blank
    lines and sweeps with every sector missing. Same columns and checks as
    :func:`read_beam_snr_csv`: the first line must be the header; a bad row raises a
    CaptureError naming its line (the caller may skip it and go on)."""

    def __init__(self, source: str = "<stdin>"):
        self.source = source
        self.lines = 0
        self.header: list[str] | None = None
        self.beam_names: list[str] | None = None
        self._last_t: float | None = None

    def decode(self, line: str) -> tuple[float, np.ndarray] | None:
        self.lines += 1
        stripped = line.strip().lstrip("\ufeff")
        if not stripped or stripped.startswith("#"):
            return None
        try:
            cells = [c.strip() for c in next(csv.reader([stripped]))]
        except csv.Error as exc:
            raise CaptureError(self.source, f"line {self.lines}: not a CSV row ({exc})") from None
        if self.header is None:
            self.beam_names = _beam_names(self.source, cells)
            self.header = cells
            return None
        if cells == self.header:        # a second writer (or a looped replay) repeating the header
            return None
        where = f"line {self.lines}"
        if len(cells) != len(self.header):
            raise CaptureError(self.source, f"{where}: {len(cells)} values, but the header has "
                                            f"{len(self.header)} columns ({', '.join(self.header)})")
        for k, cell in enumerate(cells):
            if not (_NUMBER.fullmatch(cell) or (k and cell == "")):
                raise CaptureError(self.source, f"{where}, column {self.header[k]!r}: {cell!r} is not a number")
        t = float(cells[0])
        snr = np.array([float(c) if c else np.nan for c in cells[1:]], np.float32)
        if not np.isfinite(t) or not (np.isfinite(snr) | np.isnan(snr)).all():
            raise CaptureError(self.source, f"{where}: non-finite value (a missing sector is an empty cell or nan)")
        if self._last_t is not None and t <= self._last_t:
            raise CaptureError(self.source, f"{where}, column {self.header[0]!r}: timestamp {t!r} is not after "
                                            f"the previous one ({self._last_t!r})")
        self._last_t = t
        if np.isnan(snr).all():
            return None
        return t, snr


def _find_column(path: Path, header: list[str], names: tuple[str, ...], what: str,
                 required: bool = True) -> int | None:
    lowered = [h.lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    if not required:
        return None
    raise CaptureError(path, f"header has no {what} column (looked for {', '.join(names)}; "
                             f"found {', '.join(header)})")


def read_positions_csv(path: str | os.PathLike) -> PositionLog:
    """Read a positions CSV with ``t``/``timestamp``, ``x`` and ``y`` columns (metres) and an
    optional ``heading`` column (radians)."""
    path = Path(path)
    header, rows, line_numbers = _read_table(path)
    cols = [_find_column(path, header, TIME_COLUMN_NAMES, "timestamp"),
            _find_column(path, header, X_COLUMN_NAMES, "x"),
            _find_column(path, header, Y_COLUMN_NAMES, "y")]
    heading_col = _find_column(path, header, HEADING_COLUMN_NAMES, "heading", required=False)
    values = _parse_numbers(path, header, rows, line_numbers)
    t = values[:, cols[0]]
    _check_increasing(path, t, line_numbers, header[cols[0]])
    return PositionLog(t=t, xy=values[:, cols[1:]],
                       heading=None if heading_col is None else values[:, heading_col])


def sniff_log_kind(path: str | os.PathLike) -> str | None:
    """``"positions_csv"``, ``"beam_snr_csv"`` or None, from the first header line only."""
    from wifisense.io.readers.common import read_bytes

    try:
        # errors="ignore": a multi-byte character cut at the end of the head is no reason
        head = read_bytes(Path(path), head=65536).decode("utf-8-sig", errors="ignore")
    except CaptureError:
        return None
    for line in head.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            cells = [c.strip().lower() for c in next(csv.reader([line]))]
        except csv.Error:
            return None
        if len(cells) < 2 or stripped.startswith("CSI_DATA"):
            return None
        if any(c in TIME_COLUMN_NAMES for c in cells) and any(c in X_COLUMN_NAMES + Y_COLUMN_NAMES
                                                              for c in cells):
            return "positions_csv"  # with x or y only, the positions reader says what is missing
        if cells[0] in TIME_COLUMN_NAMES:
            return "beam_snr_csv"
        if all(_NUMBER.fullmatch(c) for c in cells):
            return "beam_snr_csv"  # numbers without a header: the beam-SNR reader says so
        return None
    return None


# ------------------------------------------------------------------------- writing


def _format_table(header: list[str], columns: list[np.ndarray], formats: list[str]) -> str:
    buffer = io.StringIO()
    buffer.write(",".join(header) + "\n")
    np.savetxt(buffer, np.column_stack(columns), delimiter=",", fmt=formats)
    return buffer.getvalue()


def write_beam_snr_csv(path: str | os.PathLike, t: np.ndarray, snr: np.ndarray,
                       beam_names: list[str] | None = None, time_column: str = "t") -> None:
    """Write ``t`` [N] seconds and ``snr`` [N, M] dB as a beam-SNR CSV (atomically).

    Values are written with enough digits to read back exactly (float64 times, float32 SNR).
    """
    t = np.asarray(t, dtype=np.float64)
    snr = np.asarray(snr, dtype=np.float32)
    if snr.ndim != 2 or snr.shape[0] != t.shape[0]:
        raise ValueError(f"snr must be [N, M] with N = len(t) = {t.shape[0]}, got {snr.shape}")
    names = list(beam_names) if beam_names is not None else [f"beam_{m}" for m in range(snr.shape[1])]
    if len(names) != snr.shape[1]:
        raise ValueError(f"{len(names)} beam names for {snr.shape[1]} beams")
    text = _format_table([time_column] + names, [t, snr.astype(np.float64)],
                         ["%.17g"] + ["%.9g"] * snr.shape[1])
    atomic_write_text(path, text)


def write_positions_csv(path: str | os.PathLike, t: np.ndarray, xy: np.ndarray,
                        heading: np.ndarray | None = None) -> None:
    """Write ``t`` [N] seconds, ``xy`` [N, 2] metres and optionally ``heading`` [N] radians as a
    positions CSV (atomically)."""
    t = np.asarray(t, dtype=np.float64)
    xy = np.asarray(xy, dtype=np.float64)
    if xy.shape != (t.shape[0], 2):
        raise ValueError(f"xy must be [N, 2] with N = len(t) = {t.shape[0]}, got {xy.shape}")
    header, columns = ["t", "x", "y"], [t, xy]
    if heading is not None:
        heading = np.asarray(heading, dtype=np.float64)
        if heading.shape != t.shape:
            raise ValueError(f"heading must be [N] with N = len(t) = {t.shape[0]}, "
                             f"got {heading.shape}")
        header, columns = header + ["heading"], columns + [heading]
    atomic_write_text(path, _format_table(header, columns, ["%.17g"] * len(header)))
