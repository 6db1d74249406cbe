"""Intel 5300 captures (Linux 802.11n CSI Tool .dat logs): record walk and reader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError
from wifisense.io.readers.common import (NotThisFormat, csiread_call, hint_int, require_bytes,
                                         stream_mask, timestamps_or_rate, truncated, walk_whole_records)
from wifisense.io.readers.registry import CaptureFormat
from wifisense.io.recording import CSIRecording

INTEL_HEADER_BYTES = 20      # bfee header before the packed CSI


@dataclass
class IntelScan:
    packets: int
    max_nrx: int
    max_ntx: int


def scan(path: Path, data: bytes, limit: int | None) -> IntelScan:
    """Walk Linux 802.11n CSI Tool records: [u16 BE length][u8 code][length-1 bytes]."""
    # Records have variable lengths, so the walk is a sequential Python loop; it touches a
    # few header bytes per record and is fast enough.
    pos, n, records, packets, max_nrx, max_ntx = 0, len(data), 0, 0, 0, 0
    while pos < n and (limit is None or records < limit):
        require_bytes(path, data, pos, 3, records, "Intel record")
        field_len = int.from_bytes(data[pos:pos + 2], "big")
        code = data[pos + 2]
        if code not in (0xBB, 0xC1) or field_len < 1:
            raise NotThisFormat(f"record {records} at byte {pos} has code 0x{code:02x} and "
                                f"length {field_len} (expected code 0xbb or 0xc1)")
        end = pos + 2 + field_len
        if code == 0xBB:
            head = data[pos + 3:pos + 3 + INTEL_HEADER_BYTES]
            if len(head) < INTEL_HEADER_BYTES:
                raise truncated(path, f"CSI record {records} at byte {pos} is cut inside its header")
            nrx, ntx = head[8], head[9]
            csi_len = int.from_bytes(head[16:18], "little")
            if not (1 <= nrx <= 3 and 1 <= ntx <= 3):
                raise NotThisFormat(f"record {records} at byte {pos} claims Nrx={nrx}, Ntx={ntx}")
            expected = (30 * (nrx * ntx * 8 * 2 + 3) + 7) // 8
            if csi_len != expected or field_len - 1 != INTEL_HEADER_BYTES + csi_len:
                raise NotThisFormat(f"record {records} at byte {pos} has CSI length {csi_len} "
                                    f"in a {field_len}-byte record (expected {expected})")
            packets += 1
            max_nrx, max_ntx = max(max_nrx, nrx), max(max_ntx, ntx)
        if end > n:
            raise truncated(path, f"record {records} at byte {pos} needs {field_len + 2} bytes, "
                                  f"only {n - pos} left")
        pos = end
        records += 1
    return IntelScan(packets, max_nrx, max_ntx)


def whole_records(data: bytes, ends: list | None = None) -> tuple[int, int]:
    """(bytes, CSI packets) of the whole, valid records at the start of ``data`` (a log cut or
    damaged part way, or one still being written)."""
    def one_record(view) -> tuple[int, int]:
        return 2 + int.from_bytes(view[:2], "big"), scan(Path("-"), view, limit=1).packets

    return walk_whole_records(data, one_record, ends)


def read(path: Path, data: bytes, hints: dict) -> CSIRecording:
    import csiread
    from csiread.utils import scidx

    found = scan(path, data, limit=None)
    if found.packets == 0:
        raise CaptureError(path, "no CSI (0xbb) packets in this Intel 5300 log")
    nrxnum, ntxnum = hint_int(hints, "nrxnum", 3), hint_int(hints, "ntxnum", 3)
    if found.max_nrx > nrxnum or found.max_ntx > ntxnum:
        raise CaptureError(path, f"packets have up to Nrx={found.max_nrx}, Ntx={found.max_ntx} "
                                 f"but hints say nrxnum={nrxnum}, ntxnum={ntxnum}; raise the hints")

    def make(file):
        parsed = csiread.Intel(file, nrxnum=nrxnum, ntxnum=ntxnum, if_report=False)
        parsed.read()
        return parsed

    parsed = csiread_call(path, data, "intel5300", make, methods=("get_scaled_csi",))
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
    t, derived = timestamps_or_rate(path, np.asarray(parsed.timestamp_low), 1e6, hints, n,
                                    unwrap32=True)
    rssi = np.stack([parsed.rssi_a, parsed.rssi_b, parsed.rssi_c], axis=1)[:, :nrxnum]
    nrx, ntx = np.asarray(parsed.Nrx), np.asarray(parsed.Ntx)
    source = {
        "format": "intel5300", "path": str(path), "device": "Intel WiFi Link 5300",
        "records": found.packets, "skipped_records": found.packets - n,
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
    valid = stream_mask(n, csi.shape[2], csi.shape[3], nrx, ntx)
    return CSIRecording(csi=csi, timestamps=t, subcarriers=subcarriers, timestamps_derived=derived,
                        bandwidth_mhz=float(bandwidth), carrier_hz=None, rssi=rssi.astype(np.float32),
                        source={**source, "_valid_streams": valid})


def records(data: bytes) -> tuple[list[bytes], int]:
    """Split Linux 802.11n CSI Tool bytes into records (each ``[u16 BE length][code][...]``,
    whole); returns them and how many bytes they used (a partial last record is left)."""
    out, pos = [], 0
    while pos + 2 <= len(data):
        end = pos + 2 + int.from_bytes(data[pos:pos + 2], "big")
        if end > len(data):
            break
        out.append(data[pos:end])
        pos = end
    return out, pos


class IntelRecordDecoder:
    """One Linux 802.11n CSI Tool record at a time (a log that is still being written) ->
    (NIC time in seconds, complex CSI ``[30, nrxnum, ntxnum]``), or None for a non-CSI record.

    csiread's ``pmsg`` decodes the record as ``read`` decodes a file (tested equal); the
    32-bit microsecond clock is unwrapped across records. ``subcarriers`` follow the first
    packet's bandwidth.
    """

    def __init__(self, nrxnum: int = 3, ntxnum: int = 3, source: str = "Intel 5300 log"):
        import csiread

        self.source = source
        self._parser = csiread.Intel(None, nrxnum=nrxnum, ntxnum=ntxnum, if_report=False)
        self.subcarriers: np.ndarray | None = None
        self._last_us: int | None = None
        self._wraps = 0

    def decode(self, record: bytes) -> tuple[float, np.ndarray] | None:
        from csiread.utils import scidx

        if len(record) < 3 or record[2] != 0xBB:
            return None
        if self._parser.pmsg(record[2:]) != 0xBB:
            raise CaptureError(self.source, "a CSI (0xbb) record that does not decode: the log is damaged")
        if self.subcarriers is None:
            ht40 = bool(int(np.asarray(self._parser.rate)[-1]) & 0x800)
            self.subcarriers = np.asarray(scidx(40, 4) if ht40 else scidx(20, 2))
        us = int(np.asarray(self._parser.timestamp_low)[-1])
        if self._last_us is not None and us < self._last_us - 2**31:
            self._wraps += 1
        self._last_us = us
        return (us + self._wraps * 2**32) * 1e-6, np.asarray(self._parser.csi)[-1].astype(np.complex64)


def shift_record_clock(record: bytes, seconds: float) -> bytes:
    """A CSI record with its NIC clock (``timestamp_low``, the first 4 header bytes) moved on by
    ``seconds`` (32-bit wrap kept), so that a looped replay reads as one longer log."""
    if len(record) < 7 or record[2] != 0xBB:
        return record
    ticks = (int.from_bytes(record[3:7], "little") + round(seconds * 1e6)) % 2**32
    return record[:3] + ticks.to_bytes(4, "little") + record[7:]


FORMAT = CaptureFormat(
    name="intel5300", description="Intel 5300, Linux 802.11n CSI Tool (.dat)",
    check=scan, read=read, hints=("nrxnum", "ntxnum", "scaled", "rate_hz"), extensions=(".dat",),
    whole_records=whole_records,
    detect_order=30,  # code byte, antenna counts and CSI length must agree in every record
)
