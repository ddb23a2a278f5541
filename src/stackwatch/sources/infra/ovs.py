"""``infra.ovs``: Open vSwitch bridges, ports and interfaces from its database.

One ``ovs-vsctl --format=json`` run lists four tables (commands joined by ``--``):
``Bridge`` (name, ports), ``Port`` (name, interfaces), ``Interface`` (name, type,
ofport, error) and ``Open_vSwitch`` (``cur_cfg``/``next_cfg``: the configuration
ovs-vswitchd applied, and the one it was asked to). Checks:

* ``ovs.db`` {service=ovsdb-server, host}: OK when the database answered; CRITICAL
  when it does not (no socket, refused: ovsdb-server is down).
* ``ovs.bridges`` {service=ovs-vswitchd, host}: CRITICAL when an expected bridge is
  missing (``br-int`` carries every instance's traffic; ``br-tun`` the tunnels of
  ML2/OVS, ``br-ex`` the external network of network nodes), with the ports of each.
* ``ovs.vswitchd`` {service=ovs-vswitchd, host}: CRITICAL when ovs-vswitchd has not
  applied the database's configuration for two runs in a row (``cur_cfg`` below
  ``next_cfg`` and not moving: it is down or stuck, and changes such as new VM ports
  do not reach the datapath).
* ``ovs.interfaces`` {host}: WARNING naming interfaces with an error or no OpenFlow
  port (``ofport`` -1: a tap device gone, a VM's port broken) — about ports, not the
  daemon.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stackwatch.errors import InvalidResponse
from stackwatch.infra_config import OVSConfig
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sources.infra.base import CommandSource, Context, check, named, sample
from stackwatch.sources.infra.command import first_line
from stackwatch.sources.infra.http import excerpt

#: The tables listed and their columns, in the order ovs-vsctl prints them.
TABLES: tuple[tuple[str, str], ...] = (
    ("Bridge", "name,ports"),
    ("Port", "_uuid,name,interfaces"),
    ("Interface", "_uuid,name,type,ofport,error"),
    ("Open_vSwitch", "cur_cfg,next_cfg"),
)
DEFAULT_BRIDGES = {"ovs": ("br-int", "br-tun"), "ovn": ("br-int",)}
NOT_ANSWERING = ("database connection failed", "No such file or directory",
                 "Connection refused")


@dataclass(frozen=True, slots=True)
class Switch:
    """What the database holds: bridges with their ports, interfaces, configuration."""

    bridges: Mapping[str, tuple[str, ...]]        # bridge -> port names
    broken: tuple[tuple[str, str], ...]           # (interface, why)
    cur_cfg: int
    next_cfg: int


def _value(cell: Any) -> Any:
    """An OVSDB JSON cell as Python: ``["set", [...]]`` a list, ``["uuid", u]`` u."""
    if isinstance(cell, list) and len(cell) == 2 and cell[0] in ("set", "uuid", "map"):
        if cell[0] == "uuid":
            return cell[1]
        if cell[0] == "set":
            return [_value(c) for c in cell[1]]
        return {_value(k): _value(v) for k, v in cell[1]}
    return cell


def _rows(document: Any, table: str) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise InvalidResponse(f"ovs-vsctl list {table}: not an OVSDB table: "
                              f"{excerpt(json.dumps(document))}")
    headings = document.get("headings") or []
    return [{h: _value(c) for h, c in zip(headings, row, strict=False)}
            for row in document["data"]]


def _set(value: Any) -> list[Any]:
    """A column that is a set: one element is printed bare, several as a set."""
    return value if isinstance(value, list) else [value]


def parse_vsctl(text: str) -> Switch:
    """The four tables ovs-vsctl printed, one JSON document a line."""
    documents = []
    for line in text.splitlines():
        if line.strip():
            try:
                documents.append(json.loads(line))
            except ValueError:
                raise InvalidResponse(f"ovs-vsctl: not JSON: {excerpt(line)}") from None
    if len(documents) != len(TABLES):
        raise InvalidResponse(f"ovs-vsctl: {len(documents)} tables printed, "
                              f"{len(TABLES)} asked")
    bridges_, ports_, interfaces_, system_ = (_rows(doc, table) for doc, (table, _) in
                                              zip(documents, TABLES, strict=True))
    port_names = {p["_uuid"]: p.get("name", "?") for p in ports_}
    bridges = {str(b.get("name")): tuple(sorted(port_names.get(u, u) for u in _set(
        b.get("ports", [])))) for b in bridges_}
    broken = []
    for interface in interfaces_:
        error = interface.get("error")
        ofport = interface.get("ofport")
        if isinstance(error, str) and error:
            broken.append((str(interface.get("name")), error))
        elif ofport == -1:
            broken.append((str(interface.get("name")), "no OpenFlow port (ofport -1)"))
    row = system_[0] if system_ else {}
    cur, nxt = row.get("cur_cfg", 0), row.get("next_cfg", 0)
    return Switch(bridges, tuple(sorted(broken)), int(cur) if isinstance(cur, int) else 0,
                  int(nxt) if isinstance(nxt, int) else 0)


def switch_results(host: str, switch: Switch, expected: Sequence[str],
                   before: Switch | None) -> Collection:
    """Samples and checks of one node's switch."""
    labels = {"host": host}
    samples = [sample("ovs_up", 1, labels)]
    samples += [sample("ovs_bridge_ports", len(ports), {**labels, "bridge": bridge})
                for bridge, ports in sorted(switch.bridges.items())]
    samples.append(sample("ovs_interfaces_broken", len(switch.broken), labels))
    checks: list[CheckResult] = [check("ovs.db", Status.OK, f"{host}: the Open vSwitch "
                                       "database answers", service="ovsdb-server", host=host)]
    missing = [b for b in expected if b not in switch.bridges]
    present = ", ".join(f"{b} ({len(p)} ports)" for b, p in sorted(switch.bridges.items()))
    if missing:
        checks.append(check("ovs.bridges", Status.CRITICAL, f"{host}: bridge "
                            f"{', '.join(missing)} missing; present: {present or 'none'}",
                            service="ovs-vswitchd", host=host))
    else:
        checks.append(check("ovs.bridges", Status.OK, f"{host}: {present}",
                            service="ovs-vswitchd", host=host))
    stuck = (switch.cur_cfg < switch.next_cfg and before is not None
             and before.cur_cfg == switch.cur_cfg and before.next_cfg <= switch.next_cfg
             and before.cur_cfg < before.next_cfg)
    samples.append(sample("ovs_config_pending", switch.next_cfg - switch.cur_cfg, labels))
    if stuck:
        checks.append(check("ovs.vswitchd", Status.CRITICAL, f"{host}: ovs-vswitchd has not "
                            f"applied the configuration since the last run (cur_cfg "
                            f"{switch.cur_cfg} < next_cfg {switch.next_cfg}): down or stuck",
                            service="ovs-vswitchd", host=host))
    else:
        checks.append(check("ovs.vswitchd", Status.OK, f"{host}: configuration "
                            f"{switch.cur_cfg} of {switch.next_cfg} applied",
                            service="ovs-vswitchd", host=host))
    if switch.broken:
        checks.append(check("ovs.interfaces", Status.WARNING, f"{host}: "
                            f"{len(switch.broken)} interfaces broken: " + named(
                                [f"{name} ({why})" for name, why in switch.broken], 5),
                            host=host))
    else:
        checks.append(check("ovs.interfaces", Status.OK, f"{host}: no interface in error",
                            host=host))
    return Collection(tuple(samples), tuple(checks))


def not_answering(host: str, reason: str) -> Collection:
    """ovsdb-server is down: its member CRITICAL."""
    return Collection((sample("ovs_up", 0, {"host": host}),), (check(
        "ovs.db", Status.CRITICAL, f"{host}: the Open vSwitch database does not answer: "
        f"{reason}", service="ovsdb-server", host=host),))


class OVSSource(CommandSource):
    """``ovs-vsctl`` on this node."""

    piece = "ovs"

    def __init__(self, command: Sequence[str], host: str, timeout: float,
                 bridges: Sequence[str]) -> None:
        super().__init__(command, host, timeout)
        self.bridges = tuple(bridges)
        self._before: Switch | None = None

    def read(self, target: str) -> Collection:
        args: list[str] = [f"--timeout={max(1, int(self.timeout))}", "--format=json"]
        for index, (table, columns) in enumerate(TABLES):
            args += (["--"] if index else []) + [f"--columns={columns}", "list", table]
        output = self.output(*args)
        if output.returncode != 0:
            said = first_line(output.stderr) or first_line(output.stdout) or "no message"
            if any(word in said for word in NOT_ANSWERING):
                self._before = None
                return not_answering(self.host, said.removeprefix("ovs-vsctl: "))
            raise InvalidResponse(f"ovs-vsctl list: exit status {output.returncode}: {said}")
        switch = parse_vsctl(output.stdout)
        out = switch_results(self.host, switch, self.bridges, self._before)
        self._before = switch
        return out


def build(config: OVSConfig, context: Context) -> OVSSource:
    """``infra.ovs`` for the section ``config``."""
    bridges = config.bridges if config.bridges is not None else DEFAULT_BRIDGES.get(
        context.network_backend, ("br-int",))
    return OVSSource(config.command, config.host or context.host, context.command_timeout,
                     bridges)
