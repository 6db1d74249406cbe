"""Checking a store against the schema (``validate_store``) and the ``wifisense validate`` command.

Every check reads its field block by block along axis 0, so a multi-gigabyte store is
validated without loading it whole. Values must be finite, except NaN where the schema gives
it a meaning (an unknown position, a beam sector missing from a sweep in ``/snr/x``). Each
problem names the exact HDF5 field path (``/snr/t``, ``/splits/test``) and at most one problem
is reported per check and field, with counts and the first offending index rather than one
line per bad value.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from wifisense.errors import StoreError
from wifisense.io.schema import GROUPS

BLOCK_BYTES = 32 << 20   # read at most ~32 MiB of a field at a time

# (field, dtype rule, shape as dimension names / fixed ints, required)
CAPTION_FIELDS = [
    ("csi", "complex64", ("N", "R", "T", "A", "S"), True),
    ("rx_valid", "bool", ("N", "R"), True),
    ("gap_mask", "bool", ("N", "R", "T"), False),
    ("class_id", "int", ("N",), True),
    ("captions", "str", ("N", "K"), True),
    ("position", "float", ("N", 2), True),
    ("position_id", "int", ("N",), True),
    ("frames", "uint8", ("N", "L", "H", "W", 3), False),
    ("meta/class_names", "str", ("C",), True),
    ("meta/mirror_of", "int", ("C",), True),
    ("meta/subcarriers", "int", ("S",), True),
    ("meta/rx_positions", "float", ("R", 3), True),
    ("meta/tx_position", "float", (3,), True),
]
MULTIBAND_FIELDS = [
    ("csi/t", "float64", ("Nc",), True),
    ("csi/x", "complex64", ("Nc", "S", "Nrx", "Ntx"), True),
    ("snr/t", "float64", ("Ns",), False),     # both or neither: _check_multiband
    ("snr/x", "float", ("Ns", "M"), False),
    ("pose/t", "float64", ("Np",), True),
    ("pose/xy", "float", ("Np", 2), True),
    ("pose/heading", "float", ("Np",), False),
    ("meta/subcarriers", "int", ("S",), True),
    ("meta/beam_angles_deg", "float", ("M",), False),
    ("meta/ap_position", "float", (3,), True),
    ("meta/room", "float", (4,), True),
    ("meta/segments", "float64", ("K", 2), False),
]


@dataclass(frozen=True)
class Problem:
    """One way a store breaks the schema: the HDF5 field path and what is wrong with it."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


# --------------------------------------------------------------------------- reading in blocks


def _blocks(ds, target_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, rows)`` along axis 0, whole chunks at a time, about ``target_bytes`` each."""
    import h5py

    if ds.ndim == 0:
        yield 0, np.asarray(ds[()])[None]
        return
    n = ds.shape[0]
    row_bytes = max(1, int(np.prod(ds.shape[1:], dtype=np.int64)) * max(1, ds.dtype.itemsize))
    chunk_rows = ds.chunks[0] if ds.chunks else 1
    rows = max(chunk_rows, (target_bytes // row_bytes) // chunk_rows * chunk_rows)
    strings = h5py.check_string_dtype(ds.dtype) is not None
    source = ds.asstr() if strings else ds
    for start in range(0, n, rows):
        yield start, source[start:start + rows]


def _index_text(index) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def _dtype_ok(dtype: np.dtype, rule: str) -> bool:
    import h5py

    if rule == "str":
        return h5py.check_string_dtype(dtype) is not None
    if rule in ("complex64", "float64", "float16", "uint8"):
        return dtype == np.dtype(rule)
    if rule == "bool":
        return dtype == np.bool_
    if rule == "int":
        return dtype.kind in "iu"
    if rule == "float":
        return dtype.kind == "f"
    raise ValueError(rule)


def _dtype_text(dtype: np.dtype) -> str:
    import h5py

    return "string" if h5py.check_string_dtype(dtype) is not None else str(dtype)


_RULE_TEXT = {"str": "a UTF-8 string", "int": "an integer type", "float": "a float type"}


# --------------------------------------------------------------------------- the checker


class _Checker:
    """Collects problems for one open store; fields that fail a structural check are skipped
    by the content checks that would read them."""

    def __init__(self, f):
        self.f = f
        self.problems: list[Problem] = []
        self.dims: dict[str, tuple[int, str]] = {}  # dimension name -> (length, defining field)
        self.good: set[str] = set()                 # fields with the right dtype and shape

    def add(self, field: str, reason: str) -> None:
        self.problems.append(Problem(field, reason))

    def dim(self, name: str) -> int | None:
        return self.dims[name][0] if name in self.dims else None

    # ---- structure

    def check_fields(self, specs) -> None:
        import h5py

        for name, rule, shape, required in specs:
            field = f"/{name}"
            obj = self.f.get(name)
            if obj is None:
                if required:
                    self.add(field, "required field is missing")
                continue
            if not isinstance(obj, h5py.Dataset):
                self.add(field, "is a group, expected a dataset")
                continue
            if not _dtype_ok(obj.dtype, rule):
                self.add(field, f"dtype is {_dtype_text(obj.dtype)}, expected "
                         f"{_RULE_TEXT.get(rule, rule)}")
                continue
            if self._shape_ok(field, obj.shape, shape):
                self.good.add(name)

    def _shape_ok(self, field: str, actual: tuple, expected: tuple) -> bool:
        names = "[" + ", ".join(str(d) for d in expected) + "]"
        if len(actual) != len(expected):
            self.add(field, f"shape {list(actual)} does not match {names}")
            return False
        ok = True
        for axis, (length, want) in enumerate(zip(actual, expected)):
            if isinstance(want, int):
                if length != want:
                    self.add(field, f"axis {axis} has length {length}, expected {want} "
                             f"(shape {list(actual)} should be {names})")
                    ok = False
            elif want in self.dims and self.dims[want][0] != length:
                known, source = self.dims[want]
                self.add(field, f"axis {axis} ({want}) has length {length} but {source} "
                         f"gives {want} = {known}")
                ok = False
            else:
                self.dims.setdefault(want, (length, field))
        return ok

    def ds(self, name: str):
        return self.f[name] if name in self.good else None

    # ---- content

    def finite(self, name: str, allow_nan: bool = False) -> None:
        ds = self.ds(name)
        if ds is None:
            return
        count = nan = 0
        first = None
        for start, block in _blocks(ds):
            # complex values as a trailing (real, imag) axis: a view, no copy of the block
            values = (block.view(block.real.dtype).reshape(*block.shape, 2)
                      if np.iscomplexobj(block) else block[..., None])
            bad_parts = np.isinf(values) if allow_nan else ~np.isfinite(values)
            bad = bad_parts.any(axis=-1)
            n_bad = int(bad.sum())
            if n_bad:
                count += n_bad
                nan += int(np.isnan(values).any(axis=-1)[bad].sum())
                if first is None:
                    idx = np.argwhere(bad)[0]
                    idx[0] += start
                    first = idx
        if count:
            what = "infinite" if allow_nan else "non-finite"
            detail = "" if allow_nan else f" ({nan} NaN, {count - nan} inf)"
            self.add(f"/{name}", f"{count} {what} values{detail}, first at index {_index_text(first)}")

    def missing_sectors(self, name: str) -> None:
        """NaN marks a missing beam sector; a beam never observed or a sweep without any beam
        is a problem (it carries nothing)."""
        ds = self.ds(name)
        if ds is None or ds.shape[0] == 0:
            return
        observed = np.zeros(ds.shape[1], np.int64)     # sweeps in which each beam has a value
        empty = 0
        first = None
        for start, block in _blocks(ds):
            present = ~np.isnan(block)
            observed += present.sum(axis=0)
            no_beam = ~present.any(axis=1)
            if no_beam.any():
                empty += int(no_beam.sum())
                if first is None:
                    first = start + int(np.argmax(no_beam))
        never = np.flatnonzero(observed == 0)
        if never.size:
            which = (f"beam column {int(never[0])} is" if never.size == 1
                     else f"beam columns {_index_text(never)} are")
            self.add(f"/{name}", f"{which} missing (NaN) in every one of the {ds.shape[0]} sweeps; "
                     "a beam that is never measured carries nothing (drop the column)")
        if empty:
            self.add(f"/{name}", f"{empty} sweeps have every beam missing (all NaN), first at index "
                     f"{first}; drop those sweeps")

    def strictly_increasing(self, name: str) -> None:
        ds = self.ds(name)
        if ds is None:
            return
        previous = None
        bad = 0
        first = None
        for start, block in _blocks(ds):
            if not np.isfinite(block).all():
                i = start + int(np.argmin(np.isfinite(block)))
                self.add(f"/{name}", f"timestamps must be finite; first NaN/inf at index {i}")
                return
            series = block if previous is None else np.concatenate([[previous], block])
            offset = start if previous is None else start - 1
            steps = np.diff(series) <= 0
            if steps.any():
                bad += int(steps.sum())
                if first is None:
                    first = offset + 1 + int(np.argmax(steps))
            if block.size:
                previous = block[-1]
        if bad:
            self.add(f"/{name}", f"timestamps are not strictly increasing: {bad} steps <= 0, "
                     f"first at index {first} (t[{first}] <= t[{first - 1}])")

    def in_range(self, name: str, low: int, high: int | None, what: str) -> None:
        """Values must lie in [low, high)."""
        ds = self.ds(name)
        if ds is None or high is None:
            return
        count = 0
        first = None
        lo = hi = None
        for start, block in _blocks(ds):
            bad = (block < low) | (block >= high)
            if bad.any():
                count += int(bad.sum())
                if first is None:
                    first = start + int(np.argmax(bad))
                lo = int(block.min()) if lo is None else min(lo, int(block.min()))
                hi = int(block.max()) if hi is None else max(hi, int(block.max()))
        if count:
            self.add(f"/{name}", f"{count} {what} outside [{low}, {high}) (values {lo}..{hi}), "
                     f"first at index {first}")

    def mirror_involution(self) -> None:
        ds = self.ds("meta/mirror_of")
        n_classes = self.dim("C")
        if ds is None or n_classes is None:
            return
        mirror = ds[()].astype(np.int64)
        if mirror.size and (mirror.min() < 0 or mirror.max() >= n_classes):
            i = int(np.argmax((mirror < 0) | (mirror >= n_classes)))
            self.add("/meta/mirror_of", f"class {i} mirrors {mirror[i]}, outside [0, {n_classes})")
            return
        broken = np.flatnonzero(mirror[mirror] != np.arange(n_classes))
        if broken.size:
            i = int(broken[0])
            self.add("/meta/mirror_of", f"not an involution: {broken.size} classes, e.g. class {i} "
                     f"-> {mirror[i]} -> {mirror[mirror[i]]}")

    def captions(self) -> None:
        ds = self.ds("captions")
        if ds is None:
            return
        if ds.shape[1] == 0:
            self.add("/captions", "has no caption column (K = 0); every clip needs one")
            return
        empty_first = misplaced = 0
        first = None
        for start, block in _blocks(ds):
            filled = np.char.str_len(np.char.strip(block.astype(str))) > 0
            no_caption = ~filled[:, 0]
            # padding ("") is only allowed after the last caption of a clip
            gap_then_text = (~filled[:, :-1] & filled[:, 1:]).any(axis=1)
            bad = no_caption | gap_then_text
            if bad.any():
                empty_first += int(no_caption.sum())
                misplaced += int((gap_then_text & ~no_caption).sum())
                if first is None:
                    first = start + int(np.argmax(bad))
        if empty_first or misplaced:
            self.add("/captions", f"{empty_first} clips without a caption (first column empty), "
                     f"{misplaced} with an empty caption before a non-empty one; first at "
                     f"clip {first}")

    def class_names(self) -> None:
        ds = self.ds("meta/class_names")
        if ds is None:
            return
        names = list(ds.asstr()[()])
        if any(not n.strip() for n in names):
            self.add("/meta/class_names", f"class {[n.strip() for n in names].index('')} has an "
                     "empty name")
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                self.add("/meta/class_names", f"class name {name!r} appears twice (class {i})")
                break
            seen.add(name)

    def splits(self, length_dim: str, what: str) -> None:
        import h5py

        group = self.f.get("splits")
        if group is None:
            return
        if not isinstance(group, h5py.Group):
            self.add("/splits", "must be a group of index arrays")
            return
        n = self.dim(length_dim)
        members: dict[str, np.ndarray] = {}
        for name, ds in group.items():
            field = f"/splits/{name}"
            if not isinstance(ds, h5py.Dataset) or ds.ndim != 1:
                self.add(field, "must be a 1-D index array")
                continue
            if ds.dtype.kind not in "iu":
                self.add(field, f"dtype is {_dtype_text(ds.dtype)}, expected an integer type")
                continue
            # split index arrays are at most one int64 per sample: small enough to load
            idx = ds[()].astype(np.int64)
            if n is not None and idx.size and (idx.min() < 0 or idx.max() >= n):
                bad = (idx < 0) | (idx >= n)
                i = int(np.argmax(bad))
                self.add(field, f"{int(bad.sum())} indices outside [0, {n}) ({what}), first "
                         f"idx[{i}] = {idx[i]}")
                continue
            unique = np.unique(idx)
            if unique.size != idx.size:
                self.add(field, f"{idx.size - unique.size} duplicate indices")
            members[name] = unique
        names = sorted(members)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                common = np.intersect1d(members[a], members[b], assume_unique=True)
                if common.size:
                    self.add(f"/splits/{b}", f"overlaps /splits/{a} in {common.size} indices "
                             f"(e.g. {int(common[0])}); splits must be disjoint")

    def positive_attr(self, group: str, name: str, required: bool) -> None:
        obj = self.f.get(group)
        if obj is None:
            return  # the missing group's datasets are already reported
        value = obj.attrs.get(name)
        field = f"/{group}" if group else "/"
        if value is None:
            if required:
                self.add(field, f"attribute {name!r} is missing")
            return
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.add(field, f"attribute {name!r} = {value!r} is not a number")
            return
        if not np.isfinite(number) or number <= 0:
            self.add(field, f"attribute {name!r} = {number} must be a positive number")

    def extra_json(self) -> None:
        """The free-form attributes (root attribute ``extra_json``) must be a JSON object."""
        from wifisense.io.h5open import EXTRA_ATTRS_KEY

        value = self.f.attrs.get(EXTRA_ATTRS_KEY)
        if value is None:
            return
        try:
            parsed = json.loads(value.decode() if isinstance(value, bytes) else str(value))
        except (ValueError, UnicodeDecodeError) as exc:
            self.add("/", f"attribute {EXTRA_ATTRS_KEY!r} is not valid JSON ({exc})")
            return
        if not isinstance(parsed, dict):
            self.add("/", f"attribute {EXTRA_ATTRS_KEY!r} must be a JSON object, got "
                     f"{type(parsed).__name__}")
            return
        mirror, receivers = parsed.get("mirror_receivers"), self.dim("R")
        if mirror is not None and receivers is not None and (
                not isinstance(mirror, list) or sorted(mirror) != list(range(receivers))):
            self.add("/", f"attribute {EXTRA_ATTRS_KEY!r}: mirror_receivers must be a permutation of the "
                     f"{receivers} receivers 0..{receivers - 1}, got {mirror!r}")

    def non_empty(self, name: str, what: str) -> None:
        ds = self.ds(name)
        if ds is not None and ds.shape[:1] == (0,):
            self.add(f"/{name}", f"is empty: the store has no {what}")

    def segments(self) -> None:
        """Separate recordings: finite (start, end) pairs with start < end, in time order, not overlapping."""
        ds = self.ds("meta/segments")
        if ds is None:
            return
        spans = ds[()]
        if not np.isfinite(spans).all():
            self.add("/meta/segments", "holds non-finite times")
        elif (spans[:, 1] <= spans[:, 0]).any():
            k = int(np.argmax(spans[:, 1] <= spans[:, 0]))
            self.add("/meta/segments", f"segment {k} ends ({spans[k, 1]:g} s) before it starts ({spans[k, 0]:g} s)")
        elif len(spans) > 1 and (spans[1:, 0] < spans[:-1, 1]).any():
            k = int(np.argmax(spans[1:, 0] < spans[:-1, 1])) + 1
            self.add("/meta/segments", f"segment {k} starts ({spans[k, 0]:g} s) before segment {k - 1} ends "
                                       f"({spans[k - 1, 1]:g} s): segments must be in time order, not overlapping")

    def room(self) -> None:
        ds = self.ds("meta/room")
        if ds is None:
            return
        x0, y0, x1, y1 = (float(v) for v in ds[()])
        if not (np.isfinite([x0, y0, x1, y1]).all() and x0 < x1 and y0 < y1):
            self.add("/meta/room", f"must be finite [x0, y0, x1, y1] with x0 < x1 and y0 < y1, "
                     f"got {[x0, y0, x1, y1]}")


# --------------------------------------------------------------------------- public API


# The compact CSI encoding (schema version 2): float16 (real, imag) pairs and a scale.
COMPACT_CSI_FIELDS = [
    ("csi", "float16", ("N", "R", "T", "A", "S", 2), True),
    ("csi_scale", "float", ("N", "R"), True),
]


def _check_caption(c: _Checker) -> None:
    import h5py

    from wifisense.io.h5open import COMPACT_ENCODING, _attr_str

    encoding = _attr_str(c.f["csi"].attrs.get("encoding")) if isinstance(c.f.get("csi"), h5py.Dataset) else None
    if encoding not in (None, COMPACT_ENCODING):
        c.add("/csi", f"encoding attribute is {encoding!r}; expected none (complex64) or {COMPACT_ENCODING!r}")
    compact = encoding == COMPACT_ENCODING
    if compact and int(c.f.attrs.get("schema_version", 0)) < 2:
        c.add("/", f"schema_version is below 2 but /csi uses the {COMPACT_ENCODING!r} encoding of version 2")
    c.check_fields(COMPACT_CSI_FIELDS + CAPTION_FIELDS[1:] if compact else CAPTION_FIELDS)
    c.finite("csi")
    if compact:
        c.finite("csi_scale")
        if c.ds("csi_scale") is not None:
            negative = np.argwhere(c.ds("csi_scale")[()] < 0)
            if negative.size:
                c.add("/csi_scale", f"{len(negative)} negative scales, first at index {_index_text(negative[0])}")
    c.finite("position", allow_nan=True)   # NaN = position unknown
    c.finite("meta/rx_positions", allow_nan=True)
    c.finite("meta/tx_position", allow_nan=True)
    c.in_range("class_id", 0, c.dim("C"), "class ids")
    c.in_range("position_id", -1, np.iinfo(np.int64).max, "position ids")
    groups = c.f.get(GROUPS)
    if groups is not None:      # per-clip integer group columns written by converters (split group:NAME)
        import h5py

        if not isinstance(groups, h5py.Group):
            c.add(f"/{GROUPS}", "is a dataset, expected a group of per-clip columns")
        else:
            c.check_fields([(f"{GROUPS}/{name}", "int", ("N",), True) for name in groups])
    c.mirror_involution()
    c.captions()
    c.class_names()
    c.splits("N", "clip indices")
    c.positive_attr("meta", "sample_rate_hz", required=True)
    c.positive_attr("meta", "clip_seconds", required=True)
    for name in ("carrier_hz", "bandwidth_mhz"):
        c.positive_attr("meta", name, required=False)
    c.extra_json()


def _check_multiband(c: _Checker) -> None:
    c.check_fields(MULTIBAND_FIELDS)
    for name, other in (("snr/t", "snr/x"), ("snr/x", "snr/t")):
        if name not in c.f and other in c.f:
            c.add(f"/{name}", f"required field is missing (/{other} is there: a store has both beam-SNR "
                              "fields or neither)")
    for stream, data in (("csi", "x"), ("snr", "x"), ("pose", "xy")):
        c.strictly_increasing(f"{stream}/t")
        # NaN in /snr/x is a beam sector missing from a sweep (a missing value), not an error
        c.finite(f"{stream}/{data}", allow_nan=stream == "snr")
    c.missing_sectors("snr/x")
    c.finite("pose/heading")
    c.finite("meta/ap_position", allow_nan=True)
    c.room()
    c.segments()
    c.splits("Np", "pose sample indices")
    for stream, what in (("csi/t", "CSI packets"), ("snr/t", "beam-SNR sweeps"), ("pose/t", "positions")):
        c.non_empty(stream, what)
    for name in ("csi_carrier_hz", "snr_carrier_hz", "csi_bandwidth_mhz"):
        c.positive_attr("meta", name, required=False)
    c.extra_json()


def validate_store(path: str | os.PathLike) -> list[Problem]:
    """All the ways the store at ``path`` breaks the schema (empty list: valid).

    Raises StoreError only when ``path`` does not exist; any other unreadable file is
    reported as a problem at field ``/``. Where the platform can fork, the HDF5 library
    reads the file in a child process with a time limit (:mod:`wifisense.io.contain`), so a
    damaged file that makes it loop or crash is a problem, not a hung command.
    """
    from wifisense.io.h5open import StoreReadFailed, read_contained

    if not Path(path).exists():
        raise StoreError(path, None, "no such file")
    try:
        return read_contained(path, lambda: _validate_here(path))
    except StoreReadFailed as exc:
        return [Problem("/", exc.args[0])]


def _validate_here(path: str | os.PathLike) -> list[Problem]:
    from wifisense.io.h5open import HDF5_READ_ERRORS, _open_h5, check_signature, read_every_attribute

    try:
        f = _open_h5(path)
    except StoreError as exc:
        return [Problem(exc.field or "/", exc.reason)]
    with f:
        try:
            kind = check_signature(f, path)
        except StoreError as exc:
            return [Problem(exc.field or "/", exc.reason)]
        checker = _Checker(f)
        try:
            read_every_attribute(f)
            (_check_caption if kind == "caption" else _check_multiband)(checker)
        except HDF5_READ_ERRORS as exc:  # corrupt chunk, truncated file, broken heap
            checker.add("/", f"cannot read the file: {exc}")
        return checker.problems


def check_store(path: str | os.PathLike) -> None:
    """Raise StoreError naming the first problem of the store at ``path``; return if valid."""
    problems = validate_store(path)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise StoreError(path, first.field, first.reason + more)


def summarize_store(path: str | os.PathLike) -> str:
    """One line describing a (valid) store: kind, sizes, splits."""
    from wifisense.io.h5open import open_store

    with open_store(path) as f:
        kind = str(f.attrs["kind"])
        splits = ", ".join(f"{name}={ds.shape[0]}" for name, ds in f.get("splits", {}).items())
        if kind == "caption":
            from wifisense.io.h5open import caption_csi_shape, is_compact_csi

            n, r, t, a, s = caption_csi_shape(f)
            parts = [f"caption store, {n} clips", f"[R, T, A, S] = [{r}, {t}, {a}, {s}]"
                     + (" (float16 CSI)" if is_compact_csi(f) else ""),
                     f"{f['meta/class_names'].shape[0]} classes",
                     f"{f['captions'].shape[1]} captions/clip"]
            if "frames" in f:
                parts.append("frames [L, H, W] = " + str(list(f["frames"].shape[1:4])))
        else:
            t = f["csi/t"]
            span = float(t[-1] - t[0]) if t.shape[0] > 1 else 0.0
            parts = [f"multiband store, csi {t.shape[0]} x {list(f['csi/x'].shape[1:])} over "
                     f"{span:.1f} s", f"snr {list(f['snr/x'].shape)}" if "snr/x" in f else "no beam SNR (CSI only)",
                     f"pose {f['pose/t'].shape[0]} samples"]
        if splits:
            parts.append(f"splits {splits}")
        return ", ".join(parts)


# --------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="wifisense store(s) to check")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON list with the result for every file")


def run(args: argparse.Namespace) -> int:
    """Print ``OK: FILE: summary`` or one ``FILE:/field: reason`` line per problem.

    Exit code 0 when every file is valid, 1 when any has a problem (2 for a missing file).
    """
    for name in args.files:
        if not Path(name).exists():
            raise StoreError(name, None, "no such file")
    results = []
    for name in args.files:
        problems = validate_store(name)
        results.append({"file": str(name), "ok": not problems,
                        "summary": summarize_store(name) if not problems else None,
                        "problems": [asdict(p) for p in problems]})
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            if result["ok"]:
                print(f"OK: {result['file']}: {result['summary']}")
            for p in result["problems"]:
                print(f"{result['file']}:{p['field']}: {p['reason']}")
    return 0 if all(r["ok"] for r in results) else 1
