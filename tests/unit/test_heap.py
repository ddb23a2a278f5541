"""The collector's long-lived objects leave the cyclic GC's passes, and come back once an
hour and at the end of a long-running command."""

from __future__ import annotations

import gc
import time
import weakref

import pytest

from stackwatch import heap

pytestmark = pytest.mark.unit


class Cycle:
    """An object in a reference cycle with itself: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_settle_freezes_only_inside_a_long_running_command() -> None:
    gc.unfreeze()
    heap.settle()
    assert gc.get_freeze_count() == 0  # a command's one-off run: nothing frozen
    with heap.settled():
        kept = [Cycle() for _ in range(100)]
        heap.settle()
        assert gc.get_freeze_count() >= 100  # what the run left is out of the passes
        del kept
    assert gc.get_freeze_count() == 0  # thawed at the end


def test_frozen_cycles_are_freed_at_the_hourly_thaw() -> None:
    with heap.settled():
        heap.settle(now=time.monotonic())
        cycle = Cycle()
        gone = weakref.ref(cycle)
        heap.settle()  # frozen while still in use
        del cycle
        gc.collect()
        assert gone() is not None  # garbage now, but out of the passes
        heap.settle(now=time.monotonic() + heap.THAW_EVERY_S + 1)  # an hour on
        assert gone() is None  # the full pass freed it
        assert gc.get_freeze_count() > 0  # and the survivors are frozen again
