"""Failed authentications per source address over a sliding window.

A 401 on ``POST /v3/auth/tokens`` (or ``/v2.0/tokens``) is one failure; an
address with at least ``threshold`` failures within ``window`` seconds is an
offender. Behind HAProxy, keystone's access log shows the balancer's address:
the HAProxy log carries the client's, and counts too. Each offender is a sample of
``openstack_log_identity_auth_offender_failures{service, address}`` (the dashboard lists
them) and the check ``logs.auth_bruteforce`` names them, with the window in its perfdata.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stackwatch.model import CheckResult, PerfDatum, Sample, Status, make_labels

MAX_EVENTS = 200_000
OFFENDER_METRIC = "openstack_log_identity_auth_offender_failures"


@dataclass(frozen=True, slots=True)
class Offender:
    """An address and its failures within the window."""

    address: str
    failures: int


class BruteForceDetector:
    """Keeps recent failures; says which addresses cross the threshold."""

    def __init__(self, window: float = 300.0, threshold: int = 20) -> None:
        self.window = window
        self.threshold = threshold
        self._events: deque[tuple[float, str]] = deque(maxlen=MAX_EVENTS)

    def add(self, failures: Iterable[tuple[float, str]]) -> None:
        """Record failures ``(timestamp, address)``."""
        self._events.extend(failures)

    def offenders(self, now: float) -> list[Offender]:
        """Addresses over the threshold in ``[now - window, now]``, worst first."""
        start = now - self.window
        while self._events and self._events[0][0] < start - self.window:
            self._events.popleft()
        counts = Counter(addr for when, addr in self._events if start <= when <= now)
        return [Offender(addr, n) for addr, n in counts.most_common() if n >= self.threshold]

    def check(self, now: float, service: str = "keystone",
              offenders: list[Offender] | None = None) -> CheckResult:
        """OK, or WARNING naming the offending addresses (CRITICAL at 5x the threshold);
        ``offenders``: those of :meth:`offenders` at ``now``, when already known."""
        if offenders is None:
            offenders = self.offenders(now)
        perf = (
            PerfDatum("offenders", len(offenders), minimum=0),
            PerfDatum("max_failures", offenders[0].failures if offenders else 0,
                      warn=self.threshold, crit=5 * self.threshold, minimum=0),
            PerfDatum("window", self.window, "s"),
        )
        labels = make_labels(service=service)
        if not offenders:
            return CheckResult("logs.auth_bruteforce", Status.OK,
                               f"no address with {self.threshold}+ failed authentications "
                               f"in {self.window:g}s", labels, perf, now)
        shown = ", ".join(f"{o.address} ({o.failures})" for o in offenders[:10])
        more = f" and {len(offenders) - 10} more" if len(offenders) > 10 else ""
        status = Status.CRITICAL if offenders[0].failures >= 5 * self.threshold else \
            Status.WARNING
        return CheckResult(
            "logs.auth_bruteforce", status,
            f"{len(offenders)} address(es) with {self.threshold}+ failed authentications in "
            f"{self.window:g}s: {shown}{more}", labels, perf, now)

    def samples(self, now: float, service: str,
                offenders: list[Offender] | None = None) -> list[Sample]:
        """``openstack_log_identity_auth_offender_failures`` of each offender at ``now``:
        the check's message names ten, an operator blocking them needs every one."""
        if offenders is None:
            offenders = self.offenders(now)
        return [Sample(OFFENDER_METRIC, o.failures,
                       make_labels(service=service, address=o.address), now)
                for o in offenders]

    def to_json(self) -> list[list[object]]:
        return [[when, addr] for when, addr in self._events]

    def load(self, rows: Iterable[list[object]]) -> None:
        self._events.extend((float(str(r[0])), str(r[1])) for r in rows)


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed authentication read from a log file."""

    timestamp: float
    address: str
    log: str  # the file it was read from


def read_failures(files: Sequence[Path]) -> list[Failure]:
    """The failed authentications in keystone access logs and HAProxy logs, by file (each
    file's format detected, read in 8 MiB chunks cut at line ends)."""
    from stackwatch.logparse.engine import FileParser, detect_format

    found: list[Failure] = []
    for path in files:
        parser = FileParser(detect_format(path), "keystone", "-", path.name)
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            while chunk := handle.read(8 << 20):
                cut = chunk.rfind("\n") + 1 or len(chunk)
                rest = chunk[cut:]
                parser.feed(chunk[:cut])
                if rest:
                    parser.feed(rest + handle.readline())
        found += [Failure(f.timestamp, f.remote, str(path)) for f in parser.failures]
    return found


@dataclass(frozen=True, slots=True)
class OffenderEvidence:
    """An offender and what shows it: failures in the window, first and last, the logs."""

    address: str
    failures: int
    first: float
    last: float
    logs: tuple[str, ...]


def offender_evidence(failures: Sequence[Failure], window: float, threshold: int,
                      now: float) -> list[OffenderEvidence]:
    """The offenders of :class:`BruteForceDetector` at ``now``, worst first, with their
    failures' first and last time and the logs they were read from."""
    detector = BruteForceDetector(window, threshold)
    detector.add((f.timestamp, f.address) for f in failures)
    seen: dict[str, list[Failure]] = {}
    for f in failures:
        if now - window <= f.timestamp <= now:
            seen.setdefault(f.address, []).append(f)
    return [OffenderEvidence(o.address, o.failures,
                             min(f.timestamp for f in seen[o.address]),
                             max(f.timestamp for f in seen[o.address]),
                             tuple(sorted({f.log for f in seen[o.address]})))
            for o in detector.offenders(now)]


def blocklist(addresses: Iterable[str], fmt: str, name: str = "stackwatch_bruteforce") -> str:
    """The addresses as rules an operator can apply.

    Formats: ``ipset`` (with the iptables rule that uses the set), ``iptables``,
    ``nftables`` (a named set and the rule), ``nginx`` (``deny``), ``apache``
    (``Require not ip`` inside ``RequireAll``), ``plain`` (one address a line).
    """
    addrs = sorted(set(addresses))
    v6 = [a for a in addrs if ":" in a]
    v4 = [a for a in addrs if ":" not in a]
    if fmt == "plain":
        return "".join(f"{a}\n" for a in addrs)
    if fmt == "iptables":
        return "".join(
            f"{'ip6tables' if ':' in a else 'iptables'} -I INPUT -s {a} -j DROP\n"
            for a in addrs)
    if fmt == "ipset":
        lines = [f"create {name} hash:ip family inet -exist"]
        lines += [f"add {name} {a} -exist" for a in v4]
        if v6:
            lines.append(f"create {name}6 hash:ip family inet6 -exist")
            lines += [f"add {name}6 {a} -exist" for a in v6]
        lines.append(f"# iptables -I INPUT -m set --match-set {name} src -j DROP")
        return "\n".join(lines) + "\n"
    if fmt == "nftables":
        out = ["table inet stackwatch {"]
        for set_name, kind, members in ((name, "ipv4_addr", v4), (f"{name}6", "ipv6_addr", v6)):
            if not members and kind == "ipv6_addr":
                continue
            elements = f" elements = {{ {', '.join(members)} }}" if members else ""
            out.append(f"  set {set_name} {{ type {kind};{elements} }}")
        out.append("  chain input {")
        out.append("    type filter hook input priority 0; policy accept;")
        out.append(f"    ip saddr @{name} drop")
        if v6:
            out.append(f"    ip6 saddr @{name}6 drop")
        out.append("  }")
        out.append("}")
        return "\n".join(out) + "\n"
    if fmt == "nginx":
        return "".join(f"deny {a};\n" for a in addrs)
    if fmt == "apache":
        body = "".join(f"    Require not ip {a}\n" for a in addrs)
        return f"<RequireAll>\n    Require all granted\n{body}</RequireAll>\n"
    raise ValueError(f"unknown block-list format {fmt!r}")


BLOCKLIST_FORMATS = ("ipset", "iptables", "nftables", "nginx", "apache", "plain")
