"""Reliability under races, full disks, kills and special files: concurrent store appenders
lose nothing, a capture swapped during reads never crashes the process, a full disk leaves
the old store and no temporary file, temporaries of killed writers are cleaned up, and
pipes / devices / directories are refused by name instead of hanging or reading forever."""

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from wifisense.errors import CaptureError, OutputError
from wifisense.io import store
from wifisense.io.atomic import atomic_write_text, remove_stale_temporaries

REAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=_env())


def _tiny_caption(tag: str, n: int = 1):
    from wifisense.io.schema import CaptionDataset

    rng = np.random.default_rng(sum(tag.encode()))
    csi = (rng.standard_normal((n, 3, 4, 3, 5)) + 1j * rng.standard_normal((n, 3, 4, 3, 5))).astype(np.complex64)
    return CaptionDataset(
        csi=csi, rx_valid=np.ones((n, 3), bool), class_id=np.zeros(n, np.int32),
        captions=[[f"{tag} clip {i}"] for i in range(n)], class_names=["wave"],
        mirror_of=np.array([0], np.int32), subcarriers=np.arange(5, dtype=np.int32),
        sample_rate_hz=100.0, clip_seconds=0.04, rx_positions=np.zeros((3, 3), np.float32),
        tx_position=np.zeros(3, np.float32), splits={"train": np.arange(n)})


# ------------------------------------------------------------------ concurrent appenders


APPENDER = """
import sys, time
sys.path.insert(0, {tests!r})
from test_reliability import _tiny_caption
from wifisense.io.store import append_caption_clips
start = float(sys.argv[1])
while time.time() < start:
    time.sleep(0.005)
for k in range(3):
    append_caption_clips({path!r}, _tiny_caption(f"writer{{sys.argv[2]}}-batch{{k}}", n=2))
"""


def test_three_concurrent_appenders_keep_every_clip(tmp_path):
    path = tmp_path / "c.h5"
    store.write_caption_store(path, _tiny_caption("base", n=2))
    code = APPENDER.format(tests=str(Path(__file__).parent), path=str(path))
    env = _env()
    start = time.time() + 4.0  # all three past their imports before the first append
    procs = [subprocess.Popen([sys.executable, "-c", code, str(start), str(w)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(3)]
    for p in procs:
        _out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    ds = store.read_caption_store(path, load_frames=False)
    captions = sorted(c[0] for c in ds.captions)
    expected = sorted([f"base clip {i}" for i in range(2)]
                      + [f"writer{w}-batch{k} clip {i}" for w in range(3) for k in range(3) for i in range(2)])
    assert captions == expected  # 2 + 3 writers x 3 batches x 2 clips, none lost
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# ------------------------------------------------------------------ capture swapped during reads


def _crashing_picoscenes_variant(data: bytes) -> bytes:
    """Bit flips in the first 4 KiB that make csiread.Picoscenes crash the process when
    it is given them unchecked (found by fuzzing csiread directly)."""
    out = bytearray(data)
    rng = np.random.default_rng(0)
    for _ in range(8):
        k = int(rng.integers(0, min(len(out), 4096)))
        out[k] ^= 1 << int(rng.integers(0, 8))
    return bytes(out)


READER = """
import sys
from wifisense.errors import CaptureError
from wifisense.io import read_csi
ok = refused = 0
for _ in range(int(sys.argv[2])):
    try:
        read_csi(sys.argv[1])
        ok += 1
    except CaptureError:
        refused += 1
print(ok, refused)
"""


def test_capture_swapped_during_reads_never_crashes(tmp_path):
    source = REAL_DIR / "picoscenes_iwl5300_example.csi"
    if not source.is_file():
        pytest.skip(f"real capture {source} is missing (expected in ../shared/data/real/)")
    good, bad = source.read_bytes(), _crashing_picoscenes_variant(source.read_bytes())
    path = tmp_path / "live.csi"
    path.write_bytes(good)
    versions = [tmp_path / "good.csi", tmp_path / "bad.csi"]
    versions[0].write_bytes(good)
    versions[1].write_bytes(bad)
    stop = threading.Event()

    def swap():  # what log rotation or a tool rewriting its capture does
        k = 0
        while not stop.is_set():
            tmp = tmp_path / f".swap{k % 2}"
            tmp.write_bytes(versions[k % 2].read_bytes())
            os.replace(tmp, path)
            k += 1

    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    try:
        result = subprocess.run([sys.executable, "-c", READER, str(path), "60"], capture_output=True,
                                text=True, timeout=300, env=_env())
    finally:
        stop.set()
        swapper.join()
    assert result.returncode == 0, f"reader died with {result.returncode}: {result.stderr[-2000:]}"
    ok, refused = map(int, result.stdout.split())
    assert ok + refused == 60


# ------------------------------------------------------------------ full disk


@pytest.fixture
def small_tmpfs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, timeout=30)


def test_full_disk_keeps_the_old_store_and_leaves_no_temporary(small_tmpfs):
    from test_store import make_multiband

    path = small_tmpfs / "m.h5"
    store.write_multiband_store(path, make_multiband())
    before = path.read_bytes()
    big = make_multiband(nc=20000)  # ~4 MiB of CSI: more than the 1 MiB file system holds
    with pytest.raises(OutputError, match="not enough free space"):
        store.write_multiband_store(path, big, overwrite=True)
    assert path.read_bytes() == before
    assert [p.name for p in small_tmpfs.iterdir() if p.name.endswith(".tmp")] == []
    # the CLI says it in one line, exit code 2, no traceback
    result = _run_python(f"""
        import sys
        from wifisense.cli import main
        sys.exit(main(["simulate", "trajectories", "--out", {str(path)!r}, "--duration", "600",
                       "--overwrite", "-q"]))
    """)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "not enough free space" in result.stderr
    assert path.read_bytes() == before
    assert [p.name for p in small_tmpfs.iterdir() if p.name.endswith(".tmp")] == []


def test_write_error_inside_a_write_is_one_output_error(small_tmpfs):
    path = small_tmpfs / "notes.txt"
    path.write_text("old")
    with pytest.raises(OutputError, match="No space left on device"):
        atomic_write_text(path, "x" * (2 << 20))
    assert path.read_text() == "old"
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["notes.txt"]


# ------------------------------------------------------------------ killed writers, bad targets


def test_temporary_of_a_killed_writer_is_removed_on_the_next_write(tmp_path):
    path = tmp_path / "m.h5"
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stale = tmp_path / f".m.h5.{victim.pid}.abc123.h5.tmp"
    stale.write_bytes(b"half a store")
    live = tmp_path / f".m.h5.{os.getppid()}.def456.h5.tmp"  # a running writer's: kept
    live.write_bytes(b"in progress")
    assert remove_stale_temporaries(path, ".h5.tmp") == []  # the writer still runs
    victim.kill()  # kill -9
    victim.wait()
    from test_store import make_multiband

    store.write_multiband_store(path, make_multiband())
    assert not stale.exists()
    assert live.exists()


def test_a_directory_as_output_is_one_clear_error(tmp_path):
    from test_store import make_multiband

    (tmp_path / "out").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        store.write_multiband_store(tmp_path / "out", make_multiband(), overwrite=True)
    with pytest.raises(OutputError, match="is a directory"):
        atomic_write_text(tmp_path / "out", "text")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_folder_is_one_clear_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="cannot write"):
            atomic_write_text(folder / "x.txt", "text")
    finally:
        folder.chmod(0o700)


# ------------------------------------------------------------------ special files


def test_fifo_and_devices_are_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe.dat"
    os.mkfifo(fifo)
    code = f"""
        from wifisense.errors import CaptureError
        from wifisense.io import read_csi
        from wifisense.io.inspect import summarise_file
        from wifisense.io.logs import read_beam_snr_csv
        for path in ({str(fifo)!r}, "/dev/zero"):
            for call in (read_csi, summarise_file, read_beam_snr_csv):
                try:
                    call(path)
                except CaptureError as exc:
                    print(exc)
                else:
                    raise SystemExit(f"{{call.__name__}} read {{path}}")
    """
    result = _run_python(code, timeout=60)  # a hang is a timeout, an endless read a MemoryError
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 6 and all("not a regular file" in line for line in lines), lines


def test_a_directory_as_capture_is_refused(tmp_path):
    from wifisense.io import read_csi

    with pytest.raises(CaptureError, match="is a directory"):
        read_csi(tmp_path)


# ------------------------------------------------------------------ stores that pull in other files


@pytest.mark.parametrize("kind", ["external_link", "external_storage", "virtual"])
def test_stores_that_read_other_files_are_refused(tmp_path, kind):
    import h5py

    from test_store import make_multiband
    from wifisense.errors import StoreError
    from wifisense.io.inspect import summarise_file
    from wifisense.io.validate import validate_store

    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["pose/xy"] = np.zeros((30, 2), np.float32)
    raw = tmp_path / "secret.bin"
    np.zeros((30, 2), np.float32).tofile(raw)
    path = tmp_path / "m.h5"
    store.write_multiband_store(path, make_multiband())
    with h5py.File(path, "r+") as f:
        del f["pose/xy"]
        if kind == "external_link":
            f["pose/xy"] = h5py.ExternalLink(str(secret), "/pose/xy")
        elif kind == "external_storage":
            f["pose"].create_dataset("xy", shape=(30, 2), dtype=np.float32, external=[(str(raw), 0, 240)])
        else:
            layout = h5py.VirtualLayout(shape=(30, 2), dtype=np.float32)
            layout[:] = h5py.VirtualSource(str(secret), "pose/xy", shape=(30, 2))
            f["pose"].create_virtual_dataset("xy", layout)
    with pytest.raises(StoreError, match="/pose/xy.*(external|virtual)"):
        store.read_multiband_store(path)
    with pytest.raises(StoreError, match="/pose/xy"):
        summarise_file(path)
    assert [p.field for p in validate_store(path)] == ["/pose/xy"]  # validate names it too


# ------------------------------------------------------------------ late damage, preset names


@pytest.mark.parametrize("name", ["intel5300_example.dat", "atheros_ath_csi_1.dat",
                                  "nexmon_bcm4358_example.pcap", "picoscenes_iwl5300_example.csi",
                                  "esp32_example_csi.csv"])
def test_damage_after_the_first_records_is_a_capture_error(tmp_path, name):
    """Auto detection looks at the first records only; damage further on must still end in
    a CaptureError (it used to escape as the internal "not this format" exception)."""
    from wifisense.io import read_csi

    source = REAL_DIR / name
    if not source.is_file():
        pytest.skip(f"real capture {source} is missing (expected in ../shared/data/real/)")
    data = source.read_bytes()
    for k in range(12):
        damaged = bytearray(data)
        pos = len(damaged) // 2 + k * 37
        damaged[pos:pos + 8] = b"\xde\xad\xbe\xef" * 2
        path = tmp_path / f"{k}{source.suffix}"
        path.write_bytes(bytes(damaged))
        try:
            read_csi(path)
        except CaptureError as exc:
            assert str(path) in str(exc)


def test_a_preset_name_is_the_preset_even_beside_a_folder_of_that_name(tmp_path, monkeypatch):
    from wifisense.caption.config import load_caption_config
    from wifisense.track.config import load_track_config

    expected = load_track_config("tiny"), load_caption_config("tiny")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny").mkdir()  # used to give "tiny: config file not found"
    assert (load_track_config("tiny"), load_caption_config("tiny")) == expected
    (tmp_path / "mine.json").write_text("{}")
    load_track_config("mine.json")  # a path is still a path


# ------------------------------------------------------------------ ingest input checks


def test_manifest_paths_stay_inside_its_folder_and_extra_cells_are_named(tmp_path):
    from wifisense.io.ingest import read_manifest

    inside = tmp_path / "data"
    inside.mkdir()
    manifest = inside / "m.csv"
    for cell in ("../elsewhere.dat", "/etc/passwd", "/no/such/file.dat", "sub/../../x.dat"):
        manifest.write_text(f"rx,caption\n{cell},a person waves\n")
        with pytest.raises(CaptureError, match="row 2: the rx path .* points outside the manifest's folder"):
            read_manifest(manifest)
    manifest.write_text("rx,caption\nclip.dat;-,a person waves\n")
    (spec,) = read_manifest(manifest)
    assert spec.receivers == [str(inside / "clip.dat"), None]
    manifest.write_text("rx,caption\n../x.dat,a person waves\n")
    (spec,) = read_manifest(manifest, allow_outside=True)
    assert spec.receivers == [str(inside / "../x.dat")]
    manifest.write_text("rx,caption\nclip.dat,waves,left hand\n")
    with pytest.raises(CaptureError, match="row 2: 1 more cell"):
        read_manifest(manifest)


@pytest.mark.parametrize("option,value,words", [
    ("--seconds", "nan", "--seconds must be a finite number"),
    ("--seconds", "inf", "--seconds must be a finite number"),
    ("--seconds", "1e7", "would need"),
    ("--clip-rate", "inf", "--clip-rate must be a finite number"),
    ("--start", "nan", "--start must be a finite number"),
])
def test_caption_ingest_refuses_impossible_clip_options(tmp_path, capsys, option, value, words):
    from wifisense.cli import main

    capture = REAL_DIR / "intel5300_example.dat"
    if not capture.is_file():
        pytest.skip(f"real capture {capture} is missing")
    args = ["ingest", "caption", "--rx", str(capture), "--caption", "a person waves", "--packet-rate", "20",
            "--out", str(tmp_path / "c.h5"), option, value]
    if option != "--clip-rate":
        args += ["--clip-rate", "8"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "c.h5").exists()


@pytest.mark.parametrize("extra,words", [
    (["--snr-offset", "nan"], "--snr-offset must be a finite"),
    (["--positions-offset", "inf"], "--positions-offset must be a finite"),
    (["--room", "nan", "0", "5", "5"], "--room must be four finite"),
    (["--room", "5", "0", "0", "5"], "X1 > X0"),
    (["--ap-position", "0", "0", "inf"], "--ap-position must be three finite"),
])
def test_multiband_ingest_refuses_values_validate_would_reject(tmp_path, capsys, extra, words):
    from wifisense.cli import main
    from wifisense.io.logs import write_beam_snr_csv, write_positions_csv

    capture = REAL_DIR / "intel5300_example.dat"
    if not capture.is_file():
        pytest.skip(f"real capture {capture} is missing")
    write_beam_snr_csv(tmp_path / "snr.csv", np.arange(5) * 0.1, np.ones((5, 3)))
    write_positions_csv(tmp_path / "pos.csv", np.arange(5) * 0.1, np.ones((5, 2)))
    args = ["ingest", "multiband", "--csi", str(capture), "--snr", str(tmp_path / "snr.csv"),
            "--positions", str(tmp_path / "pos.csv"), "--out", str(tmp_path / "m.h5"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "m.h5").exists()


# ------------------------------------------------------------------ CSV logs


@pytest.mark.parametrize("text,words", [
    ("0.0,1,2\n0.1,3,4\n", "has no header line"),
    ("t,b0\n1_000,3\n", "'1_000' is not a number"),
    ("t,b0\n\uff11,3\n", "is not a number"),                 # full-width digit one
    ("t,b0\n\u0661\u0662,3\n", "is not a number"),           # Arabic-Indic twelve
    ("t,b0,b0\n0,1,2\n", "more than once"),
    ("t,x,z\n0,1,2\n", "no y column"),
    ("t,b0\n0,1\n0,2\n", r"timestamp 0\.0 is not after the previous one \(0\.0\)"),
])
def test_beam_snr_csv_problems_are_named(tmp_path, text, words):
    from wifisense.io.inspect import summarise_file
    from wifisense.io.logs import read_beam_snr_csv

    path = tmp_path / "snr.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CaptureError, match=words):
        read_beam_snr_csv(path) if "no y column" not in words else summarise_file(path)
    with pytest.raises(CaptureError) as inspected:  # inspect and ingest agree
        summarise_file(path)
    assert "np.float64" not in str(inspected.value)


def test_positions_csv_refuses_a_duplicate_column(tmp_path):
    from wifisense.io.logs import read_positions_csv

    path = tmp_path / "pos.csv"
    path.write_text("t,x,y,x\n0,1,2,3\n")
    with pytest.raises(CaptureError, match="'x' more than once"):
        read_positions_csv(path)


# ------------------------------------------------------------------ commands validate their store


def test_caption_train_refuses_overlapping_splits_before_training(tmp_path, capsys):
    import h5py

    from test_store import make_caption
    from wifisense.cli import main

    path = tmp_path / "c.h5"
    store.write_caption_store(path, make_caption())
    with h5py.File(path, "a") as f:
        train = f["splits/train"][()]
        del f["splits/val"]
        f["splits/val"] = train  # train = val
    assert main(["caption", "train", "--data", str(path), "--run", str(tmp_path / "run"), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "/splits/val" in err and "disjoint" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["train", "compare"])
def test_track_commands_refuse_nan_csi_before_training(tmp_path, capsys, command):
    import h5py

    from test_store import make_multiband
    from wifisense.cli import main

    path = tmp_path / "m.h5"
    store.write_multiband_store(path, make_multiband())
    with h5py.File(path, "a") as f:
        f["csi/x"][7, 0, 0, 0] = complex(np.nan, 0)
    out = ["--run", str(tmp_path / "run")] if command == "train" else ["--out", str(tmp_path / "run")]
    assert main(["track", command, "--data", str(path), *out, "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "/csi/x" in err and "non-finite" in err and "Traceback" not in err


# ------------------------------------------------------------------ skipped records, trailing bytes


def _nexmon_packets(data: bytes) -> list[tuple[int, int]]:
    """(record offset, incl_len) of every packet of a little-endian pcap."""
    pos, out = 24, []
    while pos < len(data):
        incl = int.from_bytes(data[pos + 8:pos + 12], "little")
        out.append((pos, incl))
        pos += 16 + incl
    return out


def test_nexmon_packets_with_trailing_bytes_are_read_and_counted(tmp_path):
    from wifisense.io import read_csi

    source = REAL_DIR / "nexmon_bcm4358_example.pcap"
    if not source.is_file():
        pytest.skip(f"real capture {source} is missing")
    data = bytearray(source.read_bytes())
    pos, incl = _nexmon_packets(bytes(data))[1]
    data[pos + 16 + incl:pos + 16 + incl] = b"\x00\x01\x02\x03"   # 4 bytes after packet 1's CSI
    for offset in (8, 12):                                         # incl_len and orig_len
        data[pos + offset:pos + offset + 4] = (incl + 4).to_bytes(4, "little")
    path = tmp_path / "trailing.pcap"
    path.write_bytes(bytes(data))
    original, extended = read_csi(source), read_csi(path)
    assert extended.csi.shape == original.csi.shape                # used to be refused: [256, 257] bins
    np.testing.assert_array_equal(extended.csi, original.csi)
    assert extended.source["packets_with_trailing_bytes"] == 1
    assert extended.source["skipped_records"] == 0


def test_skipped_records_are_counted_and_strict_refuses_them(tmp_path, caplog):
    from wifisense.io import read_csi
    from wifisense.io.inspect import summarise_file

    source = REAL_DIR / "nexmon_bcm4358_example.pcap"
    if not source.is_file():
        pytest.skip(f"real capture {source} is missing")
    data = bytearray(source.read_bytes())
    pos, _incl = _nexmon_packets(bytes(data))[1]
    data[pos + 16 + 6 + 5] ^= 0xFF   # a source-MAC byte of packet 1: csiread drops the packet
    path = tmp_path / "flipped.pcap"
    path.write_bytes(bytes(data))
    recording = read_csi(path)
    assert recording.csi.shape[0] == 3
    assert (recording.source["records"], recording.source["skipped_records"]) == (4, 1)
    assert "1 of 4 records could not be read" in caplog.text
    assert summarise_file(path)["skipped_records"] == 1
    with pytest.raises(CaptureError, match="1 of 4 records could not be read"):
        read_csi(path, strict=True)
    esp = REAL_DIR / "esp32_example_csi.csv"
    text = esp.read_text()
    cut = text.index("CSI_DATA", 100)
    damaged = tmp_path / "esp.csv"
    damaged.write_text(text[:cut] + "XSI_DATA" + text[cut + 8:])
    assert read_csi(damaged).source["skipped_records"] == 1
    with pytest.raises(CaptureError, match="could not be read"):
        read_csi(damaged, strict=True)
