"""The commands through click's CliRunner: formats, Nagios exit codes, clear errors."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from stackwatch.cli import main
from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels
from stackwatch.store.sqlite import SQLiteStore

from .conftest import ConstantSource, DownSource, member_check

pytestmark = pytest.mark.unit

CLOUDS_YAML = """\
clouds:
  refused:
    auth:
      auth_url: http://127.0.0.1:9/identity/v3
      username: admin
      password: secret-not-printed
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A cloud whose keystone refuses connections (port 9 on 127.0.0.1)."""
    (tmp_path / "clouds.yaml").write_text(CLOUDS_YAML)
    path = tmp_path / "stackwatch.yaml"
    path.write_text("clouds:\n  - {name: refused, clouds_yaml: clouds.yaml}\n"
                    "store: {path: store.sqlite}\ntimeouts: {api: 20}\n")
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_collect_once_json_reports_each_source_unknown(config: Path) -> None:
    code, out = run("collect", "--once", "--config", str(config), "--format", "json",
                    "-s", "api.compute", "-s", "api.identity")
    assert code == 3, out
    data = json.loads(out)
    assert [s["source"] for s in data["sources"]] == ["api.identity", "api.compute"]
    identity, compute = data["sources"]
    assert not compute["ok"] and "SourceUnavailable" in compute["reason"]
    # keystone refusing the token request is keystone's endpoint down (a finding, as any
    # endpoint that does not answer), not the identity source failing
    assert identity["ok"]
    endpoint = [c for c in data["checks"] if c["name"] == "api.endpoint"]
    assert [(c["status"], c["labels"]["service_type"]) for c in endpoint] == [
        ("CRITICAL", "identity")]
    assert "Connection refused" in endpoint[0]["message"]
    checks = [c for c in data["checks"] if c["name"] == "stackwatch_source"]
    assert {c["labels"]["source"]: c["status"] for c in checks} == {
        "api.identity": "OK", "api.compute": "UNKNOWN"}
    assert all("age_seconds" in s for s in data["samples"])
    assert "secret-not-printed" not in out


def test_collect_once_prometheus_and_table(config: Path) -> None:
    code, out = run("collect", "--once", "--config", str(config), "--format", "prometheus",
                    "-s", "api.image")
    assert code == 3
    families = {f.name: f for f in text_string_to_metric_families(out)}
    assert [s.value for s in families["stackwatch_source_up"].samples] == [0.0]
    code, out = run("collect", "--once", "--config", str(config), "-s", "api.image")
    assert code == 3
    assert out.splitlines()[0].split() == ["SOURCE", "STATUS", "SECONDS", "SAMPLES", "REASON"]
    assert out.splitlines()[1].startswith("api.image")


def test_collect_table_columns_line_up_and_count_what_the_source_says(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values sit under their headers (not shifted by colour codes click drops), and
    SAMPLES is the count the source's own message gives (its stackwatch_* samples too)."""
    import stackwatch.commands

    sources = [ConstantSource("api.compute", samples=7), DownSource("api.image")]
    monkeypatch.setattr(stackwatch.commands, "build_sources", lambda _config: sources)
    code, out = run("collect", "--once", "--config", str(config))
    assert code == 3
    header, *rows = out.splitlines()[:3]
    ends = {name: header.index(name) + len(name) for name in ("SECONDS", "SAMPLES")}
    assert header.index("STATUS") == 25
    for row in rows:
        assert row[25:33].rstrip() in ("OK", "UNKNOWN"), row
        fields = row[:ends["SAMPLES"]].split()
        assert row[:ends["SECONDS"]].endswith(fields[2]), row  # right-aligned under SECONDS
        assert row[:ends["SAMPLES"]].endswith(fields[3]), row
    assert rows[0].split()[:4] == ["api.compute", "OK", rows[0].split()[2], "7"]
    assert "api.compute: 7 samples, 0 checks" in out
    assert rows[1].split()[:4] == ["api.image", "UNKNOWN", rows[1].split()[2], "0"]


def test_unknown_source_name_is_a_usage_error_unknown_to_nagios(config: Path) -> None:
    code, out = run("collect", "--once", "--config", str(config), "-s", "api.nothing")
    assert code == 3
    assert "no source matches api.nothing" in out


@pytest.mark.parametrize("command", ["status", "collect --once", "status --from-store"])
def test_bad_config_exits_3_unknown_naming_the_field(tmp_path: Path, command: str) -> None:
    """Nagios reads 2 as CRITICAL: a check that could not run is UNKNOWN (3)."""
    path = tmp_path / "stackwatch.yaml"
    path.write_text("clouds: [{name: a, colour: red}]\n")
    code, out = run(*command.split(), "--config", str(path))
    assert code == 3
    assert f"stackwatch: error: {path}: clouds.0.colour" in out
    code, out = run(*command.split(), "--config", str(tmp_path / "missing.yaml"))
    assert code == 3
    assert "missing.yaml: cannot read: No such file or directory" in out
    code, out = run(*command.split(), "--config", str(path), "--no-such-option")
    assert code == 3
    assert "No such option" in out


def test_status_collecting_from_a_refused_cloud_is_unknown(config: Path) -> None:
    code, out = run("status", "--config", str(config), "-s", "api.compute")
    assert code == 3
    lines = out.splitlines()
    assert lines[0].startswith("STACKWATCH UNKNOWN - ")
    assert any("nova-compute" in line and "could not look: source api.compute failed" in line
               for line in lines)
    assert "sources:" in lines


@pytest.mark.parametrize(
    ("members", "code", "named"),
    [
        ([("nova-compute", "cmp1", Status.OK), ("nova-compute", "cmp2", Status.OK)], 0, None),
        ([("nova-compute", "cmp1", Status.OK), ("nova-compute", "cmp2", Status.CRITICAL)], 1,
         "nova-compute"),
        ([("neutron-l3-agent", "net1", Status.CRITICAL)], 2, "neutron-l3-agent"),
    ],
)
def test_status_from_store_exit_codes(
    config: Path, members: list[tuple[str, str, Status]], code: int, named: str | None
) -> None:
    store = SQLiteStore(config.parent / "store.sqlite")
    store.write(Collection(checks=tuple(member_check(*m) for m in members)))
    store.close()
    exit_code, out = run("status", "--config", str(config), "--from-store")
    assert exit_code == code, out
    summary = out.splitlines()[0]
    if named:
        assert named in summary
    else:
        assert summary.startswith("STACKWATCH OK - all 1 watched services OK")
    exit_code, out = run("status", "--config", str(config), "--from-store", "--format", "json",
                         "--members")
    assert json.loads(out)["code"] == code


def test_status_from_store_treats_stale_checks_as_unknown(config: Path) -> None:
    store = SQLiteStore(config.parent / "store.sqlite")
    old = CheckResult("service_state", Status.OK, "up",
                      make_labels(binary="nova-compute", host="cmp1"), timestamp=time.time() - 900)
    store.write(Collection(checks=(old,)))
    store.close()
    code, out = run("status", "--config", str(config), "--from-store", "--max-age", "300",
                    "--members")
    assert code == 3
    assert "stale: last seen 900 s ago" in out


def test_status_from_store_without_store_says_so_and_creates_none(config: Path) -> None:
    store = config.parent / "store.sqlite"
    code, out = run("status", "--config", str(config), "--from-store")
    assert code == 3
    assert f"stackwatch: error: {store}: no store; is `stackwatch server` running" in out
    assert not store.exists()
    store.write_bytes(b"")
    code, out = run("status", "--config", str(config), "--from-store")
    assert code == 3
    assert "an empty file, not a store" in out
    assert store.read_bytes() == b""


# Nagios plugin guidelines: 'label'=value[UOM];[warn];[crit];[min];[max]
_NUMBER = r"-?\d+(\.\d+)?"
_PERFDATUM = re.compile(rf"^(?P<label>'[^'=]+'|[^'= ]+)=(?P<value>{_NUMBER})"
                        rf"(s|ms|us|%|B|KB|MB|TB|c)?(;({_NUMBER})?){{0,4}}$")


def _perfdata(line: str) -> dict[str, float]:
    """The perfdata of a Nagios plugin's first line, each item checked against the format."""
    assert line.count("|") == 1, line
    items = line.split("|")[1].split()
    for item in items:
        assert _PERFDATUM.match(item), item
    return {m["label"]: float(m["value"]) for m in map(_PERFDATUM.match, items) if m}


def test_status_line_carries_nagios_perfdata(config: Path) -> None:
    store = SQLiteStore(config.parent / "store.sqlite")
    store.write(Collection(
        samples=(Sample.of("stackwatch_source_duration_seconds", 1.23456, source="api.compute"),),
        checks=tuple(member_check(*m) for m in [
            ("nova-compute", "cmp1", Status.OK), ("nova-compute", "cmp2", Status.CRITICAL),
            ("neutron-l3-agent", "net1", Status.CRITICAL),
            ("nova-scheduler", "ctl1", Status.OK)])))
    store.close()
    code, out = run("status", "--config", str(config), "--from-store")
    assert code == 2, out
    perf = _perfdata(out.splitlines()[0])
    assert perf == {"services_ok": 1, "services_warning": 1, "services_critical": 1,
                    "services_unknown": 0, "members": 4, "members_down": 2,
                    "sources_failed": 0, "sources_warning": 0, "duration_api.compute": 1.235}
    assert "duration_api.compute=1.235s;;;0" in out.splitlines()[0]
    code, out = run("status", "--config", str(config), "--from-store", "--format", "json")
    assert "services_critical=1;;;0;3" in json.loads(out)["perfdata"]


def test_a_partial_source_is_a_warning_not_a_failure_in_perfdata(config: Path) -> None:
    def source(name: str, status: Status) -> CheckResult:
        return CheckResult("stackwatch_source", status, f"{name}: ...", make_labels(source=name))

    store = SQLiteStore(config.parent / "store.sqlite")
    store.write(Collection(checks=(
        member_check("nova-compute", "cmp1", Status.OK),
        source("api.compute", Status.WARNING),   # partial: delivered what it read
        source("api.image", Status.UNKNOWN))))   # could not look
    store.close()
    _, out = run("status", "--config", str(config), "--from-store")
    perf = _perfdata(out.splitlines()[0])
    assert (perf["sources_failed"], perf["sources_warning"]) == (1, 1)


def test_status_collecting_has_perfdata_of_each_source(config: Path) -> None:
    code, out = run("status", "--config", str(config), "-s", "api.compute", "-s", "api.image")
    assert code == 3
    perf = _perfdata(out.splitlines()[0])
    assert perf["sources_failed"] == 2
    assert {"duration_api.compute", "duration_api.image"} <= set(perf)


@pytest.mark.parametrize(("backend", "expected", "left_out"), [
    ("", "ovn-controller", "neutron-openvswitch-agent"),   # OVN: neutron's default
    ("network_backend: ovs, ", "neutron-openvswitch-agent", "ovn-controller"),
])
def test_status_with_a_wrong_password_lists_only_what_the_cloud_has(
    tmp_path: Path, backend: str, expected: str, left_out: str
) -> None:
    """Sources that cannot log in: removed services (nova-consoleauth) and the other ML2
    backend's agents are not among the services not OK."""
    (tmp_path / "clouds.yaml").write_text(CLOUDS_YAML)
    path = tmp_path / "stackwatch.yaml"
    path.write_text(f"clouds:\n  - {{name: refused, {backend}clouds_yaml: clouds.yaml}}\n"
                    "timeouts: {api: 20}\n")
    code, out = run("status", "--config", str(path), "-s", "api.compute", "-s", "api.network")
    assert code == 3
    summary = out.splitlines()[0]
    assert expected in summary and "neutron-server" in summary
    assert left_out not in summary and "nova-consoleauth" not in summary
    _, listed = run("status", "--config", str(path), "-s", "api.network", "--all")
    assert any(left_out in line and "not watched" in line for line in listed.splitlines())


def test_a_bug_in_status_is_unknown_to_nagios_and_help_is_not_an_error(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stackwatch.commands

    def broken(*_: object) -> None:
        raise KeyError("services")

    monkeypatch.setattr(stackwatch.commands, "evaluate", broken)
    code, out = run("status", "--config", str(config), "-s", "api.image")
    assert code == 3  # Python's own exit would be 1, WARNING to Nagios
    assert "stackwatch: internal error: KeyError: 'services'" in out
    assert run("status", "--help")[0] == 0


def test_status_shows_log_borne_text_escaped_and_one_perfdata_bar(config: Path) -> None:
    """A check message carrying escape sequences (an address or user name from a log) and
    a '|' (Nagios would read perfdata after it) is shown escaped, '|' as '/'."""
    store = SQLiteStore(config.parent / "store.sqlite")
    store.write(Collection(checks=(
        CheckResult("logs.auth_bruteforce", Status.WARNING, "user \x1b]0;owned\x07 | x",
                    make_labels(service="keystone", user="\x1b[2J")),
        member_check("nova-compute", "cmp1", Status.OK))))
    store.close()
    code, out = run("status", "--config", str(config), "--from-store")
    assert code == 1, out
    assert "\x1b" not in out and "\x07" not in out
    assert 'user="\\x1b[2J"} user \\x1b]0;owned\\x07 / x' in out
    assert out.count("|") == 1 and "|" in out.splitlines()[0]
