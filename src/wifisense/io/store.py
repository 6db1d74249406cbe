"""Writing, reading and opening the HDF5 dataset store laid out in ``wifisense.io.schema``.

Every write goes to a temporary file beside the target and is renamed into place only
when complete (``wifisense.io.atomic``), so an interrupted write leaves either no file or
the previous complete version. Clip arrays are chunked one clip per chunk (a training
step reads whole clips); streams are chunked along time. Axis 0 of every per-clip array
is resizable so ingest can add clips batch by batch (``caption_store_appender``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import h5py
import numpy as np

from wifisense.version import __version__
from wifisense.errors import ConfigError, StoreError
from wifisense.io.atomic import atomic_path, check_free_space, writer_lock
# Opening and signature checks live in h5open (validate needs them too); re-exported here.
from wifisense.io.h5open import (COMPACT_ENCODING, EXTRA_ATTRS_KEY, _attr_str, caption_csi_shape, encode_compact_csi,
                                 is_compact_csi, open_store, read_caption_csi)
from wifisense.io.schema import CSI_ENCODINGS, GROUPS, SCHEMA_NAME, CaptionDataset, MultiBandDataset

log = logging.getLogger(__name__)

COMPRESSIONS = ("gzip", "lzf", "none")
DEFAULT_COMPRESSION = "gzip"   # readable by every HDF5 tool (lzf is h5py-only)
GZIP_LEVEL = 4
STREAM_CHUNK_BYTES = 1 << 20   # ~1 MiB of samples per stream chunk
INDEX_CHUNK_ROWS = 4096        # rows per chunk for small per-clip arrays (ids, masks)

STRING_DTYPE = h5py.string_dtype("utf-8")

# Datasets every store of a kind must hold (paths without the leading "/").
CAPTION_REQUIRED = ("csi", "rx_valid", "class_id", "captions", "position", "position_id",
                    "meta/class_names", "meta/mirror_of", "meta/subcarriers",
                    "meta/rx_positions", "meta/tx_position")
CAPTION_OPTIONAL = ("gap_mask", "frames")
MULTIBAND_REQUIRED = ("csi/t", "csi/x", "pose/t", "pose/xy",
                      "meta/subcarriers", "meta/ap_position", "meta/room")
MULTIBAND_OPTIONAL = ("pose/heading", "meta/beam_angles_deg")


# --------------------------------------------------------------------------- helpers


def _attr_float(attrs, name: str) -> float | None:
    value = attrs.get(name)
    return None if value is None else float(value)


def _compression_kwargs(compression: str | None) -> dict:
    if compression is None or compression == "none":
        return {}
    if compression == "gzip":
        # shuffle groups the bytes of each float, which is what makes CSI compress at all
        return {"compression": "gzip", "compression_opts": GZIP_LEVEL, "shuffle": True}
    if compression == "lzf":
        return {"compression": "lzf", "shuffle": True}
    raise ConfigError(f"unknown compression {compression!r}; choose one of {COMPRESSIONS}")


def _refuse_overwrite(path: str | os.PathLike, overwrite: bool) -> None:
    if not overwrite and Path(path).exists():
        raise StoreError(path, None, "already exists; pass --overwrite (overwrite=True) to "
                         "replace it")


def _refuse_invalid(tmp: Path, path: str | os.PathLike) -> None:
    """Raise StoreError if the finished temporary store breaks the schema.

    Every writer calls this before the rename, so no command can leave behind a store that
    ``wifisense validate`` rejects (and that would then fail some later command).
    """
    from wifisense.io.validate import validate_store  # validate imports this module

    problems = validate_store(tmp)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise StoreError(path, first.field, f"{first.reason}{more}; nothing was written")


# Room a store needs beyond its arrays' raw bytes: HDF5 metadata, chunk indices, strings.
_STORE_OVERHEAD_BYTES = 1 << 18


def _store_bytes(arrays) -> int:
    """Upper estimate of a store's size on disk: the arrays uncompressed, plus overhead.

    Compression only makes the file smaller, so a write that passes this check does not
    run out of space unless something else fills the disk meanwhile.
    """
    raw = sum(int(np.asarray(a).nbytes) for a in arrays)
    return int(raw * 1.05) + _STORE_OVERHEAD_BYTES


def _write_root_attrs(f: h5py.File, kind: str, extra: dict, version: int = 1) -> None:
    """``version``: the lowest schema version that describes the file (see schema.py), so a
    store that needs no newer feature stays readable by older wifisense versions."""
    f.attrs["schema"] = SCHEMA_NAME
    f.attrs["schema_version"] = version
    f.attrs["kind"] = kind
    f.attrs["writer"] = f"wifisense {__version__}"
    f.attrs[EXTRA_ATTRS_KEY] = json.dumps(extra or {}, sort_keys=True, default=str)


def _read_extra_attrs(f: h5py.File) -> dict:
    raw = _attr_str(f.attrs.get(EXTRA_ATTRS_KEY))
    return json.loads(raw) if raw else {}


def _set_optional_attrs(attrs, values: dict) -> None:
    """Write attributes whose value is not None (absent attribute = unknown)."""
    for name, value in values.items():
        if value is not None:
            attrs[name] = value


def _padded_strings(rows: Sequence[Sequence[str]], path, field: str) -> np.ndarray:
    """Ragged caption lists -> object array [N, K], short rows padded with "" at the end."""
    rows = [list(r) for r in rows]
    width = max((len(r) for r in rows), default=1)
    if any(len(r) == 0 for r in rows):
        raise StoreError(path, field, "every clip needs at least one caption")
    out = np.full((len(rows), max(width, 1)), "", dtype=object)
    for i, r in enumerate(rows):
        out[i, : len(r)] = [str(s) for s in r]
    return out


def _unpad_strings(table: np.ndarray) -> list[list[str]]:
    return [[s for s in row if s != ""] for row in table.tolist()]


def _read_strings(ds: h5py.Dataset) -> np.ndarray:
    return ds.asstr()[()]


def _clip_chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    """One clip per chunk: a training step reads a whole clip and nothing else."""
    return (1, *[max(1, s) for s in shape[1:]])


def _row_chunks(shape: tuple[int, ...], itemsize: int, target_bytes: int) -> tuple[int, ...]:
    row_bytes = max(1, int(np.prod([max(1, s) for s in shape[1:]])) * itemsize)
    rows = max(1, min(max(1, shape[0]), target_bytes // row_bytes))
    return (rows, *[max(1, s) for s in shape[1:]])


def _create_resizable(group: h5py.Group, name: str, data: np.ndarray, chunks, comp: dict,
                      dtype=None) -> h5py.Dataset:
    maxshape = (None, *data.shape[1:])
    return group.create_dataset(name, data=data, dtype=dtype or data.dtype, chunks=chunks,
                                maxshape=maxshape, **comp)


def _append_rows(ds: h5py.Dataset, rows: np.ndarray) -> None:
    start = ds.shape[0]
    ds.resize(start + rows.shape[0], axis=0)
    ds[start:] = rows


# --------------------------------------------------------------------------- caption: checks


def _caption_dims(ds: CaptionDataset, path) -> dict[str, int]:
    """Check the in-memory caption dataset is self-consistent; return its dimensions."""
    csi = np.asarray(ds.csi)
    if csi.ndim != 5:
        raise StoreError(path, "/csi", f"must be [N, R, T, A, S], got shape {csi.shape}")
    if not np.iscomplexobj(csi):
        raise StoreError(path, "/csi", f"must be complex, got {csi.dtype}")
    if ds.csi_encoding not in CSI_ENCODINGS:
        raise StoreError(path, "/csi", f"encoding {ds.csi_encoding!r} is not one of {CSI_ENCODINGS}")
    n, r, t, a, s = csi.shape
    dims = {"N": n, "R": r, "T": t, "A": a, "S": s, "C": len(ds.class_names)}

    def expect(field: str, arr, shape: tuple) -> None:
        if arr is not None and np.shape(arr) != shape:
            raise StoreError(path, field, f"expected shape {shape}, got {np.shape(arr)}")

    expect("/rx_valid", ds.rx_valid, (n, r))
    expect("/class_id", ds.class_id, (n,))
    expect("/gap_mask", ds.gap_mask, (n, r, t))
    expect("/position", ds.position, (n, 2))
    expect("/position_id", ds.position_id, (n,))
    for name, column in ds.groups.items():
        if not name or "/" in name:
            raise StoreError(path, f"/{GROUPS}/{name}", "a group column needs a plain name (no '/')")
        expect(f"/{GROUPS}/{name}", column, (n,))
    expect("/meta/mirror_of", ds.mirror_of, (dims["C"],))
    expect("/meta/subcarriers", ds.subcarriers, (s,))
    expect("/meta/rx_positions", ds.rx_positions, (r, 3))
    expect("/meta/tx_position", ds.tx_position, (3,))
    if len(ds.captions) != n:
        raise StoreError(path, "/captions", f"expected {n} caption lists, got {len(ds.captions)}")
    if ds.frames is not None:
        frames = np.asarray(ds.frames)
        if frames.ndim != 5 or frames.shape[0] != n or frames.shape[-1] != 3:
            raise StoreError(path, "/frames", f"expected [N={n}, L, H, W, 3], got {frames.shape}")
    class_id = np.asarray(ds.class_id)
    if n and (class_id.min() < 0 or class_id.max() >= dims["C"]):
        raise StoreError(path, "/class_id", f"class ids must be in [0, {dims['C']}), got "
                         f"{class_id.min()}..{class_id.max()}")
    for name, idx in ds.splits.items():
        idx = np.asarray(idx)
        if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= n)):
            raise StoreError(path, f"/splits/{name}", f"indices must be 1-D in [0, {n})")
    return dims


def _caption_arrays(ds: CaptionDataset, path) -> dict[str, np.ndarray]:
    """Per-clip arrays in their stored dtypes (unknown positions filled with NaN / -1)."""
    n = np.shape(ds.csi)[0]
    arrays = {
        **(_compact_csi(ds) or {"csi": np.asarray(ds.csi, dtype=np.complex64)}),
        "rx_valid": np.asarray(ds.rx_valid, dtype=bool),
        "class_id": np.asarray(ds.class_id, dtype=np.int32),
        "captions": _padded_strings(ds.captions, path, "/captions"),
        "position": (np.full((n, 2), np.nan, np.float32) if ds.position is None
                     else np.asarray(ds.position, dtype=np.float32)),
        "position_id": (np.full((n,), -1, np.int32) if ds.position_id is None
                        else np.asarray(ds.position_id, dtype=np.int32)),
    }
    if ds.gap_mask is not None:
        arrays["gap_mask"] = np.asarray(ds.gap_mask, dtype=bool)
    if ds.frames is not None:
        arrays["frames"] = np.asarray(ds.frames, dtype=np.uint8)
    for name, column in sorted(ds.groups.items()):
        arrays[f"{GROUPS}/{name}"] = np.asarray(column, dtype=np.int32)
    return arrays


def _compact_csi(ds: CaptionDataset) -> dict[str, np.ndarray]:
    """``{"csi": pairs, "csi_scale": scale}`` for a float16-encoded dataset, else nothing."""
    if ds.csi_encoding != "float16":
        return {}
    pairs, scale = encode_compact_csi(ds.csi)
    return {"csi": pairs, "csi_scale": scale}


# --------------------------------------------------------------------------- caption: write


def _create_caption_layout(f: h5py.File, ds: CaptionDataset, path, compression: str | None,
                           arrays: dict[str, np.ndarray] | None = None) -> None:
    """``arrays``: ``_caption_arrays(ds, path)`` when the caller has them already (they are
    built once per write: the float16 encoding of a large store takes seconds and its memory)."""
    _caption_dims(ds, path)
    comp = _compression_kwargs(compression)
    compact = ds.csi_encoding == "float16"
    _write_root_attrs(f, "caption", ds.attrs, version=2 if compact else 1)
    arrays = _caption_arrays(ds, path) if arrays is None else arrays
    for name, data in arrays.items():
        if name in ("csi", "frames", "gap_mask"):
            chunks = _clip_chunks(data.shape)
        else:
            chunks = (INDEX_CHUNK_ROWS, *[max(1, s) for s in data.shape[1:]])
        if name == "captions":
            # captions may gain paraphrases on append, so axis 1 is resizable too
            f.create_dataset(name, data=data, dtype=STRING_DTYPE, chunks=(256, data.shape[1]),
                             maxshape=(None, None), **comp)
        else:
            _create_resizable(f, name, data, chunks, comp)
    if compact:
        f["csi"].attrs["encoding"] = COMPACT_ENCODING
    meta = f.create_group("meta")
    meta.create_dataset("class_names", data=np.array(list(ds.class_names), dtype=object),
                        dtype=STRING_DTYPE, maxshape=(None,), chunks=(256,))
    meta.create_dataset("mirror_of", data=np.asarray(ds.mirror_of, dtype=np.int32),
                        maxshape=(None,), chunks=(256,))
    meta.create_dataset("subcarriers", data=np.asarray(ds.subcarriers, dtype=np.int32))
    meta.create_dataset("rx_positions", data=np.asarray(ds.rx_positions, dtype=np.float32))
    meta.create_dataset("tx_position", data=np.asarray(ds.tx_position, dtype=np.float32))
    _set_optional_attrs(meta.attrs, {
        "sample_rate_hz": float(ds.sample_rate_hz), "clip_seconds": float(ds.clip_seconds),
        "carrier_hz": ds.carrier_hz, "bandwidth_mhz": ds.bandwidth_mhz, "source": ds.source})
    splits = f.create_group("splits")
    for name, idx in ds.splits.items():
        splits.create_dataset(name, data=np.asarray(idx, dtype=np.int64), maxshape=(None,),
                              chunks=(INDEX_CHUNK_ROWS,))


def write_caption_store(path: str | os.PathLike, ds: CaptionDataset, overwrite: bool = False,
                        compression: str | None = DEFAULT_COMPRESSION) -> Path:
    """Write a caption dataset to ``path`` atomically; refuses to replace a file unless asked.

    Holds the store's writer lock (a second writer waits), checks free space first, and
    leaves the previous file untouched on any error.
    """
    _refuse_overwrite(path, overwrite)
    arrays = _caption_arrays(ds, path)
    with writer_lock(path):
        _refuse_overwrite(path, overwrite)  # again: another writer may have finished meanwhile
        check_free_space(path, _store_bytes(arrays.values()))
        with atomic_path(path, suffix=".h5.tmp") as tmp:
            with h5py.File(tmp, "w") as f:
                _create_caption_layout(f, ds, path, compression, arrays)
            _refuse_invalid(tmp, path)
    return Path(path)


class CaptionStoreAppender:
    """Adds batches of clips (each a ``CaptionDataset``) to one open caption store file.

    Made by ``caption_store_appender``; the store at the target path only changes when that
    block ends without an error.
    """

    def __init__(self, f: h5py.File, path, compression: str | None):
        self._f = f
        self._path = path
        self._compression = compression

    @property
    def num_clips(self) -> int:
        return int(self._f["csi"].shape[0]) if "csi" in self._f else 0

    def append(self, ds: CaptionDataset) -> np.ndarray:
        """Add the clips of ``ds`` after the existing ones; returns their store indices.

        Class names are merged by name (new names are added to the store's class list),
        split indices are shifted and appended to the splits of the same name.
        """
        if "csi" not in self._f:
            arrays = _caption_arrays(ds, self._path)
            check_free_space(self._path, _store_bytes(arrays.values()))
            _create_caption_layout(self._f, ds, self._path, self._compression, arrays)
            return np.arange(self.num_clips)
        dims = _caption_dims(ds, self._path)
        f, path = self._f, self._path
        # new clips take the store's CSI encoding
        ds = dataclasses.replace(ds, csi_encoding="float16" if is_compact_csi(f) else "complex64")
        self._check_compatible(ds, dims)
        arrays = _caption_arrays(ds, path)
        check_free_space(self._path, _store_bytes(arrays.values()))
        class_map = self._merge_classes(ds)
        arrays["class_id"] = class_map[arrays["class_id"]].astype(np.int32)
        start = self.num_clips
        captions = arrays.pop("captions")
        if captions.shape[1] > f["captions"].shape[1]:
            f["captions"].resize(captions.shape[1], axis=1)
        if captions.shape[1] < f["captions"].shape[1]:
            pad = np.full((captions.shape[0], f["captions"].shape[1] - captions.shape[1]), "",
                          dtype=object)
            captions = np.concatenate([captions, pad], axis=1)
        _append_rows(f["captions"], captions)
        for name, data in arrays.items():
            _append_rows(f[name], data)
        splits = f.require_group("splits")
        for name, idx in ds.splits.items():
            shifted = np.asarray(idx, dtype=np.int64) + start
            if name in splits:
                _append_rows(splits[name], shifted)
            else:
                splits.create_dataset(name, data=shifted, maxshape=(None,),
                                      chunks=(INDEX_CHUNK_ROWS,))
        return np.arange(start, start + dims["N"])

    def _check_compatible(self, ds: CaptionDataset, dims: dict[str, int]) -> None:
        f, path = self._f, self._path
        have = caption_csi_shape(f)[1:]
        got = (dims["R"], dims["T"], dims["A"], dims["S"])
        if have != got:
            raise StoreError(path, "/csi", f"new clips have [R, T, A, S] = {list(got)} but the "
                             f"store holds {list(have)}")
        if not np.array_equal(f["meta/subcarriers"][()], np.asarray(ds.subcarriers)):
            raise StoreError(path, "/meta/subcarriers", "new clips use other subcarrier indices "
                             "than the store")
        rate = float(f["meta"].attrs["sample_rate_hz"])
        if not np.isclose(rate, float(ds.sample_rate_hz)):
            raise StoreError(path, "/meta", f"new clips are sampled at {ds.sample_rate_hz} Hz, "
                             f"the store at {rate} Hz")
        have_groups = set(f[GROUPS]) if GROUPS in f else set()
        if have_groups != set(ds.groups):
            raise StoreError(path, f"/{GROUPS}", f"the store has group columns {sorted(have_groups)} "
                             f"but the new clips {sorted(ds.groups)}")
        for name, value in (("gap_mask", ds.gap_mask), ("frames", ds.frames)):
            if (name in f) != (value is not None):
                state = "has" if name in f else "has no"
                raise StoreError(path, f"/{name}", f"the store {state} {name} but the new clips "
                                 f"{'do not' if name in f else 'do'}")
        if ds.frames is not None and tuple(f["frames"].shape[1:]) != np.shape(ds.frames)[1:]:
            raise StoreError(path, "/frames", f"new frames are {list(np.shape(ds.frames)[1:])}, "
                             f"the store's {list(f['frames'].shape[1:])}")
        if not np.allclose(f["meta/rx_positions"][()], np.asarray(ds.rx_positions), equal_nan=True):
            log.warning("%s: new clips give other receiver positions; keeping the store's", path)

    def _merge_classes(self, ds: CaptionDataset) -> np.ndarray:
        """Map the new clips' class ids to store class ids, adding unseen class names."""
        f, path = self._f, self._path
        names = list(_read_strings(f["meta/class_names"]))
        mirror = f["meta/mirror_of"][()].astype(np.int64)
        index = {name: i for i, name in enumerate(names)}
        new_names = [c for c in ds.class_names if c not in index]
        for c in new_names:
            index[c] = len(names)
            names.append(c)
        class_map = np.array([index[c] for c in ds.class_names], dtype=np.int64)
        old_mirror = np.concatenate([mirror, np.arange(len(mirror), len(names))])
        mirror = old_mirror.copy()
        # A class mapped to itself carries no pairing information (ingest of one clip cannot
        # know the mirrored class), so it never overrides a pairing; a pairing fills in a
        # class that had none and must agree with one that had.
        for local, partner in enumerate(np.asarray(ds.mirror_of)):
            a, b = int(class_map[local]), int(class_map[int(partner)])
            if a == b or mirror[a] == b:
                continue
            for x, y in ((a, b), (b, a)):
                if mirror[x] != x:
                    raise StoreError(path, "/meta/mirror_of", f"class {names[x]!r} mirrors "
                                     f"{names[y]!r} in the new clips but {names[mirror[x]]!r} "
                                     "in the store")
            mirror[a], mirror[b] = b, a
        if new_names:
            f["meta/class_names"].resize(len(names), axis=0)
            f["meta/class_names"][-len(new_names):] = np.array(new_names, dtype=object)
            f["meta/mirror_of"].resize(len(names), axis=0)
        if new_names or not np.array_equal(mirror, old_mirror):
            f["meta/mirror_of"][()] = mirror.astype(np.int32)
        return class_map


@contextlib.contextmanager
def caption_store_appender(path: str | os.PathLike, overwrite: bool = False,
                           compression: str | None = DEFAULT_COMPRESSION
                           ) -> Iterator[CaptionStoreAppender]:
    """Add clips to a caption store batch by batch, committing atomically at the end.

    If ``path`` exists (and ``overwrite`` is False) it is copied and the clips are added
    after its own; otherwise a new store is started from the first batch. The file at
    ``path`` is replaced only when the block ends without an error, and only if at least
    one clip was added or it existed already.
    """
    target = Path(path)
    # The lock spans copy, append and rename: two appenders that each copied the same old
    # store would otherwise both rename, and the first one's clips would be lost.
    with writer_lock(target):
        extend = target.exists() and not overwrite
        if extend:
            with open_store(target, kind="caption"):
                pass  # signature check before copying a possibly large file
            check_free_space(target, target.stat().st_size + _STORE_OVERHEAD_BYTES)
        with atomic_path(target, suffix=".h5.tmp") as tmp:
            if extend:
                shutil.copyfile(target, tmp)
            with h5py.File(tmp, "r+" if extend else "w") as f:
                appender = CaptionStoreAppender(f, target, compression)
                yield appender
                if appender.num_clips == 0:
                    raise StoreError(target, None, "no clips were added; nothing written")
            _refuse_invalid(tmp, target)


def write_splits(path: str | os.PathLike, splits: dict[str, np.ndarray]) -> Path:
    """Replace the named splits of a store (atomically, under the writer lock, validated).

    The store is copied, its ``/splits`` group rewritten, the copy validated (indices in
    range, disjoint) and renamed over the original; on any error the store is unchanged.
    """
    target = Path(path)
    with writer_lock(target):
        with open_store(target):
            pass  # a foreign or broken file is named before it is copied
        check_free_space(target, target.stat().st_size + _STORE_OVERHEAD_BYTES)
        with atomic_path(target, suffix=".h5.tmp") as tmp:
            shutil.copyfile(target, tmp)
            with h5py.File(tmp, "r+") as f:
                if "splits" in f:
                    del f["splits"]
                group = f.create_group("splits")
                for name, idx in splits.items():
                    group.create_dataset(name, data=np.asarray(idx, dtype=np.int64), maxshape=(None,),
                                         chunks=(INDEX_CHUNK_ROWS,))
            _refuse_invalid(tmp, target)
    return target


def append_caption_clips(path: str | os.PathLike, ds: CaptionDataset,
                         compression: str | None = DEFAULT_COMPRESSION) -> np.ndarray:
    """Add the clips of ``ds`` to the caption store at ``path`` (created if missing).

    Returns the store indices of the new clips. Atomic: on any error the store is unchanged.
    """
    with caption_store_appender(path, compression=compression) as appender:
        return appender.append(ds)


# --------------------------------------------------------------------------- caption: read


def read_caption_store(path: str | os.PathLike, load_frames: bool = True) -> CaptionDataset:
    """Load a whole caption store into memory (see ``CaptionStoreDataset`` for lazy access)."""
    with open_store(path, kind="caption") as f:
        _require_fields(f, path, CAPTION_REQUIRED)
        meta = f["meta"]
        return CaptionDataset(
            csi=read_caption_csi(f, slice(None)),
            rx_valid=f["rx_valid"][()],
            class_id=f["class_id"][()],
            captions=_unpad_strings(_read_strings(f["captions"])),
            class_names=list(_read_strings(meta["class_names"])),
            mirror_of=meta["mirror_of"][()],
            subcarriers=meta["subcarriers"][()],
            sample_rate_hz=_required_float_attr(meta, path, "sample_rate_hz"),
            clip_seconds=_required_float_attr(meta, path, "clip_seconds"),
            rx_positions=meta["rx_positions"][()],
            tx_position=meta["tx_position"][()],
            position=f["position"][()],
            position_id=f["position_id"][()],
            frames=f["frames"][()] if load_frames and "frames" in f else None,
            gap_mask=f["gap_mask"][()] if "gap_mask" in f else None,
            carrier_hz=_attr_float(meta.attrs, "carrier_hz"),
            bandwidth_mhz=_attr_float(meta.attrs, "bandwidth_mhz"),
            splits=_read_splits(f),
            source=_attr_str(meta.attrs.get("source")) or "",
            attrs=_read_extra_attrs(f),
            csi_encoding="float16" if is_compact_csi(f) else "complex64",
            groups={name: column[()] for name, column in f[GROUPS].items()} if GROUPS in f else {},
        )


def _read_splits(f: h5py.File) -> dict[str, np.ndarray]:
    return {name: ds[()] for name, ds in f["splits"].items()} if "splits" in f else {}


def _required_float_attr(group: h5py.Group, path, name: str) -> float:
    value = _attr_float(group.attrs, name)
    if value is None:
        raise StoreError(path, group.name, f"attribute {name!r} is missing")
    return value


def _require_fields(f: h5py.File, path, fields: Sequence[str]) -> None:
    for name in fields:
        if not isinstance(f.get(name), h5py.Dataset):
            raise StoreError(path, f"/{name}", "required field is missing "
                             "(run `wifisense validate` for a full check)")


# --------------------------------------------------------------------------- multiband


def _multiband_arrays(ds: MultiBandDataset, path) -> dict[str, np.ndarray]:
    arrays = {
        "csi/t": np.asarray(ds.csi_t, dtype=np.float64),
        "csi/x": np.asarray(ds.csi_x, dtype=np.complex64),
        "pose/t": np.asarray(ds.pose_t, dtype=np.float64),
        "pose/xy": np.asarray(ds.pose_xy, dtype=np.float32),
    }
    if (ds.snr_t is None) != (ds.snr_x is None):
        raise StoreError(path, "/snr/t" if ds.snr_t is None else "/snr/x",
                         "missing: a store has both beam-SNR fields or neither (CSI only)")
    if ds.snr_t is not None:
        arrays["snr/t"] = np.asarray(ds.snr_t, dtype=np.float64)
        arrays["snr/x"] = np.asarray(ds.snr_x, dtype=np.float32)
    if ds.pose_heading is not None:
        arrays["pose/heading"] = np.asarray(ds.pose_heading, dtype=np.float32)
    for stream, data in (("csi", "x"), ("snr", "x"), ("pose", "xy"), ("pose", "heading")):
        if f"{stream}/{data}" not in arrays:
            continue
        t, x = arrays[f"{stream}/t"], arrays[f"{stream}/{data}"]
        if t.ndim != 1 or x.shape[:1] != t.shape:
            raise StoreError(path, f"/{stream}/{data}", f"has {x.shape[:1]} samples but "
                             f"/{stream}/t has shape {t.shape}")
    if arrays["csi/x"].ndim != 4:
        raise StoreError(path, "/csi/x", f"must be [Nc, S, Nrx, Ntx], got {arrays['csi/x'].shape}")
    if "snr/x" in arrays and arrays["snr/x"].ndim != 2:
        raise StoreError(path, "/snr/x", f"must be [Ns, M], got {arrays['snr/x'].shape}")
    if arrays["pose/xy"].ndim != 2 or arrays["pose/xy"].shape[1] != 2:
        raise StoreError(path, "/pose/xy", f"must be [Np, 2], got {arrays['pose/xy'].shape}")
    if "pose/heading" in arrays and arrays["pose/heading"].ndim != 1:
        raise StoreError(path, "/pose/heading", f"must be [Np], got {arrays['pose/heading'].shape}")
    if np.shape(ds.subcarriers) != arrays["csi/x"].shape[1:2]:
        raise StoreError(path, "/meta/subcarriers", f"expected {arrays['csi/x'].shape[1]} "
                         f"indices, got shape {np.shape(ds.subcarriers)}")
    return arrays


def write_multiband_store(path: str | os.PathLike, ds: MultiBandDataset, overwrite: bool = False,
                          compression: str | None = DEFAULT_COMPRESSION) -> Path:
    """Write a multi-band stream dataset to ``path`` atomically (time-chunked streams)."""
    _refuse_overwrite(path, overwrite)
    arrays = _multiband_arrays(ds, path)
    comp = _compression_kwargs(compression)
    with writer_lock(path), atomic_path(path, suffix=".h5.tmp") as tmp:
        _refuse_overwrite(path, overwrite)  # again: another writer may have finished meanwhile
        check_free_space(path, _store_bytes(arrays.values()))
        with h5py.File(tmp, "w") as f:
            _write_root_attrs(f, "multiband", ds.attrs)
            for name, data in arrays.items():
                chunks = _row_chunks(data.shape, data.dtype.itemsize, STREAM_CHUNK_BYTES)
                _create_resizable(f, name, data, chunks, comp)
            meta = f.create_group("meta")
            meta.create_dataset("subcarriers", data=np.asarray(ds.subcarriers, dtype=np.int32))
            meta.create_dataset("ap_position", data=np.asarray(ds.ap_position, dtype=np.float32))
            meta.create_dataset("room", data=np.asarray(ds.room, dtype=np.float32))
            if ds.beam_angles_deg is not None:
                meta.create_dataset("beam_angles_deg",
                                    data=np.asarray(ds.beam_angles_deg, dtype=np.float32))
            if ds.segments is not None:
                meta.create_dataset("segments", data=np.asarray(ds.segments, dtype=np.float64).reshape(-1, 2))
            _set_optional_attrs(meta.attrs, {
                "csi_carrier_hz": ds.csi_carrier_hz, "snr_carrier_hz": ds.snr_carrier_hz,
                "csi_bandwidth_mhz": ds.csi_bandwidth_mhz, "source": ds.source})
            splits = f.create_group("splits")
            for name, idx in ds.splits.items():
                splits.create_dataset(name, data=np.asarray(idx, dtype=np.int64))
        _refuse_invalid(tmp, path)
    return Path(path)


def read_multiband_store(path: str | os.PathLike) -> MultiBandDataset:
    """Load a whole multi-band store into memory (see ``MultiBandStreams`` for lazy access).

    The store is validated first (StoreError naming the first broken field), so training,
    evaluation and prediction never start on data that breaks the schema.
    """
    from wifisense.io.validate import check_store  # validate imports this module

    with open_store(path, kind="multiband"):
        pass  # a wrong kind or a foreign file is named as such before the full check
    check_store(path)
    with open_store(path, kind="multiband") as f:
        _require_fields(f, path, MULTIBAND_REQUIRED)
        meta = f["meta"]
        return MultiBandDataset(
            csi_t=f["csi/t"][()], csi_x=f["csi/x"][()],
            snr_t=f["snr/t"][()] if "snr" in f else None, snr_x=f["snr/x"][()] if "snr" in f else None,
            pose_t=f["pose/t"][()], pose_xy=f["pose/xy"][()],
            pose_heading=f["pose/heading"][()] if "pose/heading" in f else None,
            subcarriers=meta["subcarriers"][()],
            ap_position=meta["ap_position"][()],
            room=meta["room"][()],
            beam_angles_deg=meta["beam_angles_deg"][()] if "beam_angles_deg" in meta else None,
            segments=meta["segments"][()] if "segments" in meta else None,
            csi_carrier_hz=_attr_float(meta.attrs, "csi_carrier_hz"),
            snr_carrier_hz=_attr_float(meta.attrs, "snr_carrier_hz"),
            csi_bandwidth_mhz=_attr_float(meta.attrs, "csi_bandwidth_mhz"),
            splits=_read_splits(f),
            source=_attr_str(meta.attrs.get("source")) or "",
            attrs=_read_extra_attrs(f),
        )


# --------------------------------------------------------------------------- either kind


def write_store(path: str | os.PathLike, ds: CaptionDataset | MultiBandDataset,
                overwrite: bool = False, compression: str | None = DEFAULT_COMPRESSION) -> Path:
    """Write either dataset kind (dispatch on its type)."""
    if isinstance(ds, CaptionDataset):
        return write_caption_store(path, ds, overwrite=overwrite, compression=compression)
    if isinstance(ds, MultiBandDataset):
        return write_multiband_store(path, ds, overwrite=overwrite, compression=compression)
    raise TypeError(f"expected CaptionDataset or MultiBandDataset, got {type(ds).__name__}")
