"""PicoScenes captures (.csi frame logs): frame walk and reader."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError
from wifisense.io.readers.common import (NotThisFormat, csiread_call, require_bytes, stream_mask,
                                         timestamps_or_rate, truncated, walk_whole_records)
from wifisense.io.readers.registry import CaptureFormat
from wifisense.io.recording import CSIRecording

PICOSCENES_MAGIC = struct.pack("<I", 0x20150315)

# PicoScenes RxSBasic.Timestamp ticks per second, by RxSBasic.DeviceType (as in CSIKit).
PICOSCENES_TICKS_PER_S = {0x1234: 1e9, 0x2000: 1e9, 0x2100: 1e6, 0x5300: 1e6, 0x9300: 1e6}
PICOSCENES_DEVICES = {0x1234: "USRP SDR", 0x2000: "Intel AX200", 0x2100: "Intel AX210",
                      0x5300: "Intel IWL5300", 0x9300: "Qualcomm Atheros QCA9300"}


def scan(path: Path, data: bytes, limit: int | None) -> int:
    """Walk PicoScenes frames: [u32 LE length][magic 0x20150315 ...]. Returns frame count."""
    pos, n, frames = 0, len(data), 0
    while pos < n and (limit is None or frames < limit):
        require_bytes(path, data, pos, 8, frames, "PicoScenes frame")
        frame_len = int.from_bytes(data[pos:pos + 4], "little")
        if data[pos + 4:pos + 8] != PICOSCENES_MAGIC:
            raise NotThisFormat(f"frame {frames} at byte {pos} lacks the PicoScenes magic")
        if pos + 4 + frame_len > n:
            raise truncated(path, f"frame {frames} at byte {pos} needs {frame_len + 4} bytes, "
                                  f"only {n - pos} left")
        pos += 4 + frame_len
        frames += 1
    return frames


def whole_records(data: bytes, ends: list | None = None) -> tuple[int, int]:
    """(bytes, frames) of the whole frames at the start of ``data`` (a log cut part way, or one
    still being written); every frame counts, whether it carries CSI is known only once read."""
    def one_frame(view) -> tuple[int, int]:
        scan(Path("-"), view, limit=1)
        return 4 + int.from_bytes(view[:4], "little"), 1

    return walk_whole_records(data, one_frame, ends)


def read(path: Path, data: bytes, hints: dict) -> CSIRecording:
    import csiread

    frames = scan(path, data, limit=None)

    def make(pl_size):
        def run(file):
            parsed = csiread.Picoscenes(file, pl_size, if_report=False)
            parsed.read()
            return parsed
        return run

    # First pass learns the CSI shape from the frame infos; the second allocates it.
    probe = csiread_call(path, data, "picoscenes", make(None))
    info = probe.raw["CSI"]["Info"]
    has_csi = info["NumTones"] > 0
    if probe.count == 0 or not has_csi.any():
        raise CaptureError(path, f"no frames with CSI among {frames} PicoScenes frames")
    shape = [int(info["NumTones"].max()), int(info["NumRx"].max()),
             int((info["NumTx"].astype(int) + info["NumESS"]).max())]
    parsed = csiread_call(path, data, "picoscenes", make({"CSI": shape}))
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
    t, derived = timestamps_or_rate(path, ticks, ticks_per_s or 1.0, hints, n)
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
        "records": frames, "skipped_records": frames - int(probe.count),
        "frames_without_csi": int((~has_csi).sum()),
        "zero_padded_streams": bool((nrx < shape[1]).any() or (ntx < shape[2]).any()),
        "clock": "RxSBasic.Timestamp" if not derived else "none",
        "per_packet": {"nrx": nrx, "ntx": ntx, "mcs": np.asarray(basic["MCS"]).astype(int)},
        "_valid_streams": stream_mask(n, shape[1], shape[2], nrx, ntx),
    }
    return CSIRecording(csi=csi, timestamps=t, subcarriers=index[0].astype(np.int64),
                        timestamps_derived=derived,
                        bandwidth_mhz=float(cbw[0]) if cbw.size == 1 else None,
                        carrier_hz=float(carriers[0]) if carriers.size == 1 else None,
                        rssi=rssi.astype(np.float32), source=source)


FORMAT = CaptureFormat(
    name="picoscenes", description="PicoScenes (.csi)",
    check=scan, read=read, hints=("rate_hz",), extensions=(".csi",),
    detect_order=20,  # a 32-bit magic number in every frame header
    whole_records=whole_records,
)
