"""The capture-format registry: built-ins, detection by content, a format added and removed."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from test_readers import FILES, HINTS, real

from wifisense.errors import CaptureError, ConfigError
from wifisense.io.readers import (KNOWN_HINTS, CaptureFormat, NotThisFormat, detect_format, formats,
                                  get_format, read_csi, register_format, registered_format)
from wifisense.io.readers.common import timestamps_or_rate, truncated
from wifisense.io.recording import CSIRecording


BUILT_IN = ("intel5300", "atheros", "nexmon", "esp32", "picoscenes")   # in registration (listing) order


def test_every_built_in_format_is_registered_with_a_description():
    assert tuple(fmt.name for fmt in formats()) == BUILT_IN
    for fmt in formats():
        assert get_format(fmt.name) is fmt and fmt.description
        assert set(fmt.hints) <= set(KNOWN_HINTS)
    with pytest.raises(ConfigError, match="unknown CSI format 'bogus'"):
        get_format("bogus")


def _misleading_extension(name: str) -> str:
    """An extension another format claims and this one does not."""
    own = get_format(name).extensions
    return next(ext for fmt in formats() for ext in fmt.extensions if ext not in own)


@pytest.mark.parametrize("name", sorted(FILES))
def test_detection_goes_by_content_not_extension(tmp_path, name):
    expected = FILES[name]
    renamed = tmp_path / f"capture{_misleading_extension(expected)}"
    renamed.write_bytes(real(name).read_bytes())
    assert detect_format(renamed) == expected
    assert read_csi(renamed, **HINTS.get(name, {})).source["format"] == expected


def test_unknown_file_names_the_file_and_the_formats(tmp_path):
    path = tmp_path / "mystery.pcap"
    path.write_bytes(b"not a capture at all\n" * 20)
    with pytest.raises(CaptureError, match="unknown capture format") as exc:
        read_csi(path)
    message = str(exc.value)
    assert str(path) in message and "suggests nexmon" in message
    assert all(name in message for name in BUILT_IN)


# A toy format: magic, u32 packets T, u32 subcarriers S, then T*S complex64 values; no clock.
TOY_MAGIC = b"TOYCSI\x00\x01"
TOY_HEADER = struct.Struct("<8sII")


def _check_toy(path: Path, data: bytes, limit: int | None) -> tuple[int, int]:
    if not data.startswith(TOY_MAGIC):
        raise NotThisFormat("no TOYCSI magic")
    if len(data) < TOY_HEADER.size:
        raise truncated(path, "toy header is incomplete")
    _, t, s = TOY_HEADER.unpack_from(data)
    if len(data) != TOY_HEADER.size + 8 * t * s:
        raise truncated(path, f"expected {t} x {s} complex64 values")
    return t, s


def _read_toy(path: Path, data: bytes, hints: dict) -> CSIRecording:
    t, s = _check_toy(path, data, None)
    csi = np.frombuffer(data, np.complex64, offset=TOY_HEADER.size).reshape(t, s, 1, 1)
    timestamps, derived = timestamps_or_rate(path, None, 1.0, hints, t)
    return CSIRecording(csi=csi * hints.get("gain", 1.0), timestamps=timestamps,
                        subcarriers=np.arange(s), timestamps_derived=derived)


TOY = CaptureFormat(name="toy", description="a test format (.toy)", check=_check_toy,
                    read=_read_toy, hints=("gain", "rate_hz"), extensions=(".toy",))


def _write_toy(path: Path, csi: np.ndarray) -> Path:
    path.write_bytes(TOY_HEADER.pack(TOY_MAGIC, *csi.shape) + csi.astype(np.complex64).tobytes())
    return path


def test_a_registered_format_is_detected_and_read_then_removed(tmp_path):
    rng = np.random.default_rng(0)
    csi = (rng.normal(size=(5, 8)) + 1j * rng.normal(size=(5, 8))).astype(np.complex64)
    path = _write_toy(tmp_path / "capture.dat", csi)  # .dat: detection must not care
    with registered_format(TOY):
        assert detect_format(path) == "toy"
        rec = read_csi(path, rate_hz=10.0, gain=2.0)
        np.testing.assert_array_equal(rec.csi[:, :, 0, 0], 2 * csi)
        np.testing.assert_allclose(rec.timestamps, np.arange(5) / 10.0)
        assert rec.source["format"] == "toy" and rec.source["format_detected"] is True
        assert read_csi(path, format="toy", rate_hz=10.0).source["format_detected"] is False
        with pytest.raises(ConfigError, match="taken"):
            register_format(TOY)
        cut = tmp_path / "cut.toy"
        cut.write_bytes(path.read_bytes()[:-3])
        with pytest.raises(CaptureError, match="truncated") as exc:
            read_csi(cut, rate_hz=10.0)
        assert str(cut) in str(exc.value)
    # Gone again: no global state leaks into other tests.
    assert "toy" not in [fmt.name for fmt in formats()]
    with pytest.raises(CaptureError, match="unknown capture format"):
        read_csi(path, rate_hz=10.0)
    with pytest.raises(ConfigError, match="gain"):
        read_csi(path, gain=2.0)


def test_inspect_offers_and_describes_a_registered_format(tmp_path):
    import argparse

    from wifisense.io import inspect

    rng = np.random.default_rng(1)
    path = _write_toy(tmp_path / "capture.toy", (rng.normal(size=(5, 8)) + 1j * rng.normal(size=(5, 8))))
    with registered_format(TOY):
        parser = argparse.ArgumentParser()
        inspect.add_arguments(parser)
        assert parser.parse_args([str(path), "--format", "toy"]).format == "toy"
        summary = inspect.summarise_file(path, rate_hz=10.0)
    assert summary["format"] == "toy" and summary["description"] == TOY.description
