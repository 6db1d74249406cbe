"""CSI-HAR (Moshiri et al. 2021, re-split by Varga 2024): Raspberry Pi Nexmon amplitude CSV.

Layout (github.com/elektrische-schafen/CSI-HAR-Database)::

    ROOT/train/<activity>/user_<u>_sample_<k>_<activity>_<x>.csv
    ROOT/test/<activity>/user_<u>_sample_<k>_<activity>_<x>.csv

Each file is one recording: headerless rows of 52 amplitudes (one per 20-MHz data
subcarrier; no phase, no timestamps). 7 activities x 3 users x 20 recordings; users 1 and
2 are in ``train``, user 3 in ``test`` (Varga's subject-disjoint split, which the
converter keeps as the ``train`` / ``test`` splits). Group columns: ``user``, ``sample``.

The files carry no time axis: rows are taken as packets at ``--packet-rate`` (default
100/s, an assumption; it only scales the time axis of the clip). A clip is the first
``--seconds`` (default 5.5: every recording has 550-1,100 rows); a shorter recording is
padded and its missing steps are marked as gaps. 41 of the 420 files hold negative values
(down to -4,570): the published values are processed, not raw magnitudes; they are kept as
given.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from wifisense.errors import CaptureError

NAME = "csi-har"
TITLE = "CSI-HAR (Raspberry Pi Nexmon amplitude)"
LAYOUT = "train|test/<activity>/user_<u>_sample_<k>_<activity>_<x>.csv"
CITATION = ("P. F. Moshiri et al., A CSI-Based Human Activity Recognition Using Deep Learning, Sensors 21(21) "
            "7225, 2021; D. Varga, Mitigating Data Leakage in a WiFi CSI Benchmark for Human Action "
            "Recognition, Sensors 24(24) 8201, 2024")
LICENCE = "none stated by the repository: use your own copy and cite the papers"
# 802.11n 20 MHz data subcarriers (-28..28 without DC and the pilots +-7, +-21), in column order
SUBCARRIERS = np.array([k for k in range(-28, 29) if k != 0 and abs(k) not in (7, 21)])
DEFAULTS = {"seconds": 5.5, "rate_hz": 100.0}      # every recording has >= 550 rows
CAPTIONS = {
    "bend": ["a person bends down", "someone bends forward at the waist", "the person bends over"],
    "fall": ["a person falls to the ground", "someone falls down", "the person falls over"],
    "liedown": ["a person lies down", "someone lies down on the floor", "the person lies down flat"],
    "run": ["a person runs", "someone runs across the room", "the person is running"],
    "sitdown": ["a person sits down", "someone sits down on a chair", "the person takes a seat"],
    "standup": ["a person stands up", "someone gets up from a chair", "the person rises to stand"],
    "walk": ["a person walks", "someone walks across the room", "the person is walking"],
}
MIRROR: dict[str, str] = {}          # no activity has a side
FILE = re.compile(r"user_(\d+)_sample_(\d+)_([a-z ]+)_\w+\.csv", re.IGNORECASE)   # "lie down" has a space


def read(path: Path, rate_hz: float):
    from wifisense.io.public import amplitude_recording, read_amplitude_csv

    return amplitude_recording(read_amplitude_csv(path, len(SUBCARRIERS)), rate_hz, SUBCARRIERS, path, NAME)


def clips(root: Path, rate_hz: float = DEFAULTS["rate_hz"], **_):
    from wifisense.io.public import PublicClip, iter_files

    for path in iter_files(root, "*/*/*.csv"):
        split, folder = path.parent.parent.name.lower(), path.parent.name.lower()
        match = FILE.fullmatch(path.name)
        if split not in ("train", "test") or match is None:
            continue
        user, sample, activity = int(match.group(1)), int(match.group(2)), match.group(3).lower().replace(" ", "")
        if activity != folder or activity not in CAPTIONS:
            raise CaptureError(path, f"activity {activity!r} in the name, folder {folder!r}; expected one of "
                                     f"{', '.join(CAPTIONS)} in both")
        yield PublicClip(path, activity, (lambda p=path: read(p, rate_hz)), {"user": user, "sample": sample}, split)
