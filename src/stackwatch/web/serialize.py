"""Model objects and health as JSON-ready dicts (REST API and ``collect --format json``).

Every timestamped item carries ``timestamp`` (Unix seconds) and, when a
reference time is given, ``age_seconds``, so a reader can tell a stale value
from a fresh one.
"""

from __future__ import annotations

from typing import Any

from stackwatch.health.evaluate import BlindPart, CloudHealth, MemberHealth, ServiceHealth
from stackwatch.model import CheckResult, Event, Sample


def _age(timestamp: float, now: float | None) -> dict[str, float]:
    return {} if now is None else {"age_seconds": round(max(0.0, now - timestamp), 3)}


def sample_dict(sample: Sample, now: float | None = None) -> dict[str, Any]:
    """``{"name", "labels", "value", "timestamp"[, "age_seconds"]}``."""
    return {"name": sample.name, "labels": dict(sample.labels), "value": sample.value,
            "timestamp": sample.timestamp, **_age(sample.timestamp, now)}


def check_dict(check: CheckResult, now: float | None = None) -> dict[str, Any]:
    """A check with its status name, Nagios exit code and perfdata."""
    return {
        "name": check.name, "status": check.status.name, "code": int(check.status),
        "message": check.message, "labels": dict(check.labels),
        "perfdata": [p.render() for p in check.perfdata],
        "timestamp": check.timestamp, **_age(check.timestamp, now),
    }


def event_dict(event: Event) -> dict[str, Any]:
    """An event with its severity name."""
    return {
        "kind": event.kind, "event_type": event.event_type, "timestamp": event.timestamp,
        "severity": event.severity.name, "service": event.service, "host": event.host,
        "message": event.message, "request_id": event.request_id,
        "resource_ids": list(event.resource_ids), "attributes": dict(event.attributes),
    }


def _member(member: MemberHealth) -> dict[str, Any]:
    return {"host": member.host, "status": member.status.name, "message": member.message}


def _blind(part: BlindPart) -> dict[str, Any]:
    return {"source": part.source, "resource": part.resource, "status": part.status.name,
            "message": part.message}


def service_dict(service: ServiceHealth) -> dict[str, Any]:
    """A service's health with its members."""
    return {"name": service.name, "ha": service.ha.value, "status": service.verdict,
            "message": service.message, "watched": service.watched,
            "members": [_member(m) for m in service.members],
            "blind": [_blind(p) for p in service.blind]}


def health_dict(health: CloudHealth) -> dict[str, Any]:
    """The cloud's health: status, message, services, nodes."""
    return {
        "status": health.status.name, "code": int(health.status), "message": health.message,
        "services": [service_dict(s) for s in health.services],
        "nodes": [{"host": n.host, "status": n.status.name, "roles": [r.value for r in n.roles],
                   "members": [{"service": m.service, **_member(m)} for m in n.members]}
                  for n in health.nodes],
        "others": [check_dict(c) for c in health.others],
        "blind": [_blind(p) for p in health.blind],
    }
