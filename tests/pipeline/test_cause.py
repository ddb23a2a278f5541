"""Root cause (``health/cause.py``): which symptom explains which, roots first, in the
operations guide's restoration order. Table-driven over the shipped catalog."""

from __future__ import annotations

import pytest

from stackwatch.catalog.loader import default_catalog
from stackwatch.health.cause import RESTORATION_ORDER, Symptom, explain, rank

pytestmark = pytest.mark.unit

CATALOG = default_catalog()


def s(service: str, kind: str = "down", host: str = "", since: float = 0.0,
      key: str = "") -> Symptom:
    return Symptom(key or f"{service}@{host}" if host else key or service, service,
                   host=host, kind=kind, since=since)


#: (case, symptoms, expected [(key, cause key or None)] in the order explain lists them)
CASES = [
    ("conductor explains the computes on every host",
     [s("nova-compute", host="compute-1"), s("nova-conductor"),
      s("nova-compute", host="compute-2")],
     [("nova-conductor", None), ("nova-compute@compute-1", "nova-conductor"),
      ("nova-compute@compute-2", "nova-conductor")]),
    ("keystone explains the APIs that authenticate with it",
     [s("nova-api", "unknown"), s("neutron-server", "unknown"), s("keystone"),
      s("glance-api", "unknown")],
     [("keystone", None), ("glance-api", "keystone"), ("neutron-server", "keystone"),
      ("nova-api", "keystone")]),
    ("the database explains keystone and, through it, the APIs (deepest root)",
     [s("nova-api", "failing"), s("keystone"), s("mysql"), s("nova-conductor")],
     [("mysql", None), ("keystone", "mysql"), ("nova-conductor", "mysql"),
      ("nova-api", "mysql")]),
    ("the message bus explains the conductor and the computes",
     [s("nova-compute", host="c1"), s("rabbitmq"), s("nova-conductor")],
     [("rabbitmq", None), ("nova-conductor", "rabbitmq"), ("nova-compute@c1", "rabbitmq")]),
    ("neutron-server explains nova-api's 5xx",
     [s("nova-api", "failing"), s("neutron-server")],
     [("neutron-server", None), ("nova-api", "neutron-server")]),
    ("nova-api does not explain neutron-server (the need goes one way)",
     [s("nova-api"), s("neutron-server", "failing")],
     [("neutron-server", None), ("nova-api", None)]),
    ("unrelated problems are both roots, in restoration order",
     [s("nova-api"), s("ceph-osd"), s("haproxy", "degraded")],
     [("haproxy", None), ("ceph-osd", None), ("nova-api", None)]),
    ("what began long before its supposed cause is not its consequence",
     [s("nova-compute", host="c1", since=1000.0), s("nova-conductor", since=5000.0),
      s("nova-compute", host="c2", since=5030.0)],
     [("nova-conductor", None), ("nova-compute@c2", "nova-conductor"),
      ("nova-compute@c1", None)]),
    ("a degraded dependency does not explain a dependent wholly down",
     [s("nova-compute", host="c1"), s("nova-conductor", "degraded")],
     [("nova-conductor", None), ("nova-compute@c1", None)]),
    ("a late heartbeat explains late heartbeats of those that need it",
     [s("nova-compute", "late", host="c1"), s("nova-conductor", "late")],
     [("nova-conductor", None), ("nova-compute@c1", "nova-conductor")]),
    ("what could not be looked at causes nothing",
     [s("nova-compute", host="c1"), s("nova-conductor", "unknown")],
     [("nova-conductor", None), ("nova-compute@c1", None)]),
    ("services that need each other explain neither (dnsmasq and its DHCP agent)",
     [s("dnsmasq"), s("neutron-dhcp-agent")],
     [("dnsmasq", None), ("neutron-dhcp-agent", None)]),
    ("an alias names the service (the API's service type)",
     [s("compute", "failing", key="api-5xx"), s("network")],
     [("network", None), ("api-5xx", "network")]),
    ("an alarm's words: no kind is down, CRITICAL down, insufficient data unknown",
     [s("nova-compute", "", host="c1"), s("nova-conductor", "CRITICAL"),
      s("nova-compute", "insufficient data", host="c2")],
     [("nova-conductor", None), ("nova-compute@c1", "nova-conductor"),
      ("nova-compute@c2", "nova-conductor")]),
    ("a kind not known is failing: explained, causing nothing",
     [s("rabbitmq", "queue-backlog"), s("nova-conductor", "flapping")],
     [("rabbitmq", None), ("nova-conductor", None)]),
    ("nothing wrong, nothing listed", [], []),
]


@pytest.mark.parametrize(("symptoms", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_explain(symptoms: list[Symptom], expected: list[tuple[str, str | None]]) -> None:
    got = explain(symptoms, CATALOG)
    assert [(e.symptom.key, e.cause) for e in got] == expected
    for e in got:
        if e.cause is not None:
            root = next(r for r in got if r.symptom.key == e.cause)
            assert e.reason.startswith(f"because of {root.symptom.service}")


def test_restoration_order_ranks_the_guides_stages() -> None:
    assert RESTORATION_ORDER == ("network", "storage", "message queue and database",
                                 "keystone", "schedulers", "APIs", "dashboard")
    ranks = {name: rank(CATALOG.service(name)) for name in (
        "haproxy", "ceph-mon", "mysql", "rabbitmq", "keystone", "nova-conductor",
        "nova-scheduler", "nova-api", "neutron-server", "nova-compute")}
    assert ranks["haproxy"] < ranks["ceph-mon"] < ranks["mysql"] == ranks["rabbitmq"] \
        < ranks["keystone"] < ranks["nova-conductor"] == ranks["nova-scheduler"] \
        < ranks["nova-api"] == ranks["neutron-server"] < ranks["nova-compute"]


def test_nova_api_needs_neutron_server() -> None:
    spec = CATALOG.service("nova-api")
    assert spec is not None and "neutron-server" in spec.depends_on
