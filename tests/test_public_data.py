"""Public data set converters: tiny files written here in each data set's folder layout become
caption stores with captions from the labels, group columns and the data set's own splits."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from wifisense.cli import main
from wifisense.errors import ConfigError
from wifisense.io.splits import assign_splits
from wifisense.io.store import read_caption_store
from wifisense.io.validate import validate_store

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
INTEL = REAL / "intel5300_example.dat"


def _csi_har(root: Path, rows: int = 60) -> None:
    rng = np.random.default_rng(0)
    for split, users in (("train", (1, 2)), ("test", (3,))):
        for activity, written in (("walk", "walk"), ("liedown", "lie down")):
            folder = root / split / activity
            folder.mkdir(parents=True)
            for user in users:
                for sample in (1, 2):
                    values = rng.normal(300, 50, (rows + sample, 52)).round(2)
                    np.savetxt(folder / f"user_{user}_sample_{sample}_{written}_A.csv", values, delimiter=",",
                               fmt="%.2f")


def test_csi_har_layout_becomes_a_store_with_user_groups_and_its_own_splits(tmp_path):
    _csi_har(tmp_path / "data")
    store = tmp_path / "har.h5"
    assert main(["-q", "ingest", "public", "csi-har", "--path", str(tmp_path / "data"), "--out", str(store),
                 "--seconds", "0.5"]) == 0
    assert validate_store(store) == []
    ds = read_caption_store(store)
    assert ds.csi.shape == (12, 1, 50, 1, 52) and ds.sample_rate_hz == 100.0
    assert sorted(ds.class_names) == ["liedown", "walk"]
    assert set(ds.groups) == {"user", "sample"}
    assert sorted(np.unique(ds.groups["user"][ds.splits["test"]])) == [3]
    assert sorted(np.unique(ds.groups["user"][ds.splits["train"]])) == [1, 2]
    assert all(len(c) == 3 for c in ds.captions) and ds.captions[0][0].startswith("a person")
    # amplitude only: phase 0, the values as given, in the data subcarrier order
    first = np.loadtxt(tmp_path / "data/test/liedown/user_3_sample_1_lie down_A.csv", delimiter=",")
    row = int(np.flatnonzero((ds.groups["user"] == 3) & (ds.class_id == ds.class_names.index("liedown"))
                             & (ds.groups["sample"] == 1))[0])
    np.testing.assert_allclose(ds.csi[row, 0, :, 0].real, first[:50], rtol=1e-6)
    assert not ds.csi.imag.any() and ds.subcarriers.tolist()[:3] == [-28, -27, -26] and 7 not in ds.subcarriers
    assert ds.attrs["ingest"]["amplitude_only"] is True and ds.attrs["ingest"]["dataset"] == "csi-har"

    # a validation split from the training users, the data set's test user kept
    assert main(["-q", "split", str(store), "--keep", "test", "--by", "group:user", "--ratios", "0.5,0.5",
                 "--names", "train,val"]) == 0
    ds = read_caption_store(store, load_frames=False)
    users = {name: sorted(np.unique(ds.groups["user"][idx]).tolist()) for name, idx in ds.splits.items()}
    assert users["test"] == [3] and sorted(users["train"] + users["val"]) == [1, 2]
    with pytest.raises(ConfigError, match="--keep holdout: the store has no such split"):
        assign_splits(store, keep=("holdout",))


def test_csi_har_bad_rows_name_the_file_and_line(tmp_path, capsys):
    _csi_har(tmp_path / "data", rows=5)
    bad = tmp_path / "data/train/walk/user_1_sample_1_walk_A.csv"
    lines = bad.read_text().splitlines()
    lines[2] = lines[2].replace(",", ",x", 1)
    bad.write_text("\n".join(lines) + "\n")
    args = ["-q", "ingest", "public", "csi-har", "--path", str(tmp_path / "data"), "--out", str(tmp_path / "x.h5")]
    assert main(args) != 0
    assert "user_1_sample_1_walk_A.csv: line 3: 'x" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()      # nothing half-written
    assert main(args + ["--subset", "height"]) != 0
    assert "--subset does not apply to csi-har" in capsys.readouterr().err


@pytest.mark.skipif(not INTEL.is_file(), reason="real captures not in ../shared")
def test_wiar_layout_reads_intel_logs_and_drops_the_streams_they_do_not_carry(tmp_path, capsys):
    root = tmp_path / "WiAR"
    for height in (60, 120):
        folder = root / "height_factor_activity_data" / f"{height}_rawdata"
        folder.mkdir(parents=True)
        for activity in (1, 12):
            for sample in (1, 2):
                shutil.copyfile(INTEL, folder / f"csi_a{activity}_{sample}.dat")
    (root / "height_factor_activity_data" / "60_rawdata" / "notes.txt").write_text("not a log")
    store = tmp_path / "wiar.h5"
    assert main(["-q", "ingest", "public", "wiar", "--path", str(root), "--out", str(store), "--seconds", "0.2",
                 "--packet-rate", "50"]) == 0
    ds = read_caption_store(store, load_frames=False)
    assert sorted(ds.class_names) == ["horizontal arm wave", "walk"]
    assert ds.csi.shape[0] == 8 and set(ds.groups) == {"height_cm", "sample"}
    assert sorted(np.unique(ds.groups["height_cm"])) == [60, 120] and ds.splits == {}
    streams = ds.attrs["ingest"]["transmit_streams_used"]
    from wifisense.io.readers import read_csi
    recording = read_csi(INTEL)
    carried = np.flatnonzero(np.abs(recording.csi).reshape(-1, recording.csi.shape[-1]).max(0) > 0).tolist()
    assert streams == carried and ds.csi.shape[3] == recording.csi.shape[2] * len(carried)
    capsys.readouterr()
    assert main(["-q", "ingest", "public", "wiar", "--path", str(root), "--out", str(tmp_path / "d.h5"),
                 "--subset", "distance"]) != 0
    assert "no WiAR (Intel 5300) recordings found there" in capsys.readouterr().err


# ----------------------------------------------------------------------------- EPIC-CSU (localisation)

EPIC_POINTS = {  # (kind, location) -> (path, x, y, packets)
    ("ref", "204_1"): (1, 9.7, 5.6, 40), ("ref", "204_2"): (1, 10.3, 5.6, 30), ("test", "204_1"): (1, 9.6, 5.5, 12),
    ("ref", "A203_1"): (2, 58.2, 16.6, 25), ("test", "A203_1"): (2, 58.1, 17.5, 10)}


def _epic(root: Path) -> None:
    import openpyxl

    from capture_files import write_nexmon_pcap

    book = openpyxl.Workbook()
    book.remove(book.active)
    for kind in ("ref", "test"):
        for number in (1, 2):
            sheet = book.create_sheet(f"{kind}_coord_path{number}")
            sheet.append(["location", "x_coord", "y_coord"])
            for (k, location), (n, x, y, _) in EPIC_POINTS.items():
                if k == kind and n == number:
                    sheet.append([location, x, y])
    book.create_sheet("Sheet10")
    (root / "locations").mkdir(parents=True)
    book.save(root / "locations" / "location_coords.xlsx")
    k = np.arange(-32, 32)
    for i, ((kind, location), (_, x, _, packets)) in enumerate(EPIC_POINTS.items()):
        rng = np.random.default_rng(i)
        channel = 400 * (1 + 0.3 * np.cos(k / (4.0 + x / 10))) * np.exp(1j * 0.1 * k)
        rows = channel[None, :] * (1 + 0.05 * rng.standard_normal((packets, 64)))
        rows[:, (np.abs(k) >= 29) | (k == 0)] = 8000      # this firmware fills the DC and guard bins
        folder = root / "data" / kind
        folder.mkdir(parents=True, exist_ok=True)
        write_nexmon_pcap(folder / f"{kind}_{location}_{packets}.pcap", np.fft.ifftshift(rows, axes=1),
                          start_s=1_600_000_000.0 + 1000 * i)
    write_nexmon_pcap(root / "data" / "ref" / "lab_5000.pcap", np.fft.ifftshift(rows, axes=1))   # no coordinates


def test_epic_csu_layout_becomes_a_csi_only_localisation_store_with_its_own_splits(tmp_path, capsys):
    from wifisense.io.store import read_multiband_store

    _epic(tmp_path / "epic")
    store = tmp_path / "path1.h5"
    assert main(["-q", "ingest", "public", "epic-csu", "--path", str(tmp_path / "epic"), "--out", str(store)]) == 0
    out = capsys.readouterr().out
    assert "3 recordings (2 reference, 1 test" in out and "skipped 1 file(s) without coordinates" in out
    assert validate_store(store) == []
    ds = read_multiband_store(store)
    assert ds.snr_t is None and ds.csi_x.shape[1:] == (56, 1, 1)
    assert not np.isin([0, -29, 29, -32], ds.subcarriers).any() and np.isin([-28, -1, 1, 28], ds.subcarriers).all()
    # one recording per point, in order (reference first), 10 s apart, each as long as its packets span
    assert ds.segments.shape == (3, 2)
    np.testing.assert_allclose(np.diff(ds.segments, axis=1).ravel(), [3.9, 2.9, 1.1], atol=1e-5)
    np.testing.assert_allclose(ds.segments[1:, 0] - ds.segments[:-1, 1], 10.0)
    # the guard bins' fill is gone: the kept amplitudes are the channel's (about 400)
    assert 250 < np.abs(ds.csi_x).mean() < 550
    # positions held at each point; the test recording is the test split
    test_xy = ds.pose_xy[ds.splits["test"]]
    np.testing.assert_allclose(test_xy, np.tile([9.6, 5.5], (len(test_xy), 1)), atol=1e-5)
    np.testing.assert_allclose(np.unique(ds.pose_xy[ds.splits["train"]], axis=0), [[9.7, 5.6], [10.3, 5.6]], atol=1e-5)
    assert len(ds.splits["train"]) + len(ds.splits["test"]) == len(ds.pose_t)
    # --subset picks another path, --seconds shortens the reference recordings only
    other = tmp_path / "path2.h5"
    assert main(["-q", "ingest", "public", "epic-csu", "--path", str(tmp_path / "epic"), "--out", str(other),
                 "--subset", "path2", "--seconds", "1.05"]) == 0
    ds2 = read_multiband_store(other)
    np.testing.assert_allclose(np.diff(ds2.segments, axis=1).ravel(), [1.0, 0.9], atol=1e-5)
    assert np.allclose(ds2.pose_xy[ds2.splits["test"]], [58.1, 17.5])


def test_epic_csu_bad_input_is_named(tmp_path, capsys):
    import openpyxl

    _epic(tmp_path / "epic")
    root = str(tmp_path / "epic")
    assert main(["-q", "ingest", "public", "epic-csu", "--path", root, "--out", str(tmp_path / "x.h5"),
                 "--subset", "path7"]) != 0
    assert "path1, path2" in capsys.readouterr().err
    assert main(["-q", "ingest", "public", "epic-csu", "--path", root, "--out", str(tmp_path / "x.h5"),
                 "--packet-rate", "20"]) != 0
    assert "capture time" in capsys.readouterr().err
    workbook = tmp_path / "epic" / "locations" / "location_coords.xlsx"
    book = openpyxl.load_workbook(workbook)
    book["ref_coord_path1"]["B3"] = "n/a"
    book.save(workbook)
    assert main(["-q", "ingest", "public", "epic-csu", "--path", root, "--out", str(tmp_path / "x.h5")]) != 0
    err = capsys.readouterr().err
    assert "ref_coord_path1, row 3" in err and "location_coords.xlsx" in err
    workbook.unlink()
    assert main(["-q", "ingest", "public", "epic-csu", "--path", root, "--out", str(tmp_path / "x.h5")]) != 0
    assert "coordinate workbook is missing" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


# ----------------------------------------------------------------------------- stability-csi-har (ESP32 arrays)

STABILITY_PASS = {"rx_tx": [("SEATED_RX", 30), ("STANDING_UP_RX", 12), ("WALKING_TX", 25), ("TURN_TX", 10),
                            ("SITTING_DOWN_TX", 14), ("SEATED_TX", 20)],
                  "tx_rx": [("SEATED_TX", 22), ("STANDING_UP_TX", 12), ("WALKING_RX", 24), ("TURN_RX", 11),
                            ("SITTING_DOWN_RX", 15), ("SEATED_RX", 18)]}


def _stability(root: Path) -> None:
    """The labelled-array layout: ``[56, T]`` float amplitudes and a ``[T, 1]`` object array of labels
    (saved with pickle, as the data set's notebook writes them)."""
    rng = np.random.default_rng(0)
    for session, executions in ((1, (1, 2)), (3, (1,))):
        folder = root / "01_DATA" / "03_COLLECTED-DATASET" / "02_LABELLED" / f"D{session}"
        folder.mkdir(parents=True)
        for execution in executions:
            for direction, parts in STABILITY_PASS.items():
                labels = np.array([[label] for label, n in parts for _ in range(n)], dtype=object)
                x = rng.normal(30, 3, (56, len(labels))) + np.arange(len(labels))[None, :]   # frame index in x
                np.save(folder / f"e{execution:02d}_{direction}-x.npy", x)
                np.save(folder / f"e{execution:02d}_{direction}-y.npy", labels, allow_pickle=True)


def test_stability_layout_gives_one_clip_per_labelled_segment_with_sessions_as_splits(tmp_path):
    root = tmp_path / "stability-csi-har"
    _stability(root)
    store = tmp_path / "stab.h5"
    assert main(["-q", "ingest", "public", "stability-csi-har", "--path", str(root), "--out", str(store),
                 "--seconds", "0.1"]) == 0
    assert validate_store(store) == []
    ds = read_caption_store(store, load_frames=False)
    assert ds.csi.shape == (3 * 2 * 6, 1, 10, 1, 56) and ds.sample_rate_hz == 100.0
    assert len(ds.class_names) == 10 and set(ds.groups) == {"session", "execution", "direction"}
    # the sides are each other's mirror partners; captions name the side in words, not left/right
    names = list(ds.class_names)
    assert names[ds.mirror_of[names.index("walking_rx")]] == "walking_tx"
    walk = ds.captions[int(np.flatnonzero(ds.class_id == names.index("walking_tx"))[0])]
    assert all("by the transmitter" in c for c in walk) and not any("left" in c or "right" in c for c in walk)
    # session 1 is train, the later session test
    assert sorted(np.unique(ds.groups["session"][ds.splits["train"]])) == [1]
    assert sorted(np.unique(ds.groups["session"][ds.splits["test"]])) == [3]
    # each clip is the window centred on its segment: TURN_TX of the first pass spans frames 67-76
    x = np.load(root / "01_DATA/03_COLLECTED-DATASET/02_LABELLED/D1/e01_rx_tx-x.npy")
    row = int(np.flatnonzero((ds.groups["session"] == 1) & (ds.groups["execution"] == 1)
                             & (ds.groups["direction"] == 0) & (ds.class_id == names.index("turn_tx")))[0])
    np.testing.assert_allclose(ds.csi[row, 0, :, 0].real, x[:, 67:77].T, rtol=1e-6)
    # a window longer than a segment takes its neighbours' frames but stays inside the pass
    long = tmp_path / "long.h5"
    assert main(["-q", "ingest", "public", "stability-csi-har", "--path",
                 str(root / "01_DATA/03_COLLECTED-DATASET/02_LABELLED"), "--out", str(long), "--seconds", "0.3"]) == 0
    ds = read_caption_store(long, load_frames=False)
    first_pass = (ds.groups["session"] == 1) & (ds.groups["execution"] == 1) & (ds.groups["direction"] == 0)
    turn = int(np.flatnonzero(first_pass & (ds.class_id == names.index("turn_tx")))[0])
    np.testing.assert_allclose(ds.csi[turn, 0, :, 0].real, x[:, 57:87].T, rtol=1e-6)
    last = int(np.flatnonzero(first_pass & (ds.class_id == names.index("seated_tx")))[0])   # frames 91-110 of 111
    np.testing.assert_allclose(ds.csi[last, 0, :, 0].real, x[:, 81:111].T, rtol=1e-6)


def test_stability_label_files_are_never_unpickled_beyond_strings(tmp_path, capsys):
    import pickle

    root = tmp_path / "stab"
    _stability(root)
    folder = root / "01_DATA/03_COLLECTED-DATASET/02_LABELLED/D1"
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    bad = folder / "e02_tx_rx-y.npy"
    with open(bad, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": (3,)})
        pickle.dump(Evil(), f)
    args = ["-q", "ingest", "public", "stability-csi-har", "--path", str(root), "--out", str(tmp_path / "x.h5")]
    assert main(args) != 0
    err = capsys.readouterr().err
    assert "e02_tx_rx-y.npy" in err and "a label file holds only strings" in err and not marker.exists()
    np.save(bad, np.array([["WALKING_RX"], ["JUMPING"]], dtype=object), allow_pickle=True)
    assert main(args) != 0
    assert "frames 1-1: label 'JUMPING'" in capsys.readouterr().err
    bad.unlink()
    assert main(args) != 0
    assert "e02_tx_rx-x.npy: has no label file e02_tx_rx-y.npy" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()
