"""The contract every source fulfils.

A source turns one part of the world (an API, a database, log files, the
message bus, the local host) into :class:`~stackwatch.model.Collection`
objects. It knows nothing of the store, alarms or the web. It raises a
:class:`~stackwatch.errors.SourceError` subclass when it cannot look; the
runner turns that into an UNKNOWN check with the reason and carries on with
the other sources.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from stackwatch.model import Collection

PARTIAL_CHECK = "stackwatch.partial"
"""Check a source adds for each part it could not deliver this run (message says which)."""


@runtime_checkable
class Source(Protocol):
    """Something that can be collected from, at an interval chosen by the config."""

    @property
    def name(self) -> str:
        """Stable identifier, e.g. ``api.compute`` or ``sql.nova``; used in freshness metrics."""
        ...

    def collect(self) -> Collection:
        """Look once and return what was seen; raise ``SourceError`` when it cannot look."""
        ...


@runtime_checkable
class DeadlineSource(Source, Protocol):
    """A source that stops reading at a deadline and delivers what it read."""

    def collect_until(self, deadline: float) -> Collection:
        """Like ``collect()``, but return by ``deadline`` (monotonic), marking what is missing."""
        ...
