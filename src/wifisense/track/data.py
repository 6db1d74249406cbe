"""Track data: CSI calibration + frames, the CAE embedding cache, windows, splits, [0, 1] normalisation and collation.

The pipeline from a multi-band store to :class:`~wifisense.track.batching.TrackBatch`:

1. **Calibration** (:func:`calibrate_csi`): SpotFi slope removal on the unwrapped phase
   (``remove_sto``), then conjugate multiplication against receive antenna 0 (dropping the
   reference), giving ``(Nrx - 1) * Ntx`` antenna pairs per frame.
2. **Frames** (:func:`csi_frames`): real ``[N, 4A, S]`` (real, imaginary, phase, magnitude),
   standardised per channel with :class:`FrameScaler` before the autoencoder.
3. **Embeddings** (:func:`cached_embeddings`): every CSI frame of the store encoded once by
   the pretrained CAE and cached as ``.npy`` in the CAE directory, keyed by the store's
   size + mtime and the CAE weights' mtime.
4. **Windows** (:func:`cut_windows`): ``window_s`` seconds every ``step_s`` over the span all
   the store's streams cover (three, or two in a CSI-only store), inside each recording when
   the store holds several (``/meta/segments``: no window crosses from one to the next;
   :func:`recording_spans`). Inside a window every time is normalised to [0, 1] (``(t - start) /
   window_s``). Targets are ground-truth positions linearly interpolated at a shared query
   grid (``query_hz`` points per second, at bin centres); a query farther than
   ``max_pose_gap_s`` from any pose sample is masked out.
5. **Splits** (:func:`split_windows`):
   ``random`` back-to-back blocks of one window permuted by the seed, 8:1:1; with a step shorter
   than the window, overlapping training windows are cut inside consecutive training blocks only;
   ``temporal:p`` the first fraction p of the recording trains, the rest is cut in half
   (earlier half validation, later half test), no window crosses a boundary;
   ``coordinate:X0,Y0,X1,Y1`` every window with ANY query position inside the rectangle
   (boundary included) is test — so windows that cross the boundary are held out, and no
   train/validation window has a position inside the region; the others split 8:1 train/val;
   ``store`` the store's own splits (``/splits/NAME``, pose sample indices, e.g. a public data
   set's reference and test recordings): back-to-back windows, each in the split holding the
   pose sample at its middle (windows in no split are left out); without a ``val`` split, one
   training window in nine, drawn by the seed, validates.
6. **Normalisation**: coordinates scaled per feature to [0, 1] (:class:`MinMax`); model inputs
   (CSI embeddings, SNR) either the same way or standardised to zero mean and unit variance
   (:class:`Standard`, ``data.input_scaling``), with statistics from the training windows only
   (validation/test values can fall outside; they are not clipped, since clipping would hide
   exactly the held-out regions).
   A beam sector missing from a sweep is NaN in the store: the min/max skip it per feature,
   the windows keep it as NaN, and the collation turns it into mask 0 (value 0) for that beam
   only (:func:`make_collate`), so no model ever reads it as an observed SNR.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from wifisense.io.atomic import atomic_path
from wifisense.errors import ConfigError
from wifisense.track.config import read_task

SPLIT_NAMES = ("train", "val", "test")


# --------------------------------------------------------------------------- calibration and frames


def calibrate_csi(csi, subcarriers) -> np.ndarray:
    """Complex ``[N, S, Nrx, Ntx]`` -> calibrated complex ``[N, S, (Nrx - 1) * Ntx]``.

    SpotFi slope removal first (one slope per packet over all antennas), then conjugate
    multiplication with receive antenna 0. The STO slope is common to all antennas and cancels
    in the product anyway; the documented chain is kept so real captures with per-antenna
    imperfections get the same treatment as the papers.

    With one receive antenna (a Raspberry Pi's Nexmon capture, for example) there is no
    antenna to multiply against: the amplitude is kept and the phase sanitised instead (its
    least-squares line over the subcarriers removed: the STO/SFO slope and the CFO offset),
    giving ``[N, S, Ntx]``.
    """
    from wifisense.signal import conjugate_multiply, remove_sto, sanitize_phase

    csi = np.asarray(csi)
    if csi.ndim != 4:
        raise ValueError(f"CSI must be [N, S, Nrx, Ntx], got shape {csi.shape}")
    if csi.shape[2] < 2:
        phase = sanitize_phase(csi, subcarriers, axis=-3)
        calibrated = (np.abs(csi) * np.exp(1j * phase)).astype(np.complex64)
        return calibrated.reshape(*calibrated.shape[:2], -1)
    csi = remove_sto(csi, subcarriers, sc_axis=-3, antenna_axes=(-2, -1))
    pairs = conjugate_multiply(csi, ref=0, axis=-2, keep_ref=False)
    return pairs.reshape(*pairs.shape[:2], -1)


def csi_frames(calibrated) -> np.ndarray:
    """Calibrated complex ``[N, S, A]`` -> float32 ``[N, 4A, S]`` (see ``cae.csi_frame_channels``)."""
    from wifisense.track.cae import csi_frame_channels

    return csi_frame_channels(np.ascontiguousarray(calibrated)).numpy()


@dataclass
class FrameScaler:
    """Per-channel standardisation of CAE frames ``[N, C, S]`` (statistics over frames and subcarriers)."""

    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, frames: np.ndarray) -> FrameScaler:
        mean = frames.mean(axis=(0, 2), dtype=np.float64)
        std = frames.std(axis=(0, 2), dtype=np.float64)
        return cls(mean.tolist(), np.where(std > 0, std, 1.0).tolist())

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        mean = np.asarray(self.mean, np.float32)[:, None]
        std = np.asarray(self.std, np.float32)[:, None]
        return ((frames - mean) / std).astype(np.float32)


def load_cae(cae_dir: str | os.PathLike, device: str = "cpu"):
    """(CSIAutoencoder with pretrained weights, FrameScaler) from a CAE directory."""
    from wifisense.track.cae import CSIAutoencoder
    from wifisense.training import load_weights

    task = read_task(cae_dir)
    if task.get("kind") != "track-cae":
        raise ConfigError(f"{cae_dir}: not a CAE directory (made by `wifisense track pretrain-cae`)")
    cfg = task["cae"]
    model = CSIAutoencoder(cfg["in_channels"], cfg["length"], cfg["embed_dim"], cfg["channels"], cfg["kernel_size"])
    load_weights(model, cae_dir)
    return model.to(device).eval(), FrameScaler(**task["frame_scaler"])


def store_fingerprint(path: str | os.PathLike) -> str:
    """A short key for a store file's current content: resolved path, size and mtime."""
    p = Path(path).resolve()
    st = p.stat()
    return hashlib.sha1(f"{p}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


def cached_embeddings(store_path, csi_x, subcarriers, cae_dir, device: str = "cpu",
                      batch_size: int = 4096) -> np.ndarray:
    """CAE embeddings ``[Nc, d]`` of every CSI frame of the store, computed once and cached in ``cae_dir``."""
    cae_dir = Path(cae_dir)
    weights = cae_dir / "model.safetensors"
    key = hashlib.sha1(f"{store_fingerprint(store_path)}|{weights.stat().st_mtime_ns}".encode()).hexdigest()[:16]
    cache = cae_dir / f"embeddings_{key}.npy"
    if cache.is_file():
        return np.load(cache)
    model, scaler = load_cae(cae_dir, device=device)
    embeddings = encode_frames(model, scaler(csi_frames(calibrate_csi(csi_x, subcarriers))), device, batch_size)
    # atomic, with a temporary name of this process: runs sharing the CAE folder never
    # write into one another's temporary file, and a crash never leaves a half-written cache
    with atomic_path(cache) as tmp, open(tmp, "wb") as f:
        np.save(f, embeddings)
    return embeddings


def encode_frames(model, frames: np.ndarray, device: str = "cpu", batch_size: int = 4096) -> np.ndarray:
    """Encode standardised frames ``[N, C, S]`` with a CAE in batches -> float32 ``[N, d]``."""
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(frames), batch_size):
            chunk = torch.from_numpy(frames[start:start + batch_size]).to(device)
            out.append(model.encode(chunk).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.embed_dim), np.float32)


# --------------------------------------------------------------------------- windows


@dataclass
class Windows:
    """Windows over the streams: start times and index ranges into each stream, plus query targets.

    starts:     float64 [W] window start (s); a window covers [start, start + window_s)
    csi_range:  int64 [W, 2] half-open index range into csi_t
    snr_range:  int64 [W, 2] half-open index range into snr_t
    query_t:    float32 [Tq] shared normalised query times in (0, 1)
    target_xy:  float32 [W, Tq, 2] ground-truth positions (metres) at the query times
    query_mask: float32 [W, Tq] 1 where a pose sample is close enough to trust the target
    """

    window_s: float
    starts: np.ndarray
    csi_range: np.ndarray
    snr_range: np.ndarray
    query_t: np.ndarray
    target_xy: np.ndarray
    query_mask: np.ndarray

    def __len__(self) -> int:
        return len(self.starts)

    def subset(self, index: np.ndarray) -> Windows:
        return Windows(self.window_s, self.starts[index], self.csi_range[index], self.snr_range[index],
                       self.query_t, self.target_xy[index], self.query_mask[index])


def query_grid(window_s: float, query_hz: float) -> np.ndarray:
    """Normalised query times: ``round(window_s * query_hz)`` bin centres in (0, 1)."""
    count = max(1, round(window_s * query_hz))
    return ((np.arange(count) + 0.5) / count).astype(np.float32)


def window_starts(t_lo: float, t_hi: float, window_s: float, step_s: float) -> np.ndarray:
    """Start times of full windows of ``window_s`` every ``step_s`` inside [t_lo, t_hi]."""
    if window_s <= 0 or step_s <= 0:
        raise ConfigError(f"window ({window_s}) and step ({step_s}) must be > 0 seconds")
    count = int(np.floor((t_hi - t_lo - window_s) / step_s + 1e-9)) + 1
    return t_lo + step_s * np.arange(max(count, 0), dtype=np.float64)


def cut_windows(starts: np.ndarray, window_s: float, csi_t: np.ndarray, snr_t: np.ndarray | None,
                pose_t: np.ndarray, pose_xy: np.ndarray, query_hz: float = 10.0,
                max_pose_gap_s: float | None = None) -> Windows:
    """Index ranges and interpolated targets of windows starting at ``starts`` (vectorised)."""
    starts = np.asarray(starts, np.float64)
    ends = starts + window_s
    csi_range = np.stack([np.searchsorted(csi_t, starts, "left"), np.searchsorted(csi_t, ends, "left")], -1)
    snr_t = np.zeros(0) if snr_t is None else snr_t          # a CSI-only store: empty ranges
    snr_range = np.stack([np.searchsorted(snr_t, starts, "left"), np.searchsorted(snr_t, ends, "left")], -1)
    q = query_grid(window_s, query_hz)
    absolute = starts[:, None] + q[None, :].astype(np.float64) * window_s          # [W, Tq]
    target = np.stack([np.interp(absolute, pose_t, pose_xy[:, k]) for k in range(2)], -1).astype(np.float32)
    if max_pose_gap_s is None:
        max_pose_gap_s = 2.0 * float(np.median(np.diff(pose_t))) if len(pose_t) > 1 else np.inf
    # distance to the nearest pose sample: targets interpolated across long gaps are not trusted
    right = np.clip(np.searchsorted(pose_t, absolute), 0, len(pose_t) - 1)
    left = np.clip(right - 1, 0, len(pose_t) - 1)
    gap = np.minimum(np.abs(absolute - pose_t[left]), np.abs(pose_t[right] - absolute))
    mask = (gap <= max_pose_gap_s).astype(np.float32)
    return Windows(window_s, starts, csi_range.astype(np.int64), snr_range.astype(np.int64), q, target, mask)


def inference_windows(t_lo: float, t_hi: float, window_s: float, csi_t: np.ndarray | None,
                      snr_t: np.ndarray | None, query_hz: float = 10.0) -> Windows:
    """Back-to-back windows covering [t_lo, t_hi] for prediction (no ground truth).

    The last window may run past ``t_hi``; its queries after ``t_hi`` get ``query_mask`` 0.
    """
    count = max(1, int(np.ceil((t_hi - t_lo) / window_s - 1e-9)))
    starts = t_lo + window_s * np.arange(count, dtype=np.float64)
    empty = np.zeros(0)
    csi_t = empty if csi_t is None else csi_t
    snr_t = empty if snr_t is None else snr_t
    ranges = [np.stack([np.searchsorted(t, starts, "left"), np.searchsorted(t, starts + window_s, "left")], -1)
              for t in (csi_t, snr_t)]
    q = query_grid(window_s, query_hz)
    absolute = starts[:, None] + q[None, :].astype(np.float64) * window_s
    return Windows(window_s, starts, ranges[0].astype(np.int64), ranges[1].astype(np.int64), q,
                   np.zeros((count, len(q), 2), np.float32), (absolute <= t_hi).astype(np.float32))


# --------------------------------------------------------------------------- splits


@dataclass
class SplitSpec:
    """A parsed ``--split``: kind "random" | "temporal" | "coordinate" | "store" and its parameters."""

    kind: str
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    train_fraction: float = 0.8
    region: tuple[float, float, float, float] | None = None   # x0, y0, x1, y1

    def to_string(self) -> str:
        if self.kind == "temporal":
            return f"temporal:{self.train_fraction:g}"
        if self.kind == "coordinate":
            return "coordinate:" + ",".join(f"{v:g}" for v in self.region)
        if self.kind == "store":
            return "store"
        return "random"


def parse_split(text: str) -> SplitSpec:
    """``random`` | ``temporal:P`` (0 < P < 1) | ``coordinate:X0,Y0,X1,Y1`` | ``store`` -> :class:`SplitSpec`."""
    kind, _, arg = str(text).partition(":")
    if kind == "random" and not arg:
        return SplitSpec("random")
    if kind == "temporal":
        try:
            fraction = float(arg) if arg else 0.8
        except ValueError:
            raise ConfigError(f"split {text!r}: temporal:P needs a number P, got {arg!r}") from None
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"split {text!r}: the train fraction must be in (0, 1)")
        return SplitSpec("temporal", train_fraction=fraction)
    if kind == "store" and not arg:
        return SplitSpec("store")
    if kind == "coordinate":
        try:
            x0, y0, x1, y1 = (float(v) for v in arg.split(","))
        except ValueError:
            raise ConfigError(f"split {text!r}: coordinate:X0,Y0,X1,Y1 needs four numbers") from None
        if not (x1 > x0 and y1 > y0):
            raise ConfigError(f"split {text!r}: the region needs X1 > X0 and Y1 > Y0")
        return SplitSpec("coordinate", region=(x0, y0, x1, y1))
    raise ConfigError(f"unknown split {text!r}; use random, temporal:P, coordinate:X0,Y0,X1,Y1 or store")


def _store_split_windows(streams, spans, window_s: float, spec: SplitSpec, cut, rng) -> dict[str, Windows]:
    """The ``store`` split: back-to-back windows, each in the store split holding the pose
    sample at its middle; without a ``val`` split, 1 training window in 9 validates."""
    splits = getattr(streams, "splits", None) or {}
    if "train" not in splits or "test" not in splits:
        raise ConfigError(f"split store needs /splits/train and /splits/test in the store (it has "
                          f"{', '.join(sorted(splits)) or 'no splits'}); use --split random, temporal:P or coordinate")
    windows = cut(span_starts(spans, window_s, window_s))
    middle = np.clip(np.searchsorted(streams.pose_t, windows.starts + window_s / 2), 0, len(streams.pose_t) - 1)
    member = np.full(len(streams.pose_t), -1, np.int64)
    names = [name for name in SPLIT_NAMES if name in splits]
    for k, name in enumerate(names):
        member[np.asarray(splits[name], np.int64)] = k
    result = {name: windows.subset(np.flatnonzero(member[middle] == k)) for k, name in enumerate(names)}
    if "val" not in result:
        train_idx, val_idx = _random_parts(len(result["train"]), spec.ratios[:2], rng)
        result["train"], result["val"] = result["train"].subset(train_idx), result["train"].subset(val_idx)
    return {name: result[name] for name in SPLIT_NAMES}


def _random_parts(count: int, ratios: Sequence[float], rng: np.random.Generator) -> list[np.ndarray]:
    """Permute ``range(count)`` and cut it by ``ratios`` (every part gets at least one item when possible)."""
    order = rng.permutation(count)
    shares = np.asarray(ratios, np.float64) / np.sum(ratios)
    sizes = np.floor(shares * count).astype(int)
    sizes[0] += count - sizes.sum()
    for k in range(1, len(sizes)):          # small recordings: move one window to empty parts
        if sizes[k] == 0 and sizes[0] > 1:
            sizes[k], sizes[0] = 1, sizes[0] - 1
    bounds = np.cumsum(sizes)[:-1]
    return [np.sort(part) for part in np.split(order, bounds)]


def in_region(xy: np.ndarray, region: Sequence[float]) -> np.ndarray:
    """bool [...]: positions ``[..., 2]`` inside the closed rectangle (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = region
    return (xy[..., 0] >= x0) & (xy[..., 0] <= x1) & (xy[..., 1] >= y0) & (xy[..., 1] <= y1)


def starts_inside_blocks(t_lo: float, window_s: float, step_s: float, block_index: np.ndarray,
                         n_blocks: int) -> np.ndarray:
    """Starts (every ``step_s`` from ``t_lo``) of windows lying entirely inside the chosen blocks.

    Blocks are the back-to-back windows ``[t_lo + i * window_s, t_lo + (i + 1) * window_s)``;
    a window may span several consecutive chosen blocks but never touch any other block, so
    overlapping training windows of the random split never share a frame with validation/test.
    """
    chosen = np.zeros(n_blocks + 1, np.int64)
    chosen[np.asarray(block_index, np.int64)] = 1
    covered = np.r_[0, np.cumsum(chosen)]                          # chosen blocks before index i
    starts = t_lo + step_s * np.arange(int(np.floor((n_blocks - 1) * window_s / step_s + 1e-9)) + 1)
    offset = (starts - t_lo) / window_s
    first = np.floor(offset + 1e-9).astype(np.int64)               # block holding the window start
    last = np.ceil(offset + 1.0 - 1e-9).astype(np.int64) - 1       # block holding its end
    inside = (last < n_blocks) & (covered[np.minimum(last, n_blocks - 1) + 1] - covered[first] == last - first + 1)
    return starts[inside]


def recording_spans(streams) -> list[tuple[float, float]]:
    """The time spans windows are cut in: the span every stream of the store covers (a
    CSI-only store has no beam-SNR stream), within each recording when the store holds
    several (``segments``, ``[K, 2]`` start and end times), so no window mixes two recordings."""
    present = [t for t in (streams.csi_t, getattr(streams, "snr_t", None), streams.pose_t) if t is not None]
    t_lo, t_hi = max(float(t[0]) for t in present), min(float(t[-1]) for t in present)
    segments = getattr(streams, "segments", None)
    if segments is None:
        return [(t_lo, t_hi)]
    return clip_spans([(float(a), float(b)) for a, b in np.asarray(segments, np.float64)], t_lo, t_hi)


def clip_spans(spans, lo: float, hi: float) -> list[tuple[float, float]]:
    """``spans`` cut to [lo, hi] (empty ones dropped)."""
    out = [(max(a, lo), min(b, hi)) for a, b in spans]
    return [(a, b) for a, b in out if b > a]


def span_starts(spans, window_s: float, step_s: float) -> np.ndarray:
    """:func:`window_starts` in every span, concatenated."""
    parts = [window_starts(a, b, window_s, step_s) for a, b in spans]
    return np.concatenate(parts) if parts else np.zeros(0)


def split_windows(spec: SplitSpec, streams, window_s: float, step_s: float | None = None,
                  query_hz: float = 10.0, seed: int = 0) -> dict[str, Windows]:
    """Cut the recording into train/val/test windows by ``spec`` (see the module docstring).

    ``streams`` has ``csi_t``, ``snr_t``, ``pose_t``, ``pose_xy`` (a MultiBandDataset).
    ``step_s`` (default ``window_s``) applies to the training windows; validation/test windows
    never overlap. In the random split the recording is first cut into back-to-back blocks that
    are assigned 8:1:1; with ``step_s < window_s`` the training windows are then re-cut every
    ``step_s`` inside runs of consecutive training blocks only (:func:`starts_inside_blocks`),
    so no training window shares a frame with a validation or test window.
    """
    step_s = window_s if step_s is None else step_s
    spans = recording_spans(streams)
    t_lo, t_hi = spans[0][0] if spans else 0.0, spans[-1][1] if spans else 0.0
    rng = np.random.default_rng(seed)

    def cut(starts):
        return cut_windows(starts, window_s, streams.csi_t, streams.snr_t, streams.pose_t, streams.pose_xy,
                           query_hz=query_hz)

    if spec.kind == "random":
        per_span = [window_starts(a, b, window_s, window_s) for a, b in spans]
        blocks = cut(np.concatenate(per_span) if per_span else np.zeros(0))
        parts = dict(zip(SPLIT_NAMES, _random_parts(len(blocks), spec.ratios, rng)))
        result = {name: blocks.subset(idx) for name, idx in parts.items()}
        if step_s < window_s:
            first, starts = 0, []
            for (a, _), span_blocks in zip(spans, per_span):
                chosen = parts["train"][(parts["train"] >= first) & (parts["train"] < first + len(span_blocks))]
                starts.append(starts_inside_blocks(a, window_s, step_s, chosen - first, len(span_blocks)))
                first += len(span_blocks)
            result["train"] = cut(np.concatenate(starts) if starts else np.zeros(0))
    elif spec.kind == "temporal":
        boundary = t_lo + spec.train_fraction * (t_hi - t_lo)
        middle = boundary + 0.5 * (t_hi - boundary)
        result = {"train": cut(span_starts(clip_spans(spans, t_lo, boundary), window_s, step_s)),
                  "val": cut(span_starts(clip_spans(spans, boundary, middle), window_s, window_s)),
                  "test": cut(span_starts(clip_spans(spans, middle, t_hi), window_s, window_s))}
    elif spec.kind == "store":
        result = _store_split_windows(streams, spans, window_s, spec, cut, rng)
    elif spec.kind == "coordinate":
        test_windows = cut(span_starts(spans, window_s, window_s))
        held_out = (in_region(test_windows.target_xy, spec.region) & (test_windows.query_mask > 0)).any(-1)
        pool = cut(span_starts(spans, window_s, step_s))
        outside = ~(in_region(pool.target_xy, spec.region) & (pool.query_mask > 0)).any(-1)
        pool = pool.subset(np.flatnonzero(outside))
        train_idx, val_idx = _random_parts(len(pool), spec.ratios[:2], rng)
        result = {"train": pool.subset(train_idx), "val": pool.subset(val_idx),
                  "test": test_windows.subset(np.flatnonzero(held_out))}
    else:
        raise ConfigError(f"unknown split kind {spec.kind!r}")
    empty = [name for name, w in result.items() if len(w) == 0]
    if empty and spec.kind == "store":
        raise ConfigError(f"split store with {window_s:g}-s windows leaves no {'/'.join(empty)} windows: the "
                          f"store's splits ({', '.join(sorted(getattr(streams, 'splits', {}) or {})) or 'none'}) "
                          "need train and test pose samples (wifisense split, or use --split random)")
    if empty:
        raise ConfigError(f"split {spec.to_string()} with {window_s:g}-s windows leaves no {'/'.join(empty)} "
                          f"windows in a {t_hi - t_lo:.1f}-s recording; use a longer recording, a shorter "
                          "window or a different split")
    return result


# --------------------------------------------------------------------------- normalisation


def _training_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` as float64 ``[rows, features]`` and where they are finite; a ConfigError when
    there are no rows or a feature has no finite value (a scaler could not be fitted)."""
    values = np.asarray(values, np.float64).reshape(-1, np.shape(values)[-1])
    if len(values) == 0:
        raise ConfigError("no training values to compute normalisation statistics from")
    finite = np.isfinite(values)
    empty = np.flatnonzero(~finite.any(0))
    if empty.size:
        raise ConfigError(f"feature(s) {empty.tolist()} of {values.shape[1]} have no finite value in the "
                          f"{len(values)} training rows (e.g. a beam missing from every training sweep); "
                          "cannot compute normalisation statistics")
    return values, finite


class _FeatureScaler:
    """``(values - offset) / scale`` per feature; subclasses give ``_arrays() -> (offset, scale)``."""

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __call__(self, values: np.ndarray) -> np.ndarray:
        offset, scale = self._arrays()
        return ((np.asarray(values, np.float32) - offset) / scale).astype(np.float32)


@dataclass
class MinMax(_FeatureScaler):
    """Per-feature min-max scaling to [0, 1] (constant features map to 0; NaN stays NaN)."""

    low: list[float]
    high: list[float]

    @classmethod
    def fit(cls, values: np.ndarray) -> MinMax:
        """Min/max of each feature (last axis) over its finite values; a missing value (NaN) of
        one feature does not hide the other features of the same row."""
        values, finite = _training_rows(values)
        return cls(np.where(finite, values, np.inf).min(0).tolist(),
                   np.where(finite, values, -np.inf).max(0).tolist())

    def _arrays(self):
        low = np.asarray(self.low, np.float32)
        span = np.asarray(self.high, np.float32) - low
        return low, np.where(span > 0, span, 1.0).astype(np.float32)

    def inverse(self, values):
        """Back to the original units; works on NumPy arrays and torch tensors."""
        low, span = self._arrays()
        if hasattr(values, "detach"):
            import torch

            return values * torch.as_tensor(span, dtype=values.dtype, device=values.device) + \
                torch.as_tensor(low, dtype=values.dtype, device=values.device)
        return np.asarray(values) * span + low


@dataclass
class Standard(_FeatureScaler):
    """Per-feature standardisation to zero mean, unit variance (NaN stays NaN; a constant feature
    is only centred).

    Why not [0, 1] for model inputs: min-max squeezes a feature with outliers into a narrow band
    (the CAE embeddings of the simulated recordings have a spread of ~0.07 in [0, 1]), and
    through a few default-initialised layers and a GRU run over ~150 CSI frames the encoders'
    initial states then differ between windows by ~0.003: the coordinate decoder sees no signal
    and training sits on the mean-position plateau (measured in issue 11).
    """

    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, values: np.ndarray) -> Standard:
        """Mean/std of each feature (last axis) over its finite values."""
        values, finite = _training_rows(values)
        masked = np.ma.masked_array(values, mask=~finite)
        return cls(masked.mean(0).filled(0.0).tolist(), masked.std(0).filled(0.0).tolist())

    def _arrays(self):
        std = np.asarray(self.std, np.float32)
        return np.asarray(self.mean, np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


INPUT_SCALINGS = {"minmax": MinMax, "standard": Standard}
# Chosen on validation (issue 11; simulator seed 100, 30-min recording, tiny preset, 60 epochs):
# NDF 0.442 m standardised vs 1.256 m min-max; LinearInt on beam SNR 0.901 vs 0.908 m.
DEFAULT_INPUT_SCALING = "standard"


def scaler_to_dict(scaler: MinMax | Standard | None) -> dict | None:
    if scaler is None:
        return None
    return {"kind": "standard" if isinstance(scaler, Standard) else "minmax", **asdict(scaler)}


def scaler_from_dict(values: dict | None) -> MinMax | Standard | None:
    """Inverse of :func:`scaler_to_dict`; a dict without ``kind`` (runs before it existed) is MinMax."""
    if values is None:
        return None
    values = dict(values)
    return INPUT_SCALINGS[values.pop("kind", "minmax")](**values)


def frames_in_windows(ranges: np.ndarray, total: int) -> np.ndarray:
    """bool [total]: which stream rows fall in at least one of the half-open ``ranges [W, 2]``."""
    marks = np.zeros(total + 1, np.int64)
    np.add.at(marks, ranges[:, 0], 1)
    np.add.at(marks, ranges[:, 1], -1)
    return np.cumsum(marks)[:total] > 0


@dataclass
class Normalisers:
    """The scalers of a run, fitted on its training windows; saved in the run's config."""

    xy: MinMax
    csi: MinMax | Standard | None = None
    snr: MinMax | Standard | None = None

    def to_dict(self) -> dict:
        return {"xy": asdict(self.xy), "csi": scaler_to_dict(self.csi), "snr": scaler_to_dict(self.snr)}

    @classmethod
    def from_dict(cls, values: dict) -> Normalisers:
        return cls(MinMax(**values["xy"]), scaler_from_dict(values.get("csi")), scaler_from_dict(values.get("snr")))


def fit_normalisers(train: Windows, csi_embeddings: np.ndarray | None, snr_x: np.ndarray | None,
                    input_scaling: str = DEFAULT_INPUT_SCALING) -> Normalisers:
    """Scalers of positions ([0, 1]) and of the CSI embeddings and SNRs (``input_scaling``:
    "minmax" or "standard") from the training windows only."""
    if input_scaling not in INPUT_SCALINGS:
        raise ConfigError(f"data.input_scaling={input_scaling!r}: choose one of {sorted(INPUT_SCALINGS)}")
    scaler = INPUT_SCALINGS[input_scaling]
    xy = MinMax.fit(train.target_xy[train.query_mask > 0])
    csi = snr = None
    if csi_embeddings is not None:
        csi = scaler.fit(csi_embeddings[frames_in_windows(train.csi_range, len(csi_embeddings))])
    if snr_x is not None:
        snr = scaler.fit(snr_x[frames_in_windows(train.snr_range, len(snr_x))])
    return Normalisers(xy, csi, snr)


# --------------------------------------------------------------------------- dataset and collation


@dataclass
class TrackStreams:
    """Normalised input streams of one recording: CSI embeddings and/or SNRs with their times."""

    csi_t: np.ndarray | None = None
    csi: np.ndarray | None = None        # float32 [Nc, d] in [0, 1] on the training windows
    snr_t: np.ndarray | None = None
    snr: np.ndarray | None = None        # float32 [Ns, M], NaN where a beam sector was missing
    bands: tuple[str, ...] = field(default=("csi", "snr"))


class TrackWindowDataset:
    """A map-style dataset of windows; item ``i`` is a dict of per-window tensors (times in [0, 1]).

    Item: ``csi_t [n], csi [n, d], snr_t [m], snr [m, M]`` (only the used bands; ``snr`` is NaN
    where a beam sector was missing), ``target_xy [Tq, 2]`` normalised to [0, 1] with the
    training min/max, ``query_mask [Tq]``.
    """

    def __init__(self, windows: Windows, streams: TrackStreams, xy_scaler: MinMax | None):
        self.windows, self.streams, self.xy_scaler = windows, streams, xy_scaler
        self.targets = xy_scaler(windows.target_xy) if xy_scaler is not None else windows.target_xy

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict:
        import torch

        w = self.windows
        start = w.starts[index]
        item = {"target_xy": torch.from_numpy(self.targets[index]),
                "query_mask": torch.from_numpy(w.query_mask[index])}
        for band, ranges in (("csi", w.csi_range), ("snr", w.snr_range)):
            if band not in self.streams.bands:
                continue
            lo, hi = ranges[index]
            t = getattr(self.streams, f"{band}_t")[lo:hi]
            item[f"{band}_t"] = torch.from_numpy(((t - start) / w.window_s).astype(np.float32))
            item[band] = torch.from_numpy(getattr(self.streams, band)[lo:hi])
        return item


# Bands whose features can be missing one by one: a beam sector missing from a sweep. Their
# batches carry a [B, U, D] mask, so the missing sector is mask 0 while the sweep's other beams
# stay observed; a CSI embedding is a whole frame, observed or not, so [B, U] is enough there.
FEATURE_MASKED_BANDS = ("snr",)


def make_collate(query_t: np.ndarray, bands: Sequence[str]):
    """A collate function: list of dataset items -> :class:`TrackBatch` (bands via ``collate_union``).

    NaN in an item's band values is a missing feature: value 0 and mask 0 in the batch (per
    feature for the bands in ``FEATURE_MASKED_BANDS``).
    """
    import torch

    from wifisense.track.batching import TrackBatch, collate_union

    query = torch.as_tensor(query_t, dtype=torch.float32)

    def collate(items: list[dict]) -> TrackBatch:
        observed = {band: collate_union([(it[f"{band}_t"], it[band]) for it in items],
                                        feature_mask=band in FEATURE_MASKED_BANDS) if band in bands else None
                    for band in ("csi", "snr")}
        return TrackBatch(csi=observed["csi"], snr=observed["snr"], query_t=query,
                          target_xy=torch.stack([it["target_xy"] for it in items]),
                          query_mask=torch.stack([it["query_mask"] for it in items]))

    return collate
