"""Public CSI data sets into stores: one converter module per data set layout.

Activity data sets become caption stores (below); a localisation data set (a module with
``KIND = "multiband"``, e.g. EPIC-CSU) becomes a CSI-only multi-band store through its own
``build(root, **options) -> (MultiBandDataset, summary)``.

``wifisense ingest public NAME --path DIR --out STORE`` walks a data set's own folder
layout (never copied into this project: point ``--path`` at your copy), reads every
recording through the project's readers (raw captures) or as amplitude-only arrays (CSV),
cuts one clip per recording, turns the class label into several caption paraphrases from
the converter's documented templates, and keeps the data set's labels and factors
(subject, session, distance, height, ...) as integer group columns ``/groups/NAME`` for
``wifisense split --by group:NAME``. A data set's own train/test folders become splits.

A converter module declares ``NAME``, ``TITLE``, ``CITATION``, ``LICENCE``, ``CAPTIONS``
(label -> paraphrases), ``MIRROR`` (label pairs with a side, may be empty),
``DEFAULTS`` (clip seconds, packet rate, options) and ``clips(root, **options)``, which
yields :class:`PublicClip` items (``options`` include ``seconds``, for a converter that
cuts its clips itself, e.g. one per labelled segment).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError, ConfigError

# name -> module (imported on use)
CONVERTERS = {"csi-har": "wifisense.io.public.csi_har", "wiar": "wifisense.io.public.wiar",
              "epic-csu": "wifisense.io.public.epic_csu", "stability-csi-har": "wifisense.io.public.stability"}


@dataclass
class PublicClip:
    """One recording of a public data set: how to read it, its label and its group values."""

    path: Path
    label: str
    read: Callable[[], object]                   # -> CSIRecording
    groups: dict[str, int] = field(default_factory=dict)
    split: str | None = None                     # the data set's own split, where it has one


def converter(name: str):
    """The converter module of a data set name."""
    if name not in CONVERTERS:
        raise ConfigError(f"unknown public data set {name!r}; known: {', '.join(CONVERTERS)}")
    return importlib.import_module(CONVERTERS[name])


def amplitude_recording(amplitude: np.ndarray, rate_hz: float, subcarriers, path, dataset: str):
    """A ``CSIRecording`` of amplitude-only rows ``[T, S]`` (or ``[T, S, Nrx]``): the amplitude as
    a real complex value (phase 0, so every phase feature is constant and carries nothing) on
    a time axis made from ``rate_hz`` (the files hold no timestamps)."""
    from wifisense.io.recording import CSIRecording

    amplitude = np.asarray(amplitude, np.float32)
    if amplitude.ndim == 2:
        amplitude = amplitude[:, :, None]
    if not np.isfinite(amplitude).all():
        bad = np.argwhere(~np.isfinite(amplitude))[0]
        raise CaptureError(path, f"row {bad[0] + 1}, column {bad[1] + 1}: amplitude "
                                 f"{float(amplitude[tuple(bad)])!r} is not a finite number")
    # Published "amplitudes" may be processed (filtered) values with a sign: kept as given, as
    # real numbers (the amplitude features see their magnitude).
    t = np.arange(amplitude.shape[0], dtype=np.float64) / rate_hz
    return CSIRecording(csi=amplitude[..., None].astype(np.complex64), timestamps=t,
                        subcarriers=np.asarray(subcarriers), timestamps_derived=True,
                        source={"format": f"{dataset}-amplitude", "path": str(path), "amplitude_only": True})


def read_amplitude_csv(path: Path, columns: int) -> np.ndarray:
    """``float32 [T, columns]`` from a headerless CSV of amplitudes, naming the bad line."""
    rows = []
    with open(path, encoding="utf-8-sig", errors="strict") as f:
        for line_no, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            cells = line.split(",")
            if len(cells) != columns:
                raise CaptureError(path, f"line {line_no}: {len(cells)} values, expected {columns} "
                                         "(one amplitude per subcarrier)")
            try:
                rows.append([float(c) for c in cells])
            except ValueError:
                bad = next(c for c in cells if not _is_number(c))
                raise CaptureError(path, f"line {line_no}: {bad!r} is not a number") from None
    if not rows:
        raise CaptureError(path, "holds no rows")
    return np.asarray(rows, np.float32)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def used_streams(csi: np.ndarray) -> np.ndarray:
    """bool ``[Ntx]``: the transmit streams that carry any non-zero CSI (a reader zero-fills the
    streams a packet did not carry; those are dropped, not fed to a model as antenna pairs)."""
    return np.abs(csi).reshape(-1, csi.shape[-1]).max(axis=0) > 0


def caption_paraphrases(templates: dict[str, list[str]], label: str) -> list[str]:
    if label not in templates:
        raise ConfigError(f"no caption template for class {label!r}")
    return list(templates[label])


def ingest_public(name: str, root: str | os.PathLike, out: str | os.PathLike, *, seconds: float | None = None,
                  rate_hz: float | None = None, limit: int | None = None, overwrite: bool = False,
                  progress: bool = True, **options) -> dict:
    """Convert data set ``name`` at ``root`` into the caption store ``out``; returns a summary."""
    import dataclasses

    from tqdm import tqdm

    from wifisense.io.ingest import ClipGrid, caption_clip
    from wifisense.io.store import caption_store_appender

    module = converter(name)
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"--path {root}: not a folder; point it at your copy of the {module.TITLE} data set")
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(module.DEFAULTS))
    if unknown:
        raise ConfigError(f"--{unknown[0]} does not apply to {name}")
    if getattr(module, "KIND", "caption") == "multiband":
        from wifisense.io.store import write_multiband_store

        dataset, summary = module.build(root, seconds=seconds, rate_hz=rate_hz, limit=limit, progress=progress,
                                        **{**{k: v for k, v in module.DEFAULTS.items() if k not in ("seconds", "rate_hz")},
                                           **given})
        write_multiband_store(out, dataset, overwrite=overwrite)
        return {**summary, "kind": "multiband", "store": str(out), "splits": sorted(dataset.splits)}
    settings = {**module.DEFAULTS, **given}          # what the converter's clips() takes, and the clip length
    default_seconds = settings.pop("seconds")
    seconds = seconds or default_seconds
    settings["rate_hz"] = rate = rate_hz or settings["rate_hz"]
    if not (seconds > 0 and rate > 0):
        raise ConfigError(f"--seconds and --packet-rate must be > 0, got {seconds} and {rate}")
    items: list[PublicClip] = list(module.clips(root, seconds=seconds, **settings))
    if not items:
        raise ConfigError(f"--path {root}: no {module.TITLE} recordings found there ({module.LAYOUT})")
    if limit:
        items = items[:limit]
    labels = sorted({c.label for c in items})
    grid = ClipGrid(rate_hz=float(rate), num_steps=int(round(seconds * rate)))
    streams = None
    with caption_store_appender(out, overwrite=overwrite) as appender:
        for item in tqdm(items, desc=f"ingest {name}", unit="clip", disable=not progress):
            recording = item.read()
            used = used_streams(recording.csi)
            if streams is None:
                streams = used
            if not used[streams].all():
                raise CaptureError(item.path, f"carries transmit streams {np.flatnonzero(used).tolist()}, the first "
                                              f"recording {np.flatnonzero(streams).tolist()}")
            recording = dataclasses.replace(recording, csi=recording.csi[..., streams])
            mirror = module.MIRROR.get(item.label)
            clip = caption_clip([recording], grid, caption_paraphrases(module.CAPTIONS, item.label), item.label,
                                mirror, split=item.split, source=f"public:{name}")
            clip.groups = {k: np.array([v], np.int32) for k, v in item.groups.items()}
            clip.attrs = {"ingest": {"tool": "wifisense ingest public", "dataset": name, "title": module.TITLE,
                                     "citation": module.CITATION, "licence": module.LICENCE,
                                     "amplitude_only": bool(recording.source.get("amplitude_only")),
                                     "clip_seconds": seconds, "rate_hz": rate,
                                     "transmit_streams_used": np.flatnonzero(streams).tolist()}}
            appender.append(clip)
        count = appender.num_clips
    return {"kind": "caption", "clips": count, "classes": labels, "groups": sorted(items[0].groups),
            "store": str(out), "splits": sorted({c.split for c in items if c.split})}


def iter_files(root: Path, pattern: str) -> Iterator[Path]:
    """Files under ``root`` matching ``pattern``, in a stable (natural) order."""
    import re

    def natural(p: Path):
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(p.relative_to(root)))]

    return iter(sorted(root.glob(pattern), key=natural))


# --------------------------------------------------------------------------- CLI: ingest public


def add_parser(kinds) -> None:
    """``wifisense ingest public``, added to ``ingest``'s kinds by ``io.commands``."""
    p = kinds.add_parser(
        "public", help="a public CSI data set (its own folder layout) -> caption clips with group columns, or a "
        "CSI-only localisation store",
        description="Convert a public CSI activity data set from your copy of its folder layout into a caption "
        "store: one clip per recording (its first --seconds on a --packet-rate grid), captions from the class "
        "label (several paraphrases per class), the data set's factors (user, sample, height, distance) as "
        "group columns for `wifisense split --by group:NAME`, its own train/test folders as splits. Raw captures "
        "go through the project's readers; amplitude-only files become CSI with phase 0. A data set with "
        "per-frame labels (stability-csi-har) gives one clip per labelled activity segment. A localisation data "
        "set (epic-csu) becomes a CSI-only multi-band store instead: one recording per point, its reference "
        "and test recordings as the store's train and test splits (`track compare --split store`). See "
        "docs/public_data.md.")
    p.add_argument("name", choices=sorted(CONVERTERS), help="the data set: " + ", ".join(sorted(CONVERTERS)))
    p.add_argument("--path", required=True, metavar="DIR", help="the data set's root folder (your copy)")
    p.add_argument("--out", required=True, metavar="STORE", help="the .h5 store to write")
    p.add_argument("--seconds", type=float, default=None, metavar="S",
                   help="clip length from the start of each recording (default: the data set's, see its recipe); "
                   "stability-csi-har: S seconds centred on each labelled activity segment; "
                   "epic-csu: the first S seconds of each reference recording (default: all)")
    p.add_argument("--packet-rate", type=float, default=None, metavar="HZ",
                   help="clip grid rate (default: the data set's packet rate)")
    p.add_argument("--subset", default=None, help="wiar: height (default) or distance; epic-csu: path1 (default) "
                   "... path5, or all")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N recordings (a quick look)")
    p.add_argument("--overwrite", action="store_true", help="replace STORE if it exists")
    p.set_defaults(run_public=run)


def run(args) -> int:
    done = ingest_public(args.name, args.path, args.out, seconds=args.seconds, rate_hz=args.packet_rate,
                         limit=args.limit, overwrite=args.overwrite, progress=not getattr(args, "quiet", False),
                         subset=args.subset)
    splits = f"; splits {', '.join(done['splits'])}" if done["splits"] else "; no splits (use wifisense split)"
    if done["kind"] == "multiband":
        skipped = f"; skipped {len(done['skipped'])} file(s) without coordinates" if done["skipped"] else ""
        print(f"wrote {done['recordings']} recordings ({done['reference']} reference, {done['test']} test; "
              f"{done['csi_frames']} CSI packets, no beam SNR) to {done['store']}{splits}{skipped}")
        return 0
    print(f"wrote {done['clips']} clips of {len(done['classes'])} classes to {done['store']} (group columns: "
          f"{', '.join(done['groups'])}{splits})")
    return 0
