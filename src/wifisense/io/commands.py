"""Sub-commands of the io room: ``inspect``, ``validate``, ``ingest`` and ``split``.

Each command's options and behaviour live in its own module (``add_arguments`` + ``run``);
those modules import heavy dependencies inside ``run`` so ``wifisense --help`` stays fast.
"""

from __future__ import annotations


def register(sub) -> None:
    from wifisense.io import ingest, inspect, public, splits, validate

    p = sub.add_parser(
        "inspect", help="summarise a CSI capture or dataset store (optionally plot heatmaps)",
        description="Summarise any capture file (Intel 5300, Atheros, Nexmon, ESP32, PicoScenes, "
        "beam-SNR or positions CSV) or wifisense store: format, packets, duration, rate, shapes "
        "and non-finite values. --plot draws amplitude and phase heatmaps (time x subcarrier).")
    inspect.add_arguments(p)
    p.set_defaults(func=inspect.run)

    p = sub.add_parser(
        "validate", help="check a dataset store against the schema",
        description="Check a wifisense HDF5 store: schema version, shapes, dtypes, finiteness, "
        "monotonic timestamps and split disjointness. Names the exact field that is wrong and "
        "exits non-zero on any problem.")
    validate.add_arguments(p)
    p.set_defaults(func=validate.run)

    p = sub.add_parser(
        "ingest", help="turn real captures into a dataset store",
        description="Turn per-receiver CSI captures (+ optional frames/video + caption) into a "
        "caption store, or CSI + beam-SNR CSV + positions CSV into a multi-band store.")
    public.add_parser(ingest.add_arguments(p))
    p.set_defaults(func=ingest.run)

    p = sub.add_parser(
        "split", help="assign a caption store's clips to train/val/test splits",
        description="Write named splits into a caption store: random (class-stratified), temporal "
        "(store order) or by a group column (whole subjects, sessions or positions per split), with "
        "ratios and a seed. The store is rewritten atomically and validated.")
    splits.add_arguments(p)
    p.set_defaults(func=splits.run)
