"""The quota report from known figures: every row, its order and each format."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from stackwatch.catalog.loader import default_catalog
from stackwatch.cli import main
from stackwatch.config import parse_config
from stackwatch.model import Collection, Sample
from stackwatch.query.context import Context
from stackwatch.query.quotas import quotas
from stackwatch.runbooks import registry
from stackwatch.runbooks.books.quotas import lines, render
from stackwatch.runbooks.context import Actor, RunbookContext
from stackwatch.store.base import Role
from stackwatch.store.sqlite import SQLiteStore

pytestmark = pytest.mark.unit

# (project, metric base, limit, used)
KNOWN = (
    ("alpha", "openstack_nova_limits_vcpus", 20, 19),       # 95 %
    ("alpha", "openstack_nova_limits_memory", 51200, 10240),  # 20 %
    ("alpha", "openstack_neutron_limits_ports", 50, 50),    # 100 %
    ("beta", "openstack_nova_limits_instances", 10, 6),     # 60 %
    ("beta", "openstack_neutron_limits_routers", -1, 3),    # unlimited
    ("beta", "openstack_nova_limits_vcpus", 0, 0),          # kept from it: no share
    ("gamma", "openstack_cinder_limits_volume", 1000, 850),  # 85 %
)


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    store = SQLiteStore(tmp_path / "store.sqlite")
    samples = []
    for project, base, limit, used in KNOWN:
        labels: dict[str, object] = {"tenant": project, "tenant_id": f"id-{project}",
                                     "region": "RegionOne"}
        suffix = ("_max_gb", "_used_gb") if "cinder" in base else ("_max", "_used")
        samples += [Sample.of(base + suffix[0], limit, None, **labels),
                    Sample.of(base + suffix[1], used, None, **labels)]
    store.write(Collection(tuple(samples)), "api")
    yield Context(store, default_catalog())
    store.close()


EXPECTED = [
    # project, area, resource, used, limit, free, used %
    ("alpha", "network", "port", "50", "50", "0", "100.0"),
    ("alpha", "compute", "cores", "19", "20", "1", "95.0"),
    ("gamma", "volume", "gigabytes", "850", "1000", "150", "85.0"),
    ("beta", "compute", "instances", "6", "10", "4", "60.0"),
    ("alpha", "compute", "ram", "10240", "51200", "40960", "20.0"),
    # no share: then by project and service (neutron before nova)
    ("beta", "network", "router", "3", "unlimited", "unlimited", ""),
    ("beta", "compute", "cores", "0", "0", "0", ""),
]


def test_csv_has_every_row_nearest_its_limit_first(ctx: Context) -> None:
    text = render(lines(quotas(ctx)), "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["project"], r["area"], r["resource"], r["used"], r["limit"], r["free"],
             r["used_percent"]) for r in rows] == EXPECTED
    assert {r["project_id"] for r in rows} == {"id-alpha", "id-beta", "id-gamma"}
    assert rows[2]["unit"] == "GiB" and rows[4]["unit"] == "MiB"


def test_json_and_table_say_the_same(ctx: Context) -> None:
    report = lines(quotas(ctx))
    data = json.loads(render(report, "json"))
    assert [(d["project"], d["resource"], d["used_percent"]) for d in data] == [
        (e[0], e[2], float(e[6]) if e[6] else None) for e in EXPECTED]
    assert data[-2]["limit"] is None and data[-2]["free"] is None
    table = render(report, "table").splitlines()
    assert table[0].split()[:4] == ["PROJECT", "PROJECT_ID", "AREA", "RESOURCE"]
    assert len(table) == 1 + len(EXPECTED)
    assert table[1].split()[:8] == ["alpha", "id-alpha", "network", "port", "50", "50", "0",
                                    "100.0"]


def test_one_project_and_a_bad_format(ctx: Context) -> None:
    assert [r.resource for r in lines(quotas(ctx, project="beta"))] == [
        "instances", "router", "cores"]
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        render([], "xml")
    assert render([], "csv").splitlines() == [
        "project,project_id,area,resource,used,limit,free,used_percent,unit,region"]


def test_the_report_command_prints_the_stored_figures(ctx: Context, tmp_path: Path) -> None:
    store_path = tmp_path / "store.sqlite"
    config = tmp_path / "stackwatch.yaml"
    config.write_text(f"clouds: [{{name: c}}]\nstore: {{path: {store_path}}}\n")
    runner = CliRunner()
    out = runner.invoke(main, ["report", "quotas", "--config", str(config), "--format", "csv"])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.output)))
    assert [(r["project"], r["resource"]) for r in rows] == [(e[0], e[2]) for e in EXPECTED]
    network = runner.invoke(main, ["report", "quotas", "--config", str(config), "--area",
                                   "network", "--project", "beta"])
    assert network.exit_code == 0, network.output
    assert [line.split()[3] for line in network.output.splitlines()[1:]] == ["router"]
    missing = tmp_path / "other.yaml"
    missing.write_text(f"clouds: [{{name: c}}]\nstore: {{path: {tmp_path / 'none.sqlite'}}}\n")
    refused = runner.invoke(main, ["report", "quotas", "--config", str(missing)])
    assert refused.exit_code == 2 and "stackwatch server" in refused.output, refused.output


def test_the_diagnosis_names_the_quotas_nearly_used_up(ctx: Context) -> None:
    config = parse_config({"clouds": [{"name": "c"}]})
    runbook_ctx = RunbookContext(config, config.clouds[0], ctx.catalog,
                                 Actor("a", Role.READ, "cli"), ctx.store)
    found = registry.runbook("quotas").diagnose(runbook_ctx)
    assert found.verdict == "CRITICAL" and found.summary.startswith("2 quota(s) at 90 %")
    assert [(e.label, e.value) for e in found.evidence] == [
        ("alpha network port", "50 of 50 (100.0 %)"),
        ("alpha compute cores", "19 of 20 (95.0 %)")]
    blind = RunbookContext(config, config.clouds[0], ctx.catalog,
                           Actor("a", Role.READ, "cli"), None)
    assert registry.runbook("quotas").diagnose(blind).verdict == "UNKNOWN"
