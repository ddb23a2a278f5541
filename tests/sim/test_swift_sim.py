"""Swift in the simulator (``optional_services``): ``infra.swift``, as the written
config sets it up, reads the simulated storage nodes' recon middleware and judges them
from the simulator's ground truth, healthy and with each swift fault injected; the
answers have the shape of real swift's (``tests/data/recorded/swift/``); the proxy-server
log the simulator writes parses whole and counts what its traffic sent."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_declared
from stackwatch.config import load_config
from stackwatch.health.evaluate import evaluate
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sim import recon
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.events import ServedRequest
from stackwatch.sim.logwriter import LogWriter
from stackwatch.sim.optional import world_of
from stackwatch.sim.traffic import TrafficGenerator
from stackwatch.sources.infra.swift import SwiftSource
from stackwatch.sources.logs.source import LogsSource
from stackwatch.sources.openstack_api import ApiClient

pytestmark = pytest.mark.integration

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded" / "swift"


@pytest.fixture(scope="module")
def servers(optional_cloud: SimulatedCloud) -> recon.ReconServers:
    served: recon.ReconServers = optional_cloud.world["swift"]
    return served


@pytest.fixture(scope="module")
def source(optional_cloud: SimulatedCloud) -> SwiftSource:
    """infra.swift as ``stackwatch sim`` configures it."""
    [cloud] = load_config(optional_cloud.config_path).clouds
    assert cloud.infra.swift is not None
    return SwiftSource(cloud.infra.swift)


def checks(out: Collection, name: str, status: Status | None = None) -> list[CheckResult]:
    return [c for c in out.checks if c.name == name and status in (None, c.status)]


def values(out: Collection, name: str, **labels: str) -> dict[str, float]:
    """node -> value of ``name`` with ``labels``."""
    return {s.label("node"): s.value for s in out.samples if s.name == name
            and all(s.label(k) == v for k, v in labels.items())}


def test_healthy_cluster_reads_ok_with_the_ground_truth(source: SwiftSource,
                                                        servers: recon.ReconServers) -> None:
    out = source.collect()
    assert_declared(out, source="infra")
    nodes = servers.nodes.nodes
    assert len(nodes) == 3 and len(source.config.servers()) == 9
    assert [s.value for s in out.samples if s.name == "stackwatch_infra_target_up"] == [1] * 9
    assert {c.name for c in out.checks} == {"swift.server", "swift.drives", "swift.agreement"}
    assert [c.message for c in out.checks if c.status is not Status.OK] == []
    assert len(checks(out, "swift.server")) == 9 and len(checks(out, "swift.drives")) == 3
    assert values(out, "stackwatch_swift_async_pendings") == {
        n.name: n.async_pending for n in nodes}
    assert values(out, "stackwatch_swift_quarantined", kind="object") == {
        n.name: n.quarantined["objects"] for n in nodes}
    for kind in recon.KINDS:
        assert values(out, "stackwatch_swift_replication_attempted", kind=kind) == {
            n.name: n.replication[kind].attempted for n in nodes}
        ages = values(out, "stackwatch_swift_replication_age_seconds", kind=kind)
        assert all(0 <= age <= recon.INTERVAL + 5 for age in ages.values()), ages  # recent
    used = {(s.label("node"), s.label("device")): s.value for s in out.samples
            if s.name == "stackwatch_swift_device_used_bytes"}
    assert used == {(n.name, d.name): d.used for n in nodes for d in n.devices}
    health = evaluate(default_catalog(), out.checks)
    for kind in recon.KINDS:
        judged = health.service(f"swift-{kind}-server")
        assert judged is not None and judged.status is Status.OK


def test_answers_have_the_shape_of_real_swifts(servers: recon.ReconServers) -> None:
    """Every check infra.swift reads, on every kind of server: the recorded answer's keys
    and value types (an unmounted device as recorded, after the fault)."""

    def shape(body: Any) -> Any:
        if isinstance(body, dict):
            return {k: shape(v) for k, v in body.items() if k != "policies"}
        if isinstance(body, list):
            return [shape(body[0])] if body else []
        return "number" if isinstance(body, int | float) and not isinstance(body, bool) \
            else type(body).__name__

    node = servers.nodes.nodes[0].name
    servers.inject("swift-drive-unmounted", {"node": node, "device": "sdc1"})
    try:
        for path in RECORDED.glob("*-*.json"):
            kind, check = path.stem.split("-", 1)
            check = check.replace("_", "/")
            address = servers.addresses[node][kind]
            with urllib.request.urlopen(f"http://{address}/recon/{check}", timeout=5) as got:
                assert got.headers["Content-Type"].startswith("application/json")
                body = json.loads(got.read())
            real = json.loads(path.read_text())
            if check == "diskusage":  # one mounted device, one not, as recorded
                assert {json.dumps(shape(d)) for d in body} == {
                    json.dumps(shape(real[0])), json.dumps(shape({
                        "avail": 1, "device": "sdb1", "mounted": True, "size": 1,
                        "used": 1}))}, body
                continue
            if check in ("ringmd5", "swiftconfmd5"):
                assert sorted(body) == sorted(real), body
            assert shape(body) == shape(real), (check, body)
    finally:
        servers.clear("swift-drive-unmounted")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://{servers.addresses[node]['object']}/recon/nothing",
                               timeout=5)
    refused.value.close()
    assert refused.value.code == 404
    # the same seed, the same cluster; another seed, another
    assert recon.generate(1) == recon.generate(1) != recon.generate(2)


@pytest.fixture
def injected(optional_cloud: SimulatedCloud) -> Iterator[list[str]]:
    """Names of the faults a test injects; each cleared after it."""
    names: list[str] = []
    yield names
    for name in names:
        optional_cloud.clear(name)


def test_faults_give_their_verdicts_and_clear(optional_cloud: SimulatedCloud,
                                              source: SwiftSource,
                                              injected: list[str]) -> None:
    for name, params in (("swift-drive-unmounted", {"node": "storage-0002"}),
                         ("swift-ring-mismatch", {}),
                         ("swift-replication-failures", {"count": "7"}),
                         ("swift-disk-full", {"node": "storage-0003", "device": "sde1"})):
        injected.append(name)
        optional_cloud.inject(name, **params)
    out = source.collect()
    [drives] = [c for c in checks(out, "swift.drives", Status.WARNING)]
    assert drives.message == "storage-0002: not mounted: sdb1"
    assert values(out, "stackwatch_swift_unmounted_drives") == {
        "storage-0001": 0, "storage-0002": 1, "storage-0003": 0}
    [full] = checks(out, "swift.drives", Status.CRITICAL)
    assert full.message == "storage-0003: sde1 95% used"
    [ring] = checks(out, "swift.agreement", Status.WARNING)
    assert dict(ring.labels)["what"] == "object.ring.gz"
    assert "6 servers have" in ring.message and "storage-0003:object" in ring.message
    assert values(out, "stackwatch_swift_ring_md5_agreement", ring="object.ring.gz") == {
        "": 0}
    [server] = checks(out, "swift.server", Status.WARNING)
    assert server.message == "storage-0001 object: 7 replication failures in the last pass"
    health = evaluate(default_catalog(), out.checks)
    judged = health.service("swift-object-server")
    assert judged is not None and judged.status is Status.WARNING  # two of three members
    assert health.status is Status.WARNING
    for name in injected:
        optional_cloud.clear(name)
    injected.clear()
    assert [c.message for c in source.collect().checks if c.status is not Status.OK] == []


def test_bad_fault_parameters_are_refused(optional_cloud: SimulatedCloud) -> None:
    from stackwatch.errors import SimulatorError

    for name, params in (("swift-drive-unmounted", {"node": "nowhere"}),
                         ("swift-drive-unmounted", {"device": "sdz9"}),
                         ("swift-ring-mismatch", {"ring": "nothing.ring.gz"}),
                         ("swift-replication-failures", {"count": "many"}),
                         ("swift-disk-full", {"percent": "120"})):
        with pytest.raises(SimulatorError):
            optional_cloud.inject(name, **params)
        optional_cloud.clear(name)


SWIFT_TYPES = {  # the traffic's endpoint -> the swift type the log source counts it under
    "/v1/AUTH_{account}/{container}/{object}": "/v1/{account}/{container}/{object}",
    "/v1/AUTH_{account}/{container}?format=json": "/v1/{account}/{container}",
    "/v1/AUTH_{account}/{container}": "/v1/{account}/{container}",
    "/v1/AUTH_{account}?format=json": "/v1/{account}",
    "/v1/AUTH_{account}": "/v1/{account}",
    "/info": "/info",
}


def requests_counted(out: Collection) -> Counter[tuple[str, str, str]]:
    return Counter({(s.label("method"), s.label("url"), s.label("status")): int(s.value)
                    for s in out.samples if s.name == "openstack_log_http_requests_total"
                    and s.value})


def lines(out: Collection) -> dict[str, float]:
    return {s.label("outcome"): s.value for s in out.samples
            if s.name == "openstack_log_lines_total"}


def test_proxy_log_counts_what_the_traffic_sent(optional_cloud: SimulatedCloud,
                                                tmp_path: Path) -> None:
    writer = LogWriter(tmp_path, optional_cloud.state, optional=True, periodic_every=0,
                       seed=7).start()
    traffic = TrafficGenerator(writer, optional_cloud.state, seed=7, optional=True)
    try:
        traffic.emit(3000)
    finally:
        writer.close()
    sent = Counter({(method, SWIFT_TYPES[template], str(status)): n
                    for (service, method, template, status), n in traffic.sent.items()
                    if service == "object-store"})
    swift = sum(sent.values())
    assert 0.1 < swift / traffic.generated < 0.25   # about a sixth of the control plane's
    assert {m for m, _, _ in sent} == {"GET", "PUT", "HEAD", "DELETE"}
    out = LogsSource("swift", tmp_path, ["swift/proxy*.log"], tmp_path / "cp.json",
                     host="controller").collect()
    assert requests_counted(out) == sent
    counted = lines(out)
    assert counted["unparsed"] == 0 and counted["parsed"] == swift
    assert counted["skipped"] > 0  # the subrequests of the PUTs, start-up, errors
    # the core logs are as they were: the same requests in HAProxy's log, swift's too
    haproxy = (tmp_path / "haproxy" / "haproxy.log").read_text()
    assert haproxy.count(" swift_proxy_server_front ") == swift


def test_served_swift_requests_reach_the_proxy_log(optional_cloud: SimulatedCloud,
                                                   tmp_path: Path) -> None:
    """Requests the simulated swift API answers are in its proxy log, each once."""
    config = load_config(optional_cloud.config_path)
    [cloud] = config.clouds
    assert cloud.logs.root == optional_cloud.log_dir
    log = LogsSource("swift", optional_cloud.log_dir, ["swift/proxy*.log"],
                     tmp_path / "cp.json", host="controller", start="end")
    log.collect()
    seen: list[tuple[str, str, str]] = []

    def hook(served: ServedRequest) -> None:
        if served.service == "object-store":  # /info, then the account's pages
            account = served.path.startswith("/v1/AUTH_") and served.path.count("/") == 2
            seen.append((served.method, "/v1/{account}" if account else served.path,
                         str(served.status)))

    forget = optional_cloud.on_request(hook)
    client = ApiClient("stackwatch-sim", clouds_yaml=optional_cloud.clouds_yaml, timeout=5)
    try:
        account = client.endpoint("object-store").url
        names = [c["name"] for c in client.list_array(
            "object-store", account, "name", params={"format": "json"}, page_size=2)]
    finally:
        client.close()
        forget()
    assert names == [c.name for c in world_of(optional_cloud.state).containers]
    assert seen.count(("GET", "/v1/{account}", "200")) >= 2
    deadline = time.monotonic() + 5
    while True:  # the line is written after the answer is sent
        out = log.collect()
        if lines(out).get("parsed") == len(seen) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert requests_counted(out) == Counter(seen)
    assert lines(out)["unparsed"] == 0
