"""SIGTERM stops a command whichever thread the kernel hands the signal to."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from stackwatch import stopping
from stackwatch.stopping import stop_on_signals

pytestmark = pytest.mark.unit


def test_a_signal_taken_by_another_thread_still_stops_the_wait() -> None:
    stop = threading.Event()

    def signal_from_a_worker() -> None:  # as the kernel may do: any thread takes it
        time.sleep(0.2)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    with stop_on_signals(stop.set):
        threading.Thread(target=signal_from_a_worker, daemon=True).start()
        started = time.monotonic()
        stopping.wait(stop, duration=10)
        took = time.monotonic() - started
    assert stop.is_set() and took < 0.2 + 2 * stopping.STEP_S, took
    assert signal.getsignal(signal.SIGTERM) is not None  # the previous handler is back


def test_the_wait_ends_at_its_duration_without_a_signal() -> None:
    stop = threading.Event()
    started = time.monotonic()
    stopping.wait(stop, duration=0.3)
    assert not stop.is_set() and 0.3 <= time.monotonic() - started < 0.3 + stopping.STEP_S
