"""``infra.libvirt``: is libvirt's daemon answering, and in what state are its domains.

With libvirt-python importable, a read-only connection to ``uri`` lists every domain
and its state; otherwise ``virsh -c <uri> list --all`` does (its table read by the
header's column positions: names may hold spaces, and so does ``shut off``). Checks:

* ``libvirt.daemon`` {service=libvirtd, host}: OK answering, with the domains by
  state; CRITICAL when it does not answer (no socket, connection refused: the
  daemon is down) — that is what this check looks at; other failures (permission
  denied, a hang) are UNKNOWN.
* ``libvirt.domains`` {host}: WARNING naming crashed domains (about guests, not the
  daemon: it counts for the cloud, not for the libvirtd member).
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stackwatch.errors import InvalidResponse, SourceAuthError, SourceError
from stackwatch.infra_config import LibvirtConfig
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sources.infra.base import CommandSource, Context, check, named, sample
from stackwatch.sources.infra.command import first_line
from stackwatch.sources.infra.http import excerpt

#: virDomainState numbers (libvirt-python's ``dom.state()[0]``) -> virsh's words.
STATES = {0: "no state", 1: "running", 2: "idle", 3: "paused", 4: "in shutdown",
          5: "shut off", 6: "crashed", 7: "pmsuspended"}
#: What a client says when nothing listens where the daemon should.
NOT_ANSWERING = ("No such file or directory", "Connection refused", "Failed to connect socket")
DENIED = ("Permission denied", "authentication", "access denied", "not authorized")


@dataclass(frozen=True, slots=True)
class Domain:
    """A guest and its state (virsh's words)."""

    name: str
    state: str


class NotAnswering(SourceError):
    """The daemon did not answer: judged CRITICAL, not UNKNOWN."""


def parse_list(text: str) -> list[Domain]:
    """``virsh list --all``'s table -> domains."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].split()[:3] != ["Id", "Name", "State"]:
        raise InvalidResponse(f"virsh list: not the domain table: {excerpt(text)}")
    header = lines[0]
    name_at, state_at = header.index("Name"), header.index("State")
    domains = []
    for line in lines[1:]:
        if set(line.strip()) == {"-"}:
            continue
        name, state = line[name_at:state_at].strip(), line[state_at:].strip()
        if not name or not state:
            raise InvalidResponse(f"virsh list: a line not in the table: {excerpt(line)}")
        domains.append(Domain(name, state))
    return domains


def domain_results(host: str, uri: str, domains: Sequence[Domain]) -> Collection:
    """Samples and checks of an answering daemon."""
    labels = {"host": host}
    counts = Counter(d.state for d in domains)
    samples = [sample("libvirt_up", 1, labels)]
    samples += [sample("libvirt_domains", n, {**labels, "state": s})
                for s, n in sorted(counts.items())]
    shown = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    checks: list[CheckResult] = [check(
        "libvirt.daemon", Status.OK, f"{host}: libvirt answering on {uri}: {len(domains)} "
        f"domains ({shown})", service="libvirtd", host=host)]
    crashed = [d.name for d in domains if d.state == "crashed"]
    checks.append(check("libvirt.domains", Status.WARNING if crashed else Status.OK,
                        f"{host}: crashed: {named(crashed)}" if crashed
                        else f"{host}: no crashed domain", host=host))
    return Collection(tuple(samples), tuple(checks))


def not_answering(host: str, uri: str, reason: str) -> Collection:
    """The daemon is down: its member CRITICAL."""
    return Collection(
        (sample("libvirt_up", 0, {"host": host}),),
        (check("libvirt.daemon", Status.CRITICAL, f"{host}: libvirt not answering on {uri}: "
               f"{reason}", service="libvirtd", host=host),))


class LibvirtSource(CommandSource):
    """libvirt on this node, through libvirt-python or ``virsh``."""

    piece = "libvirt"

    def __init__(self, command: Sequence[str], host: str, timeout: float, uri: str,
                 use_python: bool | None = None) -> None:
        super().__init__(command, host, timeout)
        self.uri = uri
        self.use_python = (importlib.util.find_spec("libvirt") is not None
                           if use_python is None else use_python)

    def read(self, target: str) -> Collection:
        try:
            domains = self._python() if self.use_python else self._virsh()
        except NotAnswering as exc:
            return not_answering(self.host, self.uri, str(exc))
        return domain_results(self.host, self.uri, domains)

    def _virsh(self) -> list[Domain]:
        output = self.output("-c", self.uri, "list", "--all")
        if output.returncode == 0:
            return parse_list(output.stdout)
        said = " ".join(line.removeprefix("error: ").strip()
                        for line in output.stderr.splitlines() if line.strip())[:300]
        if any(word in said for word in NOT_ANSWERING):
            raise NotAnswering(said)
        if any(word.lower() in said.lower() for word in DENIED):
            raise SourceAuthError(f"virsh list: {said}")
        raise InvalidResponse(f"virsh list: exit status {output.returncode}: "
                              f"{said or first_line(output.stdout) or 'no message'}")

    def _python(self) -> list[Domain]:
        import libvirt  # libvirt-python: optional

        module: Any = libvirt
        try:
            conn = module.openReadOnly(self.uri)
        except module.libvirtError as exc:
            said = str(exc)
            if any(word in said for word in NOT_ANSWERING):
                raise NotAnswering(said) from None
            if any(word.lower() in said.lower() for word in DENIED):
                raise SourceAuthError(f"libvirt {self.uri}: {said}") from None
            raise InvalidResponse(f"libvirt {self.uri}: {said}") from None
        try:
            return [Domain(d.name(), STATES.get(d.state()[0], "no state"))
                    for d in conn.listAllDomains()]
        except module.libvirtError as exc:
            raise InvalidResponse(f"libvirt {self.uri}: listing domains: {exc}") from None
        finally:
            conn.close()


def build(config: LibvirtConfig, context: Context) -> LibvirtSource:
    """``infra.libvirt`` for the section ``config``."""
    return LibvirtSource(config.command, config.host or context.host, context.command_timeout,
                         config.uri)
