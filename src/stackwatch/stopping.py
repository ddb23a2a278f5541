"""Stop a long-running command on SIGTERM or Ctrl-C, safely.

A signal handler runs in the main thread between two bytecodes, possibly while that
thread holds the very lock ``stop()`` needs (``threading.Event.wait`` holds its
condition's lock for an instant before it sleeps): calling ``stop()`` there can deadlock
the process for good. The handler hands ``stop()`` to a thread of its own instead, which
takes the lock once the main thread lets go of it.

And the kernel gives a process's signal to any of its threads: when it is not the main
thread, a main thread asleep on a lock is not woken, and Python runs the handler only
when it wakes. :func:`wait` sleeps in short steps, so the handler runs within one.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def stop_on_signals(stop: Callable[[], object]) -> Iterator[None]:
    """Call ``stop()`` on SIGTERM and SIGINT; the previous handlers are back after. Off
    the main thread (where signals cannot be handled) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(*_: object) -> None:
        threading.Thread(target=stop, name="stackwatch-stop", daemon=True).start()

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


#: the longest the main thread sleeps at a time while it waits for a stop
STEP_S = 0.5


def wait(stop: threading.Event, duration: float | None = None) -> None:
    """Until ``stop`` is set or ``duration`` seconds have passed (None: no limit), in
    steps of at most :data:`STEP_S` (see the module docstring)."""
    deadline = None if duration is None else time.monotonic() + duration
    while not stop.is_set():
        left = STEP_S if deadline is None else min(STEP_S, deadline - time.monotonic())
        if left <= 0 or stop.wait(left):
            return
