"""Health tables: members → service (per HA mode) → cloud, and what counts as UNKNOWN."""

from __future__ import annotations

from dataclasses import replace

import click
import pytest

from stackwatch.catalog.loader import HAMode, Role, ServiceSpec, load_catalog
from stackwatch.health.evaluate import MemberHealth, evaluate, expire, service_health
from stackwatch.model import CheckResult, Status, make_labels

from .conftest import member_check

pytestmark = pytest.mark.unit

OK, WARN, CRIT, UNK = Status.OK, Status.WARNING, Status.CRITICAL, Status.UNKNOWN


def spec(ha: str = "active/active", quorum: bool = False) -> ServiceSpec:
    return ServiceSpec(name="svc", project="p", description="d", roles=(Role.CONTROLLER,),
                       ha=HAMode(ha), quorum=quorum, sources=("api.compute",))


def members(*statuses: Status) -> list[MemberHealth]:
    return [MemberHealth("svc", f"h{i}", s, s.name.lower()) for i, s in enumerate(statuses)]


@pytest.mark.parametrize(
    ("ha", "quorum", "statuses", "expected", "message"),
    [
        ("active/active", False, [OK, OK, OK], OK, "3 of 3 up"),
        ("active/active", False, [OK, CRIT, OK], WARN, "2 of 3 up; down: h1"),
        ("active/active", False, [OK, WARN], WARN, "2 of 2 up; degraded: h1"),
        ("active/active", False, [CRIT, CRIT], CRIT, "all 2 down: h0, h1"),
        ("active/active", False, [WARN], WARN, "1 of 1 up; degraded: h0"),
        ("active/active", False, [OK, UNK], OK, "1 of 1 up; not looked at: h1"),
        ("active/active", False, [CRIT, UNK], CRIT, "all 1 down: h0; not looked at: h1"),
        ("active/active", False, [UNK, UNK], UNK, "no member could be looked at: unknown"),
        ("active/active", True, [OK, OK, CRIT], WARN, "2 of 3 up; down: h2"),
        ("active/active", True, [OK, CRIT, CRIT], CRIT, "quorum lost: 1 of 3 up; down: h1, h2"),
        ("active/active", True, [OK, CRIT], CRIT, "quorum lost: 1 of 2 up; down: h1"),
        ("active/passive", False, [OK, CRIT], OK, "active on h0"),
        ("active/passive", False, [OK], OK, "active on h0"),
        ("active/passive", False, [CRIT, CRIT], CRIT, "all 2 down: h0, h1"),
        ("active/passive", False, [OK, OK], WARN, "2 active, expected exactly one: h0, h1"),
        ("active/passive", False, [WARN, CRIT], WARN, "active on h0 (degraded: warning)"),
        ("active/passive", False, [UNK], UNK, "no member could be looked at: unknown"),
    ],
)
def test_service_rules(
    ha: str, quorum: bool, statuses: list[Status], expected: Status, message: str
) -> None:
    health = service_health(spec(ha, quorum), members(*statuses), {})
    assert (health.status, health.message) == (expected, message)
    assert health.watched


def test_no_members_unknown_only_when_a_source_failed() -> None:
    assert service_health(spec(), [], {}).watched is False
    failed = service_health(spec(), [], {"api.compute": "api.compute: timed out after 5 s"})
    assert failed.status is UNK and failed.watched
    assert failed.message == "could not look: source api.compute failed"
    # a failing source that does not watch this service changes nothing
    assert service_health(spec(), [], {"sql.cinder": "down"}).watched is False


def source(name: str, status: Status, message: str = "") -> CheckResult:
    return CheckResult("stackwatch_source", status, message or f"{name}: {status.name}",
                       make_labels(source=name))


def test_cloud_from_api_checks() -> None:
    catalog = load_catalog()
    checks = [
        source("api.compute", OK), source("api.network", OK),
        member_check("nova-scheduler", "ctl1", OK), member_check("nova-scheduler", "ctl2", OK),
        member_check("nova-compute", "cmp1", OK), member_check("nova-compute", "cmp2", CRIT),
        member_check("L3 agent", "net1", CRIT, label="agent_type"),
        member_check("neutron-l3-agent", "net2", CRIT),
        # the endpoint check names the service by type, without a host
        CheckResult("api.endpoint", OK, "nova API answers",
                    make_labels(service="nova", service_type="compute", region="RegionOne")),
        # a SQL view of the same member: the worst known status wins
        member_check("nova-scheduler", "ctl2", UNK),
        CheckResult("stackwatch.resource", UNK, "servers: 500",
                    make_labels(source="api.compute", resource="servers", service="nova-api")),
        # about keystone as a whole, not a member: it must not make the endpoint "down"
        CheckResult("logs.auth_bruteforce", CRIT, "1 address with 100+ failed logins",
                    make_labels(service="keystone")),
    ]
    health = evaluate(catalog, checks)
    compute = health.service("nova-compute")
    assert compute is not None
    assert (compute.status, compute.message) == (WARN, "1 of 2 up; down: cmp2")
    l3 = health.service("neutron-l3-agent")
    assert l3 is not None and (l3.status, l3.message) == (CRIT, "all 2 down: net1, net2")
    scheduler = health.service("nova-scheduler")
    assert scheduler is not None and scheduler.status is OK
    api = health.service("nova-api")
    assert api is not None and api.status is OK and api.members[0].host == ""
    assert health.service("rabbitmq").watched is False  # type: ignore[union-attr]
    assert health.service("keystone").watched is False  # type: ignore[union-attr]
    assert health.status is CRIT
    # the unread servers resource is shown, not hidden (it does not outrank a known problem)
    assert health.message == ("2 of 4 services not OK: nova-compute, neutron-l3-agent; "
                              "partly blind: api.compute servers; "
                              "1 other checks not OK: logs.auth_bruteforce")
    assert [(p.source, p.resource) for p in api.blind] == [("api.compute", "servers")]
    assert [c.name for c in health.others] == ["logs.auth_bruteforce"]
    roles = {n.host: [r.value for r in n.roles] for n in health.nodes}
    assert roles["cmp1"] == ["compute"] and roles["net1"] == ["network"]
    assert roles["ctl1"] == ["controller"]
    nodes = {n.host: n.status for n in health.nodes}
    assert nodes == {"ctl1": OK, "ctl2": OK, "cmp1": OK, "cmp2": CRIT, "net1": CRIT,
                     "net2": CRIT}


def test_failed_source_makes_its_services_unknown_not_down() -> None:
    catalog = load_catalog()
    health = evaluate(catalog, [
        source("api.compute", UNK, "api.compute: SourceUnavailable: connection refused"),
        source("api.identity", OK),
        CheckResult("api.endpoint", OK, "keystone answers",
                    make_labels(service="keystone", service_type="identity")),
    ])
    compute = health.service("nova-compute")
    assert compute is not None and compute.status is UNK
    assert compute.message == "could not look: source api.compute failed"
    assert health.service("keystone").status is OK  # type: ignore[union-attr]
    # blind spots rank below known problems but above OK
    assert health.status is UNK
    assert health.message.endswith("; sources that could not look: api.compute")


def test_a_failed_source_no_service_depends_on_still_makes_the_cloud_unknown() -> None:
    health = evaluate(load_catalog(), [
        source("logs.nova", UNK), member_check("nova-compute", "cmp1", OK)])
    assert health.service("nova-compute").status is OK  # type: ignore[union-attr]
    assert health.status is UNK
    assert health.message == ("all 1 watched services OK; sources that could not look: "
                              "logs.nova")


def test_nothing_at_all_is_unknown() -> None:
    health = evaluate(load_catalog(), [])
    assert health.status is UNK
    assert health.message.startswith("nothing watched")


# ---------------------------------------------- services a cloud need not have
NEUTRON_OVS_AGENTS = {"neutron-openvswitch-agent", "neutron-l3-agent", "neutron-dhcp-agent",
                      "neutron-metadata-agent"}
NEUTRON_OVN_AGENTS = {"ovn-controller", "neutron-ovn-metadata-agent"}


@pytest.mark.parametrize(("backends", "unknown", "unwatched"), [
    (["ovn"], NEUTRON_OVN_AGENTS, NEUTRON_OVS_AGENTS),
    (["ovs"], NEUTRON_OVS_AGENTS, NEUTRON_OVN_AGENTS),
    (["ovn", "ovs"], NEUTRON_OVN_AGENTS | NEUTRON_OVS_AGENTS, set()),
])
def test_a_failed_source_leaves_out_what_the_cloud_need_not_have(
    backends: list[str], unknown: set[str], unwatched: set[str]
) -> None:
    """With API sources failing (a wrong password), removed services and the other ML2
    backend's agents are not among the services not OK: they count only when seen."""
    catalog = load_catalog().deployed(backends)
    health = evaluate(catalog, [source("api.compute", UNK), source("api.network", UNK),
                                source("api.image", OK)])
    status = {s.name: (s.status, s.watched) for s in health.services}
    for name in unknown | {"neutron-server", "nova-compute"}:
        assert status[name] == (UNK, True), name
    for name in unwatched | {"nova-consoleauth", "glance-registry"}:
        assert status[name][1] is False, name  # not watched: left out of the cloud's status
        assert name not in health.message, name
    bad = {s.name for s in health.services if s.watched and s.status is not OK}
    assert health.message.startswith(f"{len(bad)} of {len(bad)} services not OK")
    assert not bad & (unwatched | {"nova-consoleauth", "glance-registry"})


def test_a_service_the_cloud_need_not_have_counts_when_seen() -> None:
    """An old cloud still running nova-consoleauth, an OVS agent on an OVN cloud (a
    migration): seen, so judged and counted like any other."""
    catalog = load_catalog().deployed(["ovn"])
    health = evaluate(catalog, [
        source("api.compute", OK), source("api.network", OK),
        member_check("nova-consoleauth", "ctl1", CRIT),
        member_check("Open vSwitch agent", "net1", OK, label="agent_type"),
        member_check("OVN Controller Gateway agent", "net1", OK, label="agent_type"),
        member_check("OVN Controller agent", "cmp1", CRIT, label="agent_type"),
    ])
    consoleauth = health.service("nova-consoleauth")
    assert consoleauth is not None and consoleauth.watched and consoleauth.status is CRIT
    ovs_agent = health.service("neutron-openvswitch-agent")
    assert ovs_agent is not None and ovs_agent.watched and ovs_agent.status is OK
    ovn = health.service("ovn-controller")
    assert ovn is not None and ovn.status is WARN and ovn.message == "1 of 2 up; down: cmp1"
    assert health.message.startswith("2 of 3 services not OK: nova-consoleauth, ovn-controller")


def test_stale_checks_become_unknown() -> None:
    fresh = CheckResult("c", OK, "fine", timestamp=1000.0)
    old = CheckResult("c", CRIT, "down", timestamp=100.0)
    assert expire([fresh, old], now=1010.0, max_age=300) == [
        fresh, CheckResult("c", UNK, "stale: last seen 910 s ago: down", timestamp=100.0)]


def test_other_checks_count_when_known_problems_only() -> None:
    catalog = load_catalog()
    base = [member_check("nova-compute", "cmp1", OK)]
    waiting = CheckResult("crosscheck", UNK, "vcpus: SQL side not read yet",
                          make_labels(what="vcpus"))
    disagree = CheckResult("crosscheck", WARN, "error VMs: API 3, database 2",
                           make_labels(what="error_vms"))
    assert evaluate(catalog, [*base, waiting]).status is OK
    health = evaluate(catalog, [*base, waiting, disagree])
    assert health.status is WARN
    assert health.message.endswith("; 1 other checks not OK: crosscheck")
    assert health.others == (disagree, waiting)


def part(name: str, source: str, resource: str, status: Status = UNK) -> CheckResult:
    return CheckResult(name, status, f"{source} {resource}: {status.name}",
                       make_labels(source=source, resource=resource, region="RegionOne"))


def endpoint(service_type: str, codename: str, status: Status = OK) -> CheckResult:
    return CheckResult("api.endpoint", status, f"{codename} API answers",
                       make_labels(service=codename, service_type=service_type))


HEALTHY = [source("api.compute", OK), source("api.block_storage", OK), source("sql.nova", OK),
           endpoint("compute", "nova"), endpoint("block-storage", "cinder"),
           member_check("nova-compute", "cmp1", OK), member_check("nova-conductor", "ctl1", OK)]


@pytest.mark.parametrize(
    ("extra", "cloud", "service", "service_status", "blind", "message_end"),
    [
        # nothing blind: OK, no parts
        ([], OK, "nova-api", OK, [], "all 4 watched services OK"),
        # an unread resource checked OK is not blind
        ([part("stackwatch.resource", "api.compute", "quotas", OK)], OK, "nova-api", OK, [],
         "all 4 watched services OK"),
        # one resource of api.compute unread: nova-api shows it, the cloud is UNKNOWN
        ([part("stackwatch.resource", "api.compute", "quotas")], UNK, "nova-api", OK,
         [("api.compute", "quotas")], "; partly blind: api.compute quotas"),
        # some projects unread (per-project reads), and a resource: both listed
        ([part("stackwatch.partial", "api.compute", "quotas"),
          part("stackwatch.resource", "api.compute", "usage")], UNK, "nova-api", OK,
         [("api.compute", "quotas"), ("api.compute", "usage")],
         "; partly blind: api.compute quotas, usage"),
        # api.block_storage is about cinder-api (service_type block-storage), not nova
        ([part("stackwatch.partial", "api.block_storage", "quotas")], UNK, "cinder-api", OK,
         [("api.block_storage", "quotas")], "; partly blind: api.block_storage quotas"),
        # a SQL source is about the services that list it: nova-conductor among them
        ([part("stackwatch.resource", "sql.nova", "services")], UNK, "nova-conductor", OK,
         [("sql.nova", "services")], "; partly blind: sql.nova services"),
        # a known problem outranks the blind spot (UNKNOWN ranks below WARNING)
        ([part("stackwatch.resource", "api.compute", "quotas"),
          member_check("nova-compute", "cmp2", CRIT)], WARN, "nova-api", OK,
         [("api.compute", "quotas")], "; partly blind: api.compute quotas"),
        # a CRITICAL endpoint stays CRITICAL with its resources unread
        ([endpoint("compute", "nova", CRIT),
          part("stackwatch.resource", "api.compute", "servers")], CRIT, "nova-api", CRIT,
         [("api.compute", "servers")], "; partly blind: api.compute servers"),
    ],
)
def test_partly_blind_sources(
    extra: list[CheckResult], cloud: Status, service: str, service_status: Status,
    blind: list[tuple[str, str]], message_end: str,
) -> None:
    health = evaluate(load_catalog(), [*HEALTHY, *extra])
    found = health.service(service)
    assert found is not None
    assert found.status is service_status
    assert [(p.source, p.resource) for p in found.blind] == blind
    assert all(p.status is UNK for p in found.blind)
    if blind:
        assert found.message.endswith("; partly blind: " + message_end.split(": ", 1)[1])
    assert health.status is cloud
    assert health.message.endswith(message_end), health.message
    assert [(p.source, p.resource) for p in health.blind] == blind


def test_parts_of_a_wholly_failed_source_are_not_partly_blind() -> None:
    health = evaluate(load_catalog(), [
        source("api.compute", UNK, "api.compute: SourceUnavailable: refused"),
        part("stackwatch.resource", "api.compute", "quotas"),
        member_check("nova-compute", "cmp1", OK)])
    assert health.blind == ()
    assert health.status is UNK
    assert health.message.endswith("; sources that could not look: api.compute")


def test_other_services_are_not_marked_by_a_part_they_do_not_depend_on() -> None:
    health = evaluate(load_catalog(), [*HEALTHY,
                                       part("stackwatch.resource", "api.compute", "quotas")])
    for name in ("nova-compute", "nova-conductor", "cinder-api", "keystone"):
        assert health.service(name).blind == (), name  # type: ignore[union-attr]


def test_blind_parts_are_served() -> None:
    from stackwatch.query.models import HealthView

    health = evaluate(load_catalog(), [*HEALTHY,
                                       part("stackwatch.partial", "api.compute", "quotas")])
    served = HealthView.of(health).model_dump(mode="json")
    api = next(s for s in served["services"] if s["name"] == "nova-api")
    assert api["blind"] == [{"source": "api.compute", "resource": "quotas",
                             "status": "UNKNOWN", "message": "api.compute quotas: UNKNOWN"}]
    assert served["blind"] == api["blind"] and served["status"] == "UNKNOWN"


def test_a_service_nothing_watches_is_unwatched_not_ok() -> None:
    from stackwatch.commands import render_status
    from stackwatch.query.models import HealthView

    health = evaluate(load_catalog(), HEALTHY)
    rabbit = health.service("rabbitmq")
    assert rabbit is not None and not rabbit.watched
    assert rabbit.status is not OK and rabbit.verdict == "UNWATCHED"
    served = {s["name"]: s for s in HealthView.of(health).model_dump(mode="json")["services"]}
    assert served["rabbitmq"]["status"] == "UNWATCHED"
    assert served["nova-compute"]["status"] == "OK"
    # the cloud's verdict counts the watched ones only, as before
    assert health.status is OK and health.message == "all 4 watched services OK"
    [line] = [click.unstyle(ln) for ln in render_status(health, [], show_all=True)
              if "rabbitmq" in ln]
    assert line.split()[:2] == ["UNWATCHED", "rabbitmq"]


def db_view(name: str, binary: str, host: str, status: Status,
            region: str = "RegionOne") -> CheckResult:
    """A check as a SQL source gives from a services (agents) table."""
    return CheckResult(name, status, f"{binary} on {host}: {status.name} (database)",
                       make_labels(binary=binary, host=host, region=region))


def api_view(name: str, binary: str, host: str, status: Status,
             region: str = "RegionOne") -> CheckResult:
    return CheckResult(name, status, f"{binary} on {host}: {status.name}",
                       make_labels(binary=binary, host=host, region=region))


SQL_SAYS = [source("sql.nova", OK), source("sql.cinder", OK), source("sql.neutron", OK),
            db_view("nova.db_service", "nova-compute", "cmp1", OK),
            db_view("nova.db_service", "nova-compute", "cmp2", CRIT),
            db_view("nova.db_service", "nova-conductor", "ctl1", OK),
            db_view("cinder.db_service", "cinder-volume", "st1@lvm", OK),
            db_view("neutron.db_agent", "neutron-l3-agent", "net1", CRIT)]


@pytest.mark.parametrize(
    ("api", "compute", "conductor", "l3"),
    [
        # SQL sources only (-s sql): the database's view is all there is, and it counts
        ([], WARN, OK, CRIT),
        # a wrong API password: every API source failed; the database still sees the members
        ([source("api.compute", UNK, "api.compute: 401"),
          source("api.network", UNK, "api.network: 401")], WARN, OK, CRIT),
        # the API's list of services could not be read (one resource): the database fills in
        ([source("api.compute", OK), part("stackwatch.resource", "api.compute", "services")],
         WARN, OK, CRIT),
        # the API read its lists: its view wins (cmp2 up, the L3 agent alive), the database's
        # (seconds older or newer) is not counted
        ([source("api.compute", OK), source("api.network", OK),
          api_view("nova.service", "nova-compute", "cmp1", OK),
          api_view("nova.service", "nova-compute", "cmp2", OK),
          api_view("nova.service", "nova-conductor", "ctl1", OK),
          api_view("neutron.agent", "neutron-l3-agent", "net1", OK)], OK, OK, OK),
        # the API read in another region does not hide this region's database view
        ([source("api.compute", OK),
          api_view("nova.service", "nova-compute", "cmpX", OK, region="RegionTwo")],
         WARN, OK, CRIT),
    ],
)
def test_the_database_view_counts_exactly_when_the_api_was_not_read(
    api: list[CheckResult], compute: Status, conductor: Status, l3: Status,
) -> None:
    health = evaluate(load_catalog(), [*api, *SQL_SAYS])
    statuses = {s.name: s.status for s in health.services if s.watched}
    assert (statuses["nova-compute"], statuses["nova-conductor"],
            statuses["neutron-l3-agent"]) == (compute, conductor, l3), health.message
    assert statuses["cinder-volume"] is OK  # no API view of cinder given: the database's
    assert "nothing watched" not in health.message


def test_one_clouds_api_read_does_not_hide_anothers_database_view() -> None:
    """Two clouds, both RegionOne: east's API was refused (its database sees cmp2 down),
    west's API read its services (all up). East's database view counts; west's API's."""
    def of(cloud: str, check: CheckResult) -> CheckResult:
        labels = dict(check.labels)
        if check.name == "stackwatch_source":
            labels["source"] = f"{cloud}/{labels['source']}"
        else:
            labels["cloud"] = cloud
        return replace(check, labels=make_labels(labels))

    checks = [of("east", source("api.compute", UNK, "api.compute: 401")),
              of("east", source("sql.nova", OK)),
              of("east", db_view("nova.db_service", "nova-compute", "cmp2", CRIT)),
              of("west", source("api.compute", OK)),
              of("west", api_view("nova.service", "nova-compute", "cmp1", OK)),
              of("west", db_view("nova.db_service", "nova-compute", "cmp1", CRIT))]
    compute = next(s for s in evaluate(load_catalog(), checks).services
                   if s.name == "nova-compute")
    assert {(m.host, m.status) for m in compute.members} == {("cmp2", CRIT), ("cmp1", OK)}
