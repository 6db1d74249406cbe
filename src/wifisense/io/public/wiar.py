"""WiAR (Guo et al.): Intel 5300 logs of 16 activities, 3 receive antennas, ~30 packets/s.

Layout (github.com/linteresa/WiAR)::

    ROOT/height_factor_activity_data/<60|90|120>_rawdata/csi_a<activity>_<sample>.dat
    ROOT/distance_factor_activity_data/<1|3|6>_alldata/csi_a<activity>_<sample>.dat

Read with the Intel 5300 reader. ``--subset height`` (default: 3 heights x 16 activities x
30 recordings, 20-MHz subcarrier grouping) or ``distance`` (3 distances x 16 x 10,
40-MHz grouping): the two subsets carry different subcarrier sets, so one store holds one
of them. Group columns: ``height_cm`` or ``distance_m``, and ``sample``. The logs carry
one transmit stream; the streams a log does not carry (zero-filled by the reader) are
dropped. A clip is the first ``--seconds`` of a log, resampled onto ``--packet-rate``.
Some logs end in a truncated record, which the reader drops with a warning.
"""

from __future__ import annotations

import re
from pathlib import Path

NAME = "wiar"
TITLE = "WiAR (Intel 5300)"
LAYOUT = "height_factor_activity_data/<cm>_rawdata/csi_a<activity>_<sample>.dat (or distance_factor_...)"
CITATION = ("L. Guo, L. Wang, J. Liu, W. Zhou, B. Lu, A Novel Benchmark on Human Activity Recognition Using "
            "WiFi Signals, IEEE Healthcom 2017")
LICENCE = "none stated by the repository: use only your own copy and cite the paper"
DEFAULTS = {"seconds": 8.0, "rate_hz": 30.0, "subset": "height"}
ACTIVITIES = {1: "horizontal arm wave", 2: "high arm wave", 3: "two hands wave", 4: "high throw", 5: "draw x",
              6: "draw tick", 7: "toss paper", 8: "forward kick", 9: "side kick", 10: "bend", 11: "hand clap",
              12: "walk", 13: "phone call", 14: "drink water", 15: "sit down", 16: "squat"}
CAPTIONS = {
    "horizontal arm wave": ["a person waves an arm horizontally", "someone sweeps an arm from side to side",
                            "the person waves an arm sideways at shoulder height"],
    "high arm wave": ["a person waves an arm above the head", "someone waves a raised arm high",
                      "the person waves with the arm held high"],
    "two hands wave": ["a person waves both hands", "someone waves with two hands", "the person waves both arms"],
    "high throw": ["a person throws something high", "someone makes a high throwing motion",
                   "the person throws an object upwards"],
    "draw x": ["a person draws an x in the air", "someone traces the letter x with a hand",
               "the person draws a cross in the air"],
    "draw tick": ["a person draws a tick in the air", "someone traces a check mark with a hand",
                  "the person draws a tick mark in the air"],
    "toss paper": ["a person tosses a piece of paper", "someone tosses paper away", "the person throws paper away"],
    "forward kick": ["a person kicks forward", "someone kicks a leg to the front", "the person does a forward kick"],
    "side kick": ["a person kicks to the side", "someone kicks a leg sideways", "the person does a side kick"],
    "bend": ["a person bends down", "someone bends forward at the waist", "the person bends over"],
    "hand clap": ["a person claps hands", "someone claps", "the person claps both hands together"],
    "walk": ["a person walks", "someone walks across the room", "the person is walking"],
    "phone call": ["a person makes a phone call", "someone raises a phone to the ear",
                   "the person answers a phone call"],
    "drink water": ["a person drinks water", "someone drinks from a cup", "the person takes a drink of water"],
    "sit down": ["a person sits down", "someone sits down on a chair", "the person takes a seat"],
    "squat": ["a person squats", "someone squats down", "the person does a squat"],
}
MIRROR: dict[str, str] = {}          # the data set does not say which side a movement used
SUBSETS = {"height": ("height_factor_activity_data", r"(\d+)_rawdata", "height_cm"),
           "distance": ("distance_factor_activity_data", r"(\d+)_alldata", "distance_m")}
FILE = re.compile(r"csi_a(\d+)_(\d+)\.dat")


def clips(root: Path, subset: str = DEFAULTS["subset"], **_):
    from wifisense.errors import ConfigError
    from wifisense.io.public import PublicClip, iter_files
    from wifisense.io.readers import read_csi

    if subset not in SUBSETS:
        raise ConfigError(f"--subset {subset!r}: choose {' or '.join(SUBSETS)}")
    folder, level, column = SUBSETS[subset]
    for path in iter_files(root / folder, "*/*.dat"):
        found, match = re.fullmatch(level, path.parent.name), FILE.fullmatch(path.name)
        if found is None or match is None or int(match.group(1)) not in ACTIVITIES:
            continue
        label = ACTIVITIES[int(match.group(1))]
        yield PublicClip(path, label, (lambda p=path: read_csi(p, format="intel5300", salvage=True)),
                         {column: int(found.group(1)), "sample": int(match.group(2))})
