"""EPIC-CSU CSUIndoorLoc-CSI-RSSI (Wang & Pasricha): Nexmon CSI at fixed indoor points -> a
CSI-only localisation store (``track`` on real CSI).

Layout (github.com/EPIC-CSU/csi-rssi-dataset-indoor-nav)::

    ROOT/data/ref/ref_<room>_<space>_<packets>.pcap     reference points (3,500 packets, ~10 Hz)
    ROOT/data/test/test_<room>_<space>_<packets>.pcap   test points near them (100 packets)
    ROOT/locations/location_coords.xlsx                 sheets ref_coord_path<K> / test_coord_path<K>:
                                                        location, x_coord, y_coord (metres)

A Raspberry Pi 4 (bcm43455c0, 20 MHz, one antenna) recorded each point along six walking
paths in campus buildings, one access point per path. Every recording becomes one
*recording* (``/meta/segments``) of the multi-band store: its CSI at the capture's own
packet times, shifted so recordings follow each other with :data:`GAP_S` between them, and
a ground-truth position held at the point's coordinates (10 Hz). The reference recordings
are the store's ``train`` split and the test recordings its ``test`` split, so ``track
train --split store`` (or ``track compare --split store``) trains on the reference points
and tests on the test points, the data set's protocol; ``--split random`` mixes windows of
every recording and ``coordinate:...`` holds out an area. The store carries no beam SNR.

This firmware fills the DC and guard bins (see the Nexmon reader), so only the 56 data and
pilot subcarriers (1 <= |k| <= 28) are kept. ``--subset path<K>`` (default ``path1``) keeps
one path (one access point and channel); ``all`` keeps every path with coordinates (a
location missing from the coordinate sheets, such as ``lab_5000``, is skipped and counted).
``--seconds S`` keeps the first S seconds of each reference recording (a quicker study);
test recordings are kept whole. Reading the coordinates needs openpyxl (``pip install
wifisense[public]``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError, ConfigError

NAME = "epic-csu"
KIND = "multiband"
TITLE = "EPIC-CSU CSUIndoorLoc-CSI-RSSI (Nexmon, bcm43455c0)"
LAYOUT = "data/ref/ref_<room>_<space>_<n>.pcap, data/test/test_<room>_<space>_<n>.pcap, locations/location_coords.xlsx"
CITATION = ("L. Wang, S. Pasricha, A Framework for CSI-Based Indoor Localization with 1D Convolutional Neural "
            "Networks, IPIN 2022")
LICENCE = "BSD-3-Clause (the repository's LICENSE)"
DEFAULTS = {"seconds": None, "rate_hz": None, "subset": "path1"}
GAP_S = 10.0             # between consecutive recordings on the store's clock
POSE_HZ = 10.0           # ground-truth samples per second (the point does not move)
KEEP_BINS = 28           # subcarriers 1 <= |k| <= 28 (20 MHz 802.11n/ac data and pilots)
COORDS = "locations/location_coords.xlsx"
FILE = re.compile(r"(ref|test)_(.+)_(\d+)\.pcap$")
SHEET = re.compile(r"(ref|test)_coord_path(\d+)$")


def read_coordinates(path: Path) -> dict[tuple[str, str], tuple[int, float, float]]:
    """``{(kind, location): (path number, x, y)}`` from the coordinate workbook (kind: ref / test)."""
    try:
        import openpyxl
    except ImportError:
        raise ImportError("reading the EPIC-CSU coordinate workbook needs openpyxl: pip install openpyxl "
                          "(or wifisense[public])") from None
    if not path.is_file():
        raise ConfigError(f"{path}: the coordinate workbook is missing (expected {COORDS} under --path)")
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 -- openpyxl raises many kinds for a damaged file
        raise CaptureError(path, f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    out: dict[tuple[str, str], tuple[int, float, float]] = {}
    try:
        for sheet in book.worksheets:
            match = SHEET.match(sheet.title)
            if match is None:
                continue
            kind, number = match.group(1), int(match.group(2))
            for row_no, row in enumerate(sheet.iter_rows(values_only=True), start=1):
                if row_no == 1 or not row or row[0] is None:
                    continue          # the header (location, x_coord, y_coord) and empty rows
                try:
                    x, y = float(row[1]), float(row[2])
                except (TypeError, ValueError, IndexError):
                    raise CaptureError(path, f"sheet {sheet.title}, row {row_no}: x_coord and y_coord must be "
                                             f"numbers, got {row[1:3]!r}") from None
                out[(kind, str(row[0]).strip())] = (number, x, y)
    finally:
        book.close()
    if not out:
        raise CaptureError(path, "no ref_coord_path<K> / test_coord_path<K> sheet with coordinates")
    return out


def _subset_paths(subset: str, coords) -> set[int]:
    numbers = sorted({number for number, _, _ in coords.values()})
    if subset == "all":
        return set(numbers)
    match = re.fullmatch(r"path(\d+)", str(subset))
    if match is None or int(match.group(1)) not in numbers:
        raise ConfigError(f"--subset {subset!r}: choose all or one of "
                          f"{', '.join(f'path{n}' for n in numbers)} (the paths with coordinates)")
    return {int(match.group(1))}


def recordings(root: Path, subset: str) -> tuple[list[dict], list[str]]:
    """The recordings of ``subset`` in store order (path, reference before test, file name), and
    the files skipped because their location has no coordinates."""
    coords = read_coordinates(root / COORDS)
    paths = _subset_paths(subset, coords)
    items, skipped = [], []
    for kind in ("ref", "test"):
        folder = root / "data" / kind
        for file in sorted(folder.glob("*.pcap")) if folder.is_dir() else []:
            match = FILE.match(file.name)
            where = coords.get((kind, match.group(2))) if match and match.group(1) == kind else None
            if where is None:
                skipped.append(file.name)
                continue
            if where[0] in paths:
                items.append({"file": file, "kind": kind, "location": match.group(2), "path": where[0],
                              "xy": (where[1], where[2])})
    items.sort(key=lambda r: (r["path"], r["kind"] != "ref", r["file"].name))
    return items, skipped


def build(root: Path, subset: str = "path1", seconds: float | None = None, rate_hz: float | None = None,
          limit: int | None = None, progress: bool = True):
    """The CSI-only multi-band dataset of ``subset`` and a summary dict (see the module docstring)."""
    from tqdm import tqdm

    from wifisense.io.readers import read_csi
    from wifisense.io.schema import MultiBandDataset

    if rate_hz is not None:
        raise ConfigError("--packet-rate does not apply to epic-csu (the store keeps each packet's capture time)")
    if seconds is not None and not seconds > 0:
        raise ConfigError(f"--seconds must be > 0, got {seconds}")
    items, skipped = recordings(root, subset)
    if not items:
        raise ConfigError(f"--path {root}: no {TITLE} recordings of {subset} found ({LAYOUT})")
    if limit:
        items = items[:limit]
    csi_t, csi_x, pose_t, pose_xy, segments, kinds, rows = [], [], [], [], [], [], []
    carriers, start, subcarriers = set(), 0.0, None
    for item in tqdm(items, desc=f"ingest {NAME}", unit="recording", disable=not progress):
        rec = read_csi(item["file"])
        keep = (np.abs(rec.subcarriers) >= 1) & (np.abs(rec.subcarriers) <= KEEP_BINS)
        t = np.asarray(rec.timestamps, np.float64) - float(rec.timestamps[0])
        if item["kind"] == "ref" and seconds is not None:
            within = t < seconds
            t, x = t[within], rec.csi[within]
        else:
            x = rec.csi
        if len(t) < 2:
            raise CaptureError(item["file"], f"holds {len(t)} packet(s); a recording needs at least 2")
        if not np.all(np.diff(t) > 0):   # a capture clock can repeat a microsecond: keep a tie's first packet
            first = np.r_[True, np.diff(t) > 0]
            t, x = t[first], x[first]
        if subcarriers is None:
            subcarriers = rec.subcarriers[keep]
        elif not np.array_equal(rec.subcarriers[keep], subcarriers):
            raise CaptureError(item["file"], f"carries subcarriers {rec.subcarriers[keep][[0, -1]].tolist()} "
                                             f"({keep.sum()}), the first recording {subcarriers[[0, -1]].tolist()}")
        duration = float(t[-1])
        csi_t.append(t + start)
        csi_x.append(x[:, keep].astype(np.complex64))
        poses = start + np.arange(int(np.floor(duration * POSE_HZ)) + 1) / POSE_HZ
        pose_t.append(poses)
        pose_xy.append(np.tile(np.asarray(item["xy"], np.float32), (len(poses), 1)))
        kinds.append(np.full(len(poses), item["kind"] == "test"))
        segments.append((start, start + duration))
        carriers.add(rec.carrier_hz)
        rows.append({"file": f"data/{item['kind']}/{item['file'].name}", "kind": item["kind"],
                     "location": item["location"], "path": item["path"], "x": item["xy"][0], "y": item["xy"][1],
                     "start_s": round(start, 6), "end_s": round(start + duration, 6), "packets": int(len(t)),
                     "chip": rec.source.get("chip"), "null_bins_level": rec.source.get("null_bins_level")})
        start += duration + GAP_S
    xy = np.concatenate(pose_xy)
    is_test = np.concatenate(kinds)
    margin = 1.0
    room = np.r_[xy.min(axis=0) - margin, xy.max(axis=0) + margin].astype(np.float32)
    dataset = MultiBandDataset(
        csi_t=np.concatenate(csi_t), csi_x=np.concatenate(csi_x), snr_t=None, snr_x=None,
        pose_t=np.concatenate(pose_t), pose_xy=xy, subcarriers=subcarriers.astype(np.int32),
        ap_position=np.full(3, np.nan, np.float32), room=room,
        csi_carrier_hz=carriers.pop() if len(carriers) == 1 else None, csi_bandwidth_mhz=20.0,
        splits={"train": np.flatnonzero(~is_test), "test": np.flatnonzero(is_test)},
        source=f"public:{NAME}", segments=np.asarray(segments, np.float64),
        attrs={"ingest": {"tool": "wifisense ingest public", "dataset": NAME, "title": TITLE, "citation": CITATION,
                          "licence": LICENCE, "subset": subset, "reference_seconds": seconds,
                          "skipped_without_coordinates": skipped},
               "recordings_json": json.dumps(rows)})
    summary = {"recordings": len(rows), "reference": sum(r["kind"] == "ref" for r in rows),
               "test": sum(r["kind"] == "test" for r in rows), "skipped": skipped,
               "points": len({(r["kind"], r["location"]) for r in rows}), "csi_frames": int(len(dataset.csi_t))}
    return dataset, summary
