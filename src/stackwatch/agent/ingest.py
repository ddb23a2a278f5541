"""The server's side of the agents' pushes: validate a push whole, store it once, count.

:meth:`Ingest.accept` takes a push's body and either stores every batch of it, in one
store transaction, or nothing and raises :class:`Refused` with the HTTP status and the
reason:

==========  ========  ===========================================================
status      reason    when
==========  ========  ===========================================================
400         json      the body is not JSON (truncated, not UTF-8)
400         schema    JSON, but not a push (:class:`~stackwatch.agent.wire.Push`)
400         future    a timestamp lies more than ``server.clock_skew`` s ahead
413         too_large the body is over ``server.max_push_bytes`` (the web handler)
401, 403    token,    no or a bad token, or a role that may not push (the access
            role      rules of :mod:`stackwatch.web.auth`)
429         rate_     too many bad tokens from the client lately (the access rules)
            limited
503         store     the store could not write (the agent keeps the batches)
==========  ========  ===========================================================

Every refusal is counted in ``stackwatch_ingest_refused_total{reason}``. A sample whose
value is NaN is left out (the store keeps no NaN: such a series has no value this run),
counted in ``stackwatch_ingest_nan_samples_total``, and the rest of its batch stored. A
batch whose id
(agent, sequence) the store kept is a replay: acknowledged, not stored again. Each
batch is written as ``store.write(collection, source=f"{host}/{source}")`` would, so
a node's run of a source replaces that node's previous run and no other's.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from collections.abc import Callable

from pydantic import ValidationError

from stackwatch.agent.wire import Ack, Push, batch_id
from stackwatch.config import ServerConfig
from stackwatch.errors import StoreError
from stackwatch.model import Collection, Sample, make_labels
from stackwatch.store.base import AgentBatch, Store

log = logging.getLogger(__name__)

REASONS = ("token", "role", "rate_limited", "json", "schema", "future", "too_large", "store")
#: seconds, the buckets of ``stackwatch_ingest_duration_seconds``
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Refused(Exception):
    """A push not taken: its HTTP status, the counted reason and a message for the agent."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def _errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_input=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


class Ingest:
    """Validates and stores pushes; keeps the counters ``/metrics`` shows."""

    def __init__(self, store: Store, config: ServerConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()  # counters: handlers run in several worker threads
        self._refused = dict.fromkeys(REASONS, 0)
        self._batches = {"stored": 0, "duplicate": 0}
        self._buckets = [0] * (len(BUCKETS) + 1)
        self._seconds = 0.0
        self._nan = 0

    # ------------------------------------------------------------------ pushes
    def accept(self, body: bytes) -> Ack:
        """Store the push in ``body`` (all its batches or none); :class:`Refused` if not."""
        push = self._parse(body)
        now = self._clock()
        self._not_ahead(push, now)
        batches = [AgentBatch(push.agent, b.seq, b.host, b.source, b.created,
                              self._storable(b.collection())) for b in push.batches]
        try:
            fresh = self.store.write_batches(batches, now)
        except StoreError as exc:
            log.error("ingest: could not store a push of agent %s: %s", push.agent, exc)
            raise self.refuse(503, "store", "the store could not write; try again") from None
        accepted = [batch_id(b.agent, b.seq) for b, new in zip(batches, fresh, strict=True)
                    if new]
        duplicates = [batch_id(b.agent, b.seq) for b, new in zip(batches, fresh, strict=True)
                      if not new]
        with self._lock:
            self._batches["stored"] += len(accepted)
            self._batches["duplicate"] += len(duplicates)
        return Ack(accepted=accepted, duplicates=duplicates)

    def _storable(self, collection: Collection) -> Collection:
        samples = tuple(s for s in collection.samples if not math.isnan(s.value))
        if len(samples) == len(collection.samples):
            return collection
        with self._lock:
            self._nan += len(collection.samples) - len(samples)
        return Collection(samples, collection.checks, collection.events)

    def _parse(self, body: bytes) -> Push:
        try:
            return Push.model_validate_json(body)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors(include_input=False)):
                raise self.refuse(400, "json", "not valid JSON: " + _errors(exc)) from None
            raise self.refuse(400, "schema", "not a push: " + _errors(exc)) from None

    def _not_ahead(self, push: Push, now: float) -> None:
        limit = now + self.config.clock_skew
        for batch in push.batches:
            newest = max(batch.timestamps())
            if newest > limit:
                raise self.refuse(
                    400, "future", f"batch {batch.seq} ({batch.source} on {batch.host}): "
                    f"timestamp {newest:.3f} is {newest - now:.0f} s in the future (the "
                    f"server allows {self.config.clock_skew:g} s of clock skew; is the "
                    "agent's clock right?)")

    # ---------------------------------------------------------------- counting
    def refuse(self, status: int, reason: str, message: str) -> Refused:
        """Count a refusal; the exception to raise (or answer with)."""
        with self._lock:
            self._refused[reason] += 1
        return Refused(status, reason, message)

    def observe(self, seconds: float) -> None:
        """One push handled in ``seconds`` (read, checked, stored), refused or not."""
        with self._lock:
            self._buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
            self._seconds += seconds

    def samples(self) -> list[Sample]:
        """The ``stackwatch_ingest_*`` counters for ``/metrics``."""
        now = self._clock()
        with self._lock:
            refused = dict(self._refused)
            batches = dict(self._batches)
            buckets = list(self._buckets)
            seconds = self._seconds
            nan = self._nan
        out = [Sample("stackwatch_ingest_refused_total", float(n), make_labels(reason=r), now)
               for r, n in refused.items()]
        out += [Sample("stackwatch_ingest_batches_total", float(n), make_labels(outcome=o), now)
                for o, n in batches.items()]
        out.append(Sample("stackwatch_ingest_nan_samples_total", float(nan), (), now))
        total = 0
        for bound, count in zip((*BUCKETS, float("inf")), buckets, strict=True):
            total += count
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            out.append(Sample("stackwatch_ingest_duration_seconds_bucket", float(total),
                              make_labels(le=le), now))
        out.append(Sample("stackwatch_ingest_duration_seconds_count", float(total), (), now))
        out.append(Sample("stackwatch_ingest_duration_seconds_sum", seconds, (), now))
        return out
