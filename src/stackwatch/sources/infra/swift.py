"""``infra.swift``: swift's storage servers through their recon middleware (``/recon/...``).

Each configured account, container and object server (a *target*, ``stor1:object``) is
asked ``GET /recon/version`` first: a server that does not answer it (refused, timed
out, not JSON) is unreadable and asked nothing more this run. Then, each on its own
(a bad or absent answer is an UNKNOWN ``stackwatch.resource`` check naming the server
and the check, counted in ``stackwatch_swift_recon_failures_total``, and the rest go on):

* ``replication/<kind>``: the last pass's duration, age and attempted / successes /
  failures (the object replicator writes its duration in minutes, the account and
  container replicators in seconds);
* ``ringmd5``, ``swiftconfmd5``: compared across every server read this run (a ring a
  server cannot read differs; a swift.conf it does not find is left out);
* ``async`` (object servers): async pendings (written by ``swift-recon-cron``);
* ``diskusage``, ``unmounted``, ``quarantined``: about the node's devices, so read once
  per node, through its first server that answers (object, container, account).

Checks:

* ``swift.server`` {service=swift-<kind>-server, host}: WARNING when the last
  replication pass had failures or is older than ``replication_max_age``; UNKNOWN when
  the server could not be read. No pass recorded yet is not judged.
* ``swift.drives`` {service, host}: WARNING for an unmounted device (unless
  ``mount_check`` is off, as in the servers' configuration of a one-box swift on
  directories) or one that check_mount failed on; a device's space used against
  ``disk_usage`` (WARNING, CRITICAL). ``/recon/diskusage`` says both (it is what
  ``/recon/unmounted`` lists, with the sizes).
* ``swift.agreement`` {what}: for each ring file, ``swift.conf`` and the swift version,
  WARNING when the servers do not all report the same; the ones that differ from the
  most common answer are named (and are 0 in ``stackwatch_swift_*_agrees``).
"""

from __future__ import annotations

import logging
import posixpath
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stackwatch.errors import InvalidResponse, SourceError
from stackwatch.infra_config import SwiftConfig, SwiftServer
from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels
from stackwatch.sources.infra.base import (
    Context,
    InfraSource,
    check,
    named,
    percent_status,
    sample,
    worst,
)
from stackwatch.sources.infra.http import HttpGetter, excerpt
from stackwatch.sources.resources import RESOURCE_CHECK

log = logging.getLogger(__name__)

Target = tuple[str, SwiftServer]

#: replication_stats field -> metric (of the last pass)
REPLICATION_STATS: tuple[tuple[str, str], ...] = (
    ("attempted", "stackwatch_swift_replication_attempted"),
    ("success", "stackwatch_swift_replication_successes"),
    ("failure", "stackwatch_swift_replication_failures"),
)
#: /recon/quarantined field -> the ``kind`` label of what was quarantined
QUARANTINED: tuple[tuple[str, str], ...] = (
    ("objects", "object"), ("containers", "container"), ("accounts", "account"))
#: /recon/diskusage field -> metric
DEVICE_FIELDS: tuple[tuple[str, str], ...] = (
    ("size", "stackwatch_swift_device_size_bytes"),
    ("used", "stackwatch_swift_device_used_bytes"),
    ("avail", "stackwatch_swift_device_avail_bytes"),
)
#: what a ring or swift.conf a server could not read is shown as
UNREADABLE = "unreadable"


def _number(value: object) -> float | None:
    """A JSON number as a float; None for null, '' or anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _mapping(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise InvalidResponse(f"{what}: not a JSON object: {excerpt(repr(body))}")
    return body


def _list(body: Any, what: str) -> list[Mapping[str, Any]]:
    if not isinstance(body, list) or not all(isinstance(e, dict) and "device" in e
                                             for e in body):
        raise InvalidResponse(f"{what}: not a list of devices: {excerpt(repr(body))}")
    return body


def replication(kind: str, body: Mapping[str, Any], labels: Mapping[str, str], now: float
                ) -> tuple[list[Sample], float | None, float | None]:
    """Samples of ``/recon/replication/<kind>``; also the pass's failures and age (None:
    no pass recorded)."""
    duration = _number(body.get("replication_time", body.get("object_replication_time")))
    last = _number(body.get("replication_last", body.get("object_replication_last")))
    samples: list[Sample] = []
    if duration is not None:
        # swift/obj/replicator.py: (end - start) / 60; the db replicators: seconds
        seconds = duration * 60 if kind == "object" else duration
        samples.append(sample("stackwatch_swift_replication_duration_seconds", seconds, labels))
    age = None
    if last is not None and last > 0:
        age = max(0.0, now - last)
        samples.append(sample("stackwatch_swift_replication_last_timestamp_seconds", last,
                              labels))
        samples.append(sample("stackwatch_swift_replication_age_seconds", age, labels))
    stats = body.get("replication_stats")
    failures = None
    if isinstance(stats, dict):
        for key, metric in REPLICATION_STATS:
            value = _number(stats.get(key))
            if value is not None:
                samples.append(sample(metric, value, labels))
        failures = _number(stats.get("failure"))
    return samples, failures, age


def judge_server(node: str, kind: str, failures: float | None, age: float | None,
                 read: bool, config: SwiftConfig) -> CheckResult:
    """``swift.server`` of one server from its last replication pass."""
    service = f"swift-{kind}-server"
    judged: list[tuple[Status, str]] = [(Status.OK, "")]
    if failures:
        judged.append((Status.WARNING, f"{failures:.0f} replication failures in the "
                       "last pass"))
    if age is not None and config.replication_max_age and age > config.replication_max_age:
        judged.append((Status.WARNING, f"last replication pass {age / 3600:.1f} h ago"))
    status, reason = worst(*judged)
    if status is Status.OK:
        if not read:
            reason = "replication not read"
        elif age is None:
            reason = "no replication pass recorded"
        else:
            reason = f"last replication pass {age:.0f} s ago, no failures"
    return check("swift.server", status, f"{node} {kind}: {reason}", service=service,
                 host=node)


def devices(body: list[Mapping[str, Any]], labels: Mapping[str, str], config: SwiftConfig,
            service: str) -> Collection:
    """Samples and the ``swift.drives`` check of one node's ``/recon/diskusage``."""
    node = labels["node"]
    samples: list[Sample] = []
    judged: list[tuple[Status, str]] = [(Status.OK, "")]
    unmounted: list[str] = []
    for entry in body:
        device = str(entry["device"])
        mounted = entry.get("mounted")
        dev_labels = {**labels, "device": device}
        samples.append(sample("stackwatch_swift_device_mounted", mounted is True, dev_labels))
        if mounted is False and not config.mount_check:
            continue  # a directory, not a mount point, as the servers are told to expect
        if mounted is not True:
            # False: not mounted; a string: the error check_mount met (swift-recon -u
            # prints those as "Device errors")
            unmounted.append(device if mounted is False else f"{device} ({mounted})")
            continue
        values = {key: _number(entry.get(key)) for key, _ in DEVICE_FIELDS}
        for key, metric in DEVICE_FIELDS:
            if values[key] is not None:
                samples.append(sample(metric, values[key] or 0.0, dev_labels))
        size, used = values["size"], values["used"]
        if size and used is not None:
            status = percent_status(used, size, config.disk_usage.warning,
                                    config.disk_usage.critical)
            judged.append((status, f"{device} {100 * used / size:.0f}% used"))
    samples.append(sample("stackwatch_swift_unmounted_drives", len(unmounted), labels))
    if unmounted:
        judged.append((Status.WARNING, f"not mounted: {named(unmounted)}"))
    status, reason = worst(*judged)
    if status is Status.OK:
        reason = (f"{len(body)} devices mounted" if config.mount_check
                  else f"{len(body)} devices (mount_check off)")
    return Collection(tuple(samples), (check("swift.drives", status, f"{node}: {reason}",
                                             service=service, host=node),))


def quarantined(body: Mapping[str, Any], labels: Mapping[str, str]) -> list[Sample]:
    """Objects, containers and accounts quarantined on the node's devices."""
    return [sample("stackwatch_swift_quarantined", value, {**labels, "kind": kind})
            for key, kind in QUARANTINED
            if (value := _number(body.get(key))) is not None]


def _files(body: Mapping[str, Any]) -> dict[str, str]:
    """``{path: md5 | null}`` -> {file name: md5 or ``unreadable``}."""
    return {posixpath.basename(str(path)): (str(md5) if md5 else UNREADABLE)
            for path, md5 in body.items()}


def agreement(what: str, answers: Mapping[str, str], metric: str, labels_of: Mapping[
        str, Mapping[str, str]], **extra: str) -> Collection:
    """Whether every server (target name -> answer) gave the same answer for ``what``:
    per server ``<metric>_agrees`` (with the most common answer; a tie has none) and
    ``<metric>_agreement``, and the ``swift.agreement`` check naming those that differ."""
    counts = Counter(answers.values()).most_common()
    common = counts[0][0] if len(counts) == 1 or counts[0][1] > counts[1][1] else None
    samples = [sample(f"{metric}_agrees", answer == common, {**labels_of[t], **extra})
               for t, answer in sorted(answers.items())]
    samples.append(sample(f"{metric}_agreement", len(counts) == 1, extra))
    if len(counts) == 1:
        result = check("swift.agreement", Status.OK,
                       f"{what}: the same on {len(answers)} servers", what=what)
    else:
        differ = sorted(f"{t} ({a[:12]})" for t, a in answers.items() if a != common)
        head = (f"{counts[0][1]} servers have {common[:12]}" if common is not None
                else "no answer is the most common")
        result = check("swift.agreement", Status.WARNING,
                       f"{what} differs across servers: {head}; {named(differ)} differ",
                       what=what)
    return Collection(tuple(samples), (result,))


@dataclass
class _Run:
    """What the targets read this run gave for the checks across servers."""

    rings: dict[str, dict[str, str]] = field(default_factory=dict)  # ring -> target -> md5
    conf: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    rings_read: set[str] = field(default_factory=set)  # targets whose ringmd5 was read
    nodes_read: set[str] = field(default_factory=set)


class SwiftSource(InfraSource[Target]):
    """Every configured storage server in turn, then what they agree on."""

    piece = "swift"

    def __init__(self, config: SwiftConfig, getter: HttpGetter | None = None) -> None:
        super().__init__(config.servers())
        self.config = config
        self.http = getter or HttpGetter(config.timeout)
        self._check_failures: dict[tuple[str, str, str], int] = {}
        self._run = _Run()

    def target_name(self, target: Target) -> str:
        kind, server = target
        return f"{server.member()}:{kind}"

    def unreadable(self, target: Target, reason: str) -> tuple[CheckResult, ...]:
        kind, server = target
        node = server.member()
        return (check("swift.server", Status.UNKNOWN, f"{node} {kind}: {reason}",
                      service=f"swift-{kind}-server", host=node),)

    def collect(self) -> Collection:
        self._run = _Run()
        out = super().collect()
        return out + self._agreements()

    # ---------------------------------------------------------------- one server
    def read(self, target: Target) -> Collection:
        kind, server = target
        host, port = server.endpoint()
        node, name = server.member(), self.target_name(target)
        labels = {"node": node, "kind": kind}
        base = f"http://{'[' + host + ']' if ':' in host else host}:{port}/recon/"

        def get(path: str) -> Any:
            return self.http.get_json(base + path, f"swift recon {path} on {host}:{port}")

        version = _mapping(get("version"), f"recon/version on {name}")  # unreadable: raises
        samples: list[Sample] = []
        checks: list[CheckResult] = []
        if isinstance(version.get("version"), str):
            self._run.versions[name] = version["version"]
            samples.append(sample("stackwatch_swift_version_info", 1,
                                  {**labels, "version": version["version"]}))
        self._run.labels[name] = labels

        def part(path: str, parse: Any) -> None:
            try:
                got = parse(get(path))
            except SourceError as exc:
                checks.append(self._unread(node, kind, path, exc))
                return
            self._count(node, kind, path, failed=False)
            if got is not None:
                samples.extend(got.samples)
                checks.extend(got.checks)

        failures: float | None = None
        age: float | None = None
        read_replication = False

        def repl(body: Any) -> Collection:
            nonlocal failures, age, read_replication
            found, failures, age = replication(
                kind, _mapping(body, f"recon/replication on {name}"), labels, time.time())
            read_replication = True
            return Collection(tuple(found))

        def rings(body: Any) -> None:
            self._run.rings_read.add(name)
            for ring, md5 in _files(_mapping(body, f"recon/ringmd5 on {name}")).items():
                self._run.rings.setdefault(ring, {})[name] = md5

        def conf(body: Any) -> None:
            for md5 in _files(_mapping(body, f"recon/swiftconfmd5 on {name}")).values():
                # null: no swift.conf where the middleware looks (/etc/swift, whatever
                # the server's swift_dir): nothing to compare, unlike a ring it cannot read
                if md5 != UNREADABLE:
                    self._run.conf[name] = md5

        part(f"replication/{kind}", repl)
        part("ringmd5", rings)
        part("swiftconfmd5", conf)
        if kind == "object":
            part("async", lambda body: Collection((sample(
                "stackwatch_swift_async_pendings",
                _number(_mapping(body, f"recon/async on {name}").get("async_pending")) or 0,
                {"node": node}),)))
        if node not in self._run.nodes_read:
            self._run.nodes_read.add(node)
            node_labels = {"node": node}
            part("diskusage", lambda body: devices(
                _list(body, f"recon/diskusage on {name}"), node_labels, self.config,
                f"swift-{kind}-server"))
            part("quarantined", lambda body: Collection(tuple(quarantined(
                _mapping(body, f"recon/quarantined on {name}"), node_labels))))
        checks.append(judge_server(node, kind, failures, age, read_replication, self.config))
        samples.extend(sample("stackwatch_swift_recon_failures_total", n,
                              {"node": n_node, "kind": n_kind, "check": n_check})
                       for (n_node, n_kind, n_check), n in sorted(self._check_failures.items())
                       if (n_node, n_kind) == (node, kind))
        return Collection(tuple(samples), tuple(checks))

    def _count(self, node: str, kind: str, path: str, failed: bool) -> None:
        key = (node, kind, path)
        self._check_failures[key] = self._check_failures.get(key, 0) + int(failed)

    def _unread(self, node: str, kind: str, path: str, exc: SourceError) -> CheckResult:
        self._count(node, kind, path, failed=True)
        log.warning("infra.swift %s:%s: recon/%s: %s", node, kind, path, exc)
        return CheckResult(RESOURCE_CHECK, Status.UNKNOWN, f"recon/{path}: {exc}",
                           make_labels(source=self.name, resource=f"{node}:{kind} {path}"))

    # ---------------------------------------------------------------- across servers
    def _agreements(self) -> Collection:
        run, out = self._run, Collection()
        for ring, answers in sorted(run.rings.items()):
            # a ring some servers have and others not: those lack it
            missing = {t: "absent" for t in run.rings_read if t not in answers}
            out = out + agreement(ring, {**answers, **missing}, "stackwatch_swift_ring_md5",
                                  run.labels, ring=ring)
        if run.conf:
            out = out + agreement("swift.conf", run.conf, "stackwatch_swift_conf_md5",
                                  run.labels)
        if run.versions:
            out = out + agreement("version", run.versions, "stackwatch_swift_version",
                                  run.labels)
        return out


def build(config: SwiftConfig, context: Context) -> SwiftSource:
    """``infra.swift`` for the section ``config``."""
    return SwiftSource(config)
