"""Named splits for a caption store: random (class-stratified), temporal, or by group.

``wifisense split STORE`` assigns every clip to one of the named splits (train/val/test by
default) and rewrites the store's ``/splits`` atomically, so a store made by ``ingest``
(which assigns no splits unless asked) can be trained on. Multi-band stores are split
when windows are cut (``track ... --split random|temporal:P|coordinate:...``), not here.

- ``random``: clips shuffled with the seed, stratified by class so every class spreads
  over the splits in proportion (the simulator's splits come from the same function);
- ``temporal``: in store order (the order clips were recorded and ingested): the first
  share trains, the next validates, the last tests;
- ``group:COLUMN``: whole groups (a subject, a session, a position...) go to one split, so
  a test group is never seen in training. ``COLUMN`` is a per-clip integer field of the
  store: ``position_id``, ``class_id`` or ``/groups/NAME`` (what converters of public
  data sets write). Groups are shuffled with the seed and filled into the splits in turn
  until each reaches its share of clips.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from wifisense.errors import ConfigError, StoreError
from wifisense.io.schema import GROUPS

DEFAULT_NAMES = ("train", "val", "test")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)
GROUP_PREFIX = GROUPS + "/"


def stratified_splits(class_id: np.ndarray, ratios, rng: np.random.Generator,
                      names: tuple[str, ...] = DEFAULT_NAMES) -> dict[str, np.ndarray]:
    """Class-stratified split indices that tile ``range(N)`` without overlap.

    Clips of each class are shuffled and given their share of the class, ``rank / size``
    (0 for the first); all clips are then ordered by (share, random class order) and cut
    by ``ratios``. So each class lands in the splits in proportion to its size, whatever
    the sizes of the others, and when a class has only a few clips they go to train first.
    (Ordering by the plain rank would send the extra clips of a class larger than the
    others all to the last split.)
    """
    class_id = np.asarray(class_id)
    share = np.empty(class_id.size, dtype=np.float64)
    for c in np.unique(class_id):
        members = np.flatnonzero(class_id == c)
        share[rng.permutation(members)] = np.arange(members.size) / members.size
    class_order = rng.permutation(int(class_id.max()) + 1 if class_id.size else 0)
    order = np.lexsort((class_order[class_id], share)) if class_id.size else np.zeros(0, np.int64)
    return _cut(order, ratios, names)


def temporal_splits(n: int, ratios, names: tuple[str, ...] = DEFAULT_NAMES) -> dict[str, np.ndarray]:
    """The first share of clips (in store order) to the first split, and so on."""
    return _cut(np.arange(n), ratios, names)


def group_splits(groups: np.ndarray, ratios, rng: np.random.Generator,
                 names: tuple[str, ...] = DEFAULT_NAMES) -> dict[str, np.ndarray]:
    """Whole groups per split: shuffled groups fill the splits in turn up to each one's share.

    Every split that should get clips gets at least one group when there are enough groups;
    with fewer groups than splits a ConfigError says so (a group split needs >= one group
    per split).
    """
    groups = np.asarray(groups)
    unique, counts = np.unique(groups, return_counts=True)
    ratios = _normalised(ratios, names)
    wanted = [k for k, r in enumerate(ratios) if r > 0]
    if unique.size < len(wanted):
        raise ConfigError(f"{unique.size} group(s) cannot fill {len(wanted)} splits; a group split keeps "
                          "each group in one split (use fewer splits or a column with more groups)")
    order = rng.permutation(unique.size)
    targets = np.cumsum(ratios) * groups.size   # clips wanted up to and including each split
    assignment = np.empty(unique.size, dtype=np.int64)
    k, total, in_current = 0, 0, 0               # k indexes ``wanted``
    for position, g in enumerate(order):
        later = len(wanted) - 1 - k
        full = total >= targets[wanted[k]] or unique.size - position <= later
        if later and in_current and full:        # keep at least one group for every later split
            k, in_current = k + 1, 0
        assignment[g] = wanted[k]
        total += counts[g]
        in_current += 1
    member = assignment[np.searchsorted(unique, groups)]
    return {name: np.flatnonzero(member == k) for k, name in enumerate(names)}


def _normalised(ratios, names) -> np.ndarray:
    ratios = np.asarray(ratios, dtype=np.float64)
    if ratios.shape != (len(names),) or not np.isfinite(ratios).all() or (ratios < 0).any() or ratios.sum() <= 0:
        raise ConfigError(f"--ratios must be {len(names)} non-negative numbers, one per split "
                          f"({', '.join(names)}), not all zero; got {ratios.tolist()}")
    return ratios / ratios.sum()


def _cut(order: np.ndarray, ratios, names) -> dict[str, np.ndarray]:
    ratios = _normalised(ratios, names)
    cuts = np.round(np.cumsum(ratios)[:-1] * order.size).astype(int)
    return {name: np.sort(part) for name, part in zip(names, np.split(order, cuts), strict=True)}


# ----------------------------------------------------------------------------- stores


def group_column(path: str | os.PathLike, column: str) -> np.ndarray:
    """A per-clip integer column of a caption store (``position_id``, ``class_id``, ``groups/NAME``)."""
    from wifisense.io.store import open_store

    name = column.strip("/")
    with open_store(path, kind="caption") as f:
        n = int(f["csi"].shape[0])
        candidates = [name, GROUP_PREFIX + name] if not name.startswith(GROUP_PREFIX) else [name]
        found = next((c for c in candidates if c in f), None)
        if found is None:
            available = [c for c in ("position_id", "class_id") if c in f]
            if GROUPS in f:
                available += [GROUP_PREFIX + k for k in f[GROUPS]]
            raise StoreError(path, f"/{candidates[-1]}", f"no such per-clip column; choose one of {available}")
        values = f[found][()]
    if values.shape != (n,) or values.dtype.kind not in "iu":
        raise StoreError(path, f"/{found}", f"must be one integer per clip ([{n}]), got {values.dtype} "
                         f"{list(values.shape)}")
    if found == "position_id" and (values < 0).any():
        raise StoreError(path, "/position_id", f"{int((values < 0).sum())} clips have no position (-1); "
                         "they cannot be grouped by position")
    return values


def assign_splits(path: str | os.PathLike, by: str = "random", ratios=DEFAULT_RATIOS, seed: int = 0,
                  names: tuple[str, ...] = DEFAULT_NAMES, keep: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The splits ``by`` gives for the caption store at ``path`` (not written).

    ``keep``: existing splits that stay as they are (e.g. a data set's own subject-disjoint
    ``test``); only the clips in none of them are split into ``names``.
    """
    from wifisense.io.h5open import open_store, store_kind

    if store_kind(path) != "caption":
        raise ConfigError(f"{path}: a multi-band store is split when windows are cut "
                          "(track train/compare --split random|temporal:P|coordinate:X0,Y0,X1,Y1)")
    with open_store(path, kind="caption") as f:
        class_id = f["class_id"][()]
        existing = {name: f["splits"][name][()] for name in f["splits"]} if "splits" in f else {}
    missing = [name for name in keep if name not in existing]
    if missing:
        raise ConfigError(f"--keep {missing[0]}: the store has no such split (it has: "
                          f"{', '.join(existing) or 'none'})")
    clash = sorted(set(keep) & set(names))
    if clash:
        raise ConfigError(f"--keep {clash[0]} is also in --names; a kept split is not re-made")
    kept = {name: np.sort(np.asarray(existing[name], np.int64)) for name in keep}
    rest = np.setdiff1d(np.arange(class_id.size), np.concatenate([*kept.values(), np.zeros(0, np.int64)]))
    if not rest.size:
        raise ConfigError("every clip is in a kept split; nothing is left to split")
    rng = np.random.default_rng(seed)
    if by == "random":
        made = stratified_splits(class_id[rest], ratios, rng, names)
    elif by == "temporal":
        made = temporal_splits(rest.size, ratios, names)
    elif by.startswith("group:"):
        made = group_splits(group_column(path, by.split(":", 1)[1])[rest], ratios, rng, names)
    else:
        raise ConfigError(f"unknown --by {by!r}; choose random, temporal or group:COLUMN")
    return {**{name: np.sort(rest[idx]) for name, idx in made.items()}, **kept}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", metavar="STORE", help="a caption store (e.g. made by `wifisense ingest caption`)")
    parser.add_argument("--by", default="random", metavar="HOW",
                        help="random (class-stratified), temporal (store order) or group:COLUMN, e.g. "
                        "group:position_id or group:subject (a /groups/subject column) (default: random)")
    parser.add_argument("--ratios", default=",".join(f"{r:g}" for r in DEFAULT_RATIOS), metavar="R,R,R",
                        help="share of clips per split (default: %(default)s)")
    parser.add_argument("--names", default=",".join(DEFAULT_NAMES), metavar="A,B,C",
                        help="split names, one per ratio (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="shuffling seed (default: %(default)s)")
    parser.add_argument("--keep", default="", metavar="NAME[,NAME]",
                        help="existing splits to keep as they are (e.g. a data set's own subject-disjoint test); "
                        "only the other clips are split (default: none)")
    parser.add_argument("--dry-run", action="store_true", help="print the split sizes without writing them")


def run(args: argparse.Namespace) -> int:
    from wifisense.io.store import write_splits

    names = tuple(n.strip() for n in args.names.split(",") if n.strip())
    try:
        ratios = tuple(float(r) for r in args.ratios.split(","))
    except ValueError:
        raise ConfigError(f"--ratios must be comma-separated numbers, got {args.ratios!r}") from None
    if len(set(names)) != len(names) or not names:
        raise ConfigError(f"--names must be distinct, got {args.names!r}")
    keep = tuple(n.strip() for n in args.keep.split(",") if n.strip())
    splits = assign_splits(args.store, args.by, ratios, args.seed, names, keep)
    sizes = ", ".join(f"{name} {len(idx)}" for name, idx in splits.items())
    if args.dry_run:
        print(f"{args.store}: would write splits {sizes} (by {args.by}, seed {args.seed})")
        return 0
    write_splits(args.store, splits)
    print(f"{Path(args.store)}: wrote splits {sizes} (by {args.by}, seed {args.seed})")
    return 0
