"""Espressif ESP32 captures (ESP32-CSI-Tool CSV console output): line check and reader."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError
from wifisense.io.readers.common import NotThisFormat, timestamps_or_rate
from wifisense.io.readers.registry import CaptureFormat
from wifisense.io.recording import CSIRecording

# The short look decodes only this much of the file (``limit`` counts no records here:
# any ASCII text with a CSI_DATA line in its first 4 KiB matches).
SNIFF_BYTES = 4096


def scan(path: Path, data: bytes, limit: int | None) -> int:
    """Check that the text lines are ESP32-CSI-Tool ``CSI_DATA`` rows. Returns row count."""
    head = data[:SNIFF_BYTES] if limit is not None else data
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        raise NotThisFormat("not ASCII text") from None
    rows = [line for line in text.splitlines() if line.startswith("CSI_DATA")]
    if not rows:
        raise NotThisFormat("no CSI_DATA lines")
    return len(rows)


def check_row(path, line_no: int, fields: list[str], num_columns: int) -> None:
    """A ``CSI_DATA`` row must have every column and a closed CSI list (CaptureError naming the line)."""
    if len(fields) != num_columns:
        raise CaptureError(path, f"line {line_no} has {len(fields)} fields, expected "
                                 f"{num_columns}; the file is truncated or not ESP32-CSI-Tool output")
    if not (fields[-1].startswith("[") and fields[-1].rstrip().endswith("]")):
        raise CaptureError(path, f"line {line_no}: the CSI list is not closed by ']'; the "
                                 "file is truncated or not ESP32-CSI-Tool output")


class Esp32LineDecoder:
    """One line of ESP32-CSI-Tool output at a time (a serial console, a pipe) -> (local time in
    seconds, complex LLTF CSI ``[64]`` in -32..31 order, RSSI), or None for the other console
    lines the tool prints. Same columns, checks and value order as ``read``; the 32-bit
    microsecond clock is unwrapped across lines."""

    def __init__(self, source: str = "<stdin>"):
        import csiread

        self.source = source
        self.columns = list(csiread.ESP32(None, if_report=False).dt)
        self.lines = 0
        self._last_us: int | None = None
        self._wraps = 0

    def decode(self, line: str) -> tuple[float, np.ndarray, float] | None:
        self.lines += 1
        if not line.startswith("CSI_DATA"):
            return None
        try:
            fields = next(csv.reader([line.strip()]))
        except csv.Error as exc:
            raise CaptureError(self.source, f"line {self.lines}: not ESP32-CSI-Tool CSV text: {exc}") from None
        check_row(self.source, self.lines, fields, len(self.columns))
        try:
            ints = np.array(fields[-1].strip("[] ").split(), dtype=np.int64)
            local_us = int(fields[self.columns.index("local_timestamp")])
            rssi = float(fields[self.columns.index("rssi")])
        except ValueError as exc:
            raise CaptureError(self.source, f"line {self.lines}: non-numeric value in a CSI_DATA row: {exc}") from None
        if ints.size % 2 or ints.size < 128:
            raise CaptureError(self.source, f"line {self.lines} carries {ints.size} CSI values; expected an "
                                            "even number >= 128 (64 LLTF subcarriers, imaginary and real)")
        if self._last_us is not None and local_us < self._last_us - 2**31:
            self._wraps += 1
        self._last_us = local_us
        csi = (ints[1::2] + 1j * ints[0::2])[:64].astype(np.complex64)  # imaginary before real
        return (local_us + self._wraps * 2**32) * 1e-6, csi, rssi


def read(path: Path, data: bytes, hints: dict) -> CSIRecording:
    """ESP32-CSI-Tool CSV rows ``CSI_DATA,...,[imag real imag real ...]``.

    Parsed with the csv module and NumPy instead of csiread.ESP32: that parser is marked
    experimental and mis-reads CRLF line ends, a last line without newline, header lines
    and truncated rows (bare ValueErrors). The column list and the imaginary-first order
    are csiread's (and ESP-IDF's).
    """
    import csiread

    columns = list(csiread.ESP32(None, if_report=False).dt)  # 25 fields then "csi"
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise CaptureError(path, f"not an ESP32-CSI-Tool CSV (byte {exc.start} is not ASCII)") from None
    rows, line_numbers, skipped = [], [], 0
    try:
        lines = list(enumerate(csv.reader(io.StringIO(text)), start=1))
    except csv.Error as exc:  # e.g. a lone carriage return inside a field
        raise CaptureError(path, f"not ESP32-CSI-Tool CSV text: {exc}") from None
    for line_no, fields in lines:
        if not fields or not fields[0].startswith("CSI_DATA"):
            # header or other console output the tool interleaves; a line that carries a
            # CSI list but lost its CSI_DATA tag is a damaged row, and is counted
            skipped += bool(fields) and "[" in fields[-1] and len(fields) >= len(columns) - 1
            continue
        check_row(path, line_no, fields, len(columns))
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
    t, derived = timestamps_or_rate(path, local_us, 1e6, hints, len(rows), unwrap32=True)
    channels = np.unique(channel)
    carrier = (2484 if channels[0] == 14 else 2407 + 5 * int(channels[0])) * 1e6 \
        if channels.size == 1 and 1 <= channels[0] <= 14 else None
    source = {
        "format": "esp32", "path": str(path), "device": "Espressif ESP32",
        "records": len(rows) + skipped, "skipped_records": skipped,
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


FORMAT = CaptureFormat(
    name="esp32", description="Espressif ESP32, ESP32-CSI-Tool (.csv)",
    check=scan, read=read, hints=("rate_hz",), extensions=(".csv",),
    detect_order=90,  # the loosest signature (ASCII with CSI_DATA lines): tried last
)
