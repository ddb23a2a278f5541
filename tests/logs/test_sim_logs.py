"""The simulator's logs (sim-world's LogWriter): parsed to the last line, requests counted
as served, and the 401-storm and 5xx-burst scenarios detected."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stackwatch.config import CloudConfig, LogsConfig
from stackwatch.model import Collection, Sample, Status
from stackwatch.sim.events import ServedRequest
from stackwatch.sim.generate import Sizing, generate
from stackwatch.sim.logwriter import HAPROXY, LogWriter
from stackwatch.sim.state import CloudState
from stackwatch.sim.traffic import TrafficGenerator
from stackwatch.sources.logs import LogsSource, build_log_sources

pytestmark = pytest.mark.integration

# service type (ServedRequest.service) -> the logs.<service> source that counts it
SOURCE_OF = {"identity": "keystone", "compute": "nova", "placement": "placement",
             "network": "neutron", "image": "glance", "block-storage": "cinder"}


class Sim:
    """A LogWriter with traffic, remembering every request it logged."""

    def __init__(self, root: Path) -> None:
        self.state = CloudState()
        generate(self.state, Sizing.for_size("small"), seed=7, base_url="http://x",
                 admin_password="p")
        self.writer = LogWriter(root, self.state, host="ctl1", seed=3).start()
        self.served: list[ServedRequest] = []
        original = self.writer.on_request

        def record(served: ServedRequest) -> None:
            self.served.append(served)
            original(served)

        self.writer.on_request = record  # type: ignore[method-assign]
        self.traffic = TrafficGenerator(self.writer, self.state, seed=5)

    def sources(self, root: Path, checkpoints: Path) -> dict[str, LogsSource]:
        cloud = CloudConfig(name="sim", logs=LogsConfig(root=root))
        return {s.service: s for s in build_log_sources(cloud, checkpoints, host="ctl1")}


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    simulated = Sim(tmp_path / "log")
    yield simulated
    simulated.writer.close()


def total(collection: Collection, name: str, **labels: str) -> float:
    return sum(s.value for s in collection.samples if s.name == name
               and all(s.label(k) == v for k, v in labels.items()))


def samples(collections: dict[str, Collection]) -> list[Sample]:
    return [s for c in collections.values() for s in c.samples]


def test_simulated_logs_parse_completely_and_count_requests(sim: Sim, tmp_path: Path) -> None:
    sim.traffic.emit(1500)
    now = datetime.now(UTC)
    for minutes in range(0, 60, 5):
        sim.writer.periodic(now + timedelta(minutes=minutes))
    sources = sim.sources(tmp_path / "log", tmp_path / "cp")
    assert {"keystone", "nova", "placement", "neutron", "glance", "cinder", "haproxy",
            "libvirt"} <= set(sources)
    collections = {name: source.collect() for name, source in sources.items()}
    unparsed = [(name, list(p.unparsed_sample)) for name, s in sources.items()
                for p in s._parsers.values() if p.unparsed_sample]
    assert not unparsed
    assert sum(s.value for s in samples(collections)
               if s.name == "openstack_log_lines_total" and s.label("outcome") == "unparsed") == 0
    served = Counter(SOURCE_OF[s.service] for s in sim.served)
    for service, count in served.items():
        assert total(collections[service], "openstack_log_http_requests_total") == count, service
    # one HAProxy line in front of each request
    assert total(collections["haproxy"], "openstack_log_haproxy_http_responses_total") == \
        len(sim.served)
    by_status = Counter((SOURCE_OF[s.service], str(s.status)) for s in sim.served)
    for (service, status), count in by_status.items():
        assert total(collections[service], "openstack_log_http_requests_total",
                     status=status) == count


def test_auth_401_storm_is_detected(sim: Sim, tmp_path: Path) -> None:
    sim.traffic.emit(200)
    sources = sim.sources(tmp_path / "log", tmp_path / "cp")
    calm = sources["keystone"].collect()
    (check,) = calm.checks
    assert check.status == Status.OK
    sim.writer.inject("auth-401-storm", {"source": "203.0.113.50", "count": "300"})
    stormy = sources["keystone"].collect()
    (check,) = stormy.checks
    assert check.status == Status.CRITICAL  # 300 in the window, 5x the threshold of 20
    assert "203.0.113.50 (300)" in check.message
    failures = sum(1 for s in sim.served if s.status == 401 and s.method == "POST"
                   and s.path.endswith("/auth/tokens"))
    assert total(stormy, "openstack_log_identity_auth_failures_total") == failures >= 300
    # HAProxy sees the client address too
    (proxy_check,) = sources["haproxy"].collect().checks
    assert "203.0.113.50" in proxy_check.message


def test_api_5xx_burst_is_detected(sim: Sim, tmp_path: Path) -> None:
    sim.traffic.emit(200)
    sources = sim.sources(tmp_path / "log", tmp_path / "cp")
    before = {name: s.collect() for name, s in sources.items()}
    errors_before = total(before["nova"], "openstack_log_http_server_errors_total")
    backend_before = total(before["haproxy"], "openstack_log_haproxy_backend_server_errors_total",
                           backend=f"{HAPROXY['compute']}_back")
    sim.writer.inject("api-5xx-burst", {"service": "compute", "count": "50", "status": "503"})
    nova = sources["nova"].collect()
    assert total(nova, "openstack_log_http_server_errors_total") - errors_before == 50
    assert total(nova, "openstack_log_http_requests_total", status="503") >= 50
    errors = [e for e in nova.events if e.severity.name in ("ERROR", "CRITICAL")]
    assert errors, "the burst's ERROR records become events"
    proxy = sources["haproxy"].collect()
    assert total(proxy, "openstack_log_haproxy_backend_server_errors_total",
                 backend=f"{HAPROXY['compute']}_back") - backend_before == 50
