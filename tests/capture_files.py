"""Tiny capture files in real tools' layouts, written by the tests themselves (no data set file is
copied into the project)."""

from __future__ import annotations

import struct

import numpy as np


def write_nexmon_pcap(path, csi_fft_order: np.ndarray, period_s: float = 0.1, start_s: float = 1_600_000_000.0,
                      chanspec: int = 0xD030) -> None:
    """A pcap of bcm43455c0-style Nexmon packets (int16 I/Q per bin, FFT order, 20 MHz, channel 48),
    one packet per row of ``csi_fft_order`` every ``period_s``."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    for i, row in enumerate(csi_fft_order):
        iq = np.stack([row.real, row.imag], axis=-1).astype("<i2").tobytes()
        payload = (b"\x11\x11" + bytes([0xC8, 0x08]) + bytes(6) + struct.pack("<HHHH", i, 0, chanspec, 0x0065)) + iq
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 1, 0, 1, 17, 0, bytes(4), bytes(4))
        udp = struct.pack(">HHHH", 5500, 5500, 8 + len(payload), 0)
        # Ethernet (broadcast from the tool's "NEXMON" address: csiread reads nothing else), IPv4, UDP
        frame = b"\xff" * 6 + b"NEXMON" + b"\x08\x00" + ip + udp + payload
        t = start_s + i * period_s
        out += struct.pack("<IIII", int(t), int(round((t % 1) * 1e6)), len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
