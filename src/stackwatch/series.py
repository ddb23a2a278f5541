"""Every series from one source, once: the guard each run goes through in the runner.

A series is a metric name with one label set. Two samples of one series in a
collection make an invalid exposition, and in the store one series whose value
flips between two figures (``sql.nova`` and ``sql.nova_cell0`` once both said
``openstack_nova_db_instances_error{region="RegionOne"}``). :class:`SeriesGuard`
remembers which source's latest run holds each series; a sample of a series
already held, by another source or earlier in the same run, is left out,
counted and logged once per (source, metric, holder). A failed run holds
nothing, so what it held is free for others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from stackwatch.model import Labels, Sample

log = logging.getLogger(__name__)

SeriesKey = tuple[str, Labels]


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A sample left out: its series is already held by ``holder`` (maybe its own source)."""

    name: str
    labels: Labels
    holder: str

    def __str__(self) -> str:
        labels = ",".join(f'{k}="{v}"' for k, v in self.labels)
        return f"{self.name}{{{labels}}} (also from {self.holder})"


class SeriesGuard:
    """Which source's latest run holds each series; keeps every series to one sample."""

    def __init__(self) -> None:
        self._holder: dict[SeriesKey, str] = {}
        self._held: dict[str, set[SeriesKey]] = {}
        self._logged: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def admit(self, source: str, samples: Iterable[Sample]
              ) -> tuple[tuple[Sample, ...], tuple[Duplicate, ...]]:
        """The samples of one run of ``source`` without duplicates, and those left out.

        What the source held from its previous run and no longer emits is released.
        """
        kept: list[Sample] = []
        left_out: list[Duplicate] = []
        mine: set[SeriesKey] = set()
        with self._lock:
            self._release(source)
            holder = self._holder
            for sample in samples:
                key = (sample.name, sample.labels)
                other = holder.get(key)
                if other is None:
                    holder[key] = source
                    mine.add(key)
                    kept.append(sample)
                else:
                    left_out.append(Duplicate(sample.name, sample.labels, other))
            self._held[source] = mine
            for duplicate in left_out:
                seen = (source, duplicate.name, duplicate.holder)
                if seen not in self._logged:
                    self._logged.add(seen)
                    log.warning("source %s: series %s: left out (counted in "
                                "stackwatch_source_duplicate_series)", source, duplicate)
        return tuple(kept), tuple(left_out)

    def release(self, source: str) -> None:
        """``source`` holds nothing any more (its run failed)."""
        with self._lock:
            self._release(source)

    def _release(self, source: str) -> None:
        for key in self._held.pop(source, ()):
            if self._holder.get(key) == source:
                del self._holder[key]
