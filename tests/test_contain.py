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
    """The child's own alarm ends it even if nobody kills it (parent killed with -9)."""
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
