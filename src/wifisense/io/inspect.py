"""The ``wifisense inspect`` command: summarise captures, logs and stores; plot CSI heatmaps.

Works on any CSI capture ``read_csi`` reads, on beam-SNR / positions CSVs and on HDF5
files (wifisense stores are summarised generically with h5py, so this command does not
depend on the store module and also works on a store that fails validation).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError, WifisenseError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Non-finite counts on large datasets are taken block by block along the first axis.
NONFINITE_BLOCK_BYTES = 32 * 2**20
PLOT_MAX_COLUMNS = 4000       # time columns drawn per heatmap (strided beyond that)
PLOT_MAX_PANELS = 4           # receive antennas / receivers drawn
STORE_PLOT_SECONDS = 10.0     # how much of a continuous CSI stream a store plot shows
# Datasets where NaN is a missing value by the schema (a beam sector missing from a sweep):
# counted as missing, not as non-finite.
MISSING_VALUE_FIELDS = ("/snr/x",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from wifisense.io.readers.registry import capture_format_choices
    from wifisense.options import add_old_spelling

    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="capture (.dat, .pcap, .csv, .csi), beam-SNR/positions CSV or HDF5 store")
    parser.add_argument("--format", default="auto", choices=capture_format_choices(),
                        help="CSI format (default: detect from the content)")
    parser.add_argument("--chip", default=None,
                        help="Nexmon chip, e.g. 4358, 4366c0, 43455c0, 4339 (default: the first "
                             "that decodes plausibly)")
    parser.add_argument("--bw", type=int, default=None, choices=(20, 40, 80), metavar="MHZ",
                        help="Nexmon bandwidth in MHz (default: from the packet size)")
    rate = parser.add_argument("--packet-rate", dest="rate", type=float, default=None, metavar="HZ",
                               help="packet rate for captures without a usable clock (as in `ingest`)")
    add_old_spelling(parser, rate, "--rate")
    parser.add_argument("--strict", action="store_true",
                        help="a record that cannot be read is an error (default: skipped, counted)")
    parser.add_argument("--plot", default=None, metavar="OUT.png",
                        help="write amplitude (dB) and phase heatmaps; with several files, "
                             "OUT-<file stem>.png per file")
    parser.add_argument("--json", action="store_true", help="print the summaries as JSON")


def run(args: argparse.Namespace) -> int:
    """Summarise every file; report failures one line each and return 2 if any failed."""
    debug = bool(getattr(args, "debug", False))
    hints = {"chip": args.chip, "bw": args.bw, "rate_hz": args.rate, "strict": args.strict}
    summaries, failed = [], 0
    for index, name in enumerate(args.files):
        try:
            summary = summarise_file(name, fmt=args.format, **hints)
            if args.plot:
                out = _plot_path(Path(args.plot), Path(name), len(args.files), index)
                plot_file(name, out, fmt=args.format, **hints)
                summary["plot"] = str(out)
        except WifisenseError as exc:
            failed += 1
            if debug:
                traceback.print_exc()
            print(f"wifisense inspect: error: {exc}", file=sys.stderr)
            summaries.append({"path": str(name), "error": str(exc)})
            continue
        summaries.append(summary)
        if not args.json:
            print(format_summary(summary))
    if args.json:
        print(json.dumps(summaries, indent=2, default=_jsonable))
    return 2 if failed else 0


def _plot_path(out: Path, source: Path, n_files: int, index: int) -> Path:
    if n_files == 1:
        return out
    stem = source.stem or f"file{index}"
    return out.with_name(f"{out.stem}-{stem}{out.suffix or '.png'}")


# ---------------------------------------------------------------------- detection


def file_kind(path: str | Path, fmt: str = "auto") -> str:
    """``"hdf5"``, ``"beam_snr_csv"``, ``"positions_csv"`` or ``"csi"`` (any CSI format)."""
    from wifisense.io.logs import sniff_log_kind
    from wifisense.io.readers.common import read_bytes

    path = Path(path)
    if fmt != "auto":
        return "csi"
    head = read_bytes(path, head=8)  # refuses pipes, devices and directories by name
    if not head:
        raise CaptureError(path, "file is empty")
    if head.startswith(HDF5_SIGNATURE):
        return "hdf5"
    return sniff_log_kind(path) or "csi"


# ---------------------------------------------------------------------- summaries


def summarise_file(path: str | Path, fmt: str = "auto", **hints) -> dict:
    """A JSON-friendly summary of one file of any supported kind."""
    kind = file_kind(path, fmt)
    if kind == "hdf5":
        return summarise_store(path)
    if kind == "beam_snr_csv":
        from wifisense.io.logs import read_beam_snr_csv
        log = read_beam_snr_csv(path)
        return {**_time_summary(path, "beam_snr_csv", log.t), "beams": len(log.beam_names),
                "beam_names": log.beam_names, "shape": list(log.snr.shape),
                "snr_db_range": [float(np.nanmin(log.snr)), float(np.nanmax(log.snr))],
                "missing": _missing_summary(log.missing_cells, log.snr.size),
                "dropped_rows": log.dropped_rows,
                "non_finite": int(np.isinf(log.snr).sum())}
    if kind == "positions_csv":
        from wifisense.io.logs import read_positions_csv
        log = read_positions_csv(path)
        return {**_time_summary(path, "positions_csv", log.t), "shape": list(log.xy.shape),
                "x_range_m": [float(log.xy[:, 0].min()), float(log.xy[:, 0].max())],
                "y_range_m": [float(log.xy[:, 1].min()), float(log.xy[:, 1].max())],
                "non_finite": int((~np.isfinite(log.xy)).sum())}
    from wifisense.io.readers import get_format, read_csi

    rec = read_csi(path, format=fmt, **hints)
    source = rec.source
    summary = {
        **_time_summary(path, source["format"], rec.timestamps),
        "kind": "csi", "description": get_format(source["format"]).description,
        "device": source.get("device"), "timestamps_derived": rec.timestamps_derived,
        "shape": list(rec.shape),
        "subcarriers": [int(rec.subcarriers.min()), int(rec.subcarriers.max()),
                        int(rec.subcarriers.size)],
        "bandwidth_mhz": rec.bandwidth_mhz, "carrier_hz": rec.carrier_hz,
        "non_finite": int((~np.isfinite(rec.csi)).sum()),
        "zero_padded_streams": bool(source.get("zero_padded_streams", False)),
        "records": int(source.get("records", rec.shape[0])),
        "skipped_records": int(source.get("skipped_records", 0)),
    }
    for key in ("chip", "chip_guessed", "nrx_range", "ntx_range", "clock", "packets_with_trailing_bytes"):
        if key in source:
            summary[key] = source[key]
    return summary


def _missing_summary(count: int, total: int) -> dict:
    """How many of ``total`` beam-sector readings are missing, and which share."""
    return {"count": int(count), "total": int(total),
            "fraction": float(count / total) if total else 0.0}


def _time_summary(path, fmt: str, t: np.ndarray) -> dict:
    n = int(t.size)
    duration = float(t[-1] - t[0]) if n > 1 else 0.0
    return {"path": str(path), "kind": fmt, "format": fmt, "packets": n, "duration_s": duration,
            "rate_hz": (n - 1) / duration if duration > 0 else 0.0,
            "timestamps_derived": False}


def summarise_store(path: str | Path) -> dict:
    """Generic HDF5 summary: root attributes, every dataset and the split sizes."""
    return _read_store_contained(path, lambda: _summarise_store_here(path))


def _read_store_contained(path: str | Path, read):
    """``read()`` through :func:`wifisense.io.h5open.read_contained`; a hung or crashed HDF5
    read is one CaptureError naming the file."""
    from wifisense.io.h5open import StoreReadFailed, read_contained

    try:
        return read_contained(path, read)
    except StoreReadFailed as exc:
        raise CaptureError(path, exc.args[0]) from None


def _summarise_store_here(path: str | Path) -> dict:
    import h5py

    from wifisense.io.h5open import HDF5_READ_ERRORS

    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise CaptureError(path, f"cannot open as HDF5 (truncated or corrupt?): {exc}") from None
    try:
        with handle as f:
            return _summarise_open_store(f, path)
    except HDF5_READ_ERRORS as exc:
        raise CaptureError(path, f"cannot read the HDF5 file (corrupt?): {type(exc).__name__}: {exc}") from None


def _summarise_open_store(f, path: Path) -> dict:
    import h5py

    from wifisense.io.h5open import refuse_foreign_data

    refuse_foreign_data(f, path)  # summarising must not read other files on the machine
    datasets = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            nan, inf = _count_nan_inf(obj)
            entry = {"path": "/" + name, "shape": list(obj.shape), "dtype": _dtype_name(obj)}
            if entry["path"] in MISSING_VALUE_FIELDS:
                entry.update(non_finite=inf, missing=_missing_summary(nan, obj.size))
            else:
                entry["non_finite"] = nan + inf
            datasets.append(entry)

    f.visititems(visit)  # a corrupt dataset raises; summarise_store names the file
    splits = {name: int(ds.shape[0]) for name, ds in f["splits"].items()
              if isinstance(ds, h5py.Dataset)} if "splits" in f else {}
    streams = {}
    for group in ("csi", "snr", "pose"):
        if isinstance(f.get(group), h5py.Group) and "t" in f[group]:
            t = f[group]["t"][()]
            streams[group] = {k: v for k, v in _time_summary(path, group, t).items()
                              if k in ("packets", "duration_s", "rate_hz")}
    attrs = {k: _jsonable(v) for k, v in f.attrs.items()}
    summary = {"path": str(path), "kind": "hdf5", "format": "hdf5", "attrs": attrs,
               "datasets": datasets, "splits": splits, "streams": streams,
               "non_finite": int(sum(d["non_finite"] for d in datasets))}
    missing = [d["missing"] for d in datasets if "missing" in d]
    if missing:
        summary["missing"] = missing[0]    # one field (/snr/x) holds missing values
    return summary


def _dtype_name(ds) -> str:
    import h5py

    if h5py.check_string_dtype(ds.dtype) is not None:
        return "str"
    if ds.dtype.kind == "O" and h5py.check_vlen_dtype(ds.dtype) is not None:
        return f"vlen {h5py.check_vlen_dtype(ds.dtype)}"
    return str(ds.dtype)


def _count_nan_inf(ds) -> tuple[int, int]:
    """(NaN, inf) entry counts of a float or complex dataset (complex: NaN if either part is)."""
    if ds.dtype.kind not in "fc" or ds.size == 0:
        return 0, 0
    blocks = [np.asarray(ds[()])] if ds.ndim == 0 else None
    if blocks is None:
        row_bytes = max(1, ds.dtype.itemsize * (ds.size // max(ds.shape[0], 1)))
        step = max(1, NONFINITE_BLOCK_BYTES // row_bytes)
        blocks = (ds[i:i + step] for i in range(0, ds.shape[0], step))
    nan = inf = 0
    for block in blocks:
        is_nan = np.isnan(block)
        nan += int(is_nan.sum())
        inf += int((~np.isfinite(block) & ~is_nan).sum())
    return nan, inf


def _jsonable(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def format_summary(s: dict) -> str:
    """Human-readable block for one summary."""
    lines = [f"== {s['path']}"]

    def row(label, value):
        lines.append(f"  {label:<13} {value}")

    if s["kind"] == "hdf5":
        attrs = s["attrs"]
        row("format", f"HDF5 ({attrs.get('schema', 'unknown schema')}), kind="
                      f"{attrs.get('kind', '?')}, schema_version={attrs.get('schema_version', '?')}")
        for name, st in s["streams"].items():
            row(f"stream {name}", f"{st['packets']} samples over {st['duration_s']:.3f} s "
                                 f"({st['rate_hz']:.2f} Hz mean)")
        row("datasets", len(s["datasets"]))
        width = max((len(d["path"]) for d in s["datasets"]), default=0)
        for d in s["datasets"]:
            missing = f", missing {d['missing']['count']}" if "missing" in d else ""
            lines.append(f"    {d['path']:<{width}}  {d['dtype']:<10} {d['shape']}  "
                         f"non-finite {d['non_finite']}{missing}")
        if s["splits"]:
            row("splits", ", ".join(f"{k} {v}" for k, v in s["splits"].items()))
        if "missing" in s:
            row("missing SNR", _missing_text(s["missing"]))
        row("non-finite", s["non_finite"])
        return "\n".join(lines)

    if s["kind"] == "csi":
        row("format", f"{s['format']} ({s['description']})")
        if s.get("device"):
            row("device", s["device"] + (" (chip guessed from the content)" if s.get("chip_guessed") else ""))
    else:
        row("format", s["format"])
    row("packets" if s["kind"] == "csi" else "rows", s["packets"])
    row("duration", f"{s['duration_s']:.6g} s")
    clock = "derived from --packet-rate, the file has no usable clock" if s["timestamps_derived"] \
        else "from timestamps"
    row("mean rate", f"{s['rate_hz']:.2f} Hz ({clock})")
    if s["kind"] == "csi":
        row("CSI shape", f"{s['shape']} (T, S, Nrx, Ntx)")
        if s.get("skipped_records"):
            row("skipped", f"{s['skipped_records']} of {s['records']} records could not be read "
                           "(corrupt); --strict makes this an error")
        if s.get("packets_with_trailing_bytes"):
            row("note", f"{s['packets_with_trailing_bytes']} packets carry a few bytes after their CSI "
                        "(ignored, as csiread does)")
        lo, hi, count = s["subcarriers"]
        row("subcarriers", f"{lo}..{hi} ({count})")
        row("bandwidth", f"{s['bandwidth_mhz']:g} MHz" if s["bandwidth_mhz"] else "unknown")
        row("carrier", f"{s['carrier_hz'] / 1e6:.1f} MHz" if s["carrier_hz"] else "unknown")
        if s.get("zero_padded_streams"):
            used = ""
            if "nrx_range" in s:
                used = f" (packets use Nrx {_span(s['nrx_range'])}, Ntx {_span(s['ntx_range'])})"
            row("note", f"streams a packet did not carry are zero{used}")
    elif s["kind"] == "beam_snr_csv":
        row("SNR shape", f"{s['shape']} (T, beams)")
        row("beams", ", ".join(s["beam_names"]))
        row("SNR range", f"{s['snr_db_range'][0]:.2f} .. {s['snr_db_range'][1]:.2f} dB")
        dropped = s["dropped_rows"]
        row("missing SNR", _missing_text(s["missing"])
            + (f"; {dropped} sweeps with every beam missing dropped" if dropped else ""))
    elif s["kind"] == "positions_csv":
        row("xy shape", f"{s['shape']}")
        row("x range", f"{s['x_range_m'][0]:.3f} .. {s['x_range_m'][1]:.3f} m")
        row("y range", f"{s['y_range_m'][0]:.3f} .. {s['y_range_m'][1]:.3f} m")
    row("non-finite", s["non_finite"])
    if "plot" in s:
        row("plot", s["plot"])
    return "\n".join(lines)


def _missing_text(m: dict) -> str:
    return f"{m['count']} of {m['total']} beam-sector readings ({100 * m['fraction']:.1f} %)"


def _span(r) -> str:
    return str(r[0]) if r[0] == r[1] else f"{r[0]}-{r[1]}"


# ---------------------------------------------------------------------- plots


def plot_file(path: str | Path, out: str | Path, fmt: str = "auto", **hints) -> Path:
    """Write a PNG for one file: CSI heatmaps, or SNR heatmap / trajectory for logs."""
    path, out = Path(path), Path(out)
    kind = file_kind(path, fmt)
    if kind == "hdf5":
        times, csi, subcarriers, labels = _read_store_contained(path, lambda: _store_csi_for_plot(path))
        return plot_csi_heatmaps(times, csi, subcarriers, labels, f"{path.name} (first CSI)", out)
    if kind == "beam_snr_csv":
        from wifisense.io.logs import read_beam_snr_csv
        return _plot_beam_snr(read_beam_snr_csv(path), path.name, out)
    if kind == "positions_csv":
        from wifisense.io.logs import read_positions_csv
        return _plot_positions(read_positions_csv(path), path.name, out)
    from wifisense.io.readers import read_csi

    rec = read_csi(path, format=fmt, **hints)
    n_panels = min(rec.csi.shape[2], PLOT_MAX_PANELS)
    labels = [f"Rx {r}, Tx 0" for r in range(n_panels)]
    title = f"{path.name} ({rec.source['format']})"
    return plot_csi_heatmaps(rec.timestamps, rec.csi[:, :, :n_panels, 0], rec.subcarriers,
                             labels, title, out)


def _store_csi_for_plot(path: Path):
    """(times [T], csi [T, S, P], subcarriers [S], labels) from a caption or multiband store."""
    import h5py

    from wifisense.io.h5open import is_compact_csi, read_caption_csi, refuse_foreign_data

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise CaptureError(path, f"cannot open as HDF5: {exc}") from None
    with f:
        refuse_foreign_data(f, path)
        subcarriers = f["meta/subcarriers"][()] if "meta/subcarriers" in f else None
        if isinstance(f.get("csi"), h5py.Group) and "x" in f["csi"] and "t" in f["csi"]:
            t = f["csi/t"][()]
            stop = int(np.searchsorted(t, t[0] + STORE_PLOT_SECONDS, side="right")) if t.size else 0
            x = f["csi/x"][:max(stop, 1)]           # [T, S, Nrx, Ntx]
            n_panels = min(x.shape[2], PLOT_MAX_PANELS)
            csi, times = x[:, :, :n_panels, 0], t[:x.shape[0]]
            labels = [f"Rx {r}, Tx 0" for r in range(n_panels)]
        elif (isinstance(f.get("csi"), h5py.Dataset) and f["csi"].ndim == 5 + is_compact_csi(f)
              and f["csi"].shape[0] and ("csi_scale" in f or not is_compact_csi(f))):
            clip = read_caption_csi(f, 0)           # [R, T, A, S]
            rate = float(f["meta"].attrs.get("sample_rate_hz", 0) or 0) if "meta" in f else 0.0
            n_panels = min(clip.shape[0], PLOT_MAX_PANELS)
            csi = np.transpose(clip[:n_panels, :, 0, :], (1, 2, 0))   # [T, S, R]
            times = np.arange(clip.shape[1]) / rate if rate > 0 else np.arange(clip.shape[1], dtype=float)
            labels = [f"clip 0, receiver {r}, antenna pair 0" for r in range(n_panels)]
        else:
            raise CaptureError(path, "nothing to plot: no /csi (caption) or /csi/x + /csi/t "
                                     "(multiband) dataset")
    if subcarriers is None or len(subcarriers) != csi.shape[1]:
        subcarriers = np.arange(csi.shape[1])
    return times, csi, np.asarray(subcarriers), labels


def _new_figure(width: float, height: float, constrained: bool = True):
    # Figure + Agg canvas directly: no pyplot global state, no backend switching.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained" if constrained else None)
    FigureCanvasAgg(fig)
    return fig


def plot_csi_heatmaps(times: np.ndarray, csi: np.ndarray, subcarriers: np.ndarray,
                      labels: list[str], title: str, out: str | Path) -> Path:
    """Amplitude (dB) and phase heatmaps, time x subcarrier, one column per panel.

    Args:
        times: [T] seconds; csi: complex [T, S, P]; subcarriers: [S]; labels: [P].
    """
    from matplotlib.ticker import FormatStrFormatter, MaxNLocator

    out = Path(out)
    stride = max(1, int(np.ceil(len(times) / PLOT_MAX_COLUMNS)))
    t = np.asarray(times, dtype=np.float64)[::stride]
    csi = np.asarray(csi)[::stride]
    rel = t - t[0] if t.size else t
    use_time = rel.size > 1 and np.all(np.diff(rel) > 0)
    x = rel if use_time else np.arange(rel.size)
    order = np.argsort(subcarriers, kind="stable")
    k = np.asarray(subcarriers)[order]
    csi = csi[:, order]
    amp_db = 20 * np.log10(np.abs(csi) + 1e-12)
    finite = amp_db[np.abs(csi) > 0]
    vmin, vmax = (np.percentile(finite, [1, 99.5]) if finite.size else (None, None))
    phase = np.angle(csi)
    panels = csi.shape[2]
    # Fixed margins and one colour bar per row (panels share the colour scale): constrained
    # layout with a bar per panel made plotting several times slower.
    fig = _new_figure(max(3.8 * panels + 2.0, 7.0), 7.0, constrained=False)
    axes = fig.subplots(2, panels, squeeze=False, sharex=True, sharey=True)
    fig.subplots_adjust(left=0.1 if panels > 1 else 0.15, right=0.86, bottom=0.1, top=0.88,
                        wspace=0.08, hspace=0.12)
    for p in range(panels):
        amp_mesh = axes[0, p].pcolormesh(x, k, amp_db[:, :, p].T, shading="nearest",
                                         cmap="viridis", vmin=vmin, vmax=vmax)
        axes[0, p].set_title(labels[p], fontsize=10)
        phase_mesh = axes[1, p].pcolormesh(x, k, phase[:, :, p].T, shading="nearest",
                                           cmap="twilight", vmin=-np.pi, vmax=np.pi)
        axes[1, p].set_xlabel("time since start (s)" if use_time else "packet index")
        # Few, compactly formatted ticks stay readable even for sub-millisecond captures.
        axes[1, p].xaxis.set_major_locator(MaxNLocator(4))
        axes[1, p].xaxis.set_major_formatter(FormatStrFormatter("%.3g"))
    fig.colorbar(amp_mesh, cax=fig.add_axes((0.88, 0.52, 0.018, 0.36)), label="amplitude (dB)")
    fig.colorbar(phase_mesh, cax=fig.add_axes((0.88, 0.1, 0.018, 0.36)), label="phase (rad)")
    for row, what in enumerate(("amplitude", "phase")):
        axes[row, 0].set_ylabel(f"subcarrier index\n({what})")
    fig.suptitle(title)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out


def _plot_beam_snr(log, name: str, out: Path) -> Path:
    fig = _new_figure(9.0, 4.5)
    ax = fig.subplots()
    rel = log.t - log.t[0]
    mesh = ax.pcolormesh(rel, np.arange(len(log.beam_names)), log.snr.T, shading="nearest",
                         cmap="magma")
    fig.colorbar(mesh, ax=ax, label="SNR (dB)")
    ax.set_yticks(np.arange(len(log.beam_names)), log.beam_names)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("beam pattern")
    fig.suptitle(f"{name} (beam SNR)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out


def _plot_positions(log, name: str, out: Path) -> Path:
    fig = _new_figure(6.0, 5.5)
    ax = fig.subplots()
    points = ax.scatter(log.xy[:, 0], log.xy[:, 1], c=log.t - log.t[0], s=6, cmap="viridis")
    ax.plot(log.xy[:, 0], log.xy[:, 1], lw=0.5, color="grey")
    fig.colorbar(points, ax=ax, label="time since start (s)")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_aspect("equal", adjustable="datalim")
    fig.suptitle(f"{name} (positions)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out
