"""The collector's long-lived objects leave the cyclic GC's passes, and come back once an
hour and at the end of a long-running command.

Each check runs in an interpreter of its own: thawing and collecting the test process's
whole heap would free (and report) whatever other tests left behind."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.unit

PRELUDE = """
import gc, time, weakref
from stackwatch import heap

class Cycle:
    def __init__(self):
        self.me = self  # only the cyclic collector frees it
"""


def run(body: str) -> None:
    done = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_settle_freezes_only_inside_a_long_running_command() -> None:
    run("""
        heap.settle()
        assert gc.get_freeze_count() == 0  # a command's one-off run: nothing frozen
        with heap.settled():
            kept = [Cycle() for _ in range(100)]
            heap.settle()
            assert gc.get_freeze_count() >= 100  # what the run left is out of the passes
            del kept
        assert gc.get_freeze_count() == 0  # thawed at the end
    """)


def test_frozen_cycles_are_freed_at_the_hourly_thaw() -> None:
    run("""
        with heap.settled():
            cycle = Cycle()
            gone = weakref.ref(cycle)
            heap.settle()  # frozen while still in use
            del cycle
            gc.collect()
            assert gone() is not None  # garbage now, but out of the passes
            heap.settle(now=time.monotonic() + heap.THAW_EVERY_S + 1)  # an hour on
            assert gone() is None  # the full pass freed it
            assert gc.get_freeze_count() > 0  # and the survivors are frozen again
    """)
