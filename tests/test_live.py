"""Live sources and replay: per-packet decoders equal the file readers, UDP and line replays of the
real captures in ../shared/data/real arrive whole, the ring buffer stays bounded."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from wifisense.errors import CaptureError, ConfigError
from wifisense.io.readers import read_csi
from wifisense.live.buffer import PacketRing

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
NEXMON = REAL / "nexmon_bcm4358_example.pcap"
ESP32 = REAL / "esp32_example_csi.csv"
INTEL = REAL / "intel5300_example.dat"
needs_real = pytest.mark.skipif(not (NEXMON.is_file() and ESP32.is_file()), reason="real captures not in ../shared")


def test_packet_ring_is_bounded_and_windows_in_arrival_order():
    ring = PacketRing(4, (2,))
    for k in range(6):
        ring.push(float(k), np.full(2, k, np.complex64))
    assert len(ring) == 4 and ring.pushed == 6 and ring.overwritten == 2 and ring.latest_time() == 5.0
    t, x = ring.window(2.5)                       # 2.5 < t <= 5
    assert t.tolist() == [3.0, 4.0, 5.0] and x[:, 0].real.tolist() == [3.0, 4.0, 5.0]
    assert ring.window(10.0)[0].tolist() == [2.0, 3.0, 4.0, 5.0]
    with pytest.raises(ValueError, match="shape"):
        ring.push(6.0, np.zeros(3, np.complex64))


@needs_real
def test_nexmon_udp_payloads_decode_one_by_one_as_the_file_reader_reads_them():
    from wifisense.io.readers.nexmon import NexmonDecoder, udp_payloads

    recording = read_csi(NEXMON)
    payloads = udp_payloads(NEXMON, NEXMON.read_bytes())
    decoder = NexmonDecoder(recording.source["chip"], recording.source["bw"])
    decoded = np.stack([decoder.decode(p) for _, p in payloads])
    np.testing.assert_array_equal(decoded, recording.csi[:, :, 0, 0])
    np.testing.assert_allclose([t for t, _ in payloads], recording.timestamps, atol=1e-6)
    assert decoder.decode(b"not a csi packet") is None
    with pytest.raises(ConfigError, match="chip"):
        NexmonDecoder("1234", 80)


@needs_real
def test_esp32_lines_decode_one_by_one_as_the_file_reader_reads_them_and_the_clock_unwraps():
    from wifisense.io.readers.esp32 import Esp32LineDecoder
    from wifisense.live.replay import shift_esp32_clock

    recording = read_csi(ESP32)
    decoder = Esp32LineDecoder(str(ESP32))
    lines = ESP32.read_text().splitlines()
    decoded = [d for d in map(decoder.decode, lines) if d is not None]
    np.testing.assert_array_equal(np.stack([d[1] for d in decoded]), recording.csi[:, :, 0, 0])
    times = np.array([d[0] for d in decoded])
    np.testing.assert_allclose(times - times[0], recording.timestamps - recording.timestamps[0], atol=1e-6)
    # a clock that wraps past 2**32 microseconds between two lines keeps counting up
    rows = [line for line in lines if line.startswith("CSI_DATA")][:2]
    first_us = int(round(decoded[0][0] * 1e6))
    near_wrap = shift_esp32_clock(rows[0] + "\n", (2**32 - 1000 - first_us) * 1e-6)
    fresh = Esp32LineDecoder()
    a, b = fresh.decode(near_wrap), fresh.decode(shift_esp32_clock(rows[1] + "\n", (2**32 - 1000 - first_us) * 1e-6))
    assert b[0] - a[0] == pytest.approx(decoded[1][0] - decoded[0][0], abs=1e-6) and b[0] > 2**32 * 1e-6
    with pytest.raises(CaptureError, match="line 1"):
        Esp32LineDecoder().decode(rows[0].rsplit(",", 1)[0] + ",[1 2 3")


@needs_real
def test_a_nexmon_capture_replayed_over_udp_arrives_whole_on_loopback():
    from wifisense.live.replay import replay
    from wifisense.live.sources import NexmonUDPSource

    recording = read_csi(NEXMON)
    source = NexmonUDPSource("127.0.0.1", 0, recording.source["chip"], recording.source["bw"])
    sender = threading.Thread(target=replay, args=(NEXMON,),
                              kwargs={"to": f"udp://127.0.0.1:{source.port}", "speed": 0, "loop": 25})
    sender.start()
    packets = []
    while (packet := source.read(timeout=2.0)) is not None:
        packets.append(packet)
    sender.join()
    source.close()
    n = recording.csi.shape[0]
    assert len(packets) == 25 * n and source.received == 25 * n and source.rejected == 0
    np.testing.assert_array_equal(np.stack([p.x for p in packets[:n]]), recording.csi)
    assert all(p.arrival <= time.monotonic() for p in packets)


@needs_real
def test_esp32_lines_piped_through_standard_input_into_wifisense_live():
    replay = subprocess.Popen([sys.executable, "-m", "wifisense.cli", "replay", str(ESP32), "--speed", "0",
                               "--loop", "2"], stdout=subprocess.PIPE)
    live = subprocess.run([sys.executable, "-m", "wifisense.cli", "live", "--source", "-", "--window", "1000",
                           "--hop", "5"], stdin=replay.stdout, capture_output=True, text=True, timeout=120)
    replay.stdout.close()
    assert replay.wait(timeout=60) == 0 and live.returncode == 0, live.stderr
    n = read_csi(ESP32).csi.shape[0]
    last = json.loads(live.stdout.splitlines()[-1])["sources"]["<stdin>"]
    assert last["received"] == 2 * n and last["packets"] == 2 * n and last["rejected"] == 0
    assert f"{2 * n} packets received" in live.stderr


@needs_real
def test_live_captions_esp32_lines_with_a_model_trained_on_that_shape(tmp_path):
    """A tiny caption model trained on clips ingested from the real ESP32 capture captions the
    same capture replayed through standard input, one caption per hop."""
    from test_caption_cli import SHRINK
    from wifisense.cli import main

    store = tmp_path / "esp32.h5"
    for k in range(8):
        side = "left" if k % 2 == 0 else "right"
        assert main(["-q", "ingest", "caption", "--rx", str(ESP32), "--caption", f"a person raises the {side} arm",
                     "--class", side, "--clip-rate", "100", "--seconds", "0.05", "--out", str(store)]
                    + (["--append"] if k else [])) == 0
    assert main(["-q", "split", str(store), "--ratios", "0.5,0.25,0.25"]) == 0
    sets = [a for key, value in SHRINK.items() for a in ("--set", f"{key}={json.dumps(value)}")]
    assert main(["-q", "caption", "train", "--data", str(store), "--run", str(tmp_path / "run"), "--baseline",
                 "csi-lm", "--max-steps", "1", "--batch-size", "2", "--device", "cpu", *sets]) == 0
    replay = subprocess.Popen([sys.executable, "-m", "wifisense.cli", "replay", str(ESP32), "--speed", "0",
                               "--loop", "4"], stdout=subprocess.PIPE)
    live = subprocess.run([sys.executable, "-m", "wifisense.cli", "live", "--source", "-", "--model",
                           str(tmp_path / "run"), "--hop", "5"], stdin=replay.stdout, capture_output=True,
                          text=True, timeout=300)
    replay.stdout.close()
    assert replay.wait(timeout=60) == 0 and live.returncode == 0, live.stderr
    line = json.loads(live.stdout.splitlines()[-1])
    assert isinstance(line["caption"], str) and line["receivers"] == ["<stdin>"] and line["latency_ms"] > 0
    assert "error" not in line


@needs_real
def test_a_growing_esp32_file_is_followed(tmp_path):
    from wifisense.live.sources import Esp32LineSource

    rows = [line for line in ESP32.read_text().splitlines() if line.startswith("CSI_DATA")]
    path = tmp_path / "growing.csv"
    path.write_text("some console output\n" + rows[0] + "\n")
    source = Esp32LineSource(str(path))
    first = source.read(timeout=1.0)

    def grow():
        time.sleep(0.2)
        with path.open("a") as f:
            f.write(rows[1][:40])                  # half a line: not a packet yet
            f.flush()
            time.sleep(0.2)
            f.write(rows[1][40:] + "\n")

    writer = threading.Thread(target=grow)
    writer.start()
    second = source.read(timeout=3.0)
    writer.join()
    assert first is not None and second is not None and second.t > first.t
    assert source.received == 2 and source.rejected == 1 and not source.ended
    assert source.read(timeout=0.1) is None
    source.close()


def test_replay_refuses_what_it_cannot_send(tmp_path):
    from wifisense.live.replay import replay

    text = tmp_path / "notes.csv"
    text.write_text("hello,world\n1,2\n")
    with pytest.raises(CaptureError):
        replay(text, to="-")
    if INTEL.is_file():
        with pytest.raises(ConfigError, match=r"standard output\) or a file"):
            replay(INTEL, to="udp://127.0.0.1:5500")
    if NEXMON.is_file():
        with pytest.raises(ConfigError, match="udp://HOST:PORT"):
            replay(NEXMON, to="udp://nowhere")
        with pytest.raises(ConfigError, match="--speed"):
            replay(NEXMON, speed=-1)
    from wifisense.live.sources import open_source

    with pytest.raises(ConfigError, match="--chip"):
        open_source("udp://127.0.0.1:0")
    with pytest.raises(ConfigError, match="no such file"):
        open_source(str(tmp_path / "missing.csv"))


def test_a_report_reads_as_one_short_line_on_a_terminal():
    from wifisense.live.monitor import human_line

    line = {"time": 1.0, "window_s": 1.0, "caption": "a person waves", "latency_ms": 42.4,
            "sources": {"<stdin>": {"packets": 100, "rate_hz": 100.0, "received": 500, "rejected": 2,
                                    "overwritten": 0}}}
    text = human_line(line)
    assert "<stdin>: 100 pkt/s (500 received, 2 rejected)" in text and "'a person waves' (42 ms)" in text
    assert "\n" not in text


@pytest.mark.skipif(not INTEL.is_file(), reason="real captures not in ../shared")
def test_intel_records_decode_one_by_one_and_a_log_being_written_is_followed(tmp_path):
    from wifisense.io.readers.intel5300 import IntelRecordDecoder, records
    from wifisense.live.replay import replay
    from wifisense.live.sources import open_source

    recording = read_csi(INTEL)
    decoder = IntelRecordDecoder()
    decoded = [d for d in map(decoder.decode, records(INTEL.read_bytes())[0]) if d is not None]
    np.testing.assert_array_equal(np.stack([d[1] for d in decoded]), recording.csi)
    times = np.array([d[0] for d in decoded])
    np.testing.assert_allclose(times - times[0], recording.timestamps - recording.timestamps[0], atol=1e-6)
    np.testing.assert_array_equal(decoder.subcarriers, recording.subcarriers)
    # a log that a capture tool is still writing: replayed into a file while the source follows it
    log = tmp_path / "log.dat"
    log.write_bytes(b"")
    source = open_source(str(log))
    writer = threading.Thread(target=replay, args=(INTEL,), kwargs={"to": str(log), "speed": 20, "loop": 2})
    writer.start()
    packets = []
    while (packet := source.read(timeout=1.0)) is not None:
        packets.append(packet)
    writer.join()
    source.close()
    n = recording.csi.shape[0]
    assert len(packets) == 2 * n and source.rejected == 0
    t = np.array([p.t for p in packets])
    assert (np.diff(t) > 0).all()                        # the second loop's clock runs on
    np.testing.assert_array_equal(np.stack([p.x for p in packets[n:]]), recording.csi)


@pytest.mark.skipif(not INTEL.is_file(), reason="real captures not in ../shared")
@pytest.mark.parametrize("bands", ["csi", "csi,snr"])
def test_live_tracks_an_intel_log_and_a_beam_snr_log(tmp_path, bands):
    """A tiny track model trained on a store ingested from the real Intel 5300 capture (looped,
    with made-up positions and beam SNR, some sectors missing) gives trajectory points from the
    same capture replayed into a growing log and, for a two-band model, the SNR log replayed
    into a second growing file."""
    from wifisense.cli import main
    from wifisense.io.logs import write_beam_snr_csv, write_positions_csv
    from wifisense.live.replay import replay

    long_log = tmp_path / "long.dat"
    replay(INTEL, to=str(long_log), speed=0, loop=12)
    recording = read_csi(long_log)
    t0, t1 = recording.timestamps[0], recording.timestamps[-1]
    snr_t, pose_t = np.arange(t0, t1, 0.25), np.arange(t0, t1, 0.1)
    snr = np.random.default_rng(0).normal(10, 2, (snr_t.size, 4))
    snr[np.random.default_rng(1).random(snr.shape) < 0.1] = np.nan        # sectors missing from sweeps
    write_beam_snr_csv(tmp_path / "snr.csv", snr_t, snr)
    write_positions_csv(tmp_path / "pos.csv", pose_t, np.c_[2 + np.cos(pose_t), 2 + np.sin(pose_t)])
    store = tmp_path / "track.h5"
    assert main(["-q", "ingest", "multiband", "--csi", str(long_log), "--snr", str(tmp_path / "snr.csv"),
                 "--positions", str(tmp_path / "pos.csv"), "--out", str(store)]) == 0
    assert main(["-q", "track", "train", "--data", str(store), "--model", "rnn-decay", "--bands", bands, "--run",
                 str(tmp_path / "run"), "--window", "2", "--epochs", "1", "--device", "cpu"]) == 0
    log = tmp_path / "live.dat"
    replay(INTEL, to=str(log), speed=0, loop=2)
    sources = ["--source", str(log)]
    if "snr" in bands:
        replay(tmp_path / "snr.csv", to=str(tmp_path / "live_snr.csv"), speed=0)
        sources += ["--source", f"snr:{tmp_path / 'live_snr.csv'}"]
    live = subprocess.run([sys.executable, "-m", "wifisense.cli", "live", *sources, "--model",
                           str(tmp_path / "run"), "--seconds", "2", "--hop", "1"], capture_output=True, text=True,
                          timeout=300)
    assert live.returncode == 0, live.stderr
    lines = [json.loads(line) for line in live.stdout.splitlines()]
    assert "error" not in lines[-1], lines[-1]
    points = [p for line in lines for p in line["track"]]
    assert points and all(len(p) == 3 and np.isfinite(p).all() for p in points)
    times = [p[0] for p in points]
    assert times == sorted(times) and len(set(times)) == len(times)     # each point reported once
    if "snr" in bands:
        assert lines[-1]["sources"][f"{tmp_path / 'live_snr.csv'}"]["received"] == snr_t.size
    # a model's bands and the sources must match: a clear message, not a traceback
    wrong = subprocess.run([sys.executable, "-m", "wifisense.cli", "live", "--source", f"snr:{tmp_path / 'snr.csv'}",
                            "--model", str(tmp_path / "run"), "--seconds", "1"], capture_output=True, text=True,
                           timeout=300)
    assert wrong.returncode != 0 and "give one --source for each" in wrong.stderr and "Traceback" not in wrong.stderr


def test_beam_snr_lines_decode_one_by_one_as_the_file_reader_reads_them(tmp_path):
    from wifisense.io.logs import BeamSNRLineDecoder, read_beam_snr_csv, write_beam_snr_csv
    from wifisense.live.sources import BeamSNRLineSource, open_source

    t = np.arange(6) * 0.2
    snr = np.random.default_rng(0).normal(10, 2, (6, 3)).astype(np.float32)
    snr[1, 2] = snr[4, 0] = np.nan
    snr[3] = np.nan                                     # a sweep with every sector missing: dropped
    path = tmp_path / "snr.csv"
    write_beam_snr_csv(path, t, snr)
    log = read_beam_snr_csv(path)
    decoder = BeamSNRLineDecoder(str(path))
    decoded = [d for d in map(decoder.decode, path.read_text().splitlines()) if d is not None]
    np.testing.assert_array_equal([d[0] for d in decoded], log.t)
    np.testing.assert_array_equal(np.stack([d[1] for d in decoded]), log.snr)
    assert decoder.beam_names == log.beam_names
    with pytest.raises(CaptureError, match="line 8, column 'beam_1': 'x' is not a number"):
        decoder.decode("9.0,1,x,2")
    with pytest.raises(CaptureError, match="line 9.*not after the previous one"):
        decoder.decode("0.5,1,2,3")
    with pytest.raises(CaptureError, match="first column is 'beam_0'"):
        BeamSNRLineDecoder().decode("beam_0,beam_1")

    # followed as it grows; a bad line is skipped and counted, with its reason kept
    growing = tmp_path / "growing.csv"
    lines = path.read_text().splitlines()
    growing.write_text("\n".join(lines[:3]) + "\n")
    source = open_source(str(growing))                 # recognised by its header
    assert isinstance(source, BeamSNRLineSource) and source.band == "snr"
    first = source.read(timeout=1.0)
    with growing.open("a") as f:
        f.write("oops\n" + "\n".join(lines[3:]) + "\n")
    rest = [source.read(timeout=1.0) for _ in range(len(log.t) - 1)]
    assert [p.t for p in [first, *rest] if p is not None] == list(log.t)
    np.testing.assert_array_equal(first.x, log.snr[0])
    assert source.received == len(log.t) and source.rejected == 1 and "line" in source.last_error
    assert source.read(timeout=0.05) is None
    source.close()


def _looped_pcap(source: Path, out: Path, packets: int, spacing_s: float) -> None:
    """The capture's frames cycled into a longer pcap, one every ``spacing_s`` seconds (the real
    Nexmon example holds 4 packets over 0.1 ms: too short for a clip)."""
    import struct

    data = source.read_bytes()
    record = struct.Struct("<IIII")
    frames, pos = [], 24
    while pos < len(data):
        _, _, length, _ = record.unpack_from(data, pos)
        frames.append(data[pos + 16:pos + 16 + length])
        pos += 16 + length
    body = bytearray(data[:24])
    for k in range(packets):
        t = 1_700_000_000 + k * spacing_s
        frame = frames[k % len(frames)]
        body += record.pack(int(t), int(round((t % 1) * 1e6)), len(frame), len(frame)) + frame
    out.write_bytes(bytes(body))


@needs_real
def test_live_captions_a_real_nexmon_capture_replayed_over_udp(tmp_path):
    """The issue's check: the real Nexmon capture, replayed over UDP on 127.0.0.1 into
    `wifisense live` with a tiny model trained on that shape, gives captions; packets keep
    their kernel receive times."""
    from test_caption_cli import SHRINK
    from wifisense.cli import main

    looped = tmp_path / "looped.pcap"
    _looped_pcap(NEXMON, looped, packets=300, spacing_s=0.01)
    store = tmp_path / "nexmon.h5"
    for k in range(6):
        side = "left" if k % 2 == 0 else "right"
        assert main(["-q", "ingest", "caption", "--rx", str(looped), "--caption", f"a person raises the {side} arm",
                     "--class", side, "--clip-rate", "50", "--seconds", "0.2", "--start", str(0.4 * k),
                     "--out", str(store)] + (["--append"] if k else [])) == 0
    assert main(["-q", "split", str(store), "--ratios", "0.5,0.25,0.25"]) == 0
    sets = [a for key, value in SHRINK.items() for a in ("--set", f"{key}={json.dumps(value)}")]
    assert main(["-q", "caption", "train", "--data", str(store), "--run", str(tmp_path / "run"), "--baseline",
                 "csi-lm", "--max-steps", "1", "--batch-size", "2", "--device", "cpu", *sets]) == 0
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    live = subprocess.Popen([sys.executable, "-m", "wifisense.cli", "live", "--source", f"udp://127.0.0.1:{port}",
                             "--chip", "4358", "--bw", "80", "--model", str(tmp_path / "run"), "--seconds", "12",
                             "--hop", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert live.stderr.readline().startswith("[live] reading")      # the model is loaded
    from wifisense.live.replay import replay

    assert replay(looped, to=f"udp://127.0.0.1:{port}", speed=1.0)["sent"] == 300
    out, err = live.communicate(timeout=120)
    assert live.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    captioned = [line for line in lines if "caption" in line and "error" not in line]
    assert captioned and all(isinstance(line["caption"], str) for line in captioned)
    assert lines[-1]["sources"][f"udp://127.0.0.1:{port}"]["received"] == 300
    # packets kept their spacing (kernel receive times), so a window holds about 1 s of them
    assert 60 <= captioned[-1]["sources"][f"udp://127.0.0.1:{port}"]["packets"] <= 140


def test_a_quiet_source_never_holds_up_a_busy_one():
    """While one source has packets, the loop looks at the others without waiting: a beam-SNR
    log at a few sweeps per second must not cap a CSI source at 1/timeout packets per second."""
    from wifisense.live.monitor import monitor
    from wifisense.live.sources import Packet

    class Busy:
        name, band, dtype, received, rejected, ended, subcarriers = "busy", "csi", np.complex64, 0, 0, False, None

        def read(self, timeout):
            if self.received == 3000:
                self.ended = True
                return None
            self.received += 1
            return Packet(self.received * 1e-3, np.ones((4, 1, 1), np.complex64), time.monotonic())

        def close(self):
            pass

    class Quiet:
        name, band, dtype, received, rejected, ended, subcarriers = "quiet", "snr", np.float32, 0, 0, True, None
        waits: list = []

        def read(self, timeout):
            self.waits.append((timeout, busy.ended))
            return None

        def close(self):
            pass

    busy, quiet = Busy(), Quiet()
    out = io.StringIO()
    totals = monitor([busy, quiet], window=1.0, hop=10.0, seconds=60, out=out, err=io.StringIO())
    assert totals["received"] == 3000
    assert all(timeout == 0.0 for timeout, busy_done in quiet.waits if not busy_done)
    assert json.loads(out.getvalue().splitlines()[-1])["sources"]["busy"]["packets"] == 1000   # the last 1 s


@needs_real
def test_a_malformed_esp32_line_is_skipped_and_counted_not_fatal(tmp_path):
    from wifisense.live.sources import Esp32LineSource

    rows = [line for line in ESP32.read_text().splitlines() if line.startswith("CSI_DATA")]
    path = tmp_path / "log.csv"
    path.write_text(rows[0] + "\n" + rows[1][:60] + "\n" + rows[1] + "\n")    # a row cut short in the middle
    source = Esp32LineSource(str(path))
    packets = [source.read(timeout=0.5) for _ in range(3)]
    assert sum(p is not None for p in packets) == 2 and source.rejected == 1
    assert "line 2" in source.last_error
    source.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="named FIFOs opened read-write: Linux")
def test_a_named_fifo_opened_before_its_writer_waits_for_it(tmp_path):
    """log_to_file into a FIFO may start after wifisense live, and restart: the source waits."""
    import os

    from wifisense.live.sources import open_source

    fifo = tmp_path / "csi.fifo"
    os.mkfifo(fifo)
    source = open_source(f"snr:{fifo}")
    assert source.read(timeout=0.1) is None and not source.ended      # no writer yet: not the end
    for lines in (["t,beam_0", "0.0,1.5"], ["1.0,2.5"]):               # a writer, then a second one
        with open(fifo, "w") as writer:
            writer.write("\n".join(lines) + "\n")
        packet = source.read(timeout=1.0)
        assert packet is not None and packet.t == float(lines[-1].split(",")[0]) and not source.ended
    source.close()


@pytest.mark.parametrize("name,fmt", [("atheros_ath_csi_1.dat", "atheros"), ("picoscenes_iwl5300_example.csi", "picoscenes")])
def test_a_growing_atheros_or_picoscenes_log_is_followed_as_the_file_reader_reads_it(tmp_path, name, fmt):
    """The log replayed into a file (as its tool writes it) and followed while it grows gives
    the packets read_csi gives, in order; its format comes from what the file holds."""
    from wifisense.live.replay import replay
    from wifisense.live.sources import GrowingCaptureSource, open_source

    capture = REAL / name
    if not capture.is_file():
        pytest.skip("real captures not in ../shared")
    recording = read_csi(capture)
    log = tmp_path / ("grow.dat" if fmt == "atheros" else "grow.csi")
    data = capture.read_bytes()
    log.write_bytes(data[:len(data) // 3])            # the tool has written a third, cut mid-record
    source = open_source(str(log))
    assert isinstance(source, GrowingCaptureSource) and source.format.name == fmt
    packets = []
    while (p := source.read(timeout=0.05)) is not None:
        packets.append(p)
    with log.open("ab") as f:                          # the rest arrives
        f.write(data[len(data) // 3:])
    while (p := source.read(timeout=0.2)) is not None:
        packets.append(p)
    assert len(packets) == recording.csi.shape[0] and source.rejected == 0
    np.testing.assert_allclose([p.t for p in packets], recording.timestamps, atol=1e-9)
    np.testing.assert_array_equal(np.stack([p.x for p in packets]), recording.csi)
    source.close()
    # replay writes the records at their recorded spacing; a loop moves an Atheros clock on
    out = tmp_path / f"replayed_{name}"
    sent = replay(capture, to=str(out), speed=0, loop=2 if fmt == "atheros" else 1)
    again = read_csi(out)
    assert again.csi.shape[0] == recording.csi.shape[0] * (2 if fmt == "atheros" else 1)
    if fmt == "atheros":
        assert np.all(np.diff(again.timestamps) > 0) and sent["sent"] > 0
    else:
        with pytest.raises(ConfigError, match="would repeat its clock"):
            replay(capture, to=str(tmp_path / "x.csi"), speed=0, loop=2)
