"""Metric logs of a run: metrics.csv, metrics.jsonl and (optionally) TensorBoard events."""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wifisense.errors import ConfigError

log = logging.getLogger("wifisense.training")

CSV_FILE = "metrics.csv"
JSONL_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


def format_metrics(row: Mapping[str, Any]) -> str:
    """``step 120 | epoch 3 | train_loss 0.1234`` — one short line for a terminal."""
    parts = []
    for name, value in row.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        parts.append(f"{name} {value}")
    return " | ".join(parts)


class MetricsLogger:
    """Appends one row per log event to metrics.csv and metrics.jsonl (and TensorBoard).

    Rows are dicts with ``step`` and ``epoch`` plus metric columns; train and validation rows
    have different columns. The CSV header is the union of all columns seen so far, so
    when a row brings a new column the (small) file is rewritten with the wider header.
    With ``run_dir=None`` (e.g. ranks other than 0) nothing is written.

    ``resume_step``: rows logged after that step by a run that crashed are dropped, so a
    resumed run's logs read as if it had never stopped.
    """

    def __init__(self, run_dir: str | Path | None, tensorboard: bool = False, resume_step: int | None = None):
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = []
        self._writer = None
        if self.run_dir is None:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume_step is not None:
            self.rows = [row for row in self._read_jsonl() if row.get("step", 0) <= resume_step]
        for row in self.rows:
            self._extend_columns(row)
        self._rewrite_files()
        if tensorboard:
            self._writer = _summary_writer(self.run_dir / TENSORBOARD_DIR,
                                           purge_step=None if resume_step is None else resume_step + 1)

    def log(self, row: Mapping[str, Any]) -> None:
        row = dict(row)
        if self.run_dir is None:
            return
        self.rows.append(row)
        if self._extend_columns(row):
            self._rewrite_files()
        else:
            self._append_csv(row)
            with open(self.run_dir / JSONL_FILE, "a", encoding="utf-8") as f:
                f.write(_json_line(row))
        if self._writer is not None:
            step = int(row.get("step", 0))
            for name, value in row.items():
                if name not in ("step", "epoch") and isinstance(value, (int, float)):
                    # train_loss -> train/loss groups the TensorBoard charts by split
                    self._writer.add_scalar(name.replace("_", "/", 1), value, step)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _extend_columns(self, row: Mapping[str, Any]) -> bool:
        new = [name for name in row if name not in self.columns]
        self.columns.extend(new)
        return bool(new)

    def _read_jsonl(self) -> list[dict[str, Any]]:
        path = self.run_dir / JSONL_FILE
        if not path.is_file():
            return []
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut short by the crash we are resuming from
        return rows

    def _rewrite_files(self) -> None:
        with open(self.run_dir / CSV_FILE, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(self.rows)
        with open(self.run_dir / JSONL_FILE, "w", encoding="utf-8") as f:
            f.writelines(_json_line(row) for row in self.rows)

    def _append_csv(self, row: Mapping[str, Any]) -> None:
        with open(self.run_dir / CSV_FILE, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=self.columns).writerow(row)


def _json_line(row: Mapping[str, Any]) -> str:
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
    return json.dumps(clean) + "\n"


def _summary_writer(log_dir: Path, purge_step: int | None):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ConfigError("tensorboard=True needs the tensorboard package: "
                          "pip install tensorboard (or pip install 'wifisense[tensorboard]')") from error
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)
