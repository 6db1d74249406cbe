"""Running a C library on an untrusted file in a forked child, with a time limit.

csiread and the HDF5 library trust lengths and addresses inside the files they parse. On
some corrupt files csiread writes out of bounds (a segfault) and HDF5 loops for ever (a
damaged attribute heap, found by the fuzz suite); neither can be interrupted from Python,
because a signal handler only runs between bytecodes. In a child process a crash or an
endless loop is one clear error about the file, not the end (or a hang) of the user's
process. The standard library's process pools cannot do this: they need picklable
functions and re-import the program, and they cannot kill a worker stuck in C code
without breaking the pool, so this is a plain fork, a pipe and a deadline.
"""

from __future__ import annotations

import faulthandler
import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from typing import Any

from wifisense.errors import WifisenseError


class ContainedCrash(Exception):
    """The child died from a signal (args[0]: its name, e.g. ``SIGSEGV``)."""


class ContainedTimeout(Exception):
    """The child did not finish within the time limit (args[0]: the limit in seconds)."""


class ContainedFailure(Exception):
    """The child raised something other than a WifisenseError (args[0]: ``Type: message``)."""


def can_contain() -> bool:
    """True where the platform can fork (Linux, macOS); elsewhere callers run in process."""
    return hasattr(os, "fork")


def run_contained(fn: Callable[[], Any], timeout_s: float | None = None) -> Any:
    """Return ``fn()`` computed in a forked child; its result must pickle.

    A WifisenseError raised in the child is raised here as it was. Any other exception is a
    :class:`ContainedFailure`, a death by signal a :class:`ContainedCrash` and a child still
    running after ``timeout_s`` is killed and reported as a :class:`ContainedTimeout`.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send the result (or the error), leave at once
        status = 0
        try:
            os.close(read_end)
            if timeout_s is not None:
                # A last resort should the parent die without killing us (kill -9): the
                # default action of SIGALRM ends a process even inside a C loop.
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                signal.alarm(int(timeout_s) + 5)
            faulthandler.disable()  # a crash here is the parent's to report, in one line
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)  # C code (csiread) prints progress straight to fd 1
            try:
                result = ("ok", fn())
            except WifisenseError as exc:
                result = ("raise", exc)
            except Exception as exc:
                result = ("error", f"{type(exc).__name__}: {exc}")
            payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as f:
                f.write(payload)
        except BaseException:
            import traceback

            traceback.print_exc()  # stderr is the parent's: a bug here is seen, not hidden
            status = 1
        finally:
            os._exit(status)  # no atexit handlers, no flushing of the parent's buffers
    os.close(write_end)
    try:
        payload = _read_until(read_end, None if timeout_s is None else time.monotonic() + timeout_s)
    except BaseException as exc:  # the time limit, or Ctrl-C / a signal handler while waiting
        os.kill(pid, signal.SIGKILL)  # never leave a child looping in C code behind
        os.waitpid(pid, 0)
        if isinstance(exc, ContainedTimeout):
            raise ContainedTimeout(timeout_s) from None
        raise
    finally:
        os.close(read_end)
    _pid, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise ContainedCrash(signal_name(os.WTERMSIG(status)))
    if not payload:
        raise ContainedFailure(f"ended without a result (exit status {os.waitstatus_to_exitcode(status)})")
    # Our own child's bytes, made by pickle.dumps above: nothing untrusted is unpickled.
    kind, value = pickle.loads(payload)
    if kind == "ok":
        return value
    if kind == "raise":
        raise value
    raise ContainedFailure(value)


def _read_until(fd: int, deadline: float | None) -> bytes:
    chunks = []
    while True:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ContainedTimeout
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
