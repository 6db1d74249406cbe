"""``wifisense ingest``: turn real captures into a dataset store (caption clips or multi-band streams).

Caption clips: one capture per receiver (any format ``read_csi`` reads), each ``[T, S, Nrx,
Ntx]``, is put on a common uniform time grid by nearest-packet resampling (which keeps each
packet's phase as measured) with a gap mask where no packet was near, and flattened to
``[T, A, S]`` with antenna pair ``a = rx * Ntx + tx``; the receivers stack to ``[R, T, A, S]``.
Receivers are aligned on their own first packets by default (their clocks are not shared);
``--align absolute`` trusts the timestamps when all receivers share one clock.

Multi-band streams: a CSI capture, a beam-SNR CSV and a positions CSV keep their own
irregular times; optional offsets move the logs onto the CSI clock and all streams are then
shifted by one common origin so the store starts near t = 0.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wifisense.options import add_old_spelling
from wifisense.errors import CaptureError, ConfigError

log = logging.getLogger(__name__)

# One clip is built in memory; beyond this it is surely a typo in --seconds or --clip-rate.
MAX_CLIP_BYTES = 2 << 30
MISSING_RECEIVER = ("", "-", "none")      # how a manifest or --rx marks a receiver with no capture
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
DEFAULT_NUM_FRAMES = 8
DEFAULT_FRAME_SIZE = 224                  # CLIP's input size
DEFAULT_CLASS = "unknown"
ALIGN_MODES = ("start", "absolute")
VIDEO_INSTALL_HINT = "reading video needs imageio: pip install imageio imageio-ffmpeg"


# --------------------------------------------------------------------------- caption clips


@dataclass
class ClipGrid:
    """Where a clip's uniform grid lies: rate, length and offset from the aligned start."""

    rate_hz: float
    num_steps: int
    start_s: float = 0.0

    @property
    def seconds(self) -> float:
        return self.num_steps / self.rate_hz

    def times(self) -> np.ndarray:
        return self.start_s + np.arange(self.num_steps) / self.rate_hz


def read_receivers(paths: list[str | os.PathLike | None], format: str = "auto", **hints) -> list:
    """Read one capture per receiver; ``None`` (or ``"-"``) marks a missing receiver."""
    from wifisense.io.readers import read_csi

    recordings = []
    for path in paths:
        if path is None or str(path).strip().lower() in MISSING_RECEIVER:
            recordings.append(None)
        else:
            recordings.append(read_csi(path, format=format, **hints))
    if all(r is None for r in recordings):
        raise ConfigError("every receiver is missing; give at least one capture")
    return recordings


def check_receivers_match(recordings: list, paths: list) -> None:
    """All present receivers need the same subcarriers and antenna counts as the first."""
    present = [(r, p) for r, p in zip(recordings, paths) if r is not None]
    ref, ref_path = present[0]
    for rec, path in present[1:]:
        if rec.shape[1:] != ref.shape[1:]:
            raise CaptureError(path, f"has [S, Nrx, Ntx] = {list(rec.shape[1:])} but {ref_path} "
                               f"has {list(ref.shape[1:])}; every receiver needs the same "
                               "subcarriers and antennas")
        if not np.array_equal(rec.subcarriers, ref.subcarriers):
            raise CaptureError(path, f"uses subcarrier indices {_short(rec.subcarriers)} but "
                               f"{ref_path} uses {_short(ref.subcarriers)}")


def _short(values: np.ndarray) -> str:
    values = np.asarray(values).tolist()
    return str(values) if len(values) <= 6 else f"[{values[0]}, {values[1]}, ..., {values[-1]}]"


def _relative_times(recordings: list, align: str) -> list:
    if align not in ALIGN_MODES:
        raise ConfigError(f"unknown --align {align!r}; choose one of {ALIGN_MODES}")
    present = [r.timestamps for r in recordings if r is not None]
    origin = None if align == "start" else max(float(t[0]) for t in present)
    return [None if r is None else
            r.timestamps - (r.timestamps[0] if origin is None else origin) for r in recordings]


def choose_grid(recordings: list, rate_hz: float | None = None, seconds: float | None = None,
                start_s: float = 0.0, align: str = "start") -> ClipGrid:
    """The clip grid: given rate/seconds, else the median packet rate / the common overlap."""
    present = [r for r in recordings if r is not None]
    if rate_hz is None:
        rates = [r.rate_hz for r in present if r.rate_hz > 0]
        if not rates:
            raise ConfigError("cannot infer the clip rate from single-packet captures; "
                              "give --clip-rate HZ")
        rate_hz = float(f"{np.median(rates):.3g}")  # 3 significant digits: a readable rate
    if not (np.isfinite(rate_hz) and rate_hz > 0):
        raise ConfigError(f"--clip-rate must be a finite number > 0 Hz, got {rate_hz}")
    if not np.isfinite(start_s) or start_s < 0:
        raise ConfigError(f"--start must be a finite number >= 0 s, got {start_s}")
    if seconds is not None and not (np.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"--seconds must be a finite number > 0, got {seconds}")
    if seconds is None:
        ends = [t[-1] for t in _relative_times(recordings, align) if t is not None]
        # grid points from start_s up to the end of the shortest capture, both included
        num_steps = int(np.floor((min(ends) - start_s) * rate_hz + 1e-9)) + 1
        seconds = num_steps / rate_hz
    num_steps = int(round(seconds * rate_hz))
    if num_steps < 1:
        raise ConfigError(f"the clip would have no samples ({seconds:.3g} s at {rate_hz} Hz); "
                          "check --seconds, --start and --clip-rate")
    return ClipGrid(rate_hz=rate_hz, num_steps=num_steps, start_s=start_s)


def align_receivers(recordings: list, grid: ClipGrid, align: str = "start"
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample every receiver onto ``grid``: ``csi [R, T, A, S]``, ``gap_mask [R, T]``, ``rx_valid [R]``.

    Nearest-packet resampling; a grid time whose nearest packet is more than 2.5 grid
    periods away (or outside the capture) is a gap. Missing receivers are all zeros, all
    gaps and ``rx_valid = False``.
    """
    from wifisense.signal import resample_uniform

    ref = next(r for r in recordings if r is not None)
    _, s, nrx, ntx = ref.shape
    need = len(recordings) * grid.num_steps * nrx * ntx * s * np.dtype(np.complex64).itemsize
    if need > MAX_CLIP_BYTES:
        raise ConfigError(f"one clip of {grid.seconds:.4g} s at {grid.rate_hz:.4g} Hz would need "
                          f"{need / 2**30:.1f} GiB (limit {MAX_CLIP_BYTES / 2**30:.0f} GiB); "
                          "shorten --seconds or lower --clip-rate")
    times = grid.times()
    csi = np.zeros((len(recordings), grid.num_steps, nrx * ntx, s), np.complex64)
    gap_mask = np.ones((len(recordings), grid.num_steps), bool)
    rx_valid = np.array([r is not None for r in recordings])
    for i, (rec, t) in enumerate(zip(recordings, _relative_times(recordings, align))):
        if rec is None:
            continue
        _, values, gaps = resample_uniform(t, rec.csi, grid=times, method="nearest", axis=0)
        # [T, S, Nrx, Ntx] -> [T, S, A] -> [T, A, S]
        csi[i] = np.asarray(values).reshape(grid.num_steps, s, nrx * ntx).transpose(0, 2, 1)
        gap_mask[i] = np.asarray(gaps)
    return csi, gap_mask, rx_valid


def _fit_frame(image, size: int) -> np.ndarray:
    """Centre-crop to a square and resize to ``size`` (as CLIP's preprocessing does)."""
    from PIL import Image

    image = image.convert("RGB")
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side))
    return np.asarray(image.resize((size, size), Image.BILINEAR), dtype=np.uint8)


def _uniform_picks(count: int, num_frames: int) -> np.ndarray:
    return np.round(np.linspace(0, count - 1, num_frames)).astype(int)


def load_frames_dir(folder: str | os.PathLike, num_frames: int = DEFAULT_NUM_FRAMES,
                    size: int = DEFAULT_FRAME_SIZE) -> np.ndarray:
    """``num_frames`` images sampled uniformly (by sorted file name) -> uint8 ``[L, size, size, 3]``."""
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    if not folder.is_dir():
        raise CaptureError(folder, "frames folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CaptureError(folder, f"no image files ({', '.join(IMAGE_SUFFIXES)}) in the folder")
    frames = []
    for i in _uniform_picks(len(files), num_frames):
        try:
            with Image.open(files[i]) as image:
                frames.append(_fit_frame(image, size))
        except (UnidentifiedImageError, OSError) as exc:
            raise CaptureError(files[i], f"cannot read the image: {exc}") from None
    return np.stack(frames)


def load_video(path: str | os.PathLike, num_frames: int = DEFAULT_NUM_FRAMES,
               size: int = DEFAULT_FRAME_SIZE) -> np.ndarray:
    """``num_frames`` frames sampled uniformly from a video -> uint8 ``[L, size, size, 3]``.

    Needs the optional ``imageio`` (+ ``imageio-ffmpeg`` for most formats).
    """
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise CaptureError(path, "video file not found")
    try:
        import imageio.v3 as iio
    except ImportError:
        raise CaptureError(path, VIDEO_INSTALL_HINT) from None
    # Every frame is shrunk as it is decoded, so a long high-resolution video never has
    # to fit in memory; the uniform pick happens once the frame count is known.
    small = []
    try:
        for frame in iio.imiter(path):
            small.append(_fit_frame(Image.fromarray(np.asarray(frame)[..., :3]), size))
    except Exception as exc:  # imageio raises plugin-specific types
        raise CaptureError(path, f"cannot decode the video ({exc}); {VIDEO_INSTALL_HINT}") from None
    if not small:
        raise CaptureError(path, "the video has no frames")
    return np.stack([small[i] for i in _uniform_picks(len(small), num_frames)])


def caption_clip(recordings: list, grid: ClipGrid, captions: list[str], class_name: str = DEFAULT_CLASS,
                 mirror_class: str | None = None, frames: np.ndarray | None = None,
                 split: str | None = None, align: str = "start", source: str = "ingest"):
    """One clip as a ``CaptionDataset`` with N = 1 (positions unknown: NaN)."""
    from wifisense.io.schema import CaptionDataset

    captions = [c.strip() for c in captions if c and c.strip()]
    if not captions:
        raise ConfigError("a clip needs at least one non-empty caption")
    csi, gap_mask, rx_valid = align_receivers(recordings, grid, align)
    ref = next(r for r in recordings if r is not None)
    class_names = [class_name]
    mirror_of = [0]
    if mirror_class and mirror_class != class_name:
        class_names.append(mirror_class)
        mirror_of = [1, 0]
    r = len(recordings)
    return CaptionDataset(
        csi=csi[None], rx_valid=rx_valid[None], class_id=np.zeros(1, np.int32),
        captions=[captions], class_names=class_names, mirror_of=np.array(mirror_of, np.int32),
        subcarriers=np.asarray(ref.subcarriers, np.int32), sample_rate_hz=grid.rate_hz,
        clip_seconds=grid.seconds, rx_positions=np.full((r, 3), np.nan, np.float32),
        tx_position=np.full(3, np.nan, np.float32), frames=None if frames is None else frames[None],
        gap_mask=gap_mask[None], carrier_hz=ref.carrier_hz, bandwidth_mhz=ref.bandwidth_mhz,
        splits={split: np.array([0])} if split else {}, source=source,
        # store-level provenance (the first clip's attrs become the store's)
        attrs={"ingest": {"tool": "wifisense ingest caption", "align": align,
                          "formats": sorted({rec.source.get("format", "?")
                                             for rec in recordings if rec is not None})}},
    )


@dataclass
class ClipSpec:
    """What one caption clip is made of (a command line or a manifest row)."""

    receivers: list[str | None]
    captions: list[str]
    class_name: str = DEFAULT_CLASS
    mirror_class: str | None = None
    frames_dir: str | None = None
    video: str | None = None
    split: str | None = None


def read_manifest(path: str | os.PathLike, allow_outside: bool = False) -> list[ClipSpec]:
    """Clips from a CSV manifest.

    Columns: receivers as ``rx`` (paths separated by ``;``) or ``rx1, rx2, ...``;
    ``caption`` (paraphrases separated by ``|``); optional ``class``, ``mirror``,
    ``frames`` (image folder), ``video`` and ``split``. Relative paths are relative to the
    manifest's folder; an empty or ``-`` receiver cell marks a missing receiver. Paths must
    stay inside the manifest's folder (no ``..``, no absolute paths elsewhere) unless
    ``allow_outside``: a manifest from someone else must not pull arbitrary files of this
    machine into a store.
    """
    from wifisense.io.readers.common import read_bytes

    path = Path(path)
    try:
        text = read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CaptureError(path, f"the manifest is not UTF-8 text (byte {exc.start})") from None
    try:
        rows = list(csv.DictReader(line for line in text.splitlines()
                                   if line.strip() and not line.lstrip().startswith("#")))
    except csv.Error as exc:
        raise CaptureError(path, f"not a CSV manifest: {exc}") from None
    if not rows:
        raise CaptureError(path, "the manifest has no clips (need a header and one row per clip)")
    header = [h.strip().lower() for h in rows[0].keys() if h is not None]
    rx_columns = sorted((h for h in header if h.startswith("rx") and h[2:].isdigit()),
                        key=lambda h: int(h[2:]))
    if "caption" not in header or not ("rx" in header or rx_columns):
        raise CaptureError(path, f"the manifest needs a 'caption' column and an 'rx' (or rx1, "
                           f"rx2, ...) column; found {header}")
    base = path.parent
    inside = base.resolve()

    def resolve(value: str | None, line_no: int, column: str) -> str | None:
        value = (value or "").strip()
        if value.lower() in MISSING_RECEIVER:
            return None
        target = base / value  # an absolute value replaces base
        if not allow_outside and not target.resolve().is_relative_to(inside):
            # the same words whether or not the file exists: no probing of the machine
            raise CaptureError(path, f"row {line_no}: the {column} path {value!r} points outside the "
                               f"manifest's folder {base}; move the data there or pass --allow-outside")
        return str(target)

    specs = []
    for line_no, raw in enumerate(rows, start=2):
        if None in raw:  # csv.DictReader collects cells beyond the header under None
            raise CaptureError(path, f"row {line_no}: {len(raw[None])} more cell(s) than the "
                               f"{len(header)} header columns; quote cells that contain commas")
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        receivers = ([resolve(p, line_no, "rx") for p in row["rx"].split(";")] if "rx" in row
                     else [resolve(row.get(c), line_no, c) for c in rx_columns])
        captions = [c.strip() for c in row.get("caption", "").split("|") if c.strip()]
        if not captions:
            raise CaptureError(path, f"row {line_no}: the caption is empty")
        if row.get("frames") and row.get("video"):
            raise CaptureError(path, f"row {line_no}: give frames or video, not both")
        specs.append(ClipSpec(
            receivers=receivers, captions=captions,
            class_name=row.get("class") or DEFAULT_CLASS, mirror_class=row.get("mirror") or None,
            frames_dir=resolve(row.get("frames"), line_no, "frames"),
            video=resolve(row.get("video"), line_no, "video"),
            split=row.get("split") or None))
    widths = {len(s.receivers) for s in specs}
    if len(widths) > 1:
        raise CaptureError(path, f"rows name different numbers of receivers {sorted(widths)}; "
                           "use an empty cell or '-' for a missing receiver")
    return specs


def ingest_caption_clips(specs: list[ClipSpec], out: str | os.PathLike, *, format: str = "auto",
                         hints: dict | None = None, rate_hz: float | None = None,
                         seconds: float | None = None, start_s: float = 0.0,
                         align: str = "start", num_frames: int = DEFAULT_NUM_FRAMES,
                         frame_size: int = DEFAULT_FRAME_SIZE, append: bool = False,
                         overwrite: bool = False, progress: bool = True,
                         compression: str | None = "gzip") -> int:
    """Build every clip and write them to the caption store ``out`` (atomically).

    Without ``rate_hz``/``seconds`` the first clip (or, with ``append``, the existing
    store) fixes them, so every clip has the same ``T``. Returns the store's clip count.
    """
    from tqdm import tqdm

    from wifisense.errors import StoreError
    from wifisense.io.store import caption_store_appender, open_store

    out = Path(out)
    if out.exists() and not (append or overwrite):
        raise StoreError(out, None, "already exists; pass --append to add clips or "
                         "--overwrite to replace it")
    if append and out.exists():
        with open_store(out, kind="caption") as f:
            rate_hz = rate_hz or float(f["meta"].attrs["sample_rate_hz"])
            if seconds is None:
                seconds = f["csi"].shape[2] / rate_hz
    if len({len(s.receivers) for s in specs}) > 1:
        raise ConfigError("every clip needs the same number of receivers")
    grid = None
    with caption_store_appender(out, overwrite=overwrite and not append,
                                compression=compression) as appender:
        for spec in tqdm(specs, desc="ingest", unit="clip", disable=not progress or len(specs) < 2):
            recordings = read_receivers(spec.receivers, format=format, **(hints or {}))
            check_receivers_match(recordings, spec.receivers)
            if grid is None:
                grid = choose_grid(recordings, rate_hz, seconds, start_s, align)
            frames = None
            if spec.frames_dir:
                frames = load_frames_dir(spec.frames_dir, num_frames, frame_size)
            elif spec.video:
                frames = load_video(spec.video, num_frames, frame_size)
            clip = caption_clip(recordings, grid, spec.captions, spec.class_name,
                                spec.mirror_class, frames, spec.split, align)
            appender.append(clip)
        return appender.num_clips


# --------------------------------------------------------------------------- multi-band streams


def _strictly_increasing(t: np.ndarray, x: np.ndarray, what: str, path) -> tuple[np.ndarray, np.ndarray]:
    """Drop packets whose timestamp does not advance (NIC clocks repeat values)."""
    keep = np.concatenate([[True], np.diff(t) > 0])
    if not keep.all():
        if (np.diff(t) < 0).any():
            raise CaptureError(path, f"{what} timestamps go backwards; cannot build a stream")
        log.warning("%s: dropped %d %s packets with repeated timestamps", path,
                    int((~keep).sum()), what)
    return t[keep], x[keep]


def _check_multiband_options(snr_offset_s, positions_offset_s, ap_position, room, beam_angles_deg,
                             snr_carrier_hz) -> None:
    """Refuse option values that would make a store ``validate`` rejects, naming the option."""
    for option, value in (("--snr-offset", snr_offset_s), ("--positions-offset", positions_offset_s)):
        if not np.isfinite(value):
            raise ConfigError(f"{option} must be a finite number of seconds, got {value}")
    ap = np.asarray(ap_position, dtype=float)
    if ap.shape != (3,) or not (np.isfinite(ap).all() or np.isnan(ap).all()):
        raise ConfigError(f"--ap-position must be three finite numbers (X Y Z in metres), got "
                          f"{ap.tolist()}")
    if room is not None:
        r = np.asarray(room, dtype=float)
        if r.shape != (4,) or not np.isfinite(r).all() or not (r[2] > r[0] and r[3] > r[1]):
            raise ConfigError(f"--room must be four finite numbers X0 Y0 X1 Y1 with X1 > X0 and "
                              f"Y1 > Y0, got {r.tolist()}")
    if beam_angles_deg is not None and not np.isfinite(np.asarray(beam_angles_deg, float)).all():
        raise ConfigError(f"--beam-angles must be finite degrees, got {list(beam_angles_deg)}")
    if snr_carrier_hz is not None and not (np.isfinite(snr_carrier_hz) and snr_carrier_hz > 0):
        raise ConfigError(f"--snr-carrier must be a finite frequency > 0 Hz, got {snr_carrier_hz}")


def multiband_from_captures(csi_path: str | os.PathLike, snr_path: str | os.PathLike,
                            positions_path: str | os.PathLike, *, format: str = "auto",
                            hints: dict | None = None, snr_offset_s: float = 0.0,
                            positions_offset_s: float = 0.0,
                            ap_position=(np.nan, np.nan, np.nan), room=None,
                            beam_angles_deg=None, snr_carrier_hz: float | None = None):
    """A ``MultiBandDataset`` from a CSI capture, a beam-SNR CSV and a positions CSV.

    The offsets are added to the log times to put them on the CSI clock; then every stream
    is shifted by the earliest time of all three (kept in ``attrs["time_origin_s"]``).
    ``room`` defaults to the bounding box of the positions. A ``heading`` column of the
    positions CSV (radians) is kept as ``pose_heading``, wrapped to (-pi, pi].
    """
    from wifisense.io.logs import read_beam_snr_csv, read_positions_csv
    from wifisense.io.readers import read_csi
    from wifisense.io.schema import MultiBandDataset, wrap_heading

    _check_multiband_options(snr_offset_s, positions_offset_s, ap_position, room, beam_angles_deg,
                             snr_carrier_hz)
    recording = read_csi(csi_path, format=format, **(hints or {}))
    snr = read_beam_snr_csv(snr_path)
    if snr.missing_cells or snr.dropped_rows:
        log.info("%s: %d beam-sector readings missing (%.1f %% of the kept sweeps; NaN in the "
                 "store), %d sweeps with every beam missing dropped", snr_path, snr.missing_cells,
                 100 * snr.missing_fraction, snr.dropped_rows)
    poses = read_positions_csv(positions_path)
    csi_t, csi_x = _strictly_increasing(recording.timestamps, recording.csi, "CSI", csi_path)
    snr_t = snr.t + snr_offset_s
    pose_t = poses.t + positions_offset_s
    origin = min(csi_t[0], snr_t[0], pose_t[0])
    overlap = min(csi_t[-1], snr_t[-1], pose_t[-1]) - max(csi_t[0], snr_t[0], pose_t[0])
    if overlap <= 0:
        log.warning("the CSI, SNR and position streams do not overlap in time; check the "
                    "clocks and --snr-offset / --positions-offset")
    if room is None:
        low, high = poses.xy.min(axis=0), poses.xy.max(axis=0)
        room = (low[0], low[1], max(high[0], low[0] + 1e-3), max(high[1], low[1] + 1e-3))
    if beam_angles_deg is not None and len(beam_angles_deg) != snr.snr.shape[1]:
        raise ConfigError(f"{len(beam_angles_deg)} beam angles for {snr.snr.shape[1]} beams in "
                          f"{snr_path}")
    return MultiBandDataset(
        csi_t=csi_t - origin, csi_x=csi_x, snr_t=snr_t - origin, snr_x=snr.snr,
        pose_t=pose_t - origin, pose_xy=poses.xy.astype(np.float32),
        pose_heading=(None if poses.heading is None
                      else wrap_heading(poses.heading).astype(np.float32)),
        subcarriers=np.asarray(recording.subcarriers, np.int32),
        ap_position=np.asarray(ap_position, np.float32), room=np.asarray(room, np.float32),
        beam_angles_deg=None if beam_angles_deg is None else np.asarray(beam_angles_deg, np.float32),
        csi_carrier_hz=recording.carrier_hz, snr_carrier_hz=snr_carrier_hz,
        csi_bandwidth_mhz=recording.bandwidth_mhz, source="ingest",
        attrs={"time_origin_s": float(origin), "beam_names": list(snr.beam_names),
               "ingest": {"csi": str(csi_path), "snr": str(snr_path),
                          "positions": str(positions_path),
                          "csi_format": recording.source.get("format"),
                          "snr_offset_s": snr_offset_s, "positions_offset_s": positions_offset_s,
                          "snr_missing_cells": snr.missing_cells,
                          "snr_dropped_rows": snr.dropped_rows}},
    )


# --------------------------------------------------------------------------- command


def _add_capture_options(p: argparse.ArgumentParser) -> None:
    from wifisense.io.readers.registry import capture_format_choices
    from wifisense.io.store import COMPRESSIONS, DEFAULT_COMPRESSION

    p.add_argument("--format", default="auto", choices=capture_format_choices(),
                   help="capture format (default: auto: detected from the content)")
    p.add_argument("--chip", help="Nexmon chip (e.g. 4358); default: the first plausible decode")
    p.add_argument("--bw", type=int, help="Nexmon bandwidth in MHz; default: from the packet size")
    p.add_argument("--packet-rate", type=float, metavar="HZ",
                   help="packet rate for captures without a usable clock")
    p.add_argument("--strict", action="store_true",
                   help="a capture record that cannot be read is an error (default: skipped, counted)")
    p.add_argument("--out", required=True, metavar="STORE", help="the .h5 store to write")
    p.add_argument("--overwrite", action="store_true", help="replace STORE if it exists")
    p.add_argument("--compression", choices=COMPRESSIONS, default=DEFAULT_COMPRESSION,
                   help=f"HDF5 compression (default: {DEFAULT_COMPRESSION})")


def add_arguments(parser: argparse.ArgumentParser):
    """The ``caption`` and ``multiband`` kinds; returns the kinds' subparsers (``io.public`` adds ``public``)."""
    sub = parser.add_subparsers(dest="ingest_kind", metavar="KIND", required=True)
    p = sub.add_parser(
        "caption", help="per-receiver captures (+ frames/video + caption) -> caption clips",
        description="Make caption clips: each receiver's capture is resampled (nearest packet) "
        "onto one uniform grid, with a gap mask, as [R, T, A, S] with A = Nrx*Ntx. Either one "
        "clip (--rx ... --caption ...) or many (--manifest CSV with columns rx (';'-separated) "
        "or rx1,rx2,..., caption ('|'-separated paraphrases), and optional class, mirror, "
        "frames, video, split).")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--rx", nargs="+", metavar="CAPTURE",
                      help="one capture per receiver, in receiver order ('-' = missing receiver)")
    what.add_argument("--manifest", metavar="CSV", help="many clips, one per row")
    p.add_argument("--caption", action="append", default=[], metavar="TEXT",
                   help="caption of the clip (repeat for paraphrases)")
    p.add_argument("--class", dest="class_name", default=DEFAULT_CLASS, metavar="NAME",
                   help=f"action class of the clip (default: {DEFAULT_CLASS})")
    p.add_argument("--mirror-class", metavar="NAME",
                   help="the class that is this one mirrored left/right, if any")
    p.add_argument("--split", help="add the clip to this split (e.g. train, val, test)")
    frames = p.add_mutually_exclusive_group()
    frames.add_argument("--frames", metavar="DIR", help="folder of images (sorted by name)")
    frames.add_argument("--video", metavar="FILE", help="a video file (needs imageio)")
    p.add_argument("--num-frames", type=int, default=DEFAULT_NUM_FRAMES, metavar="L",
                   help=f"frames sampled uniformly per clip (default: {DEFAULT_NUM_FRAMES})")
    p.add_argument("--frame-size", type=int, default=DEFAULT_FRAME_SIZE, metavar="PX",
                   help=f"square frame size after centre crop (default: {DEFAULT_FRAME_SIZE})")
    rate = p.add_argument("--clip-rate", dest="rate", type=float, metavar="HZ",
                          help="clip sample rate (default: the median packet rate, or the store's)")
    add_old_spelling(p, rate, "--rate")
    p.add_argument("--seconds", type=float, metavar="S",
                   help="clip length (default: where all receivers overlap, or the store's)")
    p.add_argument("--start", type=float, default=0.0, metavar="S",
                   help="clip start after the aligned start of the captures (default: 0)")
    p.add_argument("--align", choices=ALIGN_MODES, default="start",
                   help="start: each receiver's first packet is t = 0 (separate clocks); "
                   "absolute: receivers share one clock (default: start)")
    p.add_argument("--append", action="store_true", help="add the clips to an existing STORE")
    p.add_argument("--allow-outside", action="store_true",
                   help="let manifest paths point outside the manifest's folder (default: refused)")
    _add_capture_options(p)

    p = sub.add_parser(
        "multiband", help="CSI capture + beam-SNR CSV + positions CSV -> multi-band streams",
        description="Make a multi-band stream store: 5 GHz CSI, 60 GHz beam SNR and ground-truth "
        "positions, each on its own irregular clock (windows are cut at training time).")
    p.add_argument("--csi", required=True, metavar="CAPTURE", help="sub-7 GHz CSI capture")
    p.add_argument("--snr", required=True, metavar="CSV", help="beam-SNR CSV (t, one column per beam)")
    p.add_argument("--positions", required=True, metavar="CSV",
                   help="positions CSV (t, x, y; optional heading in radians, CCW from +x)")
    offset = p.add_argument("--snr-offset", dest="time_offset_snr", type=float, default=0.0, metavar="S",
                            help="seconds added to the SNR times to put them on the CSI clock (default: 0)")
    add_old_spelling(p, offset, "--time-offset-snr")
    offset = p.add_argument("--positions-offset", dest="time_offset_positions", type=float, default=0.0,
                            metavar="S", help="seconds added to the position times to put them on the CSI "
                            "clock (default: 0)")
    add_old_spelling(p, offset, "--time-offset-positions")
    p.add_argument("--ap-position", type=float, nargs=3, metavar=("X", "Y", "Z"),
                   help="access point position in metres (default: unknown)")
    p.add_argument("--room", type=float, nargs=4, metavar=("X0", "Y0", "X1", "Y1"),
                   help="room rectangle in metres (default: bounding box of the positions)")
    p.add_argument("--beam-angles", type=float, nargs="+", metavar="DEG",
                   help="steering angle of each beam pattern, in the CSV's column order")
    p.add_argument("--snr-carrier", type=float, metavar="HZ", help="60 GHz carrier frequency")
    _add_capture_options(p)
    return sub


def _hints(args: argparse.Namespace) -> dict:
    return {k: v for k, v in {"chip": args.chip, "bw": args.bw, "rate_hz": args.packet_rate,
                              "strict": args.strict or None}.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    if args.ingest_kind == "multiband":
        return _run_multiband(args)
    if args.ingest_kind == "public":
        return args.run_public(args)          # io.public's (it builds on this module, not the reverse)
    return _run_caption(args)


def _run_caption(args: argparse.Namespace) -> int:
    if args.append and args.overwrite:
        raise ConfigError("--append and --overwrite exclude each other")
    if args.manifest:
        specs = read_manifest(args.manifest, allow_outside=args.allow_outside)
    else:
        if not args.caption:
            raise ConfigError("--caption TEXT is required with --rx (or use --manifest)")
        specs = [ClipSpec(receivers=list(args.rx), captions=args.caption,
                          class_name=args.class_name, mirror_class=args.mirror_class,
                          frames_dir=args.frames, video=args.video, split=args.split)]
    if args.num_frames < 1 or args.frame_size < 8:
        raise ConfigError("--num-frames must be >= 1 and --frame-size >= 8")
    total = ingest_caption_clips(
        specs, args.out, format=args.format, hints=_hints(args), rate_hz=args.rate,
        seconds=args.seconds, start_s=args.start, align=args.align, num_frames=args.num_frames,
        frame_size=args.frame_size, append=args.append, overwrite=args.overwrite,
        progress=not getattr(args, "quiet", False), compression=args.compression)
    print(f"wrote {len(specs)} clip(s) to {args.out} ({total} clips in the store)")
    return 0


def _run_multiband(args: argparse.Namespace) -> int:
    from wifisense.io.store import write_multiband_store

    ds = multiband_from_captures(
        args.csi, args.snr, args.positions, format=args.format, hints=_hints(args),
        snr_offset_s=args.time_offset_snr, positions_offset_s=args.time_offset_positions,
        ap_position=args.ap_position or (np.nan, np.nan, np.nan), room=args.room,
        beam_angles_deg=args.beam_angles, snr_carrier_hz=args.snr_carrier)
    write_multiband_store(args.out, ds, overwrite=args.overwrite, compression=args.compression)
    print(f"wrote {args.out}: csi {list(ds.csi_x.shape)}, snr {list(ds.snr_x.shape)}, "
          f"pose {list(ds.pose_xy.shape)}")
    return 0
