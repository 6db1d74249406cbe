"""Caption inputs: CSI clips -> normalised amplitude and sanitised phase, for training, evaluation and prediction.

One path for every source, so the model always sees identically prepared inputs:

- a store clip ``[R, T, A, S]`` complex (or a batch ``[B, R, T, A, S]``) becomes an
  amplitude and a phase feature (:func:`csi_features`; the run's ``feature_mode``):
  by default ("dynamic") the log amplitude with the per-packet gain and the static
  channel removed, and the phase of adjacent antennas' conjugate product (CFO/STO
  cancelled) relative to its static value; ("sanitized", runs made before) the amplitude
  relative to its clip mean and ``sanitize_phase(csi)`` over the subcarriers. Both are
  z-scored with per (antenna pair, subcarrier) statistics fitted on the TRAINING split
  only (:func:`fit_input_spec`) and saved in the run (``preprocess.json``);
- raw captures (one file per receiver, any format ``read_csi`` reads) are aligned on
  their first packets, resampled (nearest packet) onto the trained rate and length,
  matched to the trained subcarriers and antenna pairs (:func:`match_capture`) and then
  prepared exactly like a store clip.

Antenna-pair matching rule for captures (``a = rx * Ntx + tx``, as ``wifisense ingest``
flattens them): a capture with ``Nrx * Ntx == A`` is used as is; otherwise, when
``Nrx == A`` (the model was trained on one transmit antenna, like the simulator's 3 Rx
antennas x 1 Tx), the pairs of the FIRST transmit antenna are used; anything else is a
CaptureError naming the file and both shapes. Subcarriers: the capture must carry every
trained subcarrier index (extra ones, e.g. Atheros' 56 tones around Intel's 30 grouped
ones, are dropped).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError, ConfigError, StoreError

log = logging.getLogger(__name__)

INPUT_SPEC_FILE = "preprocess.json"
STD_FLOOR = 1e-6          # a constant feature (e.g. all-zero padding) is centred, not blown up
FEATURE_MODES = ("dynamic", "sanitized", "both")
DEFAULT_FEATURE_MODE = "dynamic"
LEGACY_FEATURE_MODE = "sanitized"   # what a preprocess.json written before feature_mode existed means
EPS = 1e-12
FIT_CHUNK_CLIPS = 64      # clips read from the store at a time when fitting the statistics
MAX_GAP_FRACTION = 0.5    # captures with more grid gaps than this are refused (too sparse)


# --------------------------------------------------------------------------- the input spec


@dataclass
class CaptionInputSpec:
    """What a trained caption model takes: clip geometry, time grid and normalisation statistics.

    ``amplitude_mean`` etc. are ``[A][S]`` nested lists (JSON friendly) fitted over the
    training clips' valid receivers and time steps.
    """

    num_receivers: int
    num_steps: int
    num_antenna_pairs: int
    subcarriers: list[int]
    sample_rate_hz: float
    amplitude_mean: list[list[float]]
    amplitude_std: list[list[float]]
    phase_mean: list[list[float]]
    phase_std: list[list[float]]
    fitted_on: str = "train"
    num_fit_clips: int = 0
    feature_mode: str = DEFAULT_FEATURE_MODE

    @property
    def clip_seconds(self) -> float:
        return self.num_steps / self.sample_rate_hz

    @property
    def feature_channels(self) -> int:
        """Input channels of each student backbone: A, or 2A when ``feature_mode`` is "both"."""
        return feature_channels(self.feature_mode, self.num_antenna_pairs)

    @property
    def clip_shape(self) -> tuple[int, int, int, int]:
        """``(R, T, A, S)``."""
        return (self.num_receivers, self.num_steps, self.num_antenna_pairs, len(self.subcarriers))

    def save(self, path: str | os.PathLike) -> None:
        from wifisense.training.checkpoint import write_json
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | os.PathLike) -> CaptionInputSpec:
        path = Path(path)
        if path.is_dir():
            path = path / INPUT_SPEC_FILE
        try:
            payload = json.loads(path.read_text())
            payload.setdefault("feature_mode", LEGACY_FEATURE_MODE)
            if payload["feature_mode"] not in FEATURE_MODES:
                raise ConfigError(f"{path}: feature_mode {payload['feature_mode']!r} is not one of {FEATURE_MODES}")
            return cls(**payload)
        except FileNotFoundError:
            raise ConfigError(f"{path}: missing; is {path.parent} a caption run directory?") from None
        except (json.JSONDecodeError, TypeError) as err:
            raise ConfigError(f"{path}: not a caption input spec ({err})") from err

    def stats_arrays(self) -> dict[str, np.ndarray]:
        """The four statistics as float32 ``[A, S]`` arrays."""
        return {name: np.asarray(getattr(self, name), np.float32)
                for name in ("amplitude_mean", "amplitude_std", "phase_mean", "phase_std")}


def _xp(x):
    """``(module, reduce-kwargs maker)`` so the feature code runs on NumPy arrays and torch tensors alike."""
    if isinstance(x, np.ndarray):
        return np, (lambda axes: {"axis": axes, "keepdims": True})
    import torch
    return torch, (lambda axes: {"dim": axes, "keepdim": True})


def feature_channels(mode: str, antenna_pairs: int) -> int:
    """Channels per antenna-pair axis that :func:`csi_features` gives in ``mode``."""
    return 2 * antenna_pairs if mode == "both" else antenna_pairs


def csi_features(csi, subcarriers, mode: str = DEFAULT_FEATURE_MODE):
    """``(amplitude, phase)`` features of complex CSI ``[..., T, A, S]``; NumPy or torch.

    ``mode="dynamic"`` (default): what the *motion* does to the channel, with the receiver's
    impairments and the static room cancelled exactly:

    - amplitude: ``log |H|`` double-centred, i.e. minus its mean over ``[A, S]`` at every
      packet (cancels the per-packet AGC gain, which otherwise swamps the 1-5 % amplitude
      ripple a moving limb causes) and minus its time mean per ``(A, S)`` (cancels the
      static, position-dependent multipath pattern, which a network otherwise memorises
      clip by clip); in the log domain both cancel exactly;
    - phase: the angle of the conjugate product of each antenna with the next one,
      ``H_a conj(H_(a+1 mod A))`` (cancels CFO, STO/SFO slopes and any per-packet common
      phase, as they are shared by one NIC's antennas), rotated by its time-mean phasor so
      the static part is 0. With one antenna the sanitised phase is used instead.

    ``mode="sanitized"``: the amplitude divided by its mean over each receiver's
    ``[T, A, S]`` block, and the phase with its per-packet linear fit over subcarriers
    removed (:func:`wifisense.signal.sanitize_phase`): the paper's inputs. They keep the
    static channel, which tells where the person stands (and so the room half).

    ``mode="both"``: the dynamic features followed by the sanitised ones along the antenna
    axis (``2A`` channels per backbone).
    """
    from wifisense.signal import amplitude, sanitize_phase

    if mode not in FEATURE_MODES:
        raise ConfigError(f"feature mode {mode!r} is not one of {FEATURE_MODES}")
    xp, keep = _xp(csi)
    if mode == "both":
        (dyn_amp, dyn_phase), (san_amp, san_phase) = (csi_features(csi, subcarriers, m) for m in ("dynamic", "sanitized"))
        join = (lambda parts: xp.concatenate(parts, axis=-2)) if xp is np else (lambda parts: xp.cat(parts, dim=-2))
        return join([dyn_amp, san_amp]), join([dyn_phase, san_phase])
    amp = amplitude(csi)
    if mode == "sanitized":
        return amp / (amp.mean(**keep((-3, -2, -1))) + EPS), sanitize_phase(csi, subcarriers, axis=-1)
    log_amp = xp.log(amp + EPS)
    log_amp = log_amp - log_amp.mean(**keep((-2, -1)))
    log_amp = log_amp - log_amp.mean(**keep((-3,)))     # the packet means' time mean goes with it
    if csi.shape[-2] == 1:
        return log_amp, sanitize_phase(csi, subcarriers, axis=-1)
    pairs = csi * xp.conj(xp.roll(csi, -1, -2))
    pairs = pairs / (xp.abs(pairs) + EPS)        # unit phasors: the per-packet gain does not weight the mean
    static = pairs.mean(**keep((-3,)))
    return log_amp, xp.angle(pairs * xp.conj(static))


def fit_input_spec(store: str | os.PathLike, split: str = "train", chunk_clips: int = FIT_CHUNK_CLIPS,
                   feature_mode: str = DEFAULT_FEATURE_MODE) -> CaptionInputSpec:
    """Geometry of the store's clips and per (antenna pair, subcarrier) mean/std over ``split`` only.

    Statistics run over every valid receiver and time step of the split's clips, read
    ``chunk_clips`` at a time and accumulated in float64 (sum and sum of squares).
    """
    from wifisense.io.h5open import caption_csi_shape, open_store, read_caption_csi, read_rows

    with open_store(store, kind="caption") as f:
        if "splits" not in f or split not in f["splits"]:
            have = sorted(f["splits"]) if "splits" in f else []
            raise StoreError(store, f"/splits/{split}", f"no such split to fit the normalisation on (store has {have})")
        indices = np.sort(f["splits"][split][()].astype(np.int64))
        if indices.size == 0:
            raise StoreError(store, f"/splits/{split}", "is empty; nothing to fit the normalisation on")
        meta = f["meta"]
        subcarriers = meta["subcarriers"][()].astype(np.int64)
        rate = float(meta.attrs["sample_rate_hz"])
        r, t, a, s = caption_csi_shape(f)[1:]
        sums = np.zeros((4, feature_channels(feature_mode, a), s))   # amplitude, amplitude^2, phase, phase^2
        count = 0
        for start in range(0, indices.size, chunk_clips):
            rows = indices[start:start + chunk_clips]
            csi = read_caption_csi(f, rows)               # [n, R, T, A, S]; h5py needs increasing rows
            valid = read_rows(f["rx_valid"], rows).astype(bool)   # [n, R]
            amp, phase = csi_features(csi[valid], subcarriers, feature_mode)   # [m, T, A, S]
            amp, phase = amp.astype(np.float64), phase.astype(np.float64)
            sums += np.stack([amp.sum((0, 1)), (amp ** 2).sum((0, 1)), phase.sum((0, 1)), (phase ** 2).sum((0, 1))])
            count += amp.shape[0] * amp.shape[1]
    if count == 0:
        raise StoreError(store, "/rx_valid", f"split {split!r} has no valid receiver to fit the normalisation on")
    mean_amp, mean_phase = sums[0] / count, sums[2] / count
    std_amp = np.sqrt(np.maximum(sums[1] / count - mean_amp ** 2, 0.0))
    std_phase = np.sqrt(np.maximum(sums[3] / count - mean_phase ** 2, 0.0))
    return CaptionInputSpec(
        num_receivers=r, num_steps=t, num_antenna_pairs=a, subcarriers=subcarriers.tolist(), sample_rate_hz=rate,
        amplitude_mean=mean_amp.tolist(), amplitude_std=np.maximum(std_amp, STD_FLOOR).tolist(),
        phase_mean=mean_phase.tolist(), phase_std=np.maximum(std_phase, STD_FLOOR).tolist(),
        fitted_on=split, num_fit_clips=int(indices.size), feature_mode=feature_mode)


def check_store_matches(store: str | os.PathLike, spec: CaptionInputSpec, validate: bool = True) -> None:
    """StoreError when a store breaks the schema (unless ``validate`` is False because the
    caller just checked it) or its clips lack the geometry the model was trained on."""
    from wifisense.io.h5open import caption_csi_shape, open_store
    from wifisense.io.validate import check_store

    if validate:
        check_store(store)

    with open_store(store, kind="caption") as f:
        shape = caption_csi_shape(f)[1:]
        subcarriers = f["meta"]["subcarriers"][()].astype(np.int64)
    if shape != spec.clip_shape:
        raise StoreError(store, "/csi", f"clips are [R, T, A, S] = {list(shape)} but the model was trained on "
                         f"{list(spec.clip_shape)}")
    if subcarriers.tolist() != list(spec.subcarriers):
        raise StoreError(store, "/meta/subcarriers", "differ from the subcarrier indices the model was trained on")


# --------------------------------------------------------------------------- tensors for the model


def prepare_inputs(csi, rx_valid, spec: CaptionInputSpec, subcarriers: Sequence[int] | None = None):
    """Model inputs from complex CSI ``[B, R, T, A, S]`` (torch or NumPy) and ``rx_valid [B, R]``.

    Returns torch ``(amplitude, phase, rx_valid)``: float32 ``[B, R, T, A, S]`` normalised
    with the spec's statistics (invalid receivers all zero) and bool ``[B, R]``.
    ``subcarriers``: the CSI's subcarrier indices (default: the spec's).
    """
    import torch

    csi = torch.as_tensor(csi)
    valid = torch.as_tensor(rx_valid).to(torch.bool)
    stats = {name: torch.from_numpy(value).to(csi.device) for name, value in spec.stats_arrays().items()}
    amp, phase = csi_features(csi, np.asarray(subcarriers if subcarriers is not None else spec.subcarriers),
                              spec.feature_mode)
    amp = (amp.float() - stats["amplitude_mean"]) / stats["amplitude_std"]
    phase = (phase.float() - stats["phase_mean"]) / stats["phase_std"]
    keep = valid[:, :, None, None, None].to(amp.dtype)
    return amp * keep, phase * keep, valid


class ClipCollate:
    """``collate_fn`` for caption loaders: ``collate_clips``, then CSI -> ``amplitude``/``phase``.

    A batch holds ``amplitude``, ``phase`` (float32 ``[B, R, T, A, S]``), ``rx_valid``
    ``[B, R]`` when the dataset reads ``csi``; ``frames`` uint8 ``[B, L, H, W, 3]`` when it
    reads frames; always ``captions`` (B lists of strings), ``class_id`` ``[B]`` and
    ``index`` ``[B]`` (store clip index, the sample id). Preprocessing runs once per batch,
    vectorised, in the loader (so in its worker processes when there are any).

    A training collate has a ``seed``. Its batches also carry ``caption_draw`` (B floats in
    ``[0, 1)``: which paraphrase each clip trains on, see ``caption.stages.pick_captions``),
    and with ``time_shift=True`` (augmentation) every clip's features are rolled circularly
    in time by its own random offset: actions are repetitive and start at a random phase,
    so a shifted clip is another plausible performance, and the network cannot key on
    *when* something happens in a clip. Both are :func:`clip_uniforms` of (seed, epoch,
    clip index); the Trainer hands the epoch to :meth:`set_epoch` before each epoch.
    """

    def __init__(self, spec: CaptionInputSpec, time_shift: bool = False, seed: int | None = None,
                 noise_dim: int = 0):
        if time_shift and seed is None:
            raise ConfigError("ClipCollate: time_shift (training augmentation) needs a seed")
        self.spec = spec
        self.time_shift = time_shift
        self.noise_dim = noise_dim
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch this collate's draws are for (called by the Trainer, like the sampler's)."""
        self.epoch = int(epoch)

    def __call__(self, items: list[dict]) -> dict:
        from wifisense.io.datasets import collate_clips

        batch = collate_clips(items)
        if "csi" in batch:
            csi = batch.pop("csi")
            batch["amplitude"], batch["phase"], batch["rx_valid"] = prepare_inputs(csi, batch["rx_valid"], self.spec)
        if self.time_shift and "amplitude" in batch:   # (items from FeatureClips arrive prepared)
            shift = random_time_shifts(batch["index"], batch["amplitude"].shape[2], seed=self.seed,
                                       epoch=self.epoch)
            batch["amplitude"] = roll_time(batch["amplitude"], shift)
            batch["phase"] = roll_time(batch["phase"], shift)
        if self.seed is not None:
            batch["caption_draw"] = clip_uniforms(batch["index"], CAPTION_STREAM, seed=self.seed,
                                                  epoch=self.epoch).tolist()
            if self.noise_dim:
                batch["embedding_noise"] = clip_normals(batch["index"], NOISE_STREAM, self.noise_dim,
                                                        seed=self.seed, epoch=self.epoch)
        return batch


# Independent random streams per clip: the time shift, the paraphrase pick, the S3 embedding noise.
SHIFT_STREAM, CAPTION_STREAM, NOISE_STREAM = 0, 1, 2


def clip_normals(index, stream: int, dim: int, *, seed: int, epoch: int):
    """``dim`` standard normal draws per clip (float32 ``[B, dim]``), stateless like :func:`clip_uniforms`."""
    import torch
    rows = [np.random.default_rng([stream, seed % 2**64, epoch, i]).standard_normal(dim)
            for i in torch.as_tensor(index).tolist()]
    return torch.from_numpy(np.asarray(rows, dtype=np.float32).reshape(len(rows), dim))


def clip_uniforms(index, stream: int, *, seed: int, epoch: int):
    """One uniform draw in ``[0, 1)`` per clip (float64 ``[B]``), a pure function of (stream, seed, epoch, clip index).

    Training randomness of the caption loaders comes from here, not from a generator that
    carries state from batch to batch (torch's global RNG, or one passed around), because
    a stateless draw is the simplest thing that stays right everywhere: a run is fixed by
    its seed; a resumed run (even mid-epoch) redraws exactly what the interrupted one drew,
    with no generator state to checkpoint; DataLoader workers (each holding a copy of the
    collate) cannot repeat one another's draws, and a clip's draw does not depend on the
    batch size, the number of workers or ranks; and the epoch in the key gives every epoch
    new draws, even when one batch is the whole training set.
    """
    import torch
    values = [np.random.default_rng([stream, seed % 2**64, epoch, i]).random() for i in torch.as_tensor(index).tolist()]
    return torch.tensor(values, dtype=torch.float64)


def random_time_shifts(index, steps: int, *, seed: int, epoch: int):
    """One uniform random offset in ``[0, steps)`` per clip (int64 ``[B]``), from :func:`clip_uniforms`."""
    draws = clip_uniforms(index, SHIFT_STREAM, seed=seed, epoch=epoch)
    return (draws * steps).long().clamp_(max=steps - 1)


def roll_time(x, shift):
    """``x [B, R, T, ...]`` with clip b rolled circularly by ``shift[b]`` steps along T.

    Two slice copies per clip: 5x faster than one ``torch.gather`` with an index as large as
    ``x`` (5.6 vs 26 ms for a batch of 32 demo clips; 19 s of a demo caption run), same values.
    """
    import torch
    steps = x.shape[2]
    out = torch.empty_like(x)
    for b, k in enumerate((torch.as_tensor(shift) % steps).tolist()):
        out[b, :, k:] = x[b, :, :steps - k]
        out[b, :, :k] = x[b, :, steps - k:]
    return out


def clip_fields(csi: bool = True, frames: bool = False) -> tuple[str, ...]:
    """Store fields a caption loader reads."""
    return (("csi", "rx_valid") if csi else ()) + (("frames",) if frames else ()) + ("class_id", "captions")


# A split's prepared inputs are held in memory (FeatureClips) up to this size, else streamed.
FEATURE_CACHE_BYTES = 2 << 30


def feature_bytes(spec: CaptionInputSpec, num_clips: int) -> int:
    """Memory FeatureClips needs for ``num_clips`` clips (float32 amplitude and phase)."""
    r, t, _a, s = spec.clip_shape
    return 2 * 4 * num_clips * r * t * spec.feature_channels * s


class FeatureClips:
    """A split's clips with their model inputs prepared once and held in memory (a map-style dataset).

    Reading, decompressing and :func:`prepare_inputs` took three quarters of a CSI stage's
    step (batch 32 of 100-Hz clips: 0.42 s reading, 0.84 s features, 0.40 s for the tiny
    student's forward and backward pass), and they are the same for a clip in every epoch
    and every stage. Items carry ``amplitude``/``phase`` (float32 ``[R, T, A, S]``),
    ``rx_valid``, ``class_id``, ``captions`` and ``index``; :class:`ClipCollate` stacks them
    and applies the per-batch augmentation and draws exactly as for streamed clips.
    """

    def __init__(self, store: str | os.PathLike, split: str, spec: CaptionInputSpec, chunk_clips: int = 64,
                 mirrored: bool = False):
        import torch

        source = caption_dataset(store, split, csi=True, frames=False)
        if mirrored:      # the clips and their mirror images (MirroredClips)
            source = mirrored_dataset(store, source)
        prepare = ClipCollate(spec)
        parts: dict[str, list] = {"amplitude": [], "phase": [], "rx_valid": [], "class_id": [], "index": []}
        self.captions: list[list[str]] = []
        for start in range(0, len(source), chunk_clips):
            batch = prepare([source[i] for i in range(start, min(start + chunk_clips, len(source)))])
            for name in parts:
                parts[name].append(batch[name])
            self.captions += batch["captions"]
        source.close()
        self.tensors = {name: torch.cat(values) for name, values in parts.items()}
        self.class_names = source.class_names

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, item: int) -> dict:
        out = {name: values[item] for name, values in self.tensors.items()}
        out["index"] = int(out["index"])
        out["captions"] = self.captions[item]
        return out


def store_mirror_receivers(store: str | os.PathLike) -> tuple[int, ...] | None:
    """The store's receiver mirror map (``mirror_receivers`` in its attributes), or None.

    Receiver ``r`` of a clip's mirror image is receiver ``map[r]`` with the antenna order
    reversed (:func:`wifisense.caption.mirror.mirror_csi`); only a mirror-symmetric room has one.
    """
    from wifisense.io.store import _read_extra_attrs, open_store

    with open_store(store, kind="caption") as f:
        value = _read_extra_attrs(f).get("mirror_receivers")
    return tuple(int(r) for r in value) if value else None


class MirroredClips:
    """A dataset's clips followed by their mirror images (training augmentation, ``student.mirror_augment``).

    Item ``k >= N`` is clip ``k - N`` mirrored: its CSI through :func:`mirror_csi`, frames
    flipped, direction words of every caption swapped and the mirrored class id. Its
    ``index`` is the clip's plus ``index_offset`` (the store's clip count), so the per-clip
    random draws (time shift, paraphrase) of a mirror image are its own.
    """

    def __init__(self, source, receivers: Sequence[int], mirror_of, index_offset: int):
        self.source, self.receivers = source, tuple(int(r) for r in receivers)
        self.mirror_of, self.index_offset = np.asarray(mirror_of, dtype=np.int64), int(index_offset)
        self.class_names = getattr(source, "class_names", None)

    def __len__(self) -> int:
        return 2 * len(self.source)

    def __getitem__(self, item: int) -> dict:
        import torch

        from wifisense.caption.mirror import flip_frames, mirror_csi, swap_directions

        n = len(self.source)
        clip = self.source[item % n]
        if item < n:
            return clip
        out = dict(clip)
        out["index"] = int(clip["index"]) + self.index_offset
        if "csi" in clip:
            out["csi"] = mirror_csi(clip["csi"], self.receivers)
            out["rx_valid"] = clip["rx_valid"][list(self.receivers)]
        if "frames" in clip:
            out["frames"] = flip_frames(clip["frames"])
        if "class_id" in clip:
            out["class_id"] = torch.tensor(int(self.mirror_of[int(clip["class_id"])]), dtype=torch.int64)
        out["captions"] = [swap_directions(c) for c in clip["captions"]]
        return out

    def close(self) -> None:
        close = getattr(self.source, "close", None)
        if close is not None:
            close()


def mirrored_dataset(store: str | os.PathLike, source):
    """``source`` followed by its mirror images (:class:`MirroredClips`); a clear error when the
    store's room has no receiver mirror map."""
    from wifisense.io.store import open_store

    receivers = store_mirror_receivers(store)
    if receivers is None:
        raise ConfigError(f"{store}: student.mirror_augment needs the store's receiver mirror map "
                          "(attribute mirror_receivers), which only a mirror-symmetric room has: "
                          "`wifisense simulate actions --set layout='\"symmetric\"'` writes it")
    with open_store(store, kind="caption") as f:
        mirror_of, num_clips = f["meta/mirror_of"][()], int(f["csi"].shape[0])
    return MirroredClips(source, receivers, mirror_of, num_clips)


def caption_dataset(store: str | os.PathLike, split: str | None, *, csi: bool = True, frames: bool = False):
    """A ``CaptionStoreDataset`` of ``split`` reading only what a stage needs (see :func:`clip_fields`)."""
    from wifisense.io.datasets import CaptionStoreDataset
    return CaptionStoreDataset(store, split, fields=clip_fields(csi, frames))


def store_has(store: str | os.PathLike, *names: str) -> bool:
    """Whether every ``/name`` exists in the store (e.g. ``frames``, ``splits/val``)."""
    from wifisense.io.store import open_store
    with open_store(store, kind="caption") as f:
        return all(name in f for name in names)


def store_split_sizes(store: str | os.PathLike) -> dict[str, int]:
    from wifisense.io.store import open_store
    with open_store(store, kind="caption") as f:
        return {name: int(ds.shape[0]) for name, ds in f["splits"].items()} if "splits" in f else {}


# --------------------------------------------------------------------------- raw captures


def _capture_shape(rec) -> str:
    return f"[S, Nrx, Ntx] = {list(rec.shape[1:])}"


def match_capture(rec, path: str | os.PathLike, spec: CaptionInputSpec):
    """One recording's CSI reduced to the trained subcarriers and antenna pairs: complex ``[T, A, S]``.

    See the module docstring for the rule; raises CaptureError naming the file and both shapes.
    """
    _, s, nrx, ntx = rec.shape
    want_s, want_a = len(spec.subcarriers), spec.num_antenna_pairs
    expected = f"the model takes A = {want_a} antenna pairs x S = {want_s} subcarriers"
    have = np.asarray(rec.subcarriers).astype(np.int64)
    positions = {int(k): i for i, k in enumerate(have)}
    missing = [k for k in spec.subcarriers if k not in positions]
    if missing:
        raise CaptureError(path, f"capture has {_capture_shape(rec)} with {s} subcarriers, {expected} and needs "
                           f"subcarrier indices {missing[:6]}{'...' if len(missing) > 6 else ''} it does not carry")
    csi = rec.csi[:, [positions[k] for k in spec.subcarriers]]          # [T, S, Nrx, Ntx]
    if nrx * ntx == want_a:
        pairs = csi.reshape(csi.shape[0], want_s, want_a)
    elif nrx == want_a:
        pairs = csi[..., 0]       # the first transmit antenna's Nrx pairs (the model saw one Tx)
    else:
        raise CaptureError(path, f"capture has {_capture_shape(rec)} = {nrx * ntx} antenna pairs, {expected}; "
                           f"no rule matches (needs Nrx x Ntx = {want_a}, or Nrx = {want_a} to use the first "
                           "transmit antenna)")
    return np.ascontiguousarray(pairs.transpose(0, 2, 1))             # [T, A, S]


def clip_from_captures(paths: Sequence[str | os.PathLike | None], spec: CaptionInputSpec, *, format: str = "auto",
                       start_s: float = 0.0, **hints):
    """One clip from per-receiver captures, on the trained grid: ``(csi [R, T, A, S] complex64, rx_valid [R])``.

    Captures are aligned on their own first packets (receiver clocks are not shared),
    resampled to ``spec.sample_rate_hz`` by nearest packet for ``spec.num_steps`` steps
    starting ``start_s`` seconds in. A capture that ends before the clip does, or whose
    packets are too sparse for the trained rate, is a CaptureError.
    """
    from wifisense.io.ingest import read_receivers

    paths = list(paths)
    if len(paths) != spec.num_receivers:
        raise ConfigError(f"the model was trained on {spec.num_receivers} receivers; give one capture per receiver "
                          f"in that order ('-' for a missing one), got {len(paths)}")
    recordings = read_receivers(paths, format=format, **hints)
    return clip_from_recordings(recordings, paths, spec, start_s=start_s)


def clip_from_recordings(recordings: Sequence, names: Sequence, spec: CaptionInputSpec, *, start_s: float = 0.0):
    """:func:`clip_from_captures` on recordings already read (``None`` for a missing receiver);
    ``names`` say which file or live source each came from, for the errors."""
    from wifisense.signal import resample_uniform

    paths = list(names)
    rate, steps = spec.sample_rate_hz, spec.num_steps
    grid = start_s + np.arange(steps) / rate
    csi = np.zeros(spec.clip_shape, np.complex64)
    rx_valid = np.array([rec is not None for rec in recordings])
    for r, (rec, path) in enumerate(zip(recordings, paths)):
        if rec is None:
            continue
        pairs = match_capture(rec, path, spec)
        t = rec.timestamps - rec.timestamps[0]
        # Half a grid period of slack: nearest-packet resampling covers up to there.
        if t[-1] + 0.5 / rate < grid[-1]:
            raise CaptureError(path, f"capture is too short: {rec.num_packets} packets over {t[-1]:.3f} s, but the "
                               f"model takes T = {steps} steps at {rate:g} Hz ({steps / rate:.3f} s) starting at "
                               f"{start_s:g} s, i.e. until {grid[-1]:.3f} s")
        _, values, gaps = resample_uniform(t, pairs, grid=grid, method="nearest", axis=0)
        gap_fraction = float(np.mean(gaps))
        if gap_fraction > MAX_GAP_FRACTION:
            raise CaptureError(path, f"capture is too sparse for the model's {rate:g} Hz: {gap_fraction:.0%} of the "
                               f"{steps} clip steps have no packet near them (capture rate {rec.rate_hz:.3g} Hz)")
        csi[r] = values
    return csi, rx_valid
