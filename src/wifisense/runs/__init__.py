"""The experiment layer: run folders (RunDir), studies over rows x seeds (Study), typed results with intervals.

Both tasks declare their rows and implement :class:`StudyTask`; planning, sharing, resuming,
aggregating over seeds and writing ``results.csv`` happen here once.
"""

from wifisense.runs.results import (
    ALL_SEEDS,
    Measurement,
    Result,
    aggregate,
    format_interval,
    read_results,
    select,
    write_results,
)
from wifisense.runs.rundir import RunDir, config_hash
from wifisense.runs.study import Part, PlannedRun, Row, Study, StudyContext, StudyTask, parse_seeds

__all__ = ["ALL_SEEDS", "Measurement", "Part", "PlannedRun", "Result", "Row", "RunDir", "Study", "StudyContext",
           "StudyTask", "aggregate", "config_hash", "format_interval", "parse_seeds", "read_results", "select",
           "write_results"]
