"""RunDir: the one owner of a study run folder's layout — config and its hash, status, weights, metrics, predictions.

A run folder as a study sees it::

    RUN/run.json                  {"config": resolved settings, "hash": sha256 of them, "trained": bool,
                                   "parts": {part: key}, "shared": {part: source run}}
    RUN/results/<split>.json      the typed measurements of the run on that split
    RUN/<split>_predictions.<ext> per-item predictions (the task decides the format)
    RUN/model.safetensors         weights (a task with stages keeps them in RUN/<stage>/)

The task's trainer writes its own files (its ``config.json``, stage folders, resumable
state) inside the folder; a study asks :meth:`RunDir.status` whether the run is finished
*for this config* and never probes those files itself. A run whose recorded hash differs
from the config asked for is not finished, whatever files it holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from wifisense.runs.results import Measurement

RECORD_FILE = "run.json"
RESULTS_DIR = "results"
WEIGHTS_FILE = "model.safetensors"

NEW, TRAINED, FINISHED, OTHER = "new", "trained", "finished", "other-config"


def config_hash(config: Any) -> str:
    """A stable short hash of a JSON-able config (key order does not matter)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


class RunDir:
    """One run folder (it need not exist yet)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # ---- identity

    @property
    def record(self) -> dict:
        record = _read_json(self.path / RECORD_FILE)
        return record if isinstance(record, dict) else {}

    def _write_record(self, record: dict) -> None:
        from wifisense.io.atomic import atomic_write_text

        atomic_write_text(self.path / RECORD_FILE, json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")

    @property
    def config(self) -> dict | None:
        return self.record.get("config")

    def claim(self, config: Any, parts: dict[str, str] | None = None) -> None:
        """Record ``config`` as this run's (a new folder, or one already holding the same config).

        Raises ValueError when the folder holds a run of another config.
        """
        record = self.record
        if record and record.get("hash") != config_hash(config):
            raise ValueError(f"{self.path}: holds a run of another configuration")
        if not record:
            record = {"config": config, "hash": config_hash(config), "trained": False, "shared": {}}
        record["parts"] = dict(parts or {})
        self.path.mkdir(parents=True, exist_ok=True)
        self._write_record(record)

    # ---- status

    def status(self, config: Any, split: str | None = None) -> str:
        """``"finished"`` (evaluated on ``split``), ``"trained"``, ``"new"`` — for ``config`` — or ``"other-config"``."""
        record = self.record
        if not record:
            return NEW
        if record.get("hash") != config_hash(config):
            return OTHER
        if split is not None and (self.path / RESULTS_DIR / f"{split}.json").is_file() and record.get("trained"):
            return FINISHED
        return TRAINED if record.get("trained") else NEW

    def mark_trained(self, **facts: Any) -> None:
        record = self.record
        record.update(trained=True, **facts)
        self._write_record(record)

    # ---- parts shared between runs (stages, pretrained pieces)

    @property
    def parts(self) -> dict[str, str]:
        return dict(self.record.get("parts", {}))

    @property
    def shared(self) -> dict[str, str]:
        return dict(self.record.get("shared", {}))

    def link_part(self, part: str, source: RunDir) -> None:
        """Link ``source``'s finished ``part`` folder into this run (complete or absent), and record where it came from."""
        share_tree(source.path / part, self.path / part)
        record = self.record
        # relative to the folder holding both runs' folders (OUT/runs for a study): "a/seed0"
        record.setdefault("shared", {})[part] = os.path.relpath(source.path, self.path.parent.parent)
        self._write_record(record)

    # ---- files

    def weights(self, stage: str | None = None) -> Path:
        return (self.path / stage if stage else self.path) / WEIGHTS_FILE

    def predictions(self, split: str, ext: str) -> Path:
        return self.path / f"{split}_predictions.{ext}"

    def write_measurements(self, split: str, measurements: list[Measurement]) -> None:
        from wifisense.io.atomic import atomic_write_text

        payload = {"split": split, "measurements": [asdict(m) for m in measurements]}
        atomic_write_text(self.path / RESULTS_DIR / f"{split}.json", json.dumps(payload, indent=1) + "\n")

    def measurements(self, split: str) -> list[Measurement]:
        payload = _read_json(self.path / RESULTS_DIR / f"{split}.json")
        if not isinstance(payload, dict):
            return []
        return [Measurement(**m) for m in payload.get("measurements", [])]


def _link_or_copy(src: str, dst: str) -> None:
    # Hard links cost no space; every writer here replaces files atomically (write + rename),
    # so a later write in one run never changes the other. Copy where links are not possible.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def share_tree(src: Path, dst: Path) -> None:
    """Link ``src`` (a folder or a file) to ``dst``: built under a temporary name, then renamed, so complete or absent."""
    tmp = dst.with_name(dst.name + ".sharing")
    if tmp.is_dir():
        shutil.rmtree(tmp)
    elif tmp.exists():
        tmp.unlink()
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, tmp, copy_function=_link_or_copy)
    else:
        _link_or_copy(str(src), str(tmp))
    os.replace(tmp, dst)
