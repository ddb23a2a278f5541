"""``infra.ceph``: the Ceph cluster from ``ceph status``, ``ceph df`` and ``ceph osd tree``.

Three commands a run, each ``-f json``, on a node with a client keyring (``command:
[ceph, --id, monitor]``). Read alike from Jewel (``osdmap.osdmap``, ``monmap.mons``,
``health.overall_status``) to Reef (flat ``osdmap``, ``monmap.num_mons``,
``health.status`` and ``health.checks``). Checks:

* ``ceph.health`` {service=ceph-mon}: Ceph's own verdict — HEALTH_OK OK, HEALTH_WARN
  WARNING, HEALTH_ERR CRITICAL — naming its health checks (``OSD_DOWN: 1 osds down``).
* ``ceph.mon`` {service=ceph-mon, host} per monitor the monmap names: OK in quorum,
  CRITICAL out of it; and ``ceph.quorum`` {service=ceph-mon}: how many are in it.
  Recent ``ceph status`` (Pacific, Reef) names only those in quorum (``monmap.num_mons``):
  when fewer are, ``ceph mon dump`` names the others.
* ``ceph.osd`` {service=ceph-osd, host} per host of the CRUSH tree: CRITICAL when
  all its OSDs are down, WARNING when some are down or out (reweight 0).
* ``ceph.pgs`` {service=ceph-osd}: CRITICAL while placement groups are not active
  (peering, stale, down, incomplete...: I/O to them blocks), WARNING while they are
  degraded, undersized, recovering, backfilling or remapped.
* ``ceph.usage`` {service=ceph-osd}: raw space used and each pool's use against
  ``usage`` (80 / 90 %).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stackwatch.errors import InvalidResponse
from stackwatch.infra_config import CephConfig, Percent
from stackwatch.model import CheckResult, Collection, Sample, Status
from stackwatch.sources.infra.base import (
    CommandSource,
    Context,
    check,
    named,
    percent_status,
    sample,
)
from stackwatch.sources.infra.http import excerpt

HEALTH = {"HEALTH_OK": Status.OK, "HEALTH_WARN": Status.WARNING, "HEALTH_ERR": Status.CRITICAL}
#: PG state words meaning I/O to the PG blocks (not active) or its data is at risk.
INACTIVE = ("peering", "stale", "down", "incomplete", "inactive", "unknown", "activating",
            "creating", "peered", "failed_repair")
DEGRADED = ("degraded", "undersized", "recovering", "recovery_wait", "backfilling",
            "backfill_wait", "backfill_toofull", "recovery_toofull", "remapped",
            "inconsistent", "snaptrim_error", "forced_recovery")
#: ``pgmap`` fields -> metric.
PGMAP_FIELDS = (("num_pgs", "ceph_pgs"), ("degraded_objects", "ceph_degraded_objects"),
                ("misplaced_objects", "ceph_misplaced_objects"))
#: ``df`` ``stats`` fields -> metric.
DF_FIELDS = (("total_bytes", "ceph_bytes"), ("total_avail_bytes", "ceph_avail_bytes"),
             ("total_used_raw_bytes", "ceph_used_raw_bytes"))
#: a pool's ``df`` stats -> metric.
POOL_FIELDS = (("stored", "ceph_pool_stored_bytes"), ("max_avail", "ceph_pool_max_avail_bytes"),
               ("objects", "ceph_pool_objects"), ("percent_used", "ceph_pool_used_ratio"))


@dataclass(frozen=True, slots=True)
class Osd:
    """One OSD of the CRUSH tree."""

    name: str
    host: str
    up: bool
    in_: bool


def loads(text: str, what: str) -> dict[str, Any]:
    """A JSON object, or InvalidResponse saying what was asked and what came."""
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidResponse(f"{what}: not JSON: {excerpt(text)}") from None
    if not isinstance(data, dict):
        raise InvalidResponse(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def health(status: Mapping[str, Any]) -> tuple[str, list[tuple[str, str, str]]]:
    """(overall, [(check, severity, message)]) from Luminous+ ``checks`` or Jewel ``summary``."""
    block = status.get("health")
    if not isinstance(block, dict):
        raise InvalidResponse("ceph status: no health")
    overall = block.get("status") or block.get("overall_status")
    if overall not in HEALTH:
        raise InvalidResponse(f"ceph status: health {excerpt(str(overall))} is not HEALTH_*")
    found: list[tuple[str, str, str]] = []
    checks = block.get("checks")
    if isinstance(checks, dict):
        for code, item in sorted(checks.items()):
            if isinstance(item, dict):
                summary = item.get("summary")
                message = summary.get("message", "") if isinstance(summary, dict) else ""
                found.append((code, str(item.get("severity", "")), str(message)))
    for item in block.get("summary") or []:
        if isinstance(item, dict):
            found.append(("", str(item.get("severity", "")), str(item.get("summary", ""))))
    return overall, found


def osdmap(status: Mapping[str, Any]) -> Mapping[str, Any]:
    """The osdmap counters, flat (Luminous+) or nested ``osdmap.osdmap`` (Jewel)."""
    block = status.get("osdmap")
    if isinstance(block, dict) and isinstance(block.get("osdmap"), dict):
        block = block["osdmap"]
    if not isinstance(block, dict) or "num_osds" not in block:
        raise InvalidResponse("ceph status: no osdmap counts")
    return block


def monitors(status: Mapping[str, Any]) -> tuple[list[str], list[str], int]:
    """(monitor names if listed, names in quorum, number of monitors)."""
    quorum = [str(n) for n in status.get("quorum_names") or []]
    monmap = status.get("monmap") or {}
    names = [str(m.get("name")) for m in monmap.get("mons") or [] if isinstance(m, dict)]
    count = int(monmap.get("num_mons") or len(names) or len(quorum))
    return names, quorum, count


def osds(tree: Mapping[str, Any]) -> list[Osd]:
    """Every OSD under a host of ``ceph osd tree`` (an out OSD has reweight 0)."""
    nodes = tree.get("nodes")
    if not isinstance(nodes, list):
        raise InvalidResponse("ceph osd tree: no nodes")
    by_id = {n.get("id"): n for n in nodes if isinstance(n, dict)}
    found = []
    for node in by_id.values():
        if node.get("type") != "host":
            continue
        for child in node.get("children") or []:
            osd = by_id.get(child)
            if osd is not None and osd.get("type") == "osd":
                weight = _number(osd.get("reweight")) or 0.0
                found.append(Osd(str(osd.get("name")), str(node.get("name")),
                                 osd.get("status") == "up", weight > 0))
    return sorted(found, key=lambda o: (o.host, int(o.name.split(".")[-1])
                                        if o.name.split(".")[-1].isdigit() else 0))


def pg_states(status: Mapping[str, Any]) -> dict[str, float]:
    """PG state name -> count."""
    pgmap = status.get("pgmap") or {}
    states: dict[str, float] = {}
    for item in pgmap.get("pgs_by_state") or []:
        if isinstance(item, dict) and (n := _number(item.get("count"))) is not None:
            states[str(item.get("state_name"))] = states.get(str(item.get("state_name")), 0) + n
    return states


def judge_pgs(states: Mapping[str, float]) -> tuple[Status, str]:
    """CRITICAL while PGs are not active, WARNING while degraded (see the module docstring)."""
    total = sum(states.values())
    inactive = {s: n for s, n in states.items()
                if "active" not in s.split("+") or any(w in s.split("+") for w in INACTIVE)}
    degraded = {s: n for s, n in states.items() if s not in inactive
                and any(w in s.split("+") for w in DEGRADED)}

    def listing(found: Mapping[str, float]) -> str:
        return named([f"{n:.0f} {s}" for s, n in sorted(found.items(), key=lambda x: -x[1])], 5)

    if inactive:
        count = sum(inactive.values())
        return Status.CRITICAL, f"{count:.0f} of {total:.0f} pgs not active: {listing(inactive)}"
    if degraded:
        count = sum(degraded.values())
        return Status.WARNING, f"{count:.0f} of {total:.0f} pgs degraded: {listing(degraded)}"
    return Status.OK, f"{total:.0f} pgs active+clean"


def judge_host(host: str, members: Sequence[Osd]) -> tuple[Status, str]:
    """A storage host from its OSDs."""
    down = [o.name for o in members if not o.up]
    out = [o.name for o in members if o.up and not o.in_]
    if members and len(down) == len(members):
        return Status.CRITICAL, f"{host}: all {len(members)} OSDs down"
    if down or out:
        parts = [f"{', '.join(down)} down" if down else "", f"{', '.join(out)} out" if out else ""]
        return Status.WARNING, f"{host}: " + "; ".join(p for p in parts if p) + (
            f" ({len(members) - len(down)} of {len(members)} up)")
    return Status.OK, f"{host}: {len(members)} OSDs up and in"


def cluster_results(status: Mapping[str, Any], df: Mapping[str, Any],
                    tree: Mapping[str, Any], usage: Percent) -> Collection:
    """Samples and checks of the cluster."""
    samples: list[Sample] = []
    checks: list[CheckResult] = []
    mon, osd = {"service": "ceph-mon"}, {"service": "ceph-osd"}
    overall, found = health(status)
    samples.append(sample("ceph_health_status", int(HEALTH[overall]), {}))
    samples += [sample("ceph_health_check", 2 if severity == "HEALTH_ERR" else 1, {"check": code})
                for code, severity, _ in found if code]
    message = "; ".join(f"{code}: {text}" if code else text for code, _, text in found)
    checks.append(check("ceph.health", HEALTH[overall], overall + (f": {message}" if message
                                                                    else ""), **mon))
    names, quorum, count = monitors(status)
    samples += [sample("ceph_monitors", count, {}),
                sample("ceph_monitors_in_quorum", len(quorum), {})]
    for name in names or quorum:
        if name in quorum:
            checks.append(check("ceph.mon", Status.OK, f"mon.{name} in quorum", host=name, **mon))
        else:
            checks.append(check("ceph.mon", Status.CRITICAL, f"mon.{name} out of quorum",
                                host=name, **mon))
    quorum_status = (Status.CRITICAL if 2 * len(quorum) <= count
                     else Status.WARNING if len(quorum) < count else Status.OK)
    checks.append(check("ceph.quorum", quorum_status, f"{len(quorum)} of {count} monitors in "
                        f"quorum: {', '.join(quorum) or 'none'}", **mon))
    counts = osdmap(status)
    samples += [sample(metric, n, {}) for field, metric in
                (("num_osds", "ceph_osds"), ("num_up_osds", "ceph_osds_up"),
                 ("num_in_osds", "ceph_osds_in")) if (n := _number(counts.get(field))) is not None]
    members = osds(tree)
    for item in members:
        labels = {"osd": item.name, "host": item.host}
        samples += [sample("ceph_osd_up", 1 if item.up else 0, labels),
                    sample("ceph_osd_in", 1 if item.in_ else 0, labels)]
    for host in sorted({o.host for o in members}):
        status_, message_ = judge_host(host, [o for o in members if o.host == host])
        checks.append(check("ceph.osd", status_, message_, host=host, **osd))
    states = pg_states(status)
    samples += [sample("ceph_pgs_by_state", n, {"state": s}) for s, n in sorted(states.items())]
    pgmap = status.get("pgmap") or {}
    samples += [sample(metric, n, {}) for field, metric in PGMAP_FIELDS
                if (n := _number(pgmap.get(field))) is not None]
    pgs_status, pgs_message = judge_pgs(states)
    checks.append(check("ceph.pgs", pgs_status, pgs_message, **osd))
    usage_status, usage_message = _usage(df, usage, samples)
    checks.append(check("ceph.usage", usage_status, usage_message, **osd))
    return Collection(tuple(samples), tuple(checks))


def _usage(df: Mapping[str, Any], usage: Percent, samples: list[Sample]) -> tuple[Status, str]:
    """Raw and per-pool use; the samples are added to ``samples``."""
    stats = df.get("stats")
    if not isinstance(stats, dict):
        raise InvalidResponse("ceph df: no stats")
    samples += [sample(metric, n, {}) for field, metric in DF_FIELDS
                if (n := _number(stats.get(field))) is not None]
    ratio = _number(stats.get("total_used_raw_ratio"))
    if ratio is None and _number(stats.get("total_bytes")):
        ratio = 1 - (_number(stats.get("total_avail_bytes")) or 0) / float(stats["total_bytes"])
    ratio = ratio or 0.0
    samples.append(sample("ceph_used_raw_ratio", ratio, {}))
    status = percent_status(100 * ratio, 100, usage.warning, usage.critical)
    problems = [f"raw {100 * ratio:.0f}% used"] if status is not Status.OK else []
    full: list[tuple[Status, str]] = []
    for pool in df.get("pools") or []:
        if not isinstance(pool, dict) or not isinstance(pool.get("stats"), dict):
            continue
        labels = {"pool": str(pool.get("name"))}
        samples += [sample(metric, n, labels) for field, metric in POOL_FIELDS
                    if (n := _number(pool["stats"].get(field))) is not None]
        used = _number(pool["stats"].get("percent_used"))
        if used is not None:
            pool_status = percent_status(100 * used, 100, usage.warning, usage.critical)
            if pool_status is not Status.OK:
                full.append((pool_status, f"pool {pool.get('name')} {100 * used:.0f}% used"))
    status = Status.worst([status, *(s for s, _ in full)])
    problems += [text for _, text in full]
    if problems:
        return status, "; ".join(problems)
    return status, f"raw {100 * ratio:.0f}% used; no pool above {usage.warning:g}%"


class CephSource(CommandSource):
    """``ceph status``, ``df`` and ``osd tree`` on this node."""

    piece = "ceph"

    def __init__(self, command: Sequence[str], host: str, timeout: float,
                 usage: Percent) -> None:
        super().__init__(command, host, timeout)
        self.usage = usage

    def read(self, target: str) -> Collection:
        status = loads(self.run("status", "-f", "json"), "ceph status")
        names, quorum, count = monitors(status)
        if not names and len(quorum) < count:   # which monitor is out: the monmap says
            dump = loads(self.run("mon", "dump", "-f", "json"), "ceph mon dump")
            status = {**status, "monmap": {**(status.get("monmap") or {}),
                                           "mons": dump.get("mons") or []}}
        df = loads(self.run("df", "-f", "json"), "ceph df")
        tree = loads(self.run("osd", "tree", "-f", "json"), "ceph osd tree")
        return cluster_results(status, df, tree, self.usage)


def build(config: CephConfig, context: Context) -> CephSource:
    """``infra.ceph`` for the section ``config``."""
    return CephSource(config.command, config.host or context.host, context.command_timeout,
                      config.usage)
