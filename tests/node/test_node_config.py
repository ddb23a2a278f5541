"""The node: section: validated once, errors naming the field; its sources registered once."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwatch.config import load_config, parse_config
from stackwatch.errors import ConfigError
from stackwatch.sources.registry import build_sources

pytestmark = pytest.mark.unit


def test_a_valid_node_section_and_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "stackwatch.yaml"
    path.write_text("clouds: [{name: c}]\n"
                    "node: {host: cmp1, roles: [compute], ports: {libvirtd: [16509]},\n"
                    "       ignore: [OVN Metadata agent], thresholds: {disk: {warning: 70,"
                    " critical: 85}}}\n")
    node = load_config(path).node
    assert node is not None
    assert node.host == "cmp1" and [r.value for r in node.roles or []] == ["compute"]
    assert (node.thresholds.disk.warning, node.thresholds.disk.critical) == (70, 85)
    assert (node.thresholds.inodes.warning, node.thresholds.inodes.critical) == (80, 90)
    assert node.parts == ["processes", "ports", "host"]
    assert load_config(path).interval("node.ports") == 30


@pytest.mark.parametrize(("node", "says"), [
    ({"roles": ["computer"]}, "node.roles.0: Input should be 'controller', 'compute'"),
    ({"ignore": ["nova-bogus"]}, "node.ignore: Value error, 'nova-bogus' is not a service"),
    ({"ports": {"compute": [8774]}}, "node.ports: Value error, 'compute': write the "
                                     "service's name, 'nova-api'"),
    ({"ports": {"nova-api": [0]}}, "node.ports: Value error, nova-api: 0 is not a TCP port"),
    ({"thresholds": {"disk": {"warning": 95, "critical": 90}}},
     "node.thresholds.disk: Value error, critical 90 is below warning 95"),
    ({"thresholds": {"swap": {"warning": 50, "critical": 120}}},
     "node.thresholds: Value error, swap: critical 120 is over 100 %"),
    ({"parts": ["processes", "disks"]}, "node.parts.1: Input should be 'processes'"),
    ({"interfaces_ignored": "(tap"}, "node.interfaces_ignored: Value error, not a regular"),
    ({"disk_io_window": 0}, "node.disk_io_window: Input should be greater than 0"),
    ({"hostname": "x"}, "node.hostname: Extra inputs are not permitted"),
])
def test_errors_name_the_field(node: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=r"stackwatch\.yaml: ") as caught:
        parse_config({"clouds": [{"name": "c"}], "node": node})
    assert says in str(caught.value)


def test_node_sources_are_built_once_whatever_the_clouds() -> None:
    assert not [s for s in build_sources(parse_config({"clouds": [{"name": "c"}]}))
                if s.name.startswith("node.")]
    config = parse_config({"clouds": [{"name": "east"}, {"name": "west"}],
                           "node": {"parts": ["processes", "host"]}})
    names = [s.name for s in build_sources(config)]
    assert [n for n in names if "node." in n] == ["node.processes", "node.host"]
