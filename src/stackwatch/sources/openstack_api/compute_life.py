"""``api.compute`` resources ``instance_actions`` and ``migrations``: the life of instances.

Calls per run:

* ``servers/detail?all_tenants=1&changes-since=T`` (paged): the instances changed since
  the previous run (the first run: ``lifecycle.lookback`` back); their ``fault`` (ERROR
  and DELETED servers) becomes ``fault`` events;
* for at most ``lifecycle.max_instances`` of them, newest change first (the others wait
  in a backlog for the next runs, ``openstack_nova_instance_actions_backlog``):
  ``servers/{id}/os-instance-actions``, then ``os-instance-actions/{request_id}`` (with
  its events; from 2.62 each event's ``host``, from 2.84 its ``details``) for each action
  not yet settled in an earlier run. An instance deleted in between (404) or an answer
  that cannot be read is counted (``openstack_nova_instance_actions_skipped_total``
  by reason) and the others go on;
* ``os-migrations`` (paged from 2.59; ``uuid`` from 2.59, ``migration_type`` from 2.23,
  ``user_id``/``project_id`` from 2.80): every migration, for what is moving now (a
  stuck one is in progress however long ago it changed) and the statuses reached.

See :mod:`stackwatch.sources.lifecycle` for what becomes of the records.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from stackwatch.config import LifecycleConfig
from stackwatch.errors import InvalidResponse, SourceUnavailable
from stackwatch.model import Collection, Sample, make_labels
from stackwatch.sources import lifecycle as life
from stackwatch.sources.openstack_api import fields as f
from stackwatch.sources.openstack_api.client import ApiClient

log = logging.getLogger(__name__)

#: seconds a change-since window reaches back past the previous run's start (the API's
#: clock may be a little behind ours; what is read twice is emitted once)
OVERLAP_S = 5.0
#: why an instance's actions were not read
SKIP_REASONS = ("gone", "invalid", "unavailable")


def iso(moment: float) -> str:
    """Epoch seconds as nova's naive UTC ISO time."""
    return dt.datetime.fromtimestamp(moment, dt.UTC).replace(tzinfo=None).isoformat()


def when(d: Mapping[str, Any], key: str, what: str) -> float | None:
    """A time field in whole seconds: nova's tables keep no fraction (MySQL ``DATETIME``),
    so the API's and the database's records of one action are equal to the field."""
    moment = f.timestamp(d, key, what)
    return None if moment is None else float(int(moment))


def parse_action(instance: str, d: Mapping[str, Any]) -> life.Action:
    """One ``instanceAction`` (with its ``events`` when shown)."""
    what = f"nova os-instance-actions of {instance}"
    events = []
    for raw in f.items(d, "events", what):
        if not isinstance(raw, Mapping):
            raise InvalidResponse(f"{what}: an event is not an object")
        events.append(life.ActionEvent(
            f.text(raw, "event", what), when(raw, "start_time", what),
            when(raw, "finish_time", what), f.text(raw, "result", what, ""),
            f.text(raw, "host", what, ""), f.text(raw, "details", what, "")))
    return life.Action(
        instance, f.text(d, "request_id", what), f.text(d, "action", what),
        when(d, "start_time", what), when(d, "updated_at", what),
        f.text(d, "message", what, ""), f.text(d, "project_id", what, ""),
        f.text(d, "user_id", what, ""), tuple(events))


def parse_migration(d: Mapping[str, Any]) -> life.Migration:
    """One entry of ``os-migrations``."""
    what = "nova os-migrations"
    return life.Migration(
        f.text(d, "uuid", what, "") or f.text(d, "id", what), f.text(d, "instance_uuid", what),
        f.text(d, "migration_type", what, "migration"), f.text(d, "status", what),
        f.text(d, "source_compute", what, ""), f.text(d, "dest_compute", what, ""),
        when(d, "created_at", what), when(d, "updated_at", what))


class ComputeLife:
    """The state of ``api.compute``'s lifecycle resources across its runs."""

    def __init__(self, client: ApiClient, config: LifecycleConfig | None = None) -> None:
        self.client = client
        self.config = config or LifecycleConfig()
        self.tracker = life.LifeTracker("openstack_nova",
                                        stuck_after=self.config.migration_stuck_after)
        self._since: float | None = None
        self._backlog: dict[str, float] = {}    # instance -> its newest change not read
        self._read: dict[str, float] = {}       # instance -> the change last read
        self._skipped: dict[str, int] = dict.fromkeys(SKIP_REASONS, 0)
        self._lock = threading.Lock()

    def sample(self, name: str, value: float, /, **labels: object) -> Sample:
        return Sample(name, float(value), make_labels(labels, region=self.client.region_label))

    # ------------------------------------------------------------------ actions
    def instance_actions(self) -> Collection:
        with self._lock:  # one run at a time: the backlog and the memory are shared
            return self._instance_actions()

    def _instance_actions(self) -> Collection:
        started = time.time()
        since = self._since if self._since is not None else started - self.config.lookback
        faults: list[life.Fault] = []
        what = "nova servers/detail (changes-since)"
        for d in self.client.list_all("compute", "servers/detail", "servers", params={
                "all_tenants": 1, "changes-since": iso(since)}):
            server = f.text(d, "id", what)
            updated = f.timestamp(d, "updated", what) or started
            fault = f.obj(d, "fault", what)
            if fault:
                faults.append(life.Fault(
                    server, f.text(fault, "code", what, ""), f.text(fault, "message", what, ""),
                    when(fault, "created", what), f.text(fault, "details", what, ""),
                    f.text(d, "OS-EXT-SRV-ATTR:host", what, "")))
            if updated > self._read.get(server, -1.0):
                self._backlog[server] = max(updated, self._backlog.get(server, updated))
        self._since = started - OVERLAP_S
        chosen = sorted(self._backlog, key=lambda s: -self._backlog[s])[
            :self.config.max_instances]
        results = self.client.map(self._actions_of, chosen)
        actions: list[life.Action] = []
        for server, result in zip(chosen, results, strict=True):
            changed = self._backlog.pop(server)
            if isinstance(result, BaseException):
                reason = ("gone" if isinstance(result, SourceUnavailable)
                          and "HTTP 404" in str(result)
                          else "invalid" if isinstance(result, InvalidResponse)
                          else "unavailable")
                self._skipped[reason] += 1
                log.warning("api.compute instance_actions: %s skipped (%s): %s",
                            server, reason, result)
                if reason == "unavailable":
                    self._backlog[server] = changed  # read again next run
                continue
            self._read[server] = changed
            actions.extend(result)
        events = self.tracker.fault_events(faults) + self.tracker.action_events(actions)
        samples = self.tracker.action_samples(self.sample)
        samples.append(self.sample("openstack_nova_instance_actions_backlog",
                                   len(self._backlog)))
        samples += [self.sample("openstack_nova_instance_actions_skipped_total", n,
                                reason=reason) for reason, n in self._skipped.items()]
        if len(self._read) > life.MEMORY:  # forget the oldest instances read
            for server in sorted(self._read, key=self._read.__getitem__)[
                    :len(self._read) - life.MEMORY]:
                del self._read[server]
        return Collection(tuple(samples), events=tuple(events))

    def _actions_of(self, server: str) -> list[life.Action]:
        """The actions of one instance not settled before, each with its events."""
        body = self.client.get("compute", f"servers/{server}/os-instance-actions")
        out = []
        for raw in f.items(body, "instanceActions", f"nova os-instance-actions of {server}"):
            if not isinstance(raw, Mapping):
                raise InvalidResponse(f"nova os-instance-actions of {server}: "
                                      "an action is not an object")
            listed = parse_action(server, raw)
            if self.tracker.known("action", server, listed.request_id):
                continue  # settled and emitted in an earlier run
            shown = self.client.get(
                "compute", f"servers/{server}/os-instance-actions/{listed.request_id}")
            detail = f.obj(shown, "instanceAction", f"nova os-instance-action {server}")
            if not detail:
                raise InvalidResponse(f"nova os-instance-action {listed.request_id} of "
                                      f"{server}: no 'instanceAction' in the answer")
            out.append(parse_action(server, detail))
        return out

    # ------------------------------------------------------------------ migrations
    def migrations(self) -> Collection:
        with self._lock:
            version = self.client.endpoint("compute").microversion or (2, 1)
            rows = [parse_migration(d) for d in self.client.list_all(
                "compute", "os-migrations", "migrations",
                page_size=None if version >= (2, 59) else 0)]  # paged from 2.59
            events = self.tracker.migration_events(rows)
            samples, check = self.tracker.migration_samples(
                rows, time.time(), self.sample, make_labels(region=self.client.region_label))
            return Collection(tuple(samples), (check,), tuple(events))


__all__ = ["ComputeLife", "parse_action", "parse_migration"]
