"""wifisense split: random (class-stratified), temporal and group-wise splits written into a
caption store atomically, and an ingested store that had no splits trained after it."""

import json
from pathlib import Path

import numpy as np
import pytest

from wifisense.errors import ConfigError, StoreError
from wifisense.io import store
from wifisense.io.splits import assign_splits, group_splits, stratified_splits, temporal_splits

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


def _tiles(splits: dict, n: int) -> None:
    joined = np.concatenate(list(splits.values()))
    assert sorted(joined.tolist()) == list(range(n))  # every clip in exactly one split


def test_random_splits_are_stratified_and_temporal_keeps_store_order():
    class_id = np.repeat(np.arange(4), 10)
    splits = stratified_splits(class_id, (0.8, 0.1, 0.1), np.random.default_rng(0))
    _tiles(splits, 40)
    assert [len(v) for v in splits.values()] == [32, 4, 4]
    assert sorted(np.unique(class_id[splits["val"]]).tolist()) == [0, 1, 2, 3]   # one clip per class
    # classes of different sizes each split in proportion (a class twice the others' size
    # used to send all its extra clips to test)
    class_id = np.repeat(np.arange(4), [32, 16, 16, 8])
    splits = stratified_splits(class_id, (0.6, 0.2, 0.2), np.random.default_rng(0))
    _tiles(splits, 72)
    for c, size in enumerate((32, 16, 16, 8)):
        for (name, idx), ratio in zip(splits.items(), (0.6, 0.2, 0.2)):
            assert abs(np.count_nonzero(class_id[idx] == c) - ratio * size) <= 1, (name, c)
    splits = temporal_splits(10, (0.6, 0.2, 0.2))
    assert [v.tolist() for v in splits.values()] == [[0, 1, 2, 3, 4, 5], [6, 7], [8, 9]]


@pytest.mark.parametrize("seed", range(5))
def test_group_splits_keep_each_group_in_one_split(seed):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 12, 200)
    splits = group_splits(groups, (0.7, 0.15, 0.15), np.random.default_rng(seed))
    _tiles(splits, 200)
    seen = [set(groups[idx].tolist()) for idx in splits.values()]
    assert all(s for s in seen)                                   # every split gets a group
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert len(splits["train"]) > len(splits["val"]) and len(splits["train"]) > len(splits["test"])
    with pytest.raises(ConfigError, match="2 group"):
        group_splits(np.array([0, 0, 1, 1]), (0.8, 0.1, 0.1), np.random.default_rng(0))
    with pytest.raises(ConfigError, match="--ratios"):
        temporal_splits(10, (0.5, -0.5, 1.0))


def test_write_splits_is_validated_and_atomic(tmp_path):
    from test_store import make_caption

    path = tmp_path / "c.h5"
    store.write_caption_store(path, make_caption(n=6))
    before = path.read_bytes()
    with pytest.raises(StoreError, match="/splits/val.*disjoint"):
        store.write_splits(path, {"train": np.arange(4), "val": np.arange(3, 6)})
    assert path.read_bytes() == before
    store.write_splits(path, {"train": np.arange(4), "test": np.arange(4, 6)})
    assert sorted(store.read_caption_store(path).splits) == ["test", "train"]
    with pytest.raises(ConfigError, match="multi-band"):
        from test_store import make_multiband

        store.write_multiband_store(tmp_path / "m.h5", make_multiband())
        assign_splits(tmp_path / "m.h5")


@pytest.mark.skipif(not (REAL / "intel5300_example.dat").is_file(), reason="real captures not in ../shared")
def test_split_an_ingested_store_by_position_then_train_on_it(tmp_path, capsys):
    import h5py

    from test_caption_cli import SHRINK
    from wifisense.cli import main

    intel = str(REAL / "intel5300_example.dat")
    out = tmp_path / "ingested.h5"
    captions = ["a person raises the left arm", "a person raises the right arm"]
    for k in range(8):  # no --split: an ingested store starts without splits
        args = ["ingest", "caption", "--rx", intel, intel, intel, "--caption", captions[k % 2],
                "--class", f"raise {'left' if k % 2 == 0 else 'right'} arm", "--clip-rate", "8", "--seconds", "1",
                "--out", str(out)] + (["--append"] if k else [])
        assert main(args) == 0
    with h5py.File(out, "a") as f:  # what a converter of a public data set writes: a position per clip
        f["position_id"][...] = np.arange(8) // 2
    assert main(["split", str(out), "--by", "group:position_id", "--ratios", "0.5,0.25,0.25", "--seed", "1"]) == 0
    said = capsys.readouterr().out
    assert "wrote splits train 4, val 2, test 2" in said
    ds = store.read_caption_store(out, load_frames=False)
    positions = {name: set((np.arange(8) // 2)[idx].tolist()) for name, idx in ds.splits.items()}
    assert not (positions["train"] & positions["test"]) and not (positions["train"] & positions["val"])
    sets = [a for key, value in SHRINK.items() for a in ("--set", f"{key}={json.dumps(value)}")]
    assert main(["-q", "caption", "train", "--data", str(out), "--run", str(tmp_path / "run"),
                 "--baseline", "csi-lm", "--max-steps", "1", "--batch-size", "2", "--device", "cpu", *sets]) == 0
