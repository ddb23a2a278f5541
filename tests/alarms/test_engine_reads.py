"""How the engine reads the store: each window once a cycle, and each group combined
exactly (``fsum``) over its series' values, whatever their order."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from stackwatch.store.base import WindowValues

from .harness import Harness

pytestmark = pytest.mark.unit

LATENCY = "openstack_api_endpoint_latency_seconds"
LOAD = "stackwatch_node_load1"


def by_host(name: str, metric: str, combine: str, threshold: float) -> dict[str, Any]:
    return {"name": name, "metric": metric, "statistic": "avg", "period": 60,
            "group_by": ["host"], "aggregate": combine, "threshold": threshold,
            "match": {"kind": "api"}}


def test_each_window_read_once_and_groups_combined_exactly(
        tmp_path: Path) -> None:
    h = Harness(tmp_path, by_host("sum", LATENCY, "sum", 0.6),
                by_host("max", LATENCY, "max", 0.25), by_host("load", LOAD, "avg", 1.0),
                now=time.time())
    try:
        reads: list[str] = []
        read = h.store.window_values

        def counted(name: str, *args: Any) -> WindowValues:
            reads.append(name)
            return read(name, *args)

        h.store.window_values = counted  # type: ignore[method-assign,assignment]
        # c1's three series sum to 0.6 exactly (fsum), not 0.6000000000000001 (in order)
        for index, value in (("a", 0.1), ("b", 0.2), ("c", 0.3)):
            h.points(LATENCY, {"host": "c1", "kind": "api", "index": index},
                     [(30, value), (10, value)])
        h.points(LATENCY, {"host": "c2", "kind": "api", "index": "a"}, [(10, 0.7)])
        h.points(LATENCY, {"host": "c2", "kind": "db", "index": "b"}, [(10, 9.0)])  # left out
        h.points(LOAD, {"host": "c1", "kind": "api"}, [(10, 3.0)])
        for cycle in range(2):
            h.run(advance=cycle * 1.0)
            assert h.states_of("sum") == {(("host", "c1"),): "ok", (("host", "c2"),): "alarm"}
            assert h.states_of("max") == {(("host", "c1"),): "alarm",
                                          (("host", "c2"),): "alarm"}
            assert h.states_of("load") == {(("host", "c1"),): "alarm"}
        # two windows a cycle (sum and max read the same one)
        assert sorted(reads) == [LATENCY, LATENCY, LOAD, LOAD]
        sums = {r.labels: r.value for r in h.engine.current() if r.alarm == "sum"}
        assert sums[(("host", "c1"),)] == 0.6
    finally:
        h.close()
