"""An extra service (tests/realcloud/extra/) seen healthy: its processes running, their
ports held (the node checks of this machine), and each service OK in health with its
endpoint check (the API sources')."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from stackwatch.catalog.loader import default_catalog
from stackwatch.config import NodeConfig
from stackwatch.health.evaluate import evaluate
from stackwatch.model import CheckResult, Status
from stackwatch.sources.node import build_node_sources


def assert_services_healthy(processes: Mapping[str, tuple[int, ...]],
                            api_checks: Iterable[CheckResult],
                            roles: tuple[str, ...] = ("controller",)) -> None:
    """Each service of ``processes`` (its ports) is running, holds its ports, and is OK
    in health judged with ``api_checks``."""
    node = NodeConfig(roles=list(roles), parts=["processes", "ports"], host="realnode")
    checks = [c for s in build_node_sources(node, default_catalog()) for c in s.collect().checks]
    for service, ports in processes.items():
        found = [c for c in checks if c.name == "node.process"
                 and dict(c.labels).get("service") == service]
        assert [c.status for c in found] == [Status.OK], (service, found)
        for port in ports:
            held = [c for c in checks if c.name == "node.port"
                    and dict(c.labels).get("service") == service
                    and dict(c.labels).get("port") == str(port)]
            assert [c.status for c in held] == [Status.OK], (service, port, held)
    health = evaluate(default_catalog(), [*checks, *api_checks])
    for service in processes:
        judged = health.service(service)
        assert judged is not None and judged.status is Status.OK, (service, judged)
