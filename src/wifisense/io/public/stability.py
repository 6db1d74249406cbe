"""stability-csi-har (Matey-Sanz et al. 2023): ESP32-S2 amplitude arrays with per-frame labels.

Layout (github.com/GeoTecINIT/stability-csi-har, its labelled arrays)::

    ROOT/01_DATA/03_COLLECTED-DATASET/02_LABELLED/D<session>/e<XX>_<rx_tx|tx_rx>-x.npy
    ROOT/01_DATA/03_COLLECTED-DATASET/02_LABELLED/D<session>/e<XX>_<rx_tx|tx_rx>-y.npy

(``--path`` may also point at ``02_LABELLED`` itself.) One person walks between two chairs
placed 0.5 m from an ESP32-S2 receiver and from the router 5 m away (2.4 GHz, ~100 packets/s
from pings). Each execution ``e<XX>_<direction>`` is one pass: seated, standing up,
walking, turning, sitting down, seated. ``-x`` holds float ``[56, T]`` amplitudes (one row
per HT-LTF subcarrier, taken as -28..-1, 1..28 in row order; no phase, no timestamps),
``-y`` the activity of each of the ``T`` frames. Sessions: D1 (20 executions), then D2, D3
and D4 (4 each) 10, 20 and 60 minutes later.

Each labelled activity segment becomes one clip: ``--seconds`` (default 0.75 s: every
segment of the data set is at least that long, so a clip never holds another activity's
frames) centred on the segment and cut from its execution's frames; a longer ``--seconds``
than a segment takes the neighbouring frames too (the window stays inside the execution).
The 10 classes are 5 activities x 2 sides (by the receiver / by the transmitter); the
sides are each other's mirror partner for the probe's side score. Captions name the side in
words ("by the receiver"), not as left/right: the room is not mirror-symmetric.

Splits: D1 is ``train``, the later sessions D2-D4 are ``test`` (the paper's temporal
stability question: does a model trained on one session still work minutes to an hour
later); ``wifisense split --keep test`` draws a validation split from D1. Group columns:
``session`` (1-4), ``execution``, ``direction`` (0: receiver to transmitter, 1: back).
Licence of the data: Open Data Commons Attribution 1.0 (cite the paper).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError

NAME = "stability-csi-har"
TITLE = "stability-csi-har (ESP32-S2 amplitude arrays)"
LAYOUT = "01_DATA/03_COLLECTED-DATASET/02_LABELLED/D<session>/e<XX>_<rx_tx|tx_rx>-x.npy and -y.npy"
CITATION = ("M. Matey-Sanz, J. Torres-Sospedra and A. Moreira, Temporal Stability on Human Activity Recognition "
            "based on Wi-Fi CSI, IPIN 2023, doi:10.1109/IPIN57070.2023.10332214")
LICENCE = "Open Data Commons Attribution License 1.0 (data); cite the paper"
DEFAULTS = {"seconds": 0.75, "rate_hz": 100.0}
SUBCARRIERS = np.array([k for k in range(-28, 29) if k != 0])       # HT20 HT-LTF, 56 tones
LABELLED = ("01_DATA", "03_COLLECTED-DATASET", "02_LABELLED")
SIDES = {"RX": "by the receiver", "TX": "by the transmitter"}
_ACTIVITY = {
    "SEATED": ("a person sits on the chair {side}", "someone is seated {side}", "the person stays seated {side}"),
    "STANDING_UP": ("a person stands up from the chair {side}", "someone gets up {side}",
                    "the person rises from the seat {side}"),
    "WALKING": ("a person walks to the chair {side}", "someone walks over {side}",
                "the person is walking towards the chair {side}"),
    "TURN": ("a person turns around {side}", "someone turns {side} before sitting",
             "the person turns round {side}"),
    "SITTING_DOWN": ("a person sits down on the chair {side}", "someone takes a seat {side}",
                     "the person sits down {side}"),
}
CAPTIONS = {f"{activity.lower()}_{side.lower()}": [p.format(side=words) for p in phrases]
            for activity, phrases in _ACTIVITY.items() for side, words in SIDES.items()}
MIRROR = {f"{a.lower()}_{s.lower()}": f"{a.lower()}_{o.lower()}"
          for a in _ACTIVITY for s, o in (("RX", "TX"), ("TX", "RX"))}
FILE = re.compile(r"e(\d+)_(rx_tx|tx_rx)-x\.npy")
SESSION = re.compile(r"D(\d+)")


def _npy_header(path: Path, f):
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(f)
        return np.lib.format.read_array_header_2_0(f)
    except ValueError as e:
        raise CaptureError(path, f"not a NumPy .npy file ({e})") from None


class _LabelUnpickler(pickle.Unpickler):
    """Unpickles a NumPy object array of label strings and nothing else.

    Written by hand because ``np.load(allow_pickle=True)`` would run any code a file names;
    this accepts only the three NumPy names an object array's pickle uses (the strings are
    plain pickle opcodes)."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refers to {module}.{name}; a label file holds only strings")
        if name == "_reconstruct":
            from numpy._core.multiarray import _reconstruct
            return _reconstruct
        return getattr(np, name)


def read_labels(path: Path) -> np.ndarray:
    """str ``[T]``: the per-frame labels of a ``-y.npy`` file (an object array ``[T]`` or ``[T, 1]``)."""
    with open(path, "rb") as f:
        shape, _, dtype = _npy_header(path, f)
        if dtype.hasobject:
            try:
                labels = _LabelUnpickler(f).load()
            except Exception as e:                      # noqa: BLE001  (any damage: name the file)
                raise CaptureError(path, f"cannot read its labels ({e})") from None
    if not dtype.hasobject:                             # a plain string array needs no unpickling
        labels = np.load(path, allow_pickle=False)
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or labels.shape != (int(np.prod(shape)),):
        raise CaptureError(path, f"labels of shape {list(labels.shape)}, expected [T] or [T, 1]")
    if not all(isinstance(v, str) for v in labels.tolist()):
        raise CaptureError(path, "labels must be strings (e.g. 'WALKING_TX')")
    return np.asarray([v.upper() for v in labels.tolist()], dtype=object)


def read_amplitudes(path: Path) -> np.ndarray:
    """float32 ``[T, 56]`` from a ``-x.npy`` file of ``[56, T]`` amplitudes (never unpickled)."""
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise CaptureError(path, f"cannot read its amplitudes ({e})") from None
    if x.ndim != 2 or x.shape[0] != len(SUBCARRIERS):
        raise CaptureError(path, f"amplitudes of shape {list(x.shape)}, expected [{len(SUBCARRIERS)}, T] "
                                 "(one row per subcarrier)")
    return np.asarray(x, np.float32).T


def segments(labels: np.ndarray) -> list[tuple[str, int, int]]:
    """``(label, start, stop)`` of each run of equal labels, in order."""
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    bounds = np.r_[0, change, len(labels)]
    return [(str(labels[s]), int(s), int(e)) for s, e in zip(bounds[:-1], bounds[1:])]


def _window(start: int, stop: int, total: int, length: int) -> tuple[int, int]:
    """``length`` frames centred on ``[start, stop)``, moved to lie inside ``[0, total)``."""
    length = min(length, total)
    first = (start + stop) // 2 - length // 2
    first = min(max(first, 0), total - length)
    return first, first + length


def _root(root: Path) -> Path:
    nested = root.joinpath(*LABELLED)
    return nested if nested.is_dir() else root


def clips(root: Path, rate_hz: float = DEFAULTS["rate_hz"], seconds: float = DEFAULTS["seconds"], **_):
    from wifisense.io.public import PublicClip, amplitude_recording, iter_files

    root = _root(root)
    length = max(1, int(round(seconds * rate_hz)))
    last_read: dict[Path, np.ndarray] = {}      # the clips of one pass come in a row: read its file once

    def amplitudes(p: Path) -> np.ndarray:
        if p not in last_read:
            last_read.clear()
            last_read[p] = read_amplitudes(p)
        return last_read[p]

    for path in iter_files(root, "D*/e*-x.npy"):
        found, match = SESSION.fullmatch(path.parent.name), FILE.fullmatch(path.name)
        if found is None or match is None:
            continue
        session, execution, direction = int(found.group(1)), int(match.group(1)), match.group(2)
        label_path = path.with_name(path.name.replace("-x.npy", "-y.npy"))
        if not label_path.is_file():
            raise CaptureError(path, f"has no label file {label_path.name} beside it")
        labels = read_labels(label_path)
        for label, start, stop in segments(labels):
            key = label.lower()
            if key not in CAPTIONS:
                raise CaptureError(label_path, f"frames {start}-{stop - 1}: label {label!r}; expected one of "
                                               f"{', '.join(k.upper() for k in CAPTIONS)}")

            def read(p=path, n=len(labels), s=start, e=stop):
                amplitude = amplitudes(p)
                if amplitude.shape[0] != n:
                    raise CaptureError(p, f"{amplitude.shape[0]} frames, its label file {n}")
                first, last = _window(s, e, n, length)
                return amplitude_recording(amplitude[first:last], rate_hz, SUBCARRIERS, p, NAME)

            yield PublicClip(path, key, read,
                             {"session": session, "execution": execution, "direction": int(direction == "tx_rx")},
                             "train" if session == 1 else "test")
