"""What travels from an agent to the server: batches, pushes and the server's answer.

A **batch** is one run of one source: its samples, checks and events, the source's name,
whether the run was partial, the node (``host``) and the agent's sequence number. Its id
is ``<agent>:<seq>``: the agent's id (random, kept in its buffer directory) and a number
that only grows, so a replayed batch is known again. A **push** is one request,
``POST /api/v1/ingest``, carrying up to ``batch_size`` batches of one agent in sequence
order::

    {"version": 1, "agent": "3f2a...", "batches": [
      {"seq": 41, "host": "cmp-017", "source": "node.host", "partial": false,
       "created": 1764892800.5,
       "samples": [{"name": "x", "value": 1.0, "labels": {"host": "cmp-017"}, "ts": ...}],
       "checks": [{"name": "c", "status": "OK", "message": "...", "labels": {...},
                   "perfdata": [{"label": "l", "value": 1.0, "uom": "s"}], "ts": ...}],
       "events": [{"kind": "log", "event_type": "...", "ts": ..., "severity": "ERROR", ...}]}
    ]}

A value that is not a finite number travels as ``"NaN"``, ``"+Inf"`` or ``"-Inf"`` (JSON
has no such numbers); timestamps are finite epoch seconds. The agent encodes with orjson
(:func:`encode_batch`, no pydantic on its hot path); the server validates the whole push
with :class:`Push` before it stores anything.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from stackwatch.model import (
    CheckResult,
    Collection,
    Event,
    PerfDatum,
    Sample,
    Severity,
    Status,
    make_labels,
)

VERSION = 1
_NON_FINITE = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}

Name = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Text = Annotated[str, StringConstraints(max_length=65536)]
Stamp = Annotated[float, Field(allow_inf_nan=False)]
Number = float | Literal["NaN", "+Inf", "-Inf"]
AgentId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
HostName = Annotated[str, StringConstraints(pattern=r"^[^/\s]{1,253}$")]
SourceName = Annotated[str, StringConstraints(pattern=r"^\S{1,256}$")]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WireSample(_Wire):
    name: Name
    value: Number
    labels: dict[Name, Text] = {}
    ts: Stamp


class WirePerf(_Wire):
    label: Text
    value: Number
    uom: Annotated[str, StringConstraints(max_length=16)] = ""
    warn: float | None = None
    crit: float | None = None
    min: float | None = None
    max: float | None = None


class WireCheck(_Wire):
    name: Name
    status: Literal["OK", "WARNING", "CRITICAL", "UNKNOWN"]
    message: Text = ""
    labels: dict[Name, Text] = {}
    perfdata: list[WirePerf] = []
    ts: Stamp


class WireEvent(_Wire):
    kind: Name
    event_type: Text
    ts: Stamp
    severity: Literal["DEBUG", "INFO", "AUDIT", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    service: Text = ""
    host: Text = ""
    message: Text = ""
    request_id: Text = ""
    resource_ids: list[Text] = []
    attributes: dict[Name, Text] = {}


class WireBatch(_Wire):
    """One run of one source."""

    seq: int = Field(ge=1, le=2**62)
    host: HostName
    source: SourceName
    partial: bool = False
    created: Stamp
    samples: list[WireSample] = []
    checks: list[WireCheck] = []
    events: list[WireEvent] = []

    def timestamps(self) -> list[float]:
        """Every time the batch states (to refuse one from the future)."""
        return [self.created, *(s.ts for s in self.samples), *(c.ts for c in self.checks),
                *(e.ts for e in self.events)]

    def collection(self) -> Collection:
        """The batch as the model's :class:`Collection`."""
        return Collection(
            tuple(Sample(s.name, _number(s.value), make_labels(s.labels), s.ts)
                  for s in self.samples),
            tuple(CheckResult(c.name, Status[c.status], c.message, make_labels(c.labels),
                              tuple(PerfDatum(p.label, _number(p.value), p.uom, p.warn, p.crit,
                                              p.min, p.max) for p in c.perfdata), c.ts)
                  for c in self.checks),
            tuple(Event(e.kind, e.event_type, e.ts, Severity[e.severity], e.service, e.host,
                        e.message, e.request_id, tuple(e.resource_ids),
                        make_labels(e.attributes)) for e in self.events))


class Push(_Wire):
    """One request of one agent: its batches, oldest first."""

    version: Literal[1]
    agent: AgentId
    batches: list[WireBatch] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _in_order(self) -> Push:
        seqs = [b.seq for b in self.batches]
        if any(b <= a for a, b in itertools.pairwise(seqs)):
            raise ValueError("batches: sequence numbers must increase")
        return self


class Ack(BaseModel):
    """The server's answer to a push: every batch of it is now stored, once."""

    accepted: list[str] = Field(description="ids (agent:seq) of the batches stored now")
    duplicates: list[str] = Field(description="ids of batches stored before (a replay)")


def batch_id(agent: str, seq: int) -> str:
    return f"{agent}:{seq}"


# ------------------------------------------------------------------ agent side
def _number(value: float | str) -> float:
    return _NON_FINITE[value] if isinstance(value, str) else value


def _wire_number(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


def _perf(p: PerfDatum) -> dict[str, Any]:
    out: dict[str, Any] = {"label": p.label, "value": _wire_number(p.value)}
    if p.uom:
        out["uom"] = p.uom
    for key, value in (("warn", p.warn), ("crit", p.crit), ("min", p.minimum),
                       ("max", p.maximum)):
        if value is not None and math.isfinite(value):
            out[key] = value
    return out


def encode_batch(seq: int, host: str, source: str, partial: bool, created: float,
                 collection: Collection) -> bytes:
    """One batch as JSON (what the buffer keeps and a push carries)."""
    return orjson.dumps({
        "seq": seq, "host": host, "source": source, "partial": partial, "created": created,
        "samples": [{"name": s.name, "value": _wire_number(s.value), "labels": dict(s.labels),
                     "ts": s.timestamp} for s in collection.samples],
        "checks": [{"name": c.name, "status": c.status.name, "message": c.message,
                    "labels": dict(c.labels), "perfdata": [_perf(p) for p in c.perfdata],
                    "ts": c.timestamp} for c in collection.checks],
        "events": [{"kind": e.kind, "event_type": e.event_type, "ts": e.timestamp,
                    "severity": e.severity.name, "service": e.service, "host": e.host,
                    "message": e.message, "request_id": e.request_id,
                    "resource_ids": list(e.resource_ids), "attributes": dict(e.attributes)}
                   for e in collection.events],
    })


def encode_push(agent: str, batches: list[bytes]) -> bytes:
    """A push's body from encoded batches, without decoding them again."""
    head = orjson.dumps({"version": VERSION, "agent": agent})[:-1]
    return head + b',"batches":[' + b",".join(batches) + b"]}"
