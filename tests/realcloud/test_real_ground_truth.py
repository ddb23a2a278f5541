"""The real cloud is up, the resources exist, and the two ground truths agree.

These tests check the test bed itself: if the stock CLI and SQL disagree, or the
resources the other tests count are missing, every later comparison means nothing.
"""

from __future__ import annotations

import pytest

from realcloud.cloud import PORTS, RealCloud, port_open
from realcloud.resources import Resources
from realcloud.truth import Truth


def test_every_service_listens(realcloud: RealCloud) -> None:
    closed = [f"{name}:{port}" for name, port in PORTS.items() if not port_open(port)]
    assert not closed, f"not listening: {closed}"


def test_cli_and_sql_agree_on_nova_services(truth: Truth) -> None:
    cli = {(s["Binary"], s["Host"]): s for s in truth.cli("compute", "service", "list")}
    # nova-api registers itself as nova-osapi_compute in the same table; the API hides it.
    rows = truth.sql("nova", "select `binary`, host, disabled from services "
                             "where deleted = 0 and `binary` <> 'nova-osapi_compute'")
    sql = {(r["binary"], r["host"]): r for r in rows}
    assert set(cli) == set(sql)
    assert {key for key, s in cli.items() if s["Status"] == "disabled"} == {
        key for key, r in sql.items() if r["disabled"]}
    assert ("nova-compute", "fake-compute-1") in cli
    assert ("nova-compute", "fake-compute-2") in cli


def test_resources_exist_in_the_expected_states(truth: Truth, resources: Resources) -> None:
    servers = {s["Name"]: s["Status"]
               for s in truth.cli("server", "list", "--all-projects")}
    assert servers["fake-vm-1"] == "ACTIVE"
    assert servers["rc-vm-stopped"] == "SHUTOFF"
    assert servers["rc-vm-demo"] == "ACTIVE"
    volumes = {v["Name"]: v["Status"] for v in truth.cli("volume", "list", "--all-projects")}
    assert volumes["vol1"] == "available"
    assert volumes["rc-vol-demo"] == "available"
    rows = truth.sql("nova", "select uuid, vm_state from instances where deleted = 0")
    states = {r["uuid"]: r["vm_state"] for r in rows}
    assert {states[i] for i in resources.server_ids} == {"active", "stopped"}


@pytest.mark.parametrize("database", ["keystone", "nova", "nova_api", "placement", "cinder",
                                      "neutron", "glance"])
def test_monitor_account_reads_every_database(truth: Truth, database: str) -> None:
    tables = truth.sql(database, "show tables")
    assert tables, f"{database}: no tables visible to the monitor account"
