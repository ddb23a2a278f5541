"""How stackwatch runs Python's cyclic garbage collector.

A collector keeps a big cloud's state between cycles: per-item samples, parsed items and
label sets (about 1.2 million tracked objects on the bench's "big" cloud with
openstack-exporter's per-item series). Python's cyclic collector traverses all of them in
each of its full passes (0.7 s of CPU there), and starts one whenever the objects that
survived since the last are a quarter of the rest: every cycle or two. Yet these objects
make no reference cycles; what a cycle replaces is freed by its reference count.

* :func:`tune` (each command, at start): the start-up's objects are frozen out of the
  passes, and passes run 70 times less often (Python's 700, 10, 10).
* :func:`settle` (the run loop, after each run it hands over), in the long-running
  commands that ask for it (:func:`settled`: ``server``, ``agent``, ``demo``,
  ``collect`` without ``--once``): what survived so far is frozen too, so a pass
  traverses only what the last cycles made; once every :data:`THAW_EVERY_S` the frozen
  objects are thawed and one full pass frees whatever cycles were among them.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator

GC_THRESHOLDS = (50_000, 20, 20)
"""The cyclic garbage collector's thresholds a command runs with (Python's: 700, 10, 10)."""

#: how often the frozen objects get one full pass (cycles among them are freed then)
THAW_EVERY_S = 3600.0

_thawed_at = time.monotonic()
_settling = False


def tune() -> None:
    """At a command's start: freeze what the start-up made, pass less often."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@contextlib.contextmanager
def settled() -> Iterator[None]:
    """While inside, :func:`settle` freezes (a long-running command); at the end all is
    thawed and collected once (a command run inside a test's process leaves it as it was)."""
    global _settling
    _settling = True
    try:
        yield
    finally:
        _settling = False
        gc.unfreeze()
        gc.collect()


def settle(now: float | None = None) -> None:
    """After a run: freeze what survived; once every :data:`THAW_EVERY_S`, thaw first and
    collect them all once. Nothing outside :func:`settled`."""
    global _thawed_at
    if not _settling:
        return
    now = time.monotonic() if now is None else now
    if now - _thawed_at >= THAW_EVERY_S:
        _thawed_at = now
        gc.unfreeze()
        gc.collect()
    gc.freeze()
