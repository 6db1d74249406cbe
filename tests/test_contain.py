"""Contained reads (wifisense.io.contain): a C library stuck or crashing on a corrupt file is
one clear error about the file, never a hung or killed command."""

import os
import signal
import time

import pytest

from wifisense.errors import CaptureError, ConfigError, StoreError
from wifisense.io import contain, h5open, inspect, validate

pytestmark = pytest.mark.skipif(not contain.can_contain(), reason="needs fork")


def test_result_and_wifisense_errors_come_back_as_they_were():
    assert contain.run_contained(lambda: {"a": [1, 2]}, 10) == {"a": [1, 2]}
    for error in (StoreError("x.h5", "/meta", "bad"), CaptureError("y.dat", "short"), ConfigError("z")):
        def fail(error=error):
            raise error
        with pytest.raises(type(error)) as got:
            contain.run_contained(fail, 10)
        assert str(got.value) == str(error)


def test_other_errors_crashes_and_endless_loops_are_reported():
    def boom():
        raise ZeroDivisionError("no")
    with pytest.raises(contain.ContainedFailure, match="ZeroDivisionError: no"):
        contain.run_contained(boom, 10)
    with pytest.raises(contain.ContainedCrash, match="SIGSEGV"):
        contain.run_contained(lambda: os.kill(os.getpid(), signal.SIGSEGV), 10)
    start = time.monotonic()
    with pytest.raises(contain.ContainedTimeout):
        contain.run_contained(lambda: time.sleep(60), 0.5)
    assert time.monotonic() - start < 10


def test_a_child_whose_parent_is_gone_still_ends(tmp_path):
    """The kernel (Linux) or the child's own alarm ends it even if nobody kills it (parent killed with -9)."""
    flag = tmp_path / "pid"

    def parent():
        pid = os.fork()
        if pid == 0:
            try:
                contain.run_contained(lambda: (flag.write_text(str(os.getpid())), time.sleep(60)), 0.1)
            finally:
                os._exit(0)
        while not flag.exists():
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return int(flag.read_text())

    child = parent()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the orphaned contained child was still running after its time limit + 5 s")


def test_a_child_that_uses_its_cpu_time_is_a_timeout_not_a_crash():
    """The child's limit is CPU time (RLIMIT_CPU), and dying of it (SIGXCPU) is the time limit,
    not a crash of the library (which the callers report as a corrupt file)."""
    import resource

    assert contain.run_contained(lambda: resource.getrlimit(resource.RLIMIT_CPU), 2.5) == (3, 8)
    with pytest.raises(contain.ContainedTimeout):
        contain.run_contained(lambda: os.kill(os.getpid(), signal.SIGXCPU), 10)
    start = time.monotonic()
    with pytest.raises(contain.ContainedTimeout):
        contain.run_contained(lambda: [None for _ in iter(int, 1)], 1)   # a loop that burns CPU
    assert time.monotonic() - start < 10


def test_time_the_command_was_stopped_does_not_count(tmp_path, monkeypatch):
    """Ctrl-Z / SIGSTOP for longer than the limit, then SIGCONT: the read still succeeds (it
    once came back as "crashed, the file is corrupt" for a valid store)."""
    monkeypatch.setattr(contain, "POLL_S", 0.1)
    monkeypatch.setattr(contain, "STOP_GAP_S", 0.2)
    result = tmp_path / "result"
    pid = os.fork()
    if pid == 0:  # a command in its own process group, as a shell job is
        try:
            os.setpgid(0, 0)
            try:
                got = contain.run_contained(lambda: (time.sleep(0.5), "done")[1], 1.5)
            except Exception as exc:
                got = type(exc).__name__
            result.write_text(got)
        finally:
            os._exit(0)
    try:
        os.setpgid(pid, pid)
    except OSError:  # the child did it first (or has exec'd: it does not)
        pass
    time.sleep(0.3)
    os.killpg(pid, signal.SIGSTOP)   # the command and its contained child, as Ctrl-Z stops both
    time.sleep(2.5)
    os.killpg(pid, signal.SIGCONT)
    os.waitpid(pid, 0)
    assert result.read_text() == "done"


def test_a_store_read_that_never_ends_is_a_problem_not_a_hang(tmp_path, monkeypatch):
    store = tmp_path / "s.h5"
    store.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    monkeypatch.setattr(h5open, "READ_LIMIT_BASE_S", 0.5)
    monkeypatch.setattr(validate, "_validate_here", lambda path: time.sleep(60))
    problems = validate.validate_store(store)
    assert len(problems) == 1 and problems[0].field == "/" and "did not finish within" in problems[0].reason
    monkeypatch.setattr(inspect, "_summarise_store_here", lambda path: time.sleep(60))
    with pytest.raises(CaptureError, match="did not finish within"):
        inspect.summarise_store(store)
