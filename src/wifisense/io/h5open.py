"""Opening a wifisense store file safely: HDF5 signature and schema version, no data pulled
from other files, and h5py's errors on corrupt files turned into StoreErrors naming the field.

Shared by the store's readers and writers (``store``) and by ``validate``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from wifisense.errors import StoreError
from wifisense.io.schema import SCHEMA_NAME, SCHEMA_VERSION
from wifisense.version import __version__

KINDS = ("caption", "multiband")
# What h5py raises on a corrupt or truncated file (a bad address, a broken heap, bytes that
# do not decode): every reader that walks a store turns these into one line naming it.
HDF5_READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError)
EXTRA_ATTRS_KEY = "extra_json"  # root attribute holding the dataset's free-form ``attrs``
# Time allowed to read a whole store in a contained child (validate, inspect) before it is
# called stuck: the HDF5 library loops for ever on some damaged heaps. A healthy store reads
# at hundreds of MB/s; 5 MB/s leaves room for a busy machine and slow disks.
READ_LIMIT_BASE_S = 30.0
READ_LIMIT_BYTES_PER_S = 5e6


# --------------------------------------------------------------------------- opening


def _open_h5(path: str | os.PathLike, mode: str = "r") -> h5py.File:
    """Open an existing HDF5 file, turning "missing" and "not HDF5" into StoreErrors."""
    p = Path(path)
    if not p.exists():
        raise StoreError(p, None, "no such file")
    if p.is_dir():
        raise StoreError(p, None, "is a directory, not a store file")
    if not h5py.is_hdf5(p):
        raise StoreError(p, None, "not an HDF5 file (expected a wifisense .h5 store)")
    try:
        f = h5py.File(p, mode)
    except OSError as exc:
        raise StoreError(p, None, f"cannot open HDF5 file: {exc}") from exc
    try:
        refuse_foreign_data(f, p)
    except BaseException:
        f.close()
        raise
    return f


def refuse_foreign_data(f: h5py.File, path: str | os.PathLike) -> None:
    """Raise StoreError if the file pulls data from other files.

    HDF5 external links, external raw storage and virtual datasets all make reading the
    store read other files on the machine (any path the file names). A store must hold its
    own data, so all three are refused, naming the field and where it points.
    """
    def walk(group: h5py.Group, prefix: str) -> None:
        try:
            names = list(group)
        except HDF5_READ_ERRORS as exc:
            raise StoreError(path, prefix or "/", f"cannot be read (corrupt?): {exc}") from None
        for name in names:
            field = f"{prefix}/{name}"
            try:
                link = group.get(name, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    raise StoreError(path, field, f"is an external link to {link.filename}:{link.path}; "
                                     "a store must hold its own data")
                if isinstance(link, h5py.SoftLink):
                    continue  # points inside this file; visited under its own name
                obj = group[name]
            except StoreError:
                raise
            except HDF5_READ_ERRORS as exc:
                raise StoreError(path, field, f"cannot be read (corrupt?): {exc}") from None
            if isinstance(obj, h5py.Group):
                walk(obj, field)
            elif isinstance(obj, h5py.Dataset):
                if obj.external:
                    raise StoreError(path, field, f"keeps its data in external file(s) "
                                     f"{[e[0] for e in obj.external]}; a store must hold its own data")
                if obj.is_virtual:
                    raise StoreError(path, field, "is a virtual dataset (data from other files); "
                                     "a store must hold its own data")

    walk(f, "")


def check_signature(f: h5py.File, path: str | os.PathLike, kind: str | None = None) -> str:
    """Check the root attributes of an open store and return its kind.

    Raises StoreError for a foreign HDF5 file, a newer schema version than this wifisense
    understands, an unknown kind, or a kind other than the one asked for.
    """
    schema = _attr_str(f.attrs.get("schema"))
    if schema != SCHEMA_NAME:
        found = "no schema attribute" if schema is None else f"schema attribute is {schema!r}"
        raise StoreError(path, "/", f"not a wifisense store ({found}, expected {SCHEMA_NAME!r})")
    version = f.attrs.get("schema_version")
    if version is None:
        raise StoreError(path, "/", "schema_version attribute is missing")
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise StoreError(path, "/", f"schema_version attribute {version!r} is not an integer")
    if version > SCHEMA_VERSION:
        raise StoreError(
            path, "/", f"written with schema version {version}, newer than the version "
            f"{SCHEMA_VERSION} this wifisense ({__version__}) reads; upgrade wifisense")
    if version < 1:
        raise StoreError(path, "/", f"schema_version {version} is not valid (must be >= 1)")
    found_kind = _attr_str(f.attrs.get("kind"))
    if found_kind not in KINDS:
        raise StoreError(path, "/", f"kind attribute is {found_kind!r}, expected one of {KINDS}")
    if kind is not None and found_kind != kind:
        raise StoreError(path, "/", f"is a {found_kind!r} store, expected a {kind!r} store")
    return found_kind


@contextlib.contextmanager
def open_store(path: str | os.PathLike, kind: str | None = None) -> Iterator[h5py.File]:
    """Open a store read-only after checking it is a wifisense store this version can read."""
    f = _open_h5(path, "r")
    try:
        check_signature(f, path, kind)
        yield f
    finally:
        f.close()


def store_kind(path: str | os.PathLike) -> str:
    """``"caption"`` or ``"multiband"``; StoreError if ``path`` is not a readable store."""
    with open_store(path) as f:
        return _attr_str(f.attrs["kind"])


def _attr_str(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def read_limit_s(path: str | os.PathLike) -> float:
    """Seconds a contained read of the whole file at ``path`` may take (see READ_LIMIT_BASE_S)."""
    try:
        size = os.stat(path).st_size
    except OSError:
        size = 0
    return READ_LIMIT_BASE_S + size / READ_LIMIT_BYTES_PER_S


class StoreReadFailed(Exception):
    """A contained read of a store hung or crashed (args[0]: the reason, naming no file)."""


def read_contained(path: str | os.PathLike, read):
    """``read()`` in a forked child with a time limit (``read_limit_s``) where the platform can
    fork, else in process. The HDF5 library loops for ever or crashes on some damaged files;
    then this raises :class:`StoreReadFailed` with the reason, which callers report their way
    (``validate``: a problem; ``inspect``: a CaptureError). Errors ``read`` raises pass through."""
    from wifisense.io.contain import ContainedCrash, ContainedFailure, ContainedTimeout, can_contain, run_contained

    if not can_contain():
        return read()
    limit = read_limit_s(path)
    try:
        return run_contained(read, limit)
    except ContainedTimeout:
        raise StoreReadFailed(f"reading it did not finish within {limit:.0f} s: the HDF5 library is stuck "
                              "on a damaged structure (a corrupt file?)") from None
    except ContainedCrash as exc:
        raise StoreReadFailed(f"the HDF5 library crashed ({exc.args[0]}) reading it: the file is corrupt") from None
    except ContainedFailure as exc:
        raise StoreReadFailed(f"cannot read the HDF5 file (corrupt?): {exc.args[0]}") from None


def read_every_attribute(f: h5py.File) -> None:
    """Read the value of every attribute of every object (a damaged attribute heap shows
    here, inside a contained child, rather than later in a command's own process)."""
    def read(obj) -> None:
        for name in obj.attrs:
            obj.attrs[name]

    read(f)
    f.visititems(lambda _name, obj: read(obj))


# --------------------------------------------------------------------------- caption CSI

COMPACT_ENCODING = "float16_scaled"   # the /csi attr "encoding" of compact stores (schema.py)


def is_compact_csi(f: h5py.File) -> bool:
    """Whether the caption store's /csi holds scaled float16 (real, imag) pairs."""
    return _attr_str(f["csi"].attrs.get("encoding")) == COMPACT_ENCODING


def caption_csi_shape(f: h5py.File) -> tuple[int, ...]:
    """``(N, R, T, A, S)`` of a caption store's clips, whatever the CSI encoding."""
    shape = tuple(int(d) for d in f["csi"].shape)
    return shape[:5] if is_compact_csi(f) else shape


def read_rows(ds: h5py.Dataset, rows) -> np.ndarray:
    """``ds[rows]`` for an int, a slice or increasing indices; indices are read as runs of
    consecutive rows, each a slice: h5py's point selection for an index list was 13x slower
    (64 clips of a one-clip-per-chunk gzip dataset: 1.49 s vs 0.12 s, measured)."""
    if isinstance(rows, (int, np.integer, slice)):
        return ds[rows]
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return ds[rows]
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    runs = [(int(run[0]), int(run[-1]) + 1) for run in np.split(rows, breaks)]
    return np.concatenate([ds[start:stop] for start, stop in runs])


def read_caption_csi(f: h5py.File, rows) -> np.ndarray:
    """Complex64 CSI of the clips ``rows`` (an int, a slice or increasing indices), ``[..., R, T, A, S]``."""
    if not is_compact_csi(f):
        return read_rows(f["csi"], rows)
    pairs = read_rows(f["csi"], rows).astype(np.float32)
    csi = pairs[..., 0] + 1j * pairs[..., 1]
    scale = read_rows(f["csi_scale"], rows).astype(np.float32)
    return (csi * scale[..., None, None, None]).astype(np.complex64)


def encode_compact_csi(csi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(pairs float16 [N, R, T, A, S, 2], scale float32 [N, R])`` with ``csi ~ pairs * scale``.

    Each clip and receiver is divided by its largest real or imaginary component, so values
    lie in [-1, 1] where float16 keeps 11 significant bits whatever the CSI's own units.
    """
    csi = np.asarray(csi)
    peak = np.maximum(np.abs(csi.real), np.abs(csi.imag)).max(axis=(2, 3, 4)).astype(np.float32)   # [N, R]
    scale = np.where(peak > 0, peak, 1.0).astype(np.float32)
    unit = csi / scale[..., None, None, None]
    pairs = np.stack([unit.real, unit.imag], axis=-1).astype(np.float16)
    return pairs, np.where(peak > 0, scale, 0.0).astype(np.float32)
