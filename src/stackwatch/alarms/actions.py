"""Actions: where notifications go, each target on its own worker thread.

An action is a URL:

* ``log://`` — a WARNING line (an INFO one when resolved) in stackwatch's log;
* ``http://...``, ``https://...`` — a webhook: POST of JSON ``{alarm, labels, previous,
  current, severity, reason, value, since, ts, description, repeat}``;
* ``alertmanager+http://host:9093``, ``alertmanager+https://...`` — Alertmanager's v2
  API (``POST /api/v2/alerts``): labels (with ``alertname`` and ``severity``) and
  annotations; firing alerts are posted again every ``refresh`` seconds with ``endsAt``
  ahead (as Prometheus does, so that Alertmanager keeps them), and a return to ok posts
  ``endsAt`` now: resolved.

:meth:`Dispatcher.submit` only queues: evaluation never waits for a target. A failed
delivery (refused, a timeout, an HTTP status >= 400) is retried with exponential
backoff up to ``attempts`` times, then dropped; all of it is counted
(``stackwatch_alarm_action_*``, :meth:`Dispatcher.samples`). A target that hangs holds
up only its own queue.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from stackwatch.model import Sample
from stackwatch.redact import redact

if TYPE_CHECKING:
    from stackwatch.alarms.evaluate import Notification

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed action URL."""

    kind: str  # log | webhook | alertmanager
    url: str   # what is posted to (the webhook URL, Alertmanager's base URL)

    @property
    def shown(self) -> str:
        return "log://" if self.kind == "log" else redact(self.url)


def target_of(url: str) -> Target:
    """The target of an action URL; ValueError naming it when it is not one."""
    parts = urlsplit(url)
    if parts.scheme == "log":
        return Target("log", "log://")
    if parts.scheme in ("http", "https") and parts.netloc:
        return Target("webhook", url)
    if parts.scheme in ("alertmanager+http", "alertmanager+https") and parts.netloc:
        base = url.removeprefix("alertmanager+").rstrip("/")
        return Target("alertmanager", base)
    raise ValueError(f"{url!r} is not an action: log://, http(s)://... (a webhook) or "
                     "alertmanager+http(s)://host:port")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def webhook_body(note: Notification) -> dict[str, object]:
    return {"alarm": note.alarm, "labels": dict(note.labels), "previous": note.previous,
            "current": note.current, "severity": note.severity, "reason": note.reason,
            "value": note.value, "since": note.since, "ts": note.ts,
            "description": note.description, "repeat": note.repeat}


def alertmanager_alert(note: Notification, ends: float | None) -> dict[str, object]:
    alert: dict[str, object] = {
        "labels": note.alert_labels(),
        "annotations": {"summary": note.reason, "description": note.description,
                        **note.annotations},
        "startsAt": _iso(note.since),
    }
    if ends is not None:
        alert["endsAt"] = _iso(ends)
    return alert


@dataclass
class _Job:
    note: Notification | None  # None: refresh Alertmanager's firing alerts
    attempt: int = 1
    due: float = 0.0


class _Worker:
    """One target's queue and thread."""

    def __init__(self, target: Target, owner: Dispatcher) -> None:
        self.target = target
        self.owner = owner
        self.jobs: queue.Queue[_Job] = queue.Queue()
        self.firing: dict[tuple[str, tuple[tuple[str, str], ...]], Notification] = {}
        self._retry: list[_Job] = []
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"stackwatch-alarm-{target.kind}")
        self.thread.start()

    def _run(self) -> None:
        next_refresh = time.monotonic() + self.owner.refresh
        while not self.owner.stopping.is_set():
            now = time.monotonic()
            due = [j for j in self._retry if j.due <= now]
            self._retry = [j for j in self._retry if j.due > now]
            for job in due:
                self._deliver(job)
            if self.target.kind == "alertmanager" and now >= next_refresh:
                next_refresh = now + self.owner.refresh
                if self.firing:
                    self._deliver(_Job(None))
            wait = min([j.due for j in self._retry] + [next_refresh]) - time.monotonic()
            try:
                job = self.jobs.get(timeout=max(0.01, min(wait, 0.5)))
            except queue.Empty:
                continue
            self._deliver(job)

    def _deliver(self, job: _Job) -> None:
        kind = self.target.kind
        try:
            self._send(job.note)
        except (OSError, ValueError) as exc:  # refused, timeout, HTTP >= 400
            if job.attempt < self.owner.attempts:
                delay = self.owner.backoff * 2 ** (job.attempt - 1)
                self.owner.count("retries", kind)
                log.info("alarm action %s failed (%s), retry %d in %.1fs", self.target.shown,
                         exc, job.attempt, delay)
                self._retry.append(_Job(job.note, job.attempt + 1, time.monotonic() + delay))
            else:
                self.owner.count("dropped", kind)
                log.warning("alarm action %s failed %d times, dropped: %s", self.target.shown,
                            job.attempt, exc)
            self.owner.count("failures", kind)
            return
        self.owner.count("sent", kind)

    def _post(self, url: str, body: object) -> None:
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "stackwatch"})
        try:
            with urllib.request.urlopen(request, timeout=self.owner.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise ValueError(f"HTTP {exc.code}") from None

    def _send(self, note: Notification | None) -> None:
        kind = self.target.kind
        if kind == "log":
            assert note is not None
            level = logging.INFO if note.current == "ok" else logging.WARNING
            log.log(level, "alarm %s %s -> %s%s %s: %s", note.alarm, note.previous,
                    note.current, " (repeat)" if note.repeat else "",
                    ",".join(f"{k}={v}" for k, v in note.labels), note.reason)
            return
        if kind == "webhook":
            assert note is not None
            self._post(self.target.url, webhook_body(note))
            return
        url = self.target.url + "/api/v2/alerts"
        now = time.time()
        ahead = now + 4 * self.owner.refresh
        if note is None:  # refresh: what fires stays firing
            self._post(url, [alertmanager_alert(n, ahead) for n in self.firing.values()])
            return
        key = (note.alarm, note.labels)
        if note.current == "alarm":
            self.firing[key] = note
            self._post(url, [alertmanager_alert(note, ahead)])
        else:
            self.firing.pop(key, None)
            self._post(url, [alertmanager_alert(note, now)])


class Dispatcher:
    """Queues notifications to their targets' workers; counts what happens."""

    def __init__(self, *, attempts: int = 5, backoff: float = 1.0, timeout: float = 5.0,
                 refresh: float = 60.0) -> None:
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.refresh = refresh
        self.stopping = threading.Event()
        self._workers: dict[str, _Worker] = {}
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def count(self, what: str, kind: str) -> None:
        with self._lock:
            self._counts[(what, kind)] += 1

    def counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def submit(self, notifications: Sequence[Notification]) -> None:
        """Queue each notification to each of its targets (never blocks)."""
        for note in notifications:
            for url in note.actions:
                try:
                    target = target_of(url)
                except ValueError as exc:
                    self.count("invalid", "unknown")
                    log.warning("alarm %s: %s", note.alarm, exc)
                    continue
                with self._lock:
                    worker = self._workers.get(target.url)
                    if worker is None:
                        worker = self._workers[target.url] = _Worker(target, self)
                self.count("queued", target.kind)
                worker.jobs.put(_Job(note))

    def pending(self) -> int:
        """Jobs queued or waiting for a retry."""
        with self._lock:
            workers = list(self._workers.values())
        return sum(w.jobs.qsize() + len(w._retry) for w in workers)

    def samples(self, now: float | None = None) -> list[Sample]:
        """``stackwatch_alarm_action_*`` counters, by action kind."""
        when = time.time() if now is None else now
        names = {"sent": "stackwatch_alarm_action_sent_total",
                 "failures": "stackwatch_alarm_action_failures_total",
                 "retries": "stackwatch_alarm_action_retries_total",
                 "dropped": "stackwatch_alarm_action_dropped_total",
                 "queued": "stackwatch_alarm_action_queued_total"}
        counts = self.counts()
        kinds = {k for _, k in counts} | {"log"}
        return [Sample.of(metric, counts.get((what, kind), 0), when, action=kind)
                for what, metric in names.items() for kind in sorted(kinds)] + [
            Sample.of("stackwatch_alarm_action_pending", self.pending(), when)]

    def stop(self) -> None:
        self.stopping.set()
        for worker in list(self._workers.values()):
            worker.thread.join(self.timeout + 1)
