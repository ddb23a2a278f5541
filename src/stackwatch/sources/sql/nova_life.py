"""``sql.nova`` / ``sql.nova_cell0`` resources ``instance_actions``, ``instance_faults``
and ``migrations``: the life of instances from nova's tables.

Per run, newest first and at most ``lifecycle.max_rows`` rows each:

* ``instance_actions`` left-joined with ``instance_actions_events``, the actions updated
  since the previous run (the first run: ``lifecycle.lookback`` back);
* ``instance_faults`` created since the previous run;
* ``migrations`` not deleted that are in progress, or were updated within the lookback.

Each query is its own resource: a table an older release lacks (``instance_actions_events``
without ``details`` before Ussuri, say) makes that resource UNKNOWN naming the table,
and the others go on. Records become events and metrics as the API's do
(:mod:`stackwatch.sources.lifecycle`), under ``openstack_nova_db_*`` names with the
``database`` label; the events are the API's to the field, so a trace shows each once.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import sqlalchemy as sa

from stackwatch.config import LifecycleConfig
from stackwatch.model import Collection, Sample, make_labels
from stackwatch.sources import lifecycle as life
from stackwatch.sources.sql import tables as t
from stackwatch.sources.sql.base import SqlSource

#: seconds a window reaches back past the newest row read (rows written in the same
#: second as it, after the read)
OVERLAP_S = 5.0


def epoch(value: Any) -> float | None:
    """A naive UTC datetime (as nova stores them) as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return float(value.timestamp())


def naive(moment: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(moment, dt.UTC).replace(tzinfo=None)


class NovaLife:
    """The lifecycle resources of one nova cell database, and their state across runs."""

    def __init__(self, source: SqlSource, config: LifecycleConfig | None = None) -> None:
        self.source = source
        self.config = config or LifecycleConfig()
        self.tracker = life.LifeTracker("openstack_nova_db",
                                        stuck_after=self.config.migration_stuck_after)
        self._actions_since: float | None = None
        self._faults_since: float | None = None

    def sample(self, name: str, value: float, /, **labels: object) -> Sample:
        return self.source.sample(name, value, database=self.source.database, **labels)

    def _since(self, last: float | None) -> dt.datetime:
        return naive(last if last is not None else time.time() - self.config.lookback)

    def instance_actions(self) -> Collection:
        a, e = t.instance_actions, t.instance_actions_events
        recent = (sa.select(a.c.id).where(sa.func.coalesce(a.c.updated_at, a.c.start_time)
                                          >= self._since(self._actions_since))
                  .order_by(sa.func.coalesce(a.c.updated_at, a.c.start_time).desc())
                  .limit(self.config.max_rows).subquery())
        rows = self.source.rows("instance actions and events", sa.select(
            a.c.id, a.c.instance_uuid, a.c.request_id, a.c.action, a.c.start_time,
            a.c.updated_at, a.c.message, a.c.project_id, a.c.user_id, e.c.event,
            e.c.start_time, e.c.finish_time, e.c.result, e.c.host, e.c.details,
        # joined to the newest actions as a derived table: MariaDB refuses LIMIT in an
        # IN subquery
        ).select_from(recent.join(a, a.c.id == recent.c.id)
                      .outerjoin(e, e.c.action_id == a.c.id)))
        actions: dict[Any, life.Action] = {}
        newest = self._actions_since
        for (aid, instance, request_id, action, start, updated, message, project, user,
             event, ev_start, ev_finish, result, host, details) in rows:
            known = actions.get(aid)
            if known is None:
                known = life.Action(str(instance or ""), str(request_id or ""),
                                    str(action or ""), epoch(start), epoch(updated),
                                    str(message or ""), str(project or ""), str(user or ""))
                changed = epoch(updated) or epoch(start)
                if changed is not None:
                    newest = max(newest or changed, changed)
            if event is not None:
                known = life.Action(
                    known.instance, known.request_id, known.action, known.start,
                    known.updated, known.message, known.project, known.user,
                    (*known.events, life.ActionEvent(
                        str(event), epoch(ev_start), epoch(ev_finish), str(result or ""),
                        str(host or ""), str(details or ""))))
            actions[aid] = known
        if newest is not None:
            self._actions_since = newest - OVERLAP_S
        ordered = sorted(actions.values(), key=lambda x: (x.start or 0.0, x.request_id))
        events = self.tracker.action_events(ordered)
        samples = [s for s in self.tracker.action_samples(self.sample)
                   if "_faults_" not in s.name]
        return Collection(tuple(samples), events=tuple(events))

    def instance_faults(self) -> Collection:
        f = t.instance_faults
        rows = self.source.rows("instance faults", sa.select(
            f.c.instance_uuid, f.c.code, f.c.message, f.c.details, f.c.host, f.c.created_at,
        ).where(f.c.created_at >= self._since(self._faults_since))
            .order_by(f.c.created_at.desc()).limit(self.config.max_rows))
        faults = [life.Fault(str(instance or ""), str(code if code is not None else ""),
                             str(message or ""), epoch(created), str(details or ""),
                             str(host or ""))
                  for instance, code, message, details, host, created in reversed(rows)]
        stamps = [x.created for x in faults if x.created is not None]
        if stamps:
            self._faults_since = max(stamps) - OVERLAP_S
        events = self.tracker.fault_events(faults)
        samples = [self.sample("openstack_nova_db_instance_faults_total", n, code=code)
                   for code, n in sorted(self.tracker.faults.items())]
        return Collection(tuple(samples), events=tuple(events))

    def migrations(self) -> Collection:
        m = t.migrations
        done = sorted(life.DONE | life.FAILED)
        rows = self.source.rows("migrations", sa.select(
            m.c.uuid, m.c.id, m.c.instance_uuid, m.c.migration_type, m.c.status,
            m.c.source_compute, m.c.dest_compute, m.c.created_at, m.c.updated_at,
        ).where(m.c.deleted == 0, sa.or_(
            m.c.status.not_in(done),
            sa.func.coalesce(m.c.updated_at, m.c.created_at) >= self._since(None)))
            .order_by(m.c.created_at.desc()).limit(self.config.max_rows))
        found = [life.Migration(str(uuid or mid), str(instance or ""),
                                str(kind or "migration"), str(status or ""),
                                str(source or ""), str(dest or ""), epoch(created),
                                epoch(updated))
                 for uuid, mid, instance, kind, status, source, dest, created, updated
                 in reversed(rows)]
        events = self.tracker.migration_events(found)
        samples, check = self.tracker.migration_samples(
            found, time.time(), self.sample,
            make_labels(database=self.source.database, region=self.source.region_label))
        return Collection(tuple(samples), (check,), tuple(events))
