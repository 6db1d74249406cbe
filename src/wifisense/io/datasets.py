"""Lazy PyTorch views of a store: one caption clip per item, and the multi-band streams.

h5py file handles must not cross ``fork`` (DataLoader workers), so each process opens
the file itself on first access and a handle inherited from another process is never
used: the owning process id is stored next to the handle.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from wifisense.errors import ConfigError, StoreError
from wifisense.io.h5open import caption_csi_shape, read_caption_csi

CAPTION_FIELDS = ("csi", "rx_valid", "gap_mask", "class_id", "captions", "position",
                  "position_id", "frames")
DEFAULT_CAPTION_FIELDS = ("csi", "rx_valid", "class_id", "captions")
STREAMS = {"csi": "x", "snr": "x", "pose": "xy"}


class _LazyStoreFile:
    """An h5py file opened on first use in the current process (never shared across forks)."""

    def __init__(self, path: str | os.PathLike, kind: str):
        self.path = os.fspath(path)
        self.kind = kind
        self._file = None
        self._pid = None

    def get(self):
        import h5py

        if self._file is None or self._pid != os.getpid():
            # a handle inherited through fork belongs to the parent: drop it, don't close it
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None
        self._pid = None

    def __getstate__(self) -> dict:
        # spawn-started workers get the path only and open their own handle
        return {"path": self.path, "kind": self.kind, "_file": None, "_pid": None}


# per-clip fields small enough to read for a whole split at construction
SMALL_FIELDS = ("captions", "class_id", "position_id")


class CaptionStoreDataset:
    """Clips of a caption store as dicts: tensors for arrays, a list of str for captions.

    Args:
        path: caption store (``.h5``).
        split: name of a split in ``/splits`` or ``None`` for every clip.
        fields: which per-clip fields to return; any of ``CAPTION_FIELDS``. ``csi`` is a
            complex64 tensor ``[R, T, A, S]``, ``rx_valid`` bool ``[R]``, ``gap_mask`` bool
            ``[R, T]``, ``class_id`` / ``position_id`` int64 scalars, ``position`` float32
            ``[2]``, ``frames`` uint8 ``[L, H, W, 3]``, ``captions`` a list of K strings.
            Every item also has ``index``, the clip's index in the store.

    Metadata (class names, mirror map, sample rate...) and the small per-clip fields
    (:data:`SMALL_FIELDS`: captions and ids) are read once at construction; the per-clip
    arrays are read from disk on every ``__getitem__``. A map-style dataset for
    ``torch.utils.data.DataLoader`` (use ``collate_fn=collate_clips``); it does not subclass
    ``torch.utils.data.Dataset`` so that importing it does not import torch.
    """

    def __init__(self, path: str | os.PathLike, split: str | None = "train",
                 fields: Sequence[str] = DEFAULT_CAPTION_FIELDS):
        from wifisense.io.store import _read_strings, open_store

        unknown = sorted(set(fields) - set(CAPTION_FIELDS))
        if unknown:
            raise ConfigError(f"unknown caption field(s) {unknown}; choose from {CAPTION_FIELDS}")
        self.path = os.fspath(path)
        self.split = split
        self.fields = tuple(fields)
        with open_store(path, kind="caption") as f:
            for name in self.fields:
                if name not in f:
                    raise StoreError(path, f"/{name}", "field asked for is not in the store")
            num_clips = int(f["csi"].shape[0])
            if split is None:
                self.indices = np.arange(num_clips, dtype=np.int64)
            elif "splits" in f and split in f["splits"]:
                self.indices = f["splits"][split][()].astype(np.int64)
            else:
                have = sorted(f["splits"]) if "splits" in f else []
                raise StoreError(path, f"/splits/{split}", f"no such split (store has {have})")
            meta = f["meta"]
            self.class_names = list(_read_strings(meta["class_names"]))
            self.mirror_of = meta["mirror_of"][()]
            self.subcarriers = meta["subcarriers"][()]
            self.sample_rate_hz = float(meta.attrs["sample_rate_hz"])
            self.clip_shape = caption_csi_shape(f)[1:]  # (R, T, A, S)
            # Why: h5py's per-item cost is in looking up the dataset and, for a variable-length
            # string row, in building the view: reading one clip's captions took 1.6 ms, 38 s of a
            # demo caption run's 845 s (py-spy); all of a split's take milliseconds in one read.
            self._small = {name: self._read_small(f, name) for name in self.fields if name in SMALL_FIELDS}
        self._file = _LazyStoreFile(path, "caption")
        self._handles: tuple = (None, {})       # (open file, {field: its h5py dataset})

    def _read_small(self, f, name: str) -> list:
        """Field ``name`` of every clip of the split, in ``self.indices`` order."""
        from wifisense.io.h5open import read_rows

        order = np.argsort(self.indices, kind="stable")
        rows = self.indices[order]
        unique, inverse = np.unique(rows, return_inverse=True)
        values = read_rows(f[name].asstr() if name == "captions" else f[name], unique)[inverse]
        out = [None] * len(self.indices)
        for position, value in zip(order, values):
            out[position] = ([s for s in value.tolist() if s != ""] if name == "captions" else int(value))
        return out

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, item: int) -> dict:
        import torch

        index = int(self.indices[item])
        f = self._file.get()
        if self._handles[0] is not f:
            self._handles = (f, {})
        handles = self._handles[1]
        out: dict = {"index": index}
        for name in self.fields:
            if name in self._small:
                value = self._small[name][item]
                out[name] = list(value) if name == "captions" else torch.tensor(value, dtype=torch.int64)
                continue
            if name == "csi":
                value = read_caption_csi(f, index)
            else:
                if name not in handles:
                    handles[name] = f[name]
                value = handles[name][index]
            out[name] = torch.from_numpy(np.ascontiguousarray(value))
        return out

    def close(self) -> None:
        self._handles = (None, {})
        self._file.close()

    def __getstate__(self) -> dict:
        # a loader worker gets no open handles (it opens its own file)
        return {**self.__dict__, "_handles": (None, {})}

    def __del__(self):
        if getattr(self, "_file", None) is not None:
            self.close()


def collate_clips(batch: list[dict]) -> dict:
    """Stack a list of clip dicts: tensors along a new batch axis, captions as list of lists.

    (torch's default collate would transpose the caption lists into K tuples of B strings.)
    """
    import torch

    out: dict = {}
    for key in batch[0]:
        values = [item[key] for item in batch]
        if key == "captions":
            out[key] = values
        elif key == "index":
            out[key] = torch.tensor(values, dtype=torch.int64)
        else:
            out[key] = torch.stack(values)
    return out


class MultiBandStreams:
    """Lazy access to the continuous streams of a multi-band store.

    ``times(stream)`` returns (and caches) a stream's timestamps; ``read(stream, t0, t1)``
    returns ``(t, x)`` for the samples with ``t0 <= t < t1`` as NumPy arrays, reading only
    those rows. Streams: ``"csi"`` (x complex64 ``[n, S, Nrx, Ntx]``), ``"snr"`` (x float32
    ``[n, M]``) and ``"pose"`` (xy float32 ``[n, 2]``). Windows are cut by the track room.
    """

    def __init__(self, path: str | os.PathLike):
        from wifisense.io.store import open_store

        self.path = os.fspath(path)
        with open_store(path, kind="multiband") as f:
            meta = f["meta"]
            self.subcarriers = meta["subcarriers"][()]
            self.ap_position = meta["ap_position"][()]
            self.room = meta["room"][()]
            self.beam_angles_deg = meta["beam_angles_deg"][()] if "beam_angles_deg" in meta else None
            self.splits = ({name: ds[()] for name, ds in f["splits"].items()}
                           if "splits" in f else {})
            # a CSI-only store has no snr stream: length 0
            self.lengths = {s: int(f[f"{s}/t"].shape[0]) if f"{s}/t" in f else 0 for s in STREAMS}
        self._file = _LazyStoreFile(path, "multiband")
        self._times: dict[str, np.ndarray] = {}

    def _check_stream(self, stream: str) -> None:
        if stream not in STREAMS:
            raise ConfigError(f"unknown stream {stream!r}; choose from {sorted(STREAMS)}")

    def times(self, stream: str) -> np.ndarray:
        """Timestamps (float64 seconds) of one stream, read once and cached."""
        self._check_stream(stream)
        if stream not in self._times:
            f = self._file.get()
            if f"{stream}/t" not in f:
                raise StoreError(self.path, f"/{stream}/t", "not in this store (it carries CSI only)")
            self._times[stream] = f[f"{stream}/t"][()]
        return self._times[stream]

    def read(self, stream: str, t0: float = -np.inf, t1: float = np.inf
             ) -> tuple[np.ndarray, np.ndarray]:
        """Samples of ``stream`` with ``t0 <= t < t1``: ``(t, x)``."""
        t = self.times(stream)
        start, stop = np.searchsorted(t, [t0, t1], side="left")
        return t[start:stop], self._file.get()[f"{stream}/{STREAMS[stream]}"][start:stop]

    def read_rows(self, stream: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Samples ``start:stop`` of ``stream`` by position: ``(t, x)``."""
        t = self.times(stream)
        return t[start:stop], self._file.get()[f"{stream}/{STREAMS[stream]}"][start:stop]

    def close(self) -> None:
        self._file.close()

    def __del__(self):
        if getattr(self, "_file", None) is not None:
            self.close()
