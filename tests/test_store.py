"""The HDF5 store: round trips, atomic writes, appends, validation naming the exact field,
the ``wifisense validate`` command and the lazy torch datasets (with DataLoader workers)."""

import json

import h5py
import numpy as np
import pytest

from wifisense.errors import StoreError
from wifisense.io import store
from wifisense.io.h5open import store_kind
from wifisense.io.schema import SCHEMA_VERSION, CaptionDataset, MultiBandDataset
from wifisense.io.validate import Problem, check_store, validate_store


def make_caption(n=6, r=3, t=8, a=4, s=5, k=2, frames=True, seed=0) -> CaptionDataset:
    rng = np.random.default_rng(seed)
    csi = (rng.standard_normal((n, r, t, a, s)) + 1j * rng.standard_normal((n, r, t, a, s)))
    class_names = ["raise left arm", "raise right arm", "nod héad ✓"]
    class_id = rng.integers(0, len(class_names), n).astype(np.int32)
    captions = [[f"clip {i}: a person — “{class_names[c]}”"] + [f"paraphrase {j} ü"
                for j in range(1, 1 + (i % k))] for i, c in enumerate(class_id)]
    rx_valid = np.ones((n, r), bool)
    rx_valid[1, 2] = False
    return CaptionDataset(
        csi=csi.astype(np.complex64), rx_valid=rx_valid, class_id=class_id, captions=captions,
        class_names=class_names, mirror_of=np.array([1, 0, 2], np.int32),
        subcarriers=np.arange(s, dtype=np.int32) - s // 2, sample_rate_hz=100.0, clip_seconds=0.08,
        rx_positions=rng.standard_normal((r, 3)).astype(np.float32),
        tx_position=np.zeros(3, np.float32),
        position=rng.standard_normal((n, 2)).astype(np.float32),
        position_id=np.arange(n, dtype=np.int32),
        frames=rng.integers(0, 256, (n, 2, 4, 5, 3), dtype=np.uint8) if frames else None,
        gap_mask=rng.random((n, r, t)) < 0.2, carrier_hz=5.32e9, bandwidth_mhz=20.0,
        splits={"train": np.arange(n - 2), "val": np.array([n - 2]), "test": np.array([n - 1])},
        source="unit-test", attrs={"seed": seed, "note": "ünïcode"},
    )


def make_multiband(nc=50, ns=20, np_=30, m=4, seed=0, heading=True) -> MultiBandDataset:
    rng = np.random.default_rng(seed)
    return MultiBandDataset(
        csi_t=np.sort(rng.uniform(0, 10, nc)) + np.arange(nc) * 1e-6,
        csi_x=(rng.standard_normal((nc, 6, 4, 1)) + 1j * rng.standard_normal((nc, 6, 4, 1))
               ).astype(np.complex64),
        snr_t=np.cumsum(rng.uniform(0.1, 0.9, ns)), snr_x=rng.normal(10, 3, (ns, m)).astype(np.float32),
        pose_t=np.arange(np_) * 0.1, pose_xy=rng.uniform(0, 5, (np_, 2)).astype(np.float32),
        pose_heading=rng.uniform(-np.pi, np.pi, np_).astype(np.float32) if heading else None,
        subcarriers=np.arange(6, dtype=np.int32), ap_position=np.array([0, 0, 1], np.float32),
        room=np.array([0, 0, 6, 5], np.float32), beam_angles_deg=np.linspace(-45, 45, m).astype(np.float32),
        csi_carrier_hz=5.18e9, snr_carrier_hz=60.48e9, csi_bandwidth_mhz=20.0,
        splits={"train": np.arange(20), "test": np.arange(20, 30)}, attrs={"config": {"a": 1}},
    )


def assert_caption_equal(a: CaptionDataset, b: CaptionDataset) -> None:
    for name in ("csi", "rx_valid", "class_id", "mirror_of", "subcarriers", "rx_positions",
                 "tx_position", "position", "position_id", "frames", "gap_mask"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=name)
    assert a.captions == b.captions
    assert a.class_names == b.class_names
    for name in ("sample_rate_hz", "clip_seconds", "carrier_hz", "bandwidth_mhz", "source", "attrs"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.splits.keys() == b.splits.keys()
    for k in a.splits:
        np.testing.assert_array_equal(a.splits[k], b.splits[k])


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("compression", ["gzip", "lzf", None])
def test_caption_round_trip_is_exact(tmp_path, compression):
    ds = make_caption()
    path = store.write_caption_store(tmp_path / "c.h5", ds, compression=compression)
    back = store.read_caption_store(path)
    assert_caption_equal(ds, back)
    assert back.csi.dtype == np.complex64 and back.rx_valid.dtype == bool
    assert store_kind(path) == "caption"
    assert store.read_caption_store(path, load_frames=False).frames is None
    with h5py.File(path) as f:
        # the lowest version that describes it: complex64 CSI needs nothing of version 2
        assert f.attrs["schema"] == "wifisense" and f.attrs["schema_version"] == 1 < SCHEMA_VERSION
        assert f.attrs["writer"].startswith("wifisense ")
        assert f["csi"].chunks == (1, 3, 8, 4, 5)       # one clip per chunk
        assert f["frames"].chunks[0] == 1


def test_compact_csi_halves_the_bytes_keeps_73_db_and_reads_back_as_complex64(tmp_path):
    import dataclasses

    from wifisense.io.datasets import CaptionStoreDataset

    ds = make_caption(n=6, t=64, a=3, s=30)
    ds.csi[2, 1] *= 1e-4            # units differ between clips and receivers: scaled apart
    ds.csi[3, 0] = 0                # an all-zero receiver stays zero
    plain = store.write_caption_store(tmp_path / "plain.h5", ds, compression=None)
    compact = store.write_caption_store(tmp_path / "compact.h5", dataclasses.replace(ds, csi_encoding="float16"),
                                        compression=None)
    with h5py.File(plain) as f, h5py.File(compact) as g:
        assert g["csi"].id.get_storage_size() == f["csi"].id.get_storage_size() // 2
    back = store.read_caption_store(compact)
    assert back.csi.dtype == np.complex64 and back.csi.shape == ds.csi.shape and back.csi_encoding == "float16"
    for clip in range(6):
        for rx in range(3):
            want, got = ds.csi[clip, rx], back.csi[clip, rx]
            if not want.any():
                assert not got.any()
                continue
            assert np.linalg.norm(got - want) / np.linalg.norm(want) < 10 ** (-60 / 20)
    with h5py.File(compact) as f:
        assert f.attrs["schema_version"] == 2 and f["csi"].dtype == np.float16 and f["csi"].shape[-1] == 2
    assert validate_store(compact) == []
    item = CaptionStoreDataset(compact, split=None, fields=("csi",))[2]
    np.testing.assert_array_equal(item["csi"].numpy(), back.csi[2])
    # appended clips take the store's encoding
    store.append_caption_clips(compact, make_caption(n=2, t=64, a=3, s=30, seed=5))
    with h5py.File(compact) as f:
        assert f["csi"].shape[0] == 8 and f["csi_scale"].shape == (8, 3)
    assert validate_store(compact) == []
    with h5py.File(compact, "r+") as f:
        f["csi_scale"][0, 0] = -1.0
    assert any(p.field == "/csi_scale" for p in validate_store(compact))
    with h5py.File(compact, "r+") as f:
        f["csi_scale"][0, 0] = 1.0
        f.attrs["schema_version"] = 1
    assert any("version 2" in p.reason for p in validate_store(compact))


def test_caption_round_trip_without_optionals(tmp_path):
    ds = make_caption(frames=False)
    ds.gap_mask = ds.position = ds.position_id = ds.carrier_hz = None
    back = store.read_caption_store(store.write_caption_store(tmp_path / "c.h5", ds))
    assert back.frames is None and back.gap_mask is None and back.carrier_hz is None
    assert np.isnan(back.position).all() and (back.position_id == -1).all()  # unknown markers
    assert validate_store(tmp_path / "c.h5") == []


def test_multiband_round_trip_is_exact(tmp_path):
    ds = make_multiband()
    path = store.write_multiband_store(tmp_path / "m.h5", ds)
    back = store.read_multiband_store(path)
    for name in ("csi_t", "csi_x", "snr_t", "snr_x", "pose_t", "pose_xy", "pose_heading", "subcarriers",
                 "ap_position", "room", "beam_angles_deg"):
        np.testing.assert_array_equal(getattr(ds, name), getattr(back, name), err_msg=name)
    assert back.csi_x.dtype == np.complex64 and back.csi_t.dtype == np.float64
    assert back.pose_heading.dtype == np.float32
    assert (back.csi_carrier_hz, back.snr_carrier_hz, back.attrs) == (5.18e9, 60.48e9, {"config": {"a": 1}})
    assert store_kind(path) == "multiband"
    assert validate_store(path) == []
    with pytest.raises(StoreError, match="expected a 'caption' store"):
        store.read_caption_store(path)


def test_multiband_store_without_heading_reads_none(tmp_path):
    # a store written before /pose/heading existed (or with the heading unknown) still loads
    path = store.write_multiband_store(tmp_path / "m.h5", make_multiband(heading=False))
    with h5py.File(path) as f:
        assert "pose/heading" not in f
    assert store.read_multiband_store(path).pose_heading is None
    assert validate_store(path) == []


def test_multiband_heading_must_match_the_pose_stream(tmp_path):
    ds = make_multiband()
    ds.pose_heading = ds.pose_heading[:-1]
    with pytest.raises(StoreError, match="/pose/heading") as exc:
        store.write_multiband_store(tmp_path / "m.h5", ds)
    assert exc.value.field == "/pose/heading"
    path = store.write_multiband_store(tmp_path / "m.h5", make_multiband())
    with h5py.File(path, "a") as f:
        _replace(f, "pose/heading", np.zeros(29, np.float32))
    (problem,) = validate_store(path)
    assert problem.field == "/pose/heading" and "Np" in problem.reason and "/pose/t" in problem.reason
    with h5py.File(path, "a") as f:
        heading = np.zeros(30, np.float32)
        heading[7] = np.nan
        _replace(f, "pose/heading", heading)
    assert validate_store(path) == [Problem("/pose/heading", "1 non-finite values (1 NaN, 0 inf), "
                                                             "first at index [7]")]


def test_refuses_to_overwrite_unless_asked(tmp_path):
    path = tmp_path / "c.h5"
    store.write_caption_store(path, make_caption(seed=1))
    with pytest.raises(StoreError, match="already exists"):
        store.write_caption_store(path, make_caption(seed=2))
    assert store.read_caption_store(path).attrs["seed"] == 1
    store.write_caption_store(path, make_caption(seed=2), overwrite=True)
    assert store.read_caption_store(path).attrs["seed"] == 2


def test_interrupted_write_leaves_no_file_or_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "c.h5"

    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "_set_optional_attrs", explode)   # fails after csi was written
    with pytest.raises(RuntimeError):
        store.write_caption_store(path, make_caption())
    # only the (empty) writer-lock file stays; no data, no temporary file
    assert [p.name for p in tmp_path.iterdir()] == [".c.h5.lock"]
    monkeypatch.undo()
    store.write_caption_store(path, make_caption(seed=1))
    monkeypatch.setattr(store, "_set_optional_attrs", explode)
    with pytest.raises(RuntimeError):
        store.write_caption_store(path, make_caption(seed=2), overwrite=True)
    with pytest.raises(RuntimeError):
        store.write_multiband_store(path, make_multiband(), overwrite=True)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".c.h5.lock", "c.h5"]
    assert store.read_caption_store(path).attrs["seed"] == 1


def test_append_clips_merges_classes_and_splits(tmp_path):
    path = tmp_path / "c.h5"
    first, second = make_caption(n=4, k=1, seed=1), make_caption(n=3, k=3, seed=2)
    first.splits = {"train": np.array([0, 1, 2, 3])}
    second.splits = {"train": np.array([0]), "test": np.array([1, 2])}
    second.class_names = ["raise right arm", "raise left arm", "jump"]   # reordered + one new
    second.mirror_of = np.array([1, 0, 2], np.int32)
    assert list(store.append_caption_clips(path, first)) == [0, 1, 2, 3]
    assert list(store.append_caption_clips(path, second)) == [4, 5, 6]
    back = store.read_caption_store(path)
    assert back.class_names == first.class_names + ["jump"]
    names = [back.class_names[c] for c in back.class_id]
    assert names == ([first.class_names[c] for c in first.class_id]
                     + [second.class_names[c] for c in second.class_id])
    np.testing.assert_array_equal(back.csi, np.concatenate([first.csi, second.csi]))
    assert back.captions == first.captions + second.captions
    np.testing.assert_array_equal(back.splits["train"], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(back.splits["test"], [5, 6])
    assert validate_store(path) == []


def test_append_refuses_mismatched_clips_and_keeps_store(tmp_path):
    path = tmp_path / "c.h5"
    store.append_caption_clips(path, make_caption(n=2))
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"/csi.*\[R, T, A, S\]"):
        store.append_caption_clips(path, make_caption(n=2, a=3))
    with pytest.raises(StoreError, match="/frames"):
        store.append_caption_clips(path, make_caption(n=2, frames=False))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".c.h5.lock", "c.h5"]


def test_open_store_rejects_foreign_and_newer_files(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(StoreError, match="not an HDF5 file"):
        store_kind(text)
    with pytest.raises(StoreError, match="no such file"):
        store_kind(tmp_path / "missing.h5")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = 1
    with pytest.raises(StoreError, match="not a wifisense store"):
        store.read_caption_store(foreign)
    newer = store.write_caption_store(tmp_path / "newer.h5", make_caption())
    with h5py.File(newer, "a") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(StoreError, match="newer than the version"):
        store.read_caption_store(newer)
    assert validate_store(newer)[0].field == "/"


# --------------------------------------------------------------------------- validation


def _write(tmp_path, ds=None):
    return store.write_caption_store(tmp_path / "c.h5", ds or make_caption())


def _corrupt(path, edit):
    with h5py.File(path, "a") as f:
        edit(f)
    return validate_store(path)


def _replace(f, name, data):
    del f[name]
    f.create_dataset(name, data=data)


def test_valid_stores_have_no_problems(tmp_path):
    path = _write(tmp_path)
    assert validate_store(path) == []
    check_store(path)


@pytest.mark.parametrize("edit, field, words", [
    (lambda f: f.__delitem__("rx_valid"), "/rx_valid", "missing"),
    (lambda f: f.__delitem__("meta/mirror_of"), "/meta/mirror_of", "missing"),
    (lambda f: _replace(f, "class_id", f["class_id"][()].astype(np.float32)), "/class_id", "dtype"),
    (lambda f: _replace(f, "csi", f["csi"][()].astype(np.complex128)), "/csi", "complex64"),
    (lambda f: _replace(f, "rx_valid", f["rx_valid"][()].astype(np.int8)), "/rx_valid", "bool"),
    (lambda f: _replace(f, "rx_valid", np.ones((6, 2), bool)), "/rx_valid", "R"),
    (lambda f: f["csi"].__setitem__((4, 1, 3, 2, 0), np.nan + 0j), "/csi", "[4, 1, 3, 2, 0]"),
    (lambda f: f["class_id"].__setitem__(2, 3), "/class_id", "outside [0, 3)"),
    (lambda f: f["splits/val"].__setitem__(0, 2), "/splits/val", "overlaps /splits/train"),
    (lambda f: f["splits/test"].__setitem__(0, 6), "/splits/test", "outside [0, 6)"),
    (lambda f: f["meta/mirror_of"].__setitem__(2, 0), "/meta/mirror_of", "involution"),
    (lambda f: f["captions"].__setitem__((3, 0), ""), "/captions", "clip 3"),
    (lambda f: f.attrs.__setitem__("schema", "other"), "/", "not a wifisense store"),
])
def test_validate_names_the_broken_field(tmp_path, edit, field, words):
    problems = _corrupt(_write(tmp_path), edit)
    assert problems, "corruption went unnoticed"
    assert problems[0].field == field, problems
    assert words in problems[0].reason, problems
    with pytest.raises(StoreError) as exc:
        check_store(tmp_path / "c.h5")
    assert exc.value.field == field


def test_nan_count_and_first_index_across_blocks(tmp_path, monkeypatch):
    import wifisense.io.validate as validate

    monkeypatch.setattr(validate, "BLOCK_BYTES", 1)   # one chunk (= one clip) per block
    path = _write(tmp_path)
    with h5py.File(path, "a") as f:
        csi = f["csi"][()]
        csi[3, 0, 0, 0, 1] = np.inf
        csi[5, 2, 7, 3, 4] = complex(0, np.nan)
        csi[5, 2, 7, 3, 3] = complex(np.nan, np.nan)
        f["csi"][...] = csi
    (problem,) = validate_store(path)
    assert problem == Problem("/csi", "3 non-finite values (2 NaN, 1 inf), first at index [3, 0, 0, 0, 1]")


def test_multiband_timestamps_must_strictly_increase(tmp_path, monkeypatch):
    import wifisense.io.validate as validate

    # blocks of 5 timestamps, so one bad step sits exactly on a block boundary (9 -> 10)
    monkeypatch.setattr(store, "STREAM_CHUNK_BYTES", 8 * 5)
    monkeypatch.setattr(validate, "BLOCK_BYTES", 8 * 5)
    ds = make_multiband()
    snr_t = ds.snr_t.copy()
    snr_t[7] = snr_t[6]            # repeated
    snr_t[10] = snr_t[9]           # repeated across the block boundary
    snr_t[12] = snr_t[11] - 1.0    # backwards
    path = store.write_multiband_store(tmp_path / "m.h5", ds)
    with h5py.File(path, "a") as f:
        assert f["snr/t"].chunks == (5,)
        f["snr/t"][...] = snr_t  # the writer itself refuses such a store (below)
    ds.snr_t = snr_t
    with pytest.raises(StoreError, match="/snr/t.*nothing was written"):
        store.write_multiband_store(tmp_path / "refused.h5", ds)
    assert not (tmp_path / "refused.h5").exists()
    problems = validate_store(path)
    assert [p.field for p in problems] == ["/snr/t"]
    assert "3 steps <= 0, first at index 7" in problems[0].reason


def test_multiband_stream_problems(tmp_path):
    path = store.write_multiband_store(tmp_path / "m.h5", make_multiband())
    with h5py.File(path, "a") as f:
        f["pose/xy"][4, 1] = np.inf
        _replace(f, "csi/t", f["csi/t"][()].astype(np.float32))
        f["splits/test"][0] = 30
    problems = {p.field: p.reason for p in validate_store(path)}
    assert set(problems) == {"/csi/t", "/pose/xy", "/splits/test"}
    assert "float64" in problems["/csi/t"]
    assert "first at index [4, 1]" in problems["/pose/xy"]


# --------------------------------------------------------------------------- CLI


def _cli(argv):
    """Run the real console entry point (no fallback: a broken CLI must fail this test)."""
    from wifisense.cli import main

    return main(argv)


def test_validate_command_exit_codes_and_lines(tmp_path, capsys):
    good = _write(tmp_path)
    assert _cli(["validate", str(good)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"OK: {good}: caption store, 6 clips")
    bad = store.write_caption_store(tmp_path / "bad.h5", make_caption())
    with h5py.File(bad, "a") as f:
        f["splits/val"][0] = 0
        del f["position_id"]
    assert _cli(["validate", str(good), str(bad)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("OK: ")
    assert f"{bad}:/position_id: required field is missing" in lines
    assert any(line.startswith(f"{bad}:/splits/val: overlaps") for line in lines)
    assert _cli(["validate", "--json", str(good), str(bad)]) == 1
    result = json.loads(capsys.readouterr().out)
    assert [r["ok"] for r in result] == [True, False]
    assert {"field": "/position_id", "reason": "required field is missing"} in result[1]["problems"]
    assert _cli(["validate", str(tmp_path / "nope.h5")]) == 2


# --------------------------------------------------------------------------- torch datasets


def test_caption_dataset_items_match_the_store(tmp_path):
    import torch

    from wifisense.io.datasets import CaptionStoreDataset

    ds = make_caption()
    path = _write(tmp_path, ds)
    train = CaptionStoreDataset(path, split="train", fields=("csi", "rx_valid", "class_id",
                                                              "captions", "frames", "gap_mask"))
    assert len(train) == 4 and train.class_names == ds.class_names
    item = train[1]
    assert item["index"] == 1 and item["csi"].dtype == torch.complex64
    np.testing.assert_array_equal(item["csi"].numpy(), ds.csi[1])
    np.testing.assert_array_equal(item["rx_valid"].numpy(), ds.rx_valid[1])
    np.testing.assert_array_equal(item["frames"].numpy(), ds.frames[1])
    assert item["class_id"].item() == ds.class_id[1] and item["captions"] == ds.captions[1]
    assert len(CaptionStoreDataset(path, split=None)) == 6
    with pytest.raises(StoreError, match="/splits/nope"):
        CaptionStoreDataset(path, split="nope")


@pytest.mark.parametrize("workers", [0, 2])
def test_caption_dataset_with_dataloader_workers(tmp_path, workers):
    import torch

    from wifisense.io.datasets import CaptionStoreDataset, collate_clips

    ds = make_caption(n=10)
    ds.splits = {"train": np.arange(10)}
    path = _write(tmp_path, ds)
    data = CaptionStoreDataset(path, split="train")
    data[0]   # the parent opens its handle first: workers must not reuse it
    loader = torch.utils.data.DataLoader(data, batch_size=3, num_workers=workers,
                                         collate_fn=collate_clips)
    seen = []
    for batch in loader:
        assert batch["csi"].shape[1:] == (3, 8, 4, 5) and len(batch["captions"]) == len(batch["index"])
        for row, i in enumerate(batch["index"].tolist()):
            np.testing.assert_array_equal(batch["csi"][row].numpy(), ds.csi[i])
            assert batch["captions"][row] == ds.captions[i]
        seen += batch["index"].tolist()
    assert sorted(seen) == list(range(10))


def test_multiband_streams_read_windows(tmp_path):
    from wifisense.io.datasets import MultiBandStreams

    ds = make_multiband()
    streams = MultiBandStreams(store.write_multiband_store(tmp_path / "m.h5", ds))
    t, xy = streams.read("pose", 0.95, 1.55)
    np.testing.assert_array_equal(t, ds.pose_t[10:16])
    np.testing.assert_array_equal(xy, ds.pose_xy[10:16])
    t, x = streams.read("csi")
    np.testing.assert_array_equal(x, ds.csi_x)
    assert streams.lengths == {"csi": 50, "snr": 20, "pose": 30}


def test_append_fills_unknown_mirror_pairs_and_refuses_conflicts(tmp_path):
    path = tmp_path / "c.h5"

    def clips(names, mirror, seed):
        ds = make_caption(n=2, seed=seed)
        ds.class_id = np.array([0, 1], np.int32)
        ds.class_names, ds.mirror_of = names, np.array(mirror, np.int32)
        return ds

    store.append_caption_clips(path, clips(["a", "b"], [0, 1], 1))   # pairing unknown
    store.append_caption_clips(path, clips(["b", "a"], [1, 0], 2))   # now a <-> b
    assert list(store.read_caption_store(path).mirror_of) == [1, 0]
    store.append_caption_clips(path, clips(["a", "b"], [0, 1], 3))   # no information: kept
    assert list(store.read_caption_store(path).mirror_of) == [1, 0]
    with pytest.raises(StoreError) as exc:
        store.append_caption_clips(path, clips(["a", "c"], [1, 0], 4))
    assert exc.value.field == "/meta/mirror_of" and "'a' mirrors 'c'" in str(exc.value)
    assert store.read_caption_store(path).class_names == ["a", "b"]
    assert validate_store(path) == []


def test_read_rows_reads_runs_of_indices_as_slices(tmp_path):
    from wifisense.io.h5open import read_rows

    data = np.arange(40).reshape(20, 2)
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f.create_dataset("x", data=data, chunks=(1, 2))
    with h5py.File(tmp_path / "r.h5") as f:
        for rows in ([0, 1, 2, 7, 9, 10, 19], [5], np.array([], dtype=int), [3, 4]):
            np.testing.assert_array_equal(read_rows(f["x"], rows), data[np.asarray(rows, dtype=int)])
        np.testing.assert_array_equal(read_rows(f["x"], 4), data[4])
        np.testing.assert_array_equal(read_rows(f["x"], slice(2, 5)), data[2:5])
