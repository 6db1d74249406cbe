"""Atomic file writes: write beside the target, then rename, so nothing half-written is left.

Also the guards every writer shares: temporary files left by a killed process are removed
on the next write to the same name, a write that cannot happen (full disk, unwritable
folder, a directory in the way) is one :class:`OutputError` naming the file, a large write
checks free space first, and :func:`writer_lock` keeps two processes from replacing the
same file from two different copies (which would silently lose one's changes).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from wifisense.errors import OutputError

log = logging.getLogger(__name__)

# Errors of writing rather than of the data: they become one OutputError line naming the
# target. Anything else (a bug, a bad value) propagates unchanged.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS,
                 errno.EISDIR, errno.ENOTDIR, errno.EFBIG, errno.ENAMETOOLONG, errno.EIO}

# How long a second writer of the same store waits for the first before giving up.
LOCK_TIMEOUT_S = 600.0


def _umask() -> int:
    """The process umask (reading it means setting it, so set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _tmp_prefix(target: Path) -> str:
    return f".{target.name}."


def remove_stale_temporaries(target: Path, suffix: str = ".tmp") -> list[Path]:
    """Remove temporary files of ``target`` whose writing process no longer runs.

    Temporary names carry the writer's process id (``.NAME.<pid>.<random><suffix>``), so a
    file left by ``kill -9`` or a crash is recognised exactly; one of a live writer is
    never touched. Returns the removed paths.
    """
    prefix = _tmp_prefix(target)
    removed = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        pid_text = name[len(prefix):].split(".", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            entry.unlink()
            removed.append(entry)
            log.info("removed %s, left by an interrupted write (process %s)", entry, pid_text)
    return removed


def output_error(path: str | os.PathLike, exc: OSError) -> OutputError:
    """One line for an OSError met while writing ``path``."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = f"cannot write: {reason} (the previous file, if any, is unchanged)"
    elif exc.errno == errno.EISDIR:
        reason = "is a directory; give a file name"
    else:
        reason = f"cannot write: {reason}"
    return OutputError(path, reason)


def check_output_path(path: str | os.PathLike, overwrite: bool) -> None:
    """Fail before any work when ``path`` cannot be the output file: a directory is there,
    or a file is and ``overwrite`` was not given."""
    target = Path(path)
    if target.is_dir():
        raise OutputError(target, "is a directory; give a file name")
    if target.exists() and not overwrite:
        raise OutputError(target, "already exists; pass --overwrite to replace it")


def check_free_space(path: str | os.PathLike, needed_bytes: int) -> None:
    """Raise OutputError if the folder of ``path`` has less than ``needed_bytes`` free.

    Cheap (one statvfs), so large writers call it before they start: running out of space
    half-way costs the time spent and, inside HDF5, can end the process.
    """
    folder = Path(path).parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # a folder that does not exist yet: the write itself will say so
    if free < needed_bytes:
        raise OutputError(path, f"not enough free space: the write needs about "
                                f"{needed_bytes / 2**20:.1f} MiB, {folder} has "
                                f"{free / 2**20:.1f} MiB free")


@contextlib.contextmanager
def writer_lock(path: str | os.PathLike, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the write lock of ``path`` (a ``.NAME.lock`` file beside it) for a block.

    A second writer of the same file waits (saying so) up to ``timeout_s`` seconds, then
    fails with an OutputError. Readers never take the lock: atomic replacement already
    shows them either the old or the new file.
    """
    import filelock

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(target, exc) from None
    lock = filelock.FileLock(str(target.parent / f".{target.name}.lock"))
    try:
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            log.warning("%s is being written by another process; waiting up to %.0f s",
                        target, timeout_s)
            lock.acquire(timeout=timeout_s)
    except filelock.Timeout:
        raise OutputError(target, f"another process is still writing it after {timeout_s:.0f} s "
                                  f"(lock file {lock.lock_file})") from None
    except OSError as exc:
        raise output_error(target, exc) from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was (absent
    or the previous complete version); an OSError of writing (full disk, no permission, a
    directory at ``path``) becomes an OutputError naming ``path``. ``os.replace`` is atomic
    on POSIX and Windows when both paths are on the same file system, which is why the
    temporary file sits beside the target rather than in /tmp.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputError(target, "is a directory; give a file name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target, suffix)
        fd, tmp_name = tempfile.mkstemp(prefix=f"{_tmp_prefix(target)}{os.getpid()}.", suffix=suffix,
                                        dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise output_error(target, exc) from None
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates the file owner-only (0600); give it the mode a plain open() would
        # (0666 minus the umask), so results are as readable as any other file the user writes.
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            raise output_error(target, exc) from exc
        raise


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; on success it replaces ``path``.

    ``path`` may be missing or an empty folder, or anything when ``overwrite``; else an
    OutputError. On any error the staging folder is removed and ``path`` is left as it was;
    an OSError of writing becomes an OutputError naming ``path``.
    """
    out = Path(path)
    if out.exists() and not (overwrite or (out.is_dir() and not any(out.iterdir()))):
        raise OutputError(out, "already exists; pass --overwrite to replace it")
    staging = out.parent / f".{out.name}.{os.getpid()}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        yield staging
        if out.is_dir():
            shutil.rmtree(out)
        elif out.exists():
            out.unlink()
        os.replace(staging, out)
    except OSError as exc:
        raise OutputError(out, f"cannot write it: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
