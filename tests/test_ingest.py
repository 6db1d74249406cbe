"""``wifisense ingest`` on real captures: caption clips from three receivers (command line and
manifest, frames, append) and multi-band streams, each checked by the store validator."""

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from wifisense.errors import CaptureError, StoreError
from wifisense.io import ingest
from wifisense.io.store import read_caption_store, read_multiband_store
from wifisense.io.validate import validate_store

REAL = Path(__file__).resolve().parent / ".." / ".." / "shared" / "data" / "real"
INTEL_A = REAL / "intel5300_example.dat"            # 26 packets over 2.0 s, NIC clock
INTEL_B = REAL / "intel5300_log_all_csi_6_7_6.dat"  # 29 packets, no usable clock: needs a rate
PICO = REAL / "picoscenes_iwl5300_example.csi"      # Intel 5300 via PicoScenes, 2x2 antennas

pytestmark = pytest.mark.skipif(not INTEL_A.exists() or not INTEL_B.exists(),
                                reason=f"real captures not found in {REAL}")


def run_cli(argv: list[str]) -> int:
    """Run the real console entry point (no fallback: a broken CLI must fail this test)."""
    from wifisense.cli import main

    return main(argv)


def three_receivers():
    return [str(INTEL_A), str(INTEL_B), str(INTEL_A)]


def test_three_real_intel_receivers_make_a_valid_clip(tmp_path):
    from wifisense.io.readers import read_csi

    out = tmp_path / "clips.h5"
    code = run_cli(["ingest", "caption", "--rx", *three_receivers(), "--packet-rate", "20",
                    "--clip-rate", "10", "--seconds", "1.2", "--caption", "a person raises the left arm",
                    "--caption", "the left arm goes up", "--class", "raise left arm",
                    "--mirror-class", "raise right arm", "--split", "train", "--out", str(out)])
    assert code == 0
    assert validate_store(out) == []
    ds = read_caption_store(out)
    assert ds.csi.shape == (1, 3, 12, 9, 30)           # [N, R, T, A = 3x3, S]
    assert ds.rx_valid.all() and ds.gap_mask.shape == (1, 3, 12)
    assert ds.sample_rate_hz == 10.0 and ds.clip_seconds == pytest.approx(1.2)
    assert ds.captions == [["a person raises the left arm", "the left arm goes up"]]
    assert ds.class_names == ["raise left arm", "raise right arm"]
    assert list(ds.mirror_of) == [1, 0] and list(ds.class_id) == [0]
    assert list(ds.splits["train"]) == [0]
    # grid time 0 is each receiver's first packet; antenna pair a = rx * Ntx + tx
    first = read_csi(INTEL_A).csi[0]                   # [S, Nrx, Ntx]
    np.testing.assert_array_equal(ds.csi[0, 0, 0], first.reshape(30, 9).T)
    np.testing.assert_array_equal(ds.csi[0, 2], ds.csi[0, 0])   # same capture twice
    np.testing.assert_array_equal(ds.subcarriers, read_csi(INTEL_A).subcarriers)


def test_nearest_packet_resampling_and_gaps():
    from wifisense.io.readers import read_csi

    rec = read_csi(INTEL_A)
    # 2.0 s of packets on a 4 s grid: the end has no packets near and must be a gap
    grid = ingest.ClipGrid(rate_hz=5.0, num_steps=20)
    csi, gaps, valid = ingest.align_receivers([rec, None], grid)
    t = rec.timestamps - rec.timestamps[0]
    distance = np.abs(t[None, :] - grid.times()[:, None])
    nearest = distance.argmin(axis=1)
    np.testing.assert_array_equal(csi[0], rec.csi[nearest].reshape(20, 30, 9).transpose(0, 2, 1))
    np.testing.assert_array_equal(gaps[0], distance.min(axis=1) > 2.5 / grid.rate_hz)
    assert gaps[0, -5:].all() and not gaps[0, :10].any()
    assert list(valid) == [True, False] and gaps[1].all() and not csi[1].any()


def test_default_grid_covers_the_shortest_receiver():
    recs = ingest.read_receivers(three_receivers(), rate_hz=20)
    grid = ingest.choose_grid(recs)
    assert grid.rate_hz == pytest.approx(np.median([r.rate_hz for r in recs]), rel=1e-2)
    shortest = min(r.duration_s for r in recs)
    assert grid.times()[-1] <= shortest < grid.times()[-1] + 1 / grid.rate_hz


def test_mismatched_receivers_name_the_file_and_both_shapes(tmp_path):
    if not PICO.exists():
        pytest.skip(f"{PICO} not found")
    with pytest.raises(CaptureError) as exc:
        ingest.ingest_caption_clips([ingest.ClipSpec([str(INTEL_A), str(PICO)], ["x"])],
                                    tmp_path / "c.h5", progress=False)
    assert exc.value.path == str(PICO)
    assert "[30, 2, 2]" in str(exc.value) and "[30, 3, 3]" in str(exc.value)
    assert not (tmp_path / "c.h5").exists()


def _write_frames(folder: Path, count: int) -> None:
    from PIL import Image

    folder.mkdir()
    for i in range(count):
        pixels = np.zeros((30, 40, 3), np.uint8)
        pixels[:, :, 0] = i * 20                       # frame number in the red channel
        Image.fromarray(pixels).save(folder / f"frame_{i:03d}.png")


def test_manifest_with_frames_missing_receiver_and_append(tmp_path):
    _write_frames(tmp_path / "clip0", 10)
    _write_frames(tmp_path / "clip1", 4)
    manifest = tmp_path / "clips.csv"
    manifest.write_text(
        "rx1,rx2,rx3,caption,class,mirror,frames,split\n"
        f"{INTEL_A},{INTEL_B},{INTEL_A},waves the left hand|left hand waves,wave left,wave right,clip0,train\n"
        f"{INTEL_A},-,{INTEL_A},waves the right hand,wave right,,clip1,test\n")
    out = tmp_path / "clips.h5"
    args = ["ingest", "caption", "--manifest", str(manifest), "--packet-rate", "20", "--clip-rate", "8",
            "--seconds", "1", "--num-frames", "3", "--frame-size", "16", "--out", str(out)]
    assert run_cli(args) == 2  # the captures sit outside the manifest's folder
    assert not out.exists()
    assert run_cli(args + ["--allow-outside"]) == 0
    assert validate_store(out) == []
    ds = read_caption_store(out)
    assert ds.csi.shape == (2, 3, 8, 9, 30) and ds.frames.shape == (2, 3, 16, 16, 3)
    assert ds.rx_valid.tolist() == [[True, True, True], [True, False, True]]
    assert ds.gap_mask[1, 1].all()
    assert ds.frames[0, :, 0, 0, 0].tolist() == [0, 80, 180]     # frames 0, 4 (4.5 rounded), 9
    assert ds.class_names == ["wave left", "wave right"] and list(ds.mirror_of) == [1, 0]
    assert [ds.class_names[c] for c in ds.class_id] == ["wave left", "wave right"]
    assert ds.captions[0] == ["waves the left hand", "left hand waves"]
    assert list(ds.splits["train"]) == [0] and list(ds.splits["test"]) == [1]

    # refuses to replace; --append takes rate and length from the store
    args = ["ingest", "caption", "--rx", *three_receivers(), "--packet-rate", "20",
            "--caption", "nods", "--class", "nod", "--frames", str(tmp_path / "clip1"),
            "--num-frames", "3", "--frame-size", "16", "--out", str(out)]
    assert run_cli(args) == 2
    assert run_cli(args + ["--append"]) == 0
    ds = read_caption_store(out)
    assert ds.csi.shape[:3] == (3, 3, 8) and ds.class_names[-1] == "nod"
    assert validate_store(out) == []


def test_video_frames_and_clear_error_without_imageio(tmp_path, monkeypatch):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not decoded here")
    monkeypatch.setitem(sys.modules, "imageio", None)
    monkeypatch.setitem(sys.modules, "imageio.v3", None)
    with pytest.raises(CaptureError, match="pip install imageio imageio-ffmpeg"):
        ingest.load_video(video, num_frames=2, size=8)

    frames = [np.full((20, 30, 3), 10 * i, np.uint8) for i in range(7)]
    fake_v3 = types.SimpleNamespace(imiter=lambda path: iter(frames))
    monkeypatch.setitem(sys.modules, "imageio", types.SimpleNamespace(v3=fake_v3))
    monkeypatch.setitem(sys.modules, "imageio.v3", fake_v3)
    out = ingest.load_video(video, num_frames=3, size=8)
    assert out.shape == (3, 8, 8, 3) and out.dtype == np.uint8
    assert out[:, 0, 0, 0].tolist() == [0, 30, 60]


def test_multiband_from_a_real_capture_and_generated_logs(tmp_path):
    from wifisense.io.logs import write_beam_snr_csv, write_positions_csv
    from wifisense.io.readers import read_csi

    rec = read_csi(INTEL_A)
    rng = np.random.default_rng(0)
    snr_t = np.cumsum(rng.uniform(0.1, 0.4, 8))
    snr = rng.normal(10, 2, (8, 5))
    pose_t = np.arange(25) * 0.1
    xy = np.c_[np.cos(pose_t), np.sin(pose_t)] + 2
    write_beam_snr_csv(tmp_path / "snr.csv", snr_t, snr)
    write_positions_csv(tmp_path / "pos.csv", pose_t, xy)
    offset = float(rec.timestamps[0]) - 0.05    # logs start 50 ms before the first packet
    out = tmp_path / "track.h5"
    assert run_cli(["ingest", "multiband", "--csi", str(INTEL_A), "--snr", str(tmp_path / "snr.csv"),
                    "--positions", str(tmp_path / "pos.csv"), "--snr-offset", str(offset),
                    "--positions-offset", str(offset), "--ap-position", "0", "0", "2.5",
                    "--beam-angles", "-40", "-20", "0", "20", "40", "--out", str(out)]) == 0
    assert validate_store(out) == []
    ds = read_multiband_store(out)
    assert ds.csi_x.shape == (26, 30, 3, 3) and ds.snr_x.shape == (8, 5) and ds.pose_xy.shape == (25, 2)
    np.testing.assert_array_equal(ds.csi_x, rec.csi)
    # one common origin: the positions' first sample; relative timing is kept
    assert ds.pose_t[0] == 0.0
    np.testing.assert_allclose(ds.csi_t, rec.timestamps - offset, atol=1e-9)
    np.testing.assert_allclose(ds.snr_t, snr_t, atol=1e-9)
    np.testing.assert_allclose(ds.room, [*xy.min(axis=0), *xy.max(axis=0)], rtol=1e-6)  # bounding box
    np.testing.assert_allclose(ds.snr_x, snr.astype(np.float32), rtol=1e-6)
    assert ds.attrs["beam_names"] == [f"beam_{m}" for m in range(5)]
    assert ds.pose_heading is None        # the positions CSV has no heading column
    assert run_cli(["ingest", "multiband", "--csi", str(INTEL_A), "--snr", str(tmp_path / "snr.csv"),
                    "--positions", str(tmp_path / "pos.csv"), "--out", str(out)]) == 2  # exists


def test_multiband_keeps_the_heading_column_wrapped(tmp_path):
    from wifisense.io.logs import write_beam_snr_csv, write_positions_csv
    from wifisense.io.store import write_multiband_store

    pose_t = np.arange(6) * 0.4
    heading = np.array([0.0, 1.0, np.pi, -np.pi, 4.0, -7.0])      # as a robot logs it, unwrapped
    write_positions_csv(tmp_path / "pos.csv", pose_t, np.c_[pose_t, pose_t], heading=heading)
    write_beam_snr_csv(tmp_path / "snr.csv", pose_t, np.ones((6, 2)))
    ds = ingest.multiband_from_captures(INTEL_A, tmp_path / "snr.csv", tmp_path / "pos.csv")
    wrapped = [0.0, 1.0, np.pi, np.pi, 4.0 - 2 * np.pi, -7.0 + 2 * np.pi]
    np.testing.assert_allclose(ds.pose_heading, wrapped, atol=1e-6)
    assert ds.pose_heading.dtype == np.float32
    out = write_multiband_store(tmp_path / "track.h5", ds)
    assert validate_store(out) == []
    np.testing.assert_array_equal(read_multiband_store(out).pose_heading, ds.pose_heading)


def test_multiband_carries_missing_beam_sectors_as_nan(tmp_path):
    from wifisense.io.logs import write_positions_csv

    # sweep 0.2 has no beam at all: dropped and counted; the other gaps stay missing (NaN)
    (tmp_path / "snr.csv").write_text("t,b0,b1\n0.0,10,\n0.1,nan,7\n0.2,,\n0.3,11,8\n")
    write_positions_csv(tmp_path / "pos.csv", np.arange(4) * 0.1, np.ones((4, 2)))
    out = tmp_path / "track.h5"
    assert run_cli(["ingest", "multiband", "--csi", str(INTEL_A), "--snr", str(tmp_path / "snr.csv"),
                    "--positions", str(tmp_path / "pos.csv"), "--out", str(out)]) == 0
    assert validate_store(out) == []
    ds = read_multiband_store(out)
    np.testing.assert_array_equal(ds.snr_x, [[10, np.nan], [np.nan, 7], [11, 8]])
    assert (ds.attrs["ingest"]["snr_missing_cells"], ds.attrs["ingest"]["snr_dropped_rows"]) == (2, 1)


def test_failed_ingest_leaves_the_store_unchanged(tmp_path):
    out = tmp_path / "c.h5"
    ingest.ingest_caption_clips([ingest.ClipSpec(three_receivers(), ["first"])], out,
                                hints={"rate_hz": 20}, progress=False)
    before = out.read_bytes()
    bad = [ingest.ClipSpec(three_receivers(), ["second"]),
           ingest.ClipSpec([str(INTEL_A), str(tmp_path / "missing.dat"), str(INTEL_A)], ["third"])]
    with pytest.raises(CaptureError):
        ingest.ingest_caption_clips(bad, out, hints={"rate_hz": 20}, append=True, progress=False)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".c.h5.lock", "c.h5"]
    with pytest.raises(StoreError, match="already exists"):
        ingest.ingest_caption_clips(bad[:1], out, hints={"rate_hz": 20}, progress=False)
