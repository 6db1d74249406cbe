"""Qualcomm Atheros captures (Atheros CSI Tool .dat logs): record walk and reader."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError
from wifisense.io.readers.common import (NotThisFormat, csiread_call, hint_int, require_bytes,
                                         stream_mask, timestamps_or_rate, truncated, walk_whole_records)
from wifisense.io.readers.registry import CaptureFormat
from wifisense.io.recording import CSIRecording

ATHEROS_HEADER_BYTES = 25    # csi_struct before the CSI and payload


@dataclass
class AtherosScan:
    endian: str
    packets: int
    max_nr: int
    max_nc: int
    tones: set


def scan(path: Path, data: bytes, limit: int | None) -> AtherosScan:
    """Walk Atheros CSI Tool records in either byte order (the tool writes host order)."""
    errors = []
    for endian in ("little", "big"):
        try:
            return _scan_endian(path, data, limit, endian)
        except NotThisFormat as exc:
            errors.append(exc.args[0])
    raise NotThisFormat(errors[0])


def _scan_endian(path: Path, data: bytes, limit: int | None, endian: str) -> AtherosScan:
    # A sequential walk: records have variable lengths. It reads only the headers.
    order = "<" if endian == "little" else ">"
    header = struct.Struct(order + "QHHBBBBBBBBBBBH")
    pos, n, records, packets, max_nr, max_nc, tones = 0, len(data), 0, 0, 0, 0, set()
    while pos < n and (limit is None or records < limit):
        require_bytes(path, data, pos, 2 + ATHEROS_HEADER_BYTES, records, "Atheros record")
        rec_len = int.from_bytes(data[pos:pos + 2], endian)
        (_, csi_len, channel, _err, _noise, _rate, bandwidth, num_tones, nr, nc, *_rssi,
         payload_len) = header.unpack_from(data, pos + 2)
        if rec_len != ATHEROS_HEADER_BYTES + csi_len + payload_len:
            raise NotThisFormat(f"record {records} at byte {pos}: length {rec_len} != header "
                                f"{ATHEROS_HEADER_BYTES} + CSI {csi_len} + payload {payload_len}")
        if csi_len:
            if not (1 <= nr <= 3 and 1 <= nc <= 3 and num_tones in (56, 114) and bandwidth in (0, 1)):
                raise NotThisFormat(f"record {records} at byte {pos}: implausible nr={nr}, "
                                    f"nc={nc}, tones={num_tones}, bandwidth code {bandwidth}")
            if csi_len != num_tones * nr * nc * 20 // 8:  # 10-bit I + 10-bit Q per value
                raise NotThisFormat(f"record {records} at byte {pos}: CSI length {csi_len} does "
                                    f"not fit {num_tones} tones x {nr} x {nc}")
            if not 2000 <= channel <= 6000:
                raise NotThisFormat(f"record {records} at byte {pos}: channel {channel} MHz")
            packets += 1
            max_nr, max_nc = max(max_nr, nr), max(max_nc, nc)
            tones.add(num_tones)
        if pos + 2 + rec_len > n:
            raise truncated(path, f"record {records} at byte {pos} needs {rec_len + 2} bytes, "
                                  f"only {n - pos} left")
        pos += 2 + rec_len
        records += 1
    return AtherosScan(endian, packets, max_nr, max_nc, tones)


def whole_records(data: bytes, ends: list | None = None) -> tuple[int, int]:
    """(bytes, CSI packets) of the whole, valid records at the start of ``data`` (a log cut or
    damaged part way, or one still being written), in the first record's byte order."""
    endian = None

    def one_record(view) -> tuple[int, int]:
        nonlocal endian
        found = _scan_endian(Path("-"), view, 1, endian) if endian else scan(Path("-"), view, 1)
        endian = found.endian
        return 2 + int.from_bytes(view[:2], endian), found.packets

    return walk_whole_records(data, one_record, ends)


def shift_record_clock(record: bytes, seconds: float) -> bytes:
    """An Atheros record with its 1-MHz timestamp (the header's first field) moved on by
    ``seconds`` (a looped replay reads as one longer recording), in the record's byte order."""
    endian = scan(Path("-"), record, 1).endian
    ticks = int.from_bytes(record[2:10], endian) + round(seconds * 1e6)
    return record[:2] + (ticks % 2**64).to_bytes(8, endian) + record[10:]


def read(path: Path, data: bytes, hints: dict) -> CSIRecording:
    import csiread

    found = scan(path, data, limit=None)
    if found.packets == 0:
        raise CaptureError(path, "no packets with CSI in this Atheros log")
    if len(found.tones) > 1:
        raise CaptureError(path, f"packets mix {sorted(found.tones)} tones (20 and 40 MHz); "
                                 "split the capture first")
    file_tones = found.tones.pop()
    tones = hint_int(hints, "tones", file_tones)
    nrxnum = hint_int(hints, "nrxnum", found.max_nr)
    ntxnum = hint_int(hints, "ntxnum", found.max_nc)
    if tones != file_tones:
        raise CaptureError(path, f"hint tones={tones} is wrong: the records carry {file_tones} "
                                 f"tones ({20 if file_tones == 56 else 40} MHz)")
    if found.max_nr > nrxnum or found.max_nc > ntxnum:
        raise CaptureError(path, f"packets have up to nr={found.max_nr}, nc={found.max_nc} but "
                                 f"hints say nrxnum={nrxnum}, ntxnum={ntxnum}")

    def make(file):
        parsed = csiread.Atheros(file, nrxnum=nrxnum, ntxnum=ntxnum, tones=tones,
                                 if_report=False)
        parsed.read(endian=found.endian)
        return parsed

    parsed = csiread_call(path, data, "atheros", make)
    n = int(parsed.count)
    bandwidth = 40 if tones == 114 else 20
    subcarriers = (np.r_[-28:0, 1:29] if tones == 56 else np.r_[-58:-1, 2:59])
    ticks = np.asarray(parsed.timestamp).astype(np.int64)
    t, derived = timestamps_or_rate(path, ticks, 1e6, hints, n,
                                    unwrap32=bool(ticks.size and ticks.max() < (1 << 32)))
    channels = np.unique(np.asarray(parsed.tx_channel))
    rssi = np.stack([parsed.rssi_1, parsed.rssi_2, parsed.rssi_3], axis=1)[:, :nrxnum]
    nr, nc = np.asarray(parsed.nr), np.asarray(parsed.nc)
    source = {
        "format": "atheros", "path": str(path), "device": "Qualcomm Atheros (ath9k)",
        "records": found.packets, "skipped_records": found.packets - n,
        "tool": "Atheros CSI Tool", "reader": "csiread.Atheros", "endian": found.endian,
        "nrxnum": nrxnum, "ntxnum": ntxnum, "tones": tones,
        "channels_mhz": [int(c) for c in channels],
        "zero_padded_streams": bool((nr < nrxnum).any() or (nc < ntxnum).any()),
        "clock": "timestamp (1 MHz)" if not derived else "none",
        "per_packet": {"nr": nr, "nc": nc, "rate": np.asarray(parsed.Rate),
                       "tx_channel": np.asarray(parsed.tx_channel)},
        "_valid_streams": stream_mask(n, nrxnum, ntxnum, nr, nc),
    }
    carrier = float(channels[0]) * 1e6 if channels.size == 1 else None
    return CSIRecording(csi=parsed.csi, timestamps=t, subcarriers=subcarriers,
                        timestamps_derived=derived, bandwidth_mhz=float(bandwidth),
                        carrier_hz=carrier, rssi=rssi.astype(np.float32), source=source)


FORMAT = CaptureFormat(
    name="atheros", description="Qualcomm Atheros, Atheros CSI Tool (.dat)",
    check=scan, read=read, hints=("nrxnum", "ntxnum", "tones", "rate_hz"), extensions=(".dat",),
    detect_order=40,  # record lengths, tone counts and channel must agree in either byte order
    whole_records=whole_records,
)
