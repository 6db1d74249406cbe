"""Running a C library on an untrusted file in a forked child, with a time limit.

csiread and the HDF5 library trust lengths and addresses inside the files they parse. On
some corrupt files csiread writes out of bounds (a segfault) and HDF5 loops for ever (a
damaged attribute heap, found by the fuzz suite); neither can be interrupted from Python,
because a signal handler only runs between bytecodes. In a child process a crash or an
endless loop is one clear error about the file, not the end (or a hang) of the user's
process. The standard library's process pools cannot do this: they need picklable
functions and re-import the program, and they cannot kill a worker stuck in C code
without breaking the pool, so this is a plain fork, a pipe and a deadline.

The time limit must not call a healthy file corrupt because the machine was busy or the
command was suspended (Ctrl-Z, SIGSTOP, a sleeping laptop: the wall clock runs on, and a
wall-clock alarm fired on resume once reported a valid 269 MB store as "crashed, corrupt").
So a looping child is stopped by its own CPU-time limit (RLIMIT_CPU: a C loop burns CPU, a
stopped or waiting process does not), and the parent's wall-clock deadline, kept for a
child blocked without using CPU, does not count the time this process was stopped. An
orphaned child (parent killed with -9) is ended by the kernel on Linux (PR_SET_PDEATHSIG),
elsewhere by a generous alarm.
"""

from __future__ import annotations

import faulthandler
import math
import os
import pickle
import select
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from wifisense.errors import WifisenseError


class ContainedCrash(Exception):
    """The child died from a signal (args[0]: its name, e.g. ``SIGSEGV``)."""


class ContainedTimeout(Exception):
    """The child did not finish within the time limit (args[0]: the limit in seconds)."""


# The parent polls the child this often; a longer gap between two polls than POLL_S +
# STOP_GAP_S means this process was not running (stopped, suspended), and only that much
# of the gap counts against the limit.
POLL_S = 0.5
STOP_GAP_S = 2.0
# Signals that mean the child hit its own time limit, not a crash: SIGXCPU (RLIMIT_CPU's
# soft limit), SIGALRM (the orphan alarm where there is no PR_SET_PDEATHSIG).
TIME_LIMIT_SIGNALS = (signal.SIGXCPU, signal.SIGALRM)


class ContainedFailure(Exception):
    """The child raised something other than a WifisenseError (args[0]: ``Type: message``)."""


def can_contain() -> bool:
    """True where the platform can fork (Linux, macOS); elsewhere callers run in process."""
    return hasattr(os, "fork")


def run_contained(fn: Callable[[], Any], timeout_s: float | None = None) -> Any:
    """Return ``fn()`` computed in a forked child; its result must pickle.

    A WifisenseError raised in the child is raised here as it was. Any other exception is a
    :class:`ContainedFailure`, a death by signal a :class:`ContainedCrash`, and a child that
    used ``timeout_s`` seconds of CPU, or of this process's running time without finishing,
    is killed and reported as a :class:`ContainedTimeout`.
    """
    read_end, write_end = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: compute, send the result (or the error), leave at once
        status = 0
        try:
            os.close(read_end)
            if timeout_s is not None:
                _limit_child(timeout_s, parent)
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
        payload = _read_until(read_end, timeout_s)
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
        if timeout_s is not None and os.WTERMSIG(status) in TIME_LIMIT_SIGNALS:
            raise ContainedTimeout(timeout_s)
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


def _limit_child(timeout_s: float, parent: int) -> None:
    """In the child: end it once it has used ``timeout_s`` seconds of CPU, or when its parent dies."""
    import resource

    seconds = max(1, math.ceil(timeout_s))
    # soft limit: SIGXCPU (its default action ends the process, even inside a C loop); hard: SIGKILL
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 5))
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the prctl
            os._exit(1)
    else:
        # A last resort should the parent die without killing us (kill -9); generous, as it
        # runs on while the machine sleeps.
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(int(4 * timeout_s) + 5)


def _read_until(fd: int, limit_s: float | None) -> bytes:
    """The child's bytes until it closes the pipe; ContainedTimeout after ``limit_s`` seconds
    of this process's running time (a gap longer than POLL_S + STOP_GAP_S between two polls
    is time it was stopped, and counts as POLL_S + STOP_GAP_S)."""
    chunks = []
    used, last = 0.0, time.monotonic()
    while True:
        if limit_s is not None:
            now = time.monotonic()
            used += min(now - last, POLL_S + STOP_GAP_S)
            last = now
            if used >= limit_s:
                raise ContainedTimeout
            if not select.select([fd], [], [], min(POLL_S, limit_s - used))[0]:
                continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
