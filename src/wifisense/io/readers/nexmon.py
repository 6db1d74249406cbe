"""Broadcom Nexmon CSI captures (.pcap of CSI UDP packets): packet walk, chip check and reader."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError, ConfigError
from wifisense.io.readers.common import (NotThisFormat, csiread_call, hint_int, timestamps_or_rate,
                                         truncated)
from wifisense.io.readers.registry import CaptureFormat
from wifisense.io.recording import CSIRecording

NEXMON_CHIPS = ("4358", "4366c0", "43455c0", "4339")

PCAP_MAGICS = {  # first four bytes -> (byte order, timestamps in nanoseconds)
    b"\xd4\xc3\xb2\xa1": ("<", False), b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True), b"\xa1\xb2\x3c\x4d": (">", True),
}
NEXMON_PREFIX_BYTES = 42 + 18  # Ethernet+IPv4+UDP headers, then the nexmon CSI header

# An uncorrupted Nexmon decode has (near-)empty DC and edge guard bins; a decode with the
# wrong chip's number format does not. Ratio of median |CSI| on those bins to the rest.
NEXMON_NULL_RATIO_MAX = 0.25
# Some firmware builds fill the DC and guard bins (a bcm43455c0 capture of the EPIC-CSU
# localisation set: guard bins at 13x the in-band level). Such a decode is still accepted
# when its in-band amplitude is smooth across neighbouring subcarriers, as a channel's is
# and a wrong number format's is not: median |a[k+1] - a[k]| / median a was 0.03-0.11 on
# real captures decoded with their own chip and 0.62 or far more with another chip's.
NEXMON_ROUGHNESS_MAX = 0.3


@dataclass
class NexmonScan:
    packets: int
    nfft: int
    trailing: int = 0  # packets with a few bytes after their CSI (read as csiread does)


NEXMON_NFFTS = (64, 128, 256)
# Some firmware builds append a few bytes after the CSI (e.g. 4 on a bcm43455c0); csiread
# reads the first nfft*4 bytes and ignores them. Anything longer is a different layout.
NEXMON_MAX_TRAILING_BYTES = 16


def _csi_bins(csi_bytes: int) -> tuple[int, int] | None:
    """(nfft, trailing bytes) of a packet's CSI payload, or None if no layout fits."""
    for nfft in sorted(NEXMON_NFFTS, reverse=True):
        extra = csi_bytes - 4 * nfft
        if 0 <= extra <= NEXMON_MAX_TRAILING_BYTES:
            return nfft, extra
    return None


def scan(path: Path, data: bytes, limit: int | None) -> NexmonScan:
    """Walk a pcap file and check that its packets are Nexmon CSI UDP packets."""
    if data[:4] not in PCAP_MAGICS:
        raise NotThisFormat("no pcap magic number")
    order, _ = PCAP_MAGICS[data[:4]]
    if len(data) < 24:
        raise truncated(path, "pcap global header is incomplete")
    record = struct.Struct(order + "IIII")
    pos, n, packets, nffts, trailing = 24, len(data), 0, set(), 0
    while pos < n and (limit is None or packets < limit):
        if n - pos < record.size:
            raise truncated(path, f"{n - pos} trailing byte(s) at offset {pos} are not a packet")
        _, _, incl_len, _ = record.unpack_from(data, pos)
        body = pos + record.size
        if body + incl_len > n:
            raise truncated(path, f"packet {packets} at byte {pos} needs {incl_len} bytes, "
                                  f"only {n - body} left")
        csi_bytes = incl_len - NEXMON_PREFIX_BYTES
        magic = data[body + 42:body + 44]
        if magic != b"\x11\x11" or csi_bytes <= 0:
            raise NotThisFormat(f"packet {packets} at byte {pos} is not a Nexmon CSI packet "
                                f"(no 0x1111 magic after the UDP header)")
        layout = _csi_bins(csi_bytes)
        if layout is None:
            if packets == 0:
                raise NotThisFormat(f"packet 0 at byte {pos} carries {csi_bytes} CSI bytes, which "
                                    f"fit no Nexmon layout ({', '.join(str(4 * k) for k in NEXMON_NFFTS)})")
            raise CaptureError(path, f"packet {packets} at byte {pos} carries {csi_bytes} CSI bytes, "
                                     f"which fit no Nexmon layout")
        nffts.add(layout[0])
        trailing += layout[1] > 0
        pos = body + incl_len
        packets += 1
    if packets == 0:
        raise NotThisFormat("pcap file holds no packets")
    if len(nffts) > 1:
        raise CaptureError(path, f"packets carry different CSI sizes {sorted(nffts)} bins; "
                                 "split the capture by bandwidth first")
    return NexmonScan(packets, nffts.pop(), trailing)


def udp_payloads(path: Path, data: bytes) -> list[tuple[float, bytes]]:
    """(capture time in seconds, UDP payload) of every packet of a Nexmon CSI pcap, in file order.

    The payload is what the tool sends to UDP port 5500 and what ``NexmonDecoder`` (and
    csiread's ``pmsg``) decode; ``wifisense replay`` sends these. The walk is the same as
    ``scan``'s (scan checks the file first).
    """
    scan(path, data, limit=None)
    order, nano = PCAP_MAGICS[data[:4]]
    record = struct.Struct(order + "IIII")
    pos, out = 24, []
    while pos < len(data):
        sec, frac, incl_len, _ = record.unpack_from(data, pos)
        body = pos + record.size
        out.append((sec + frac * (1e-9 if nano else 1e-6), bytes(data[body + 42:body + incl_len])))
        pos = body + incl_len
    return out


class NexmonDecoder:
    """One Nexmon CSI UDP payload at a time -> complex CSI ``[nfft]`` in -nfft/2..nfft/2-1 order.

    For live sources: csiread's ``pmsg`` decodes the payload (the same number formats as the
    file reader); ``chip`` must be given, since a wrong chip decodes without complaint (the
    file reader judges a whole capture instead, see ``decode_ok``).
    """

    def __init__(self, chip: str, bw: int):
        import csiread

        if str(chip) not in NEXMON_CHIPS:
            raise ConfigError(f"unknown Nexmon chip {chip!r}; csiread supports {', '.join(NEXMON_CHIPS)}")
        if int(bw) not in (20, 40, 80):
            raise ConfigError(f"Nexmon bandwidth must be 20, 40 or 80 MHz, got {bw}")
        self.chip, self.bw, self.nfft = str(chip), int(bw), int(bw * 3.2)
        self._parser = csiread.Nexmon(None, chip=self.chip, bw=self.bw, if_report=False)

    def decode(self, payload: bytes) -> np.ndarray | None:
        """The payload's CSI, or None when it is not a Nexmon CSI packet of this bandwidth."""
        if len(payload) < 18 + 4 * self.nfft or payload[:2] != b"\x11\x11":
            return None
        if self._parser.pmsg(payload) != 0xF100:
            return None
        return np.fft.fftshift(np.asarray(self._parser.csi)[-1]).astype(np.complex64)


def null_bins(nfft: int) -> np.ndarray:
    """bool [nfft] over k = -nfft/2..nfft/2-1: DC and outer guard bins, empty in every
    802.11 a/n/ac layout of that width (outermost 3-4 bins at each edge)."""
    k = np.arange(-nfft // 2, nfft // 2)
    return (k == 0) | (np.abs(k) >= nfft // 2 - 3)


def decode_ok(csi_shifted: np.ndarray) -> tuple[bool, str]:
    """Whether a Nexmon decode looks like a channel, with the reason if not."""
    amp = np.abs(csi_shifted)
    if not np.isfinite(amp).all():
        return False, "non-finite values"
    if not amp.any():
        return False, "all-zero CSI"
    null = null_bins(amp.shape[1])
    data_amp = amp[:, ~null]
    zero_frac = float((data_amp == 0).mean())
    if zero_frac > 0.25:
        return False, f"{zero_frac:.0%} of the in-band values are exactly zero"
    ratio = _null_ratio(amp)
    if ratio > NEXMON_NULL_RATIO_MAX:
        level = np.maximum(np.median(data_amp, axis=1), 1e-12)
        rough = float(np.median(np.median(np.abs(np.diff(data_amp, axis=1)), axis=1) / level))
        if not rough <= NEXMON_ROUGHNESS_MAX:
            return False, (f"no empty DC/guard subcarriers (their level is {ratio:.2f} of the in-band "
                           f"level) and the in-band amplitude jumps by {rough:.2f} of its level between "
                           "neighbouring subcarriers, which is what a wrong number format gives")
    return True, ""


def null_level(csi_shifted: np.ndarray) -> float:
    """Median over packets of |CSI| on the DC and guard bins relative to the in-band median."""
    return _null_ratio(np.abs(csi_shifted))


def _null_ratio(amp: np.ndarray) -> float:
    """:func:`null_level` of the amplitudes ``amp [packets, nfft]`` (a decode's checks share them)."""
    null = null_bins(amp.shape[1])
    ratio = np.median(amp[:, null], axis=1) / np.maximum(np.median(amp[:, ~null], axis=1), 1e-12)
    return float(np.median(ratio))


def read(path: Path, data: bytes, hints: dict) -> CSIRecording:
    import csiread

    found = scan(path, data, limit=None)
    file_bw = {64: 20, 128: 40, 256: 80}[found.nfft]
    bw = hint_int(hints, "bw", file_bw)
    if bw != file_bw:
        raise CaptureError(path, f"hint bw={bw} is wrong: the packets carry {found.nfft} CSI bins "
                                 f"({file_bw} MHz)")
    chip = hints.get("chip")
    if chip is not None and str(chip) not in NEXMON_CHIPS:
        raise CaptureError(path, f"unknown Nexmon chip {chip!r}; csiread supports "
                                 f"{', '.join(NEXMON_CHIPS)}")

    def decode(c):
        def make(file):
            parsed = csiread.Nexmon(file, chip=c, bw=bw, if_report=False)
            parsed.read()
            return parsed
        parsed = csiread_call(path, data, "nexmon", make)
        # csiread returns FFT order (DC first); shift so subcarriers run -nfft/2..nfft/2-1.
        return parsed, np.fft.fftshift(np.asarray(parsed.csi), axes=1)

    # csiread decodes any chip's number format without complaint, so a wrong chip gives
    # noise: the decode is judged by its empty DC/guard bins instead.
    if chip is not None:
        parsed, csi = decode(str(chip))
        ok, why = decode_ok(csi)
        if not ok:
            others = [c for c in NEXMON_CHIPS if c != str(chip) and decode_ok(decode(c)[1])[0]]
            better = f"; it decodes plausibly with --chip {others[0]}" if others else ""
            raise CaptureError(path, f"CSI decoded with chip={chip} looks like garbage ({why}): "
                                     f"--chip is probably wrong{better}")
        chip_guessed = False
    else:
        for candidate in NEXMON_CHIPS:
            parsed, csi = decode(candidate)
            if decode_ok(csi)[0]:
                chip, chip_guessed = candidate, True
                break
        else:
            raise CaptureError(path, "no Nexmon chip decodes this capture plausibly; give the "
                                     f"chip with --chip ({', '.join(NEXMON_CHIPS)})")
    n = int(parsed.count)
    frac = 1e-9 if parsed.nano else 1e-6
    ticks = np.asarray(parsed.sec).astype(np.int64) * (1_000_000_000 if parsed.nano else 1_000_000) \
        + np.asarray(parsed.usec).astype(np.int64)
    t, derived = timestamps_or_rate(path, ticks, 1.0 / frac, hints, n)
    chanspec = int(np.asarray(parsed.chan_spec)[0]) if n else 0
    carrier = broadcom_chanspec_carrier_hz(chanspec)
    source = {
        "format": "nexmon", "path": str(path), "device": f"Broadcom bcm{chip}",
        "records": found.packets, "skipped_records": found.packets - n,
        "packets_with_trailing_bytes": found.trailing,
        "tool": "Nexmon CSI", "reader": "csiread.Nexmon", "chip": str(chip),
        "chip_guessed": chip_guessed, "bw": bw, "chanspec": f"0x{chanspec:04x}",
        # 1 or more: this firmware fills the DC and guard bins (leave them out, see NEXMON_ROUGHNESS_MAX)
        "null_bins_level": round(null_level(csi), 4) if n else None,
        "clock": "pcap capture time (host clock)" if not derived else "none",
        "cores": sorted(int(c) for c in np.unique(parsed.core)),
        "spatial_streams": sorted(int(s) for s in np.unique(parsed.spatial)),
        # One packet per (core, spatial stream): regroup by seq/core/spatial if needed.
        "per_packet": {"seq": np.asarray(parsed.seq), "core": np.asarray(parsed.core),
                       "spatial": np.asarray(parsed.spatial)},
    }
    subcarriers = np.arange(-found.nfft // 2, found.nfft // 2)
    return CSIRecording(csi=csi[:, :, None, None], timestamps=t, subcarriers=subcarriers,
                        timestamps_derived=derived, bandwidth_mhz=float(bw), carrier_hz=carrier,
                        rssi=None, source=source)


def broadcom_chanspec_carrier_hz(chanspec: int) -> float | None:
    """Centre frequency from a d11ac chanspec (channel in bits 0-7, band in bits 14-15)."""
    channel, band = chanspec & 0xFF, chanspec & 0xC000
    if channel == 0:
        return None
    if band == 0xC000:
        return (5000 + 5 * channel) * 1e6
    if band == 0x0000:
        return (2484 if channel == 14 else 2407 + 5 * channel) * 1e6
    return None


FORMAT = CaptureFormat(
    name="nexmon", description="Broadcom, Nexmon CSI (.pcap)",
    check=scan, read=read, hints=("chip", "bw", "rate_hz"), extensions=(".pcap",),
    detect_order=10,  # pcap magic number, then the 0x1111 Nexmon magic in every packet
)
