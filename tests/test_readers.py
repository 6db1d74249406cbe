"""CSI readers on real third-party captures, bad inputs, and the beam-SNR / positions CSVs."""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from capture_files import write_nexmon_pcap
from wifisense.errors import CaptureError, ConfigError
from wifisense.io.logs import (BeamSNRLog, PositionLog, read_beam_snr_csv, read_positions_csv,
                               write_beam_snr_csv, write_positions_csv)
from wifisense.io.readers import detect_format, formats, read_csi

# The shared real captures live beside the project: <project root>/../shared/data/real/.
REAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"

FILES = {
    "intel5300_log_all_csi_6_7_6.dat": "intel5300",
    "intel5300_example.dat": "intel5300",
    "atheros_ath_csi_1.dat": "atheros",
    "nexmon_bcm4358_example.pcap": "nexmon",
    "picoscenes_iwl5300_example.csi": "picoscenes",
    "esp32_example_csi.csv": "esp32",
}
# The first Intel log has a constant timestamp_low (no usable clock), so it needs a rate.
HINTS = {"intel5300_log_all_csi_6_7_6.dat": {"rate_hz": 100.0}}


def real(name: str) -> Path:
    path = REAL_DIR / name
    if not path.exists():
        pytest.skip(f"real capture {path} is missing (expected in ../shared/data/real/ "
                    "relative to the project root)")
    return path


def readme_shapes() -> dict[str, tuple[int, ...]]:
    """The csiread shapes the capture README lists, e.g. 'csi (29, 30, 3, 3)'."""
    readme = real("README.md").read_text()
    shapes = {}
    for name, shape in re.findall(r"^\| (\S+) \|.*?csi \(([\d, ]+)\)", readme, flags=re.M):
        shapes[name] = tuple(int(v) for v in shape.split(","))
    return shapes


def as_recording_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape if len(shape) == 4 else shape + (1,) * (4 - len(shape))


# ------------------------------------------------------------------ real captures


@pytest.mark.parametrize("name", sorted(FILES))
def test_real_capture_reads_with_documented_shape(name):
    path = real(name)
    rec = read_csi(path, **HINTS.get(name, {}))
    shapes = readme_shapes()
    if name in shapes:
        assert rec.shape == as_recording_shape(shapes[name])
    assert rec.csi.dtype == np.complex64
    assert rec.source["format"] == FILES[name]
    assert rec.timestamps.dtype == np.float64
    assert np.isfinite(rec.timestamps).all()
    assert np.all(np.diff(rec.timestamps) >= 0)
    assert np.isfinite(rec.csi).all()
    # Every packet carries non-zero CSI on at least one stream.
    assert (np.abs(rec.csi).sum(axis=(1, 2, 3)) > 0).all()
    assert rec.subcarriers.shape == (rec.shape[1],)
    assert np.all(np.diff(rec.subcarriers) > 0)
    assert rec.timestamps_derived == ("rate_hz" in HINTS.get(name, {}))


@pytest.mark.parametrize("name", sorted(FILES))
def test_auto_detection_equals_explicit_format(name):
    path = real(name)
    assert detect_format(path) == FILES[name]
    auto = read_csi(path, **HINTS.get(name, {}))
    explicit = read_csi(path, format=FILES[name], **HINTS.get(name, {}))
    np.testing.assert_array_equal(auto.csi, explicit.csi)
    np.testing.assert_array_equal(auto.timestamps, explicit.timestamps)


def test_values_match_csiread_intel_and_atheros():
    import csiread

    intel = csiread.Intel(str(real("intel5300_example.dat")), nrxnum=3, ntxnum=3, if_report=False)
    intel.read()
    rec = read_csi(real("intel5300_example.dat"))
    np.testing.assert_array_equal(rec.csi, intel.csi.astype(np.complex64))
    # timestamp_low is a 1 MHz clock.
    np.testing.assert_allclose(rec.timestamps, intel.timestamp_low / 1e6)
    np.testing.assert_array_equal(rec.subcarriers, csiread.utils.scidx(20, 2))
    assert rec.bandwidth_mhz == 20

    ath = csiread.Atheros(str(real("atheros_ath_csi_1.dat")), nrxnum=3, ntxnum=2, tones=56,
                          if_report=False)
    ath.read()
    rec = read_csi(real("atheros_ath_csi_1.dat"))
    np.testing.assert_array_equal(rec.csi, ath.csi.astype(np.complex64))
    assert rec.carrier_hz == 2437e6
    assert 0 not in rec.subcarriers and rec.subcarriers.min() == -28 and rec.subcarriers.max() == 28


def _decode_first_intel_bfee(path: Path) -> tuple[np.ndarray, list[int]]:
    """The first 0xbb record decoded by hand, as the CSI tool's read_bfee.c does, *before* the perm step."""
    data = path.read_bytes()
    pos = 0
    while True:
        size, code = struct.unpack(">H", data[pos:pos + 2])[0], data[pos + 2]
        if code == 0xBB:
            body = data[pos + 3:pos + 2 + size]
            break
        pos += 2 + size
    nrx, ntx, antenna_sel = body[8], body[9], body[15]
    perm = [antenna_sel & 3, (antenna_sel >> 2) & 3, (antenna_sel >> 4) & 3][:nrx]
    payload, bit = body[20:], 0
    csi = np.zeros((30, nrx, ntx), complex)

    def int8(value: int) -> int:
        return value - 256 if value > 127 else value

    for sc in range(30):
        bit += 3
        for j in range(nrx * ntx):  # transmit stream varies fastest
            r, k = bit % 8, bit // 8
            re = int8(((payload[k] >> r) | (payload[k + 1] << (8 - r))) & 0xFF)
            im = int8(((payload[k + 1] >> r) | (payload[k + 2] << (8 - r))) & 0xFF)
            csi[sc, j // ntx, j % ntx] = complex(re, im)
            bit += 16
    return csi, perm


def test_intel_receive_antennas_are_in_physical_order():
    """The NIC's RF-chain permutation (perm) is undone: csiread applies it, as read_bfee does."""
    raw, perm = _decode_first_intel_bfee(real("intel5300_example.dat"))
    assert perm != sorted(perm)  # this capture is permuted, so the test can fail
    rec = read_csi(real("intel5300_example.dat"))
    nrx, ntx = raw.shape[1:]
    in_antenna_order = np.zeros_like(raw)
    in_antenna_order[:, perm, :] = raw
    np.testing.assert_array_equal(rec.csi[0, :, :nrx, :ntx], in_antenna_order.astype(np.complex64))
    assert not np.array_equal(rec.csi[0, :, :nrx, :ntx], raw.astype(np.complex64))


def test_nexmon_is_fft_shifted_with_empty_dc_and_guards():
    rec = read_csi(real("nexmon_bcm4358_example.pcap"), chip="4358", bw=80)
    np.testing.assert_array_equal(rec.subcarriers, np.arange(-128, 128))
    amp = np.abs(rec.csi[:, :, 0, 0])
    in_band = np.median(amp[:, np.abs(rec.subcarriers) < 120])
    assert np.median(amp[:, rec.subcarriers == 0]) < 0.1 * in_band      # DC null in the middle
    assert np.median(amp[:, np.abs(rec.subcarriers) >= 125]) < 0.1 * in_band
    assert rec.bandwidth_mhz == 80 and rec.carrier_hz == 5775e6
    assert rec.source["chip"] == "4358" and rec.source["chip_guessed"] is False
    assert read_csi(real("nexmon_bcm4358_example.pcap")).source["chip"] == "4358"  # guessed


def test_esp32_matches_csiread_parser():
    import csiread

    ref = csiread.ESP32(str(real("esp32_example_csi.csv")), if_report=False)
    ref.read()
    rec = read_csi(real("esp32_example_csi.csv"))
    np.testing.assert_array_equal(rec.csi[:, :, 0, 0], ref.csi.astype(np.complex64))
    np.testing.assert_allclose(rec.timestamps, ref.local_timestamp / 1e6)
    np.testing.assert_array_equal(rec.rssi[:, 0], ref.rssi)
    np.testing.assert_array_equal(rec.subcarriers, np.arange(-32, 32))


def test_picoscenes_shape_follows_frame_infos():
    import csiread

    probe = csiread.Picoscenes(str(real("picoscenes_iwl5300_example.csi")), if_report=False)
    probe.read()
    info = probe.raw["CSI"]["Info"]
    expected = (probe.count, int(info["NumTones"].max()), int(info["NumRx"].max()),
                int((info["NumTx"].astype(int) + info["NumESS"]).max()))
    rec = read_csi(real("picoscenes_iwl5300_example.csi"))
    assert rec.shape == expected
    # An IWL5300 recorded by PicoScenes reports the 802.11n Ng=2 grouping at 20 MHz.
    np.testing.assert_array_equal(rec.subcarriers, csiread.utils.scidx(20, 2))
    assert rec.carrier_hz == float(info["CarrierFreq"][0])


def test_reading_prints_nothing(capfd):
    for name in FILES:
        read_csi(real(name), **HINTS.get(name, {}))
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_intel_timestamp_wraparound_is_unwrapped(tmp_path):
    """Rewrite timestamp_low of a real log so it wraps past 2**32 mid-capture."""
    data = bytearray(real("intel5300_example.dat").read_bytes())
    pos, i = 0, 0
    start = (1 << 32) - 55_000
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 2], "big")
        if data[pos + 2] == 0xBB:
            struct.pack_into("<I", data, pos + 3, (start + 10_000 * i) % (1 << 32))
            i += 1
        pos += 2 + length
    wrapped = tmp_path / "wrapped.dat"
    wrapped.write_bytes(bytes(data))
    rec = read_csi(wrapped)
    np.testing.assert_allclose(np.diff(rec.timestamps), 0.01)
    assert rec.timestamps[0] == pytest.approx(start / 1e6)


def test_no_clock_needs_rate():
    with pytest.raises(CaptureError, match="--packet-rate"):
        read_csi(real("intel5300_log_all_csi_6_7_6.dat"))
    rec = read_csi(real("intel5300_log_all_csi_6_7_6.dat"), rate_hz=50)
    np.testing.assert_allclose(np.diff(rec.timestamps), 0.02)


# ------------------------------------------------------------------ bad inputs


def cut(tmp_path, name: str) -> Path:
    """A copy cut mid-record (half way plus a few bytes: the exact half of the Intel example
    falls on a record boundary, which is a valid shorter capture)."""
    data = real(name).read_bytes()
    out = tmp_path / f"cut_{name}"
    out.write_bytes(data[:len(data) // 2 + 7])
    return out


@pytest.mark.parametrize("name", sorted(FILES))
def test_truncated_capture_raises(tmp_path, name):
    path = cut(tmp_path, name)
    with pytest.raises(CaptureError, match="truncated") as exc:
        read_csi(path, **HINTS.get(name, {}))
    assert str(path) in str(exc.value)


@pytest.mark.parametrize("suffix", [".dat", ".pcap", ".csi", ".csv", ""])
def test_random_bytes_raise(tmp_path, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(CaptureError, match="unknown capture format") as exc:
        read_csi(path)
    assert str(path) in str(exc.value)


def test_empty_and_missing_files_raise(tmp_path):
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"")
    with pytest.raises(CaptureError, match="empty") as exc:
        read_csi(empty)
    assert str(empty) in str(exc.value)
    with pytest.raises(CaptureError, match="not found"):
        read_csi(tmp_path / "missing.pcap")


@pytest.mark.parametrize("name,wrong", [
    ("intel5300_example.dat", "atheros"),
    ("atheros_ath_csi_1.dat", "intel5300"),   # csiread itself segfaults on this one
    ("esp32_example_csi.csv", "nexmon"),
    ("nexmon_bcm4358_example.pcap", "picoscenes"),
    ("picoscenes_iwl5300_example.csi", "esp32"),
])
def test_wrong_format_hint_names_the_real_format(name, wrong):
    path = real(name)
    with pytest.raises(CaptureError) as exc:
        read_csi(path, format=wrong)
    message = str(exc.value)
    assert str(path) in message and wrong in message
    assert f"--format {FILES[name]}" in message


@pytest.mark.parametrize("chip", ["4339", "43455c0", "4366c0"])
def test_nexmon_wrong_chip_is_detected(chip):
    path = real("nexmon_bcm4358_example.pcap")
    with pytest.raises(CaptureError, match="chip") as exc:
        read_csi(path, chip=chip)
    assert str(path) in str(exc.value) and "--chip 4358" in str(exc.value)


def test_nexmon_unknown_chip_and_wrong_bw_raise():
    path = real("nexmon_bcm4358_example.pcap")
    with pytest.raises(CaptureError, match="unknown Nexmon chip"):
        read_csi(path, chip="1234")
    with pytest.raises(CaptureError, match="bw=20 is wrong"):
        read_csi(path, bw=20)


def test_atheros_wrong_hints_raise():
    path = real("atheros_ath_csi_1.dat")
    with pytest.raises(CaptureError, match="tones=114"):
        read_csi(path, tones=114)
    with pytest.raises(CaptureError, match="nrxnum=1"):
        read_csi(path, nrxnum=1)


def test_all_zero_csi_is_refused(tmp_path):
    lines = real("esp32_example_csi.csv").read_text().splitlines()
    zeroed = [re.sub(r"\[[^\]]*\]", "[" + " ".join(["0"] * 128) + " ]", line) for line in lines]
    path = tmp_path / "zeros.csv"
    path.write_text("\n".join(zeroed) + "\n")
    with pytest.raises(CaptureError, match="zero") as exc:
        read_csi(path)
    assert str(path) in str(exc.value)


def test_non_numeric_esp32_value_raises(tmp_path):
    lines = real("esp32_example_csi.csv").read_text().splitlines()
    lines[2] = lines[2].replace("[101 -48", "[10x -48", 1)
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CaptureError, match="non-numeric"):
        read_csi(path)


def test_hdf5_file_is_not_a_capture(tmp_path):
    import h5py

    path = tmp_path / "store.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(CaptureError, match="HDF5"):
        read_csi(path)


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="hint"):
        read_csi(real("intel5300_example.dat"), chips="4358")
    with pytest.raises(ConfigError, match="format"):
        read_csi(real("intel5300_example.dat"), format="bogus")
    assert {fmt.name for fmt in formats()} == set(FILES.values())


# ------------------------------------------------------------------ CSV logs


def test_beam_snr_csv_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(0.05, 0.5, 40)) + 1e9 / 3   # large epoch-like times
    snr = rng.normal(10, 5, (40, 6)).astype(np.float32)
    names = [f"sector_{m}" for m in range(6)]
    path = tmp_path / "snr.csv"
    write_beam_snr_csv(path, t, snr, names)
    log = read_beam_snr_csv(path)
    assert isinstance(log, BeamSNRLog)
    np.testing.assert_array_equal(log.t, t)
    np.testing.assert_array_equal(log.snr, snr)
    assert log.snr.dtype == np.float32 and log.beam_names == names


def test_positions_csv_round_trip_and_column_order(tmp_path):
    t = np.arange(25) * 0.1
    xy = np.column_stack([np.cos(t), np.sin(t)]) * 2.5
    path = tmp_path / "pos.csv"
    write_positions_csv(path, t, xy)
    log = read_positions_csv(path)
    assert isinstance(log, PositionLog)
    np.testing.assert_array_equal(log.t, t)
    np.testing.assert_array_equal(log.xy, xy)
    other = tmp_path / "pos2.csv"
    other.write_text("# robot run 3\ny,quality,timestamp,x\n1.0,9,0.0,2.0\n1.5,8,0.1,2.5\n")
    log = read_positions_csv(other)
    np.testing.assert_array_equal(log.t, [0.0, 0.1])
    np.testing.assert_array_equal(log.xy, [[2.0, 1.0], [2.5, 1.5]])
    assert log.heading is None
    write_positions_csv(path, t, xy, heading=t - 1.0)
    np.testing.assert_array_equal(read_positions_csv(path).heading, t - 1.0)


@pytest.mark.parametrize("body,match", [
    ("t,b0,b1\n0.0,1,2\n0.1,3\n", r"line 3: 2 values"),
    ("t,b0,b1\n0.0,1,2\n0.1,abc,2\n", r"line 3, column 'b0': 'abc' is not a number"),
    ("t,b0,b1\n0.0,1,2\n0.1,inf,2\n", r"line 3, column 'b0': non-finite value 'inf'"),
    ("t,b0,b1\n0.0,1,2\n0.1,,-Infinity\n", r"line 3, column 'b1': non-finite value '-Infinity'"),
    ("t,b0,b1\n0.0,1,2\nnan,1,2\n", r"line 3, column 't': non-finite value 'nan'"),
    ("t,b0,b1\n0.0,1,2\n,1,2\n", r"line 3, column 't': '' is not a number"),
    ("t,b0,b1\n0.0,,nan\n0.1,NaN,\n", r"every one of the 2 rows has all beams missing"),
    ("t,b0,b1\n0.0,1,2\n0.2,1,2\n0.1,1,2\n", r"line 4, column 't'.*strictly increasing"),
    ("t,b0,b1\n0.0,1,2\n0.0,1,2\n", r"line 3, column 't'"),
    ("", r"empty"),
    ("t,b0\n", r"no data rows"),
    ("t\n0.0\n", r"timestamp column followed by"),
    ("t,b0,b0\n0,1,2\n", r"more than once"),
])
def test_beam_snr_csv_errors_name_line_and_column(tmp_path, body, match):
    path = tmp_path / "snr.csv"
    path.write_text(body)
    with pytest.raises(CaptureError, match=match) as exc:
        read_beam_snr_csv(path)
    assert str(path) in str(exc.value)


@pytest.mark.parametrize("body,match", [
    ("t,x\n0,1\n", r"no y column"),
    ("x,y\n0,1\n", r"no timestamp column"),
    ("t,x,y\n0,1,2\n1,1,oops\n", r"line 3, column 'y'"),
    ("t,x,y\n1,1,2\n0,1,2\n", r"line 3, column 't'"),
])
def test_positions_csv_errors(tmp_path, body, match):
    path = tmp_path / "pos.csv"
    path.write_text(body)
    with pytest.raises(CaptureError, match=match) as exc:
        read_positions_csv(path)
    assert str(path) in str(exc.value)


def test_csv_writers_are_atomic_and_validate_shapes(tmp_path):
    path = tmp_path / "snr.csv"
    with pytest.raises(ValueError):
        write_beam_snr_csv(path, np.arange(3.0), np.zeros((4, 2)))
    with pytest.raises(ValueError):
        write_positions_csv(path, np.arange(3.0), np.zeros((3, 3)))
    assert not path.exists() and os.listdir(tmp_path) == []


def test_salvage_keeps_the_intel_records_before_a_damaged_tail(tmp_path):
    """Public logs (WiAR) end in a cut or damaged record: read_csi(salvage=True) keeps the whole
    records before it and says so; the default still refuses the file."""
    data = real("intel5300_example.dat").read_bytes()
    whole = read_csi(real("intel5300_example.dat"))
    for name, tail in (("cut.dat", data[:len(data) // 2 + 7]), ("damaged.dat", data[:len(data) // 2] + b"\x00\x05\x02junk")):
        path = tmp_path / name
        path.write_bytes(tail)
        with pytest.raises(CaptureError):
            read_csi(path)
        kept = read_csi(path, format="intel5300", salvage=True)
        n = kept.csi.shape[0]
        assert 0 < n < whole.csi.shape[0] and kept.source["damaged_tail_bytes"] > 0
        np.testing.assert_array_equal(kept.csi, whole.csi[:n])
        assert read_csi(path, salvage=True).csi.shape == kept.csi.shape      # found by content too
    with pytest.raises(CaptureError):
        read_csi(path, salvage=True, strict=True)


def test_nexmon_firmware_that_fills_the_guard_bins_is_read_when_the_band_is_smooth(tmp_path):
    # Some bcm43455c0 builds report large values on the DC and guard bins (a public
    # localisation set does): the capture is still a channel, and says so in its source.
    rng = np.random.default_rng(0)
    k = np.arange(-32, 32)
    channel = 500 * (1 + 0.3 * np.cos(k / 6.0)) * np.exp(1j * 0.2 * k)
    rows = channel[None, :] * (1 + 0.02 * rng.standard_normal((20, 64)))
    guard = (np.abs(k) >= 29) | (k == 0)
    rows[:, guard] = 8000 + 100 * rng.standard_normal((20, guard.sum()))
    path = tmp_path / "guards.pcap"
    write_nexmon_pcap(path, np.fft.ifftshift(rows, axes=1))
    rec = read_csi(path)
    assert rec.source["chip"] in ("4339", "43455c0") and rec.csi.shape == (20, 64, 1, 1)
    assert rec.source["null_bins_level"] > 10
    np.testing.assert_allclose(np.abs(rec.csi[:, ~guard, 0, 0]), np.abs(rows[:, ~guard]), rtol=0.01, atol=1)
    np.testing.assert_allclose(np.diff(rec.timestamps), 0.1, atol=1e-5)
    # a band that is noise (what another chip's number format gives) is still refused
    noisy = rows.copy()
    noisy[:, ~guard] = 500 * rng.standard_normal((20, (~guard).sum()))
    write_nexmon_pcap(path, np.fft.ifftshift(noisy, axes=1))
    with pytest.raises(CaptureError, match="jumps by"):
        read_csi(path, chip="43455c0")
    # the usual capture, with empty guard bins, says so too
    assert read_csi(real("nexmon_bcm4358_example.pcap")).source["null_bins_level"] < 0.1
