"""The documented error types: every problem with a user's input is one of these.

The CLI prints ``str(error)`` as one line and exits non-zero; ``--debug`` shows the
traceback. Messages always name the file (and, for stores, the field) and the reason.
"""

from __future__ import annotations

import os


class WifisenseError(Exception):
    """Base class for errors caused by input (files, options, configs), not by bugs."""

    exit_code = 2


class CaptureError(WifisenseError):
    """A capture file (CSI, beam SNR, positions, video) cannot be read as asked.

    Raised for unknown formats, empty, truncated or corrupt files, wrong format hints
    and implausible content (e.g. all-zero CSI from a mis-hinted chip).
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # pickles (a contained child sends it back to its parent)
        return type(self), (self.path, self.reason)


class StoreError(WifisenseError):
    """An HDF5 dataset store is missing a field or holds a field that breaks the schema."""

    def __init__(self, path: str | os.PathLike, field: str | None, reason: str):
        self.path = os.fspath(path)
        self.field = field
        self.reason = reason
        where = f"{self.path}:{field}" if field else self.path
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):
        return type(self), (self.path, self.field, self.reason)


class ConfigError(WifisenseError):
    """An option, preset or config file has a value that cannot be used."""


class OutputError(WifisenseError):
    """An output cannot be written: a full disk, an unwritable folder, a directory where a
    file belongs, or another process writing the same store."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return type(self), (self.path, self.reason)
