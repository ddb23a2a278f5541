"""What every infrastructure source shares: its targets, read one by one, each isolated.

An infrastructure source (``infra.mysql``) reads one or more *targets* (the
Galera nodes, the memcached servers, the HAProxy instances; one management API
or one local command for the others). A target that cannot be read (refused,
unauthorized, timed out, garbage) gives its UNKNOWN checks with the reason
(:meth:`InfraSource.unreadable`) and the others are still read; when no target
could be read the source raises, so that the runner reports it UNKNOWN and
health knows it could not look. Per target::

    stackwatch_infra_target_up{source, target}                1 read, 0 not
    stackwatch_infra_target_failures_total{source, target}    reads that failed

A failure is logged once per change of its reason, never with a secret (the
sources' messages are built from what was asked, never from credentials).
"""

from __future__ import annotations

import logging
from collections.abc import Collection as Collection_
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from stackwatch.errors import SourceError, SourceUnavailable
from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels
from stackwatch.sources.infra import command as commands

log = logging.getLogger(__name__)

T = TypeVar("T")


def check(name: str, status: Status, message: str, **labels: object) -> CheckResult:
    """A check result with keyword labels (empty label values left out)."""
    return CheckResult(name, status, message,
                       make_labels({k: v for k, v in labels.items() if v not in ("", None)}))


def sample(name: str, value: float, labels: Mapping[str, object]) -> Sample:
    """A sample with the labels of a mapping (``Sample.of`` takes keywords)."""
    return Sample(name, float(value), make_labels(labels))


def worst(*judged: tuple[Status, str]) -> tuple[Status, str]:
    """The worst (status, reason) of several; the reasons of that status joined."""
    status = Status.worst(s for s, _ in judged)
    return status, "; ".join(reason for s, reason in judged if s == status and reason)


def percent_status(used: float, limit: float, warning: float, critical: float
                   ) -> Status:
    """OK / WARNING / CRITICAL for ``used`` of ``limit`` against thresholds in percent."""
    if limit <= 0:
        return Status.OK
    share = 100.0 * used / limit
    if share >= critical:
        return Status.CRITICAL
    return Status.WARNING if share >= warning else Status.OK


def named(names: Sequence[str], most: int = 10) -> str:
    """``a, b, c`` — at most ``most`` names, then ``and N more``."""
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


class InfraSource(Generic[T]):
    """Base of ``infra.<piece>``: reads each target; one failing never stops the others."""

    piece: ClassVar[str] = ""

    def __init__(self, targets: Sequence[T]) -> None:
        if not targets:
            raise ValueError(f"infra.{self.piece}: nothing to read")
        self.targets = tuple(targets)
        self._failures: dict[str, int] = {}
        self._reasons: dict[str, str] = {}

    @property
    def name(self) -> str:
        return f"infra.{self.piece}"

    # ---------------------------------------------------------------- to implement
    def target_name(self, target: T) -> str:
        """The target's name in the ``target`` label (its member host, usually)."""
        raise NotImplementedError

    def read(self, target: T) -> Collection:
        """Read one target; raise :class:`SourceError` when it cannot be read."""
        raise NotImplementedError

    def unreadable(self, target: T, reason: str) -> tuple[CheckResult, ...]:
        """The UNKNOWN checks a target that could not be read gives (its member's)."""
        return ()

    # ---------------------------------------------------------------- the run
    def collect(self) -> Collection:
        """Read every target in turn; raise only when none could be read."""
        result = Collection()
        errors: list[tuple[str, SourceError]] = []
        for target in self.targets:
            name = self.target_name(target)
            try:
                part = self.read(target)
            except SourceError as exc:
                errors.append((name, exc))
                result = result + self._failed(target, name, exc)
                continue
            if self._reasons.pop(name, None) is not None:
                log.info("%s %s: readable again", self.name, name)
            result = result + part + self._target(name, True)
        if len(errors) == len(self.targets):
            name, first = errors[0]
            if len(errors) == 1:
                raise first
            reasons = "; ".join(f"{n}: {e}" for n, e in errors)
            raise type(first)(f"no target could be read: {reasons}")
        return result

    def _failed(self, target: T, name: str, exc: SourceError) -> Collection:
        self._failures[name] = self._failures.get(name, 0) + 1
        reason = f"{type(exc).__name__}: {exc}"
        # one target: the source fails as a whole, and the runner logs that
        if self._reasons.get(name) != reason and len(self.targets) > 1:
            self._reasons[name] = reason
            log.warning("%s %s: cannot look: %s", self.name, name, reason)
        return Collection(checks=self.unreadable(target, f"cannot look: {exc}")) + self._target(
            name, False)

    def _target(self, name: str, up: bool) -> Collection:
        labels = make_labels(source=self.name, target=name)
        return Collection((
            Sample("stackwatch_infra_target_up", 1.0 if up else 0.0, labels),
            Sample("stackwatch_infra_target_failures_total",
                   float(self._failures.get(name, 0)), labels),
        ))


@dataclass(frozen=True)
class Context:
    """What every piece may need beyond its own section."""

    command_timeout: float
    #: this node's name: the member a local command's view is of, unless configured
    host: str
    network_backend: str = "ovn"


@dataclass(frozen=True)
class Unbuildable:
    """A configured piece that could not be set up (its password file unreadable...):
    every run is UNKNOWN with the reason, and the other pieces run."""

    name: str
    reason: str

    def collect(self) -> Collection:
        raise SourceUnavailable(self.reason)


class CommandSource(InfraSource[str]):
    """A piece read by running commands on one node (``crm_mon``, ``ceph``, ``virsh``...)."""

    def __init__(self, command: Sequence[str], host: str, timeout: float) -> None:
        super().__init__([host])
        self.command = tuple(command)
        self.host = host
        self.timeout = timeout

    def target_name(self, target: str) -> str:
        return target

    def run(self, *args: str, ok_codes: Collection_[int] = (0,)) -> str:
        """The standard output of the command with ``args`` (see :mod:`.command`)."""
        return commands.run(self.command, args, self.timeout, ok_codes).stdout

    def output(self, *args: str) -> commands.Output:
        """Whatever the command with ``args`` printed, whatever its exit status."""
        return commands.run(self.command, args, self.timeout, range(-64, 256))
