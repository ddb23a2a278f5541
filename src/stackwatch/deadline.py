"""The deadline of the run in progress, per thread: how long a source may still read.

The runner gives a source that has ``collect_until(deadline)`` a deadline (a
:func:`time.monotonic` value) a little before its timeout. The source sets it
for each thread it reads in (:func:`until`); code deep inside (the API client's
fan-out, the log tailer) asks :func:`passed` between two units of work and stops
there, so that what was read is delivered, marked partial, instead of the whole
run being lost to the timeout. Without a deadline set, :func:`passed` is False.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_local = threading.local()


def current() -> float:
    """This thread's deadline (monotonic seconds), ``inf`` when none is set."""
    return float(getattr(_local, "deadline", math.inf))


def passed() -> bool:
    """True once this thread's deadline has passed."""
    return time.monotonic() >= current()


@contextmanager
def until(deadline: float) -> Iterator[None]:
    """Set this thread's deadline for the ``with`` block (the earlier one wins when nested)."""
    previous = getattr(_local, "deadline", math.inf)
    _local.deadline = min(previous, deadline)
    try:
        yield
    finally:
        _local.deadline = previous
