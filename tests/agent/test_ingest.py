"""``POST /api/v1/ingest`` over a real store, SQLite and PostgreSQL: a push is stored whole
and once, a bad one is refused with its status, counted, and leaves nothing behind; what
agents pushed reads like any source's, staleness included."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from stackwatch.agent.identity import with_host
from stackwatch.agent.ingest import Ingest
from stackwatch.agent.wire import encode_batch, encode_push
from stackwatch.catalog.loader import load_catalog
from stackwatch.config import ServerConfig, StoreConfig
from stackwatch.model import CheckResult, Collection, Event, PerfDatum, Sample, Severity, Status
from stackwatch.runner import Runner
from stackwatch.store.base import Store
from stackwatch.store.opening import open_store
from stackwatch.store.postgres import PostgresStore
from stackwatch.web.app import make_app

NOW = time.time()
AGENT = "a1b2c3"


class Processes:
    """A node's process check as the node checks make it: a member of nova-compute."""

    name = "node.processes"

    def __init__(self, host: str, up: bool = True) -> None:
        self.host = host
        self.up = up

    def collect(self) -> Collection:
        status = Status.OK if self.up else Status.CRITICAL
        return Collection(
            (Sample.of("stackwatch_test_value", 1 if self.up else 0, host=self.host),),
            (CheckResult("node.process", status, f"nova-compute: {int(self.up)} running",
                         (("host", self.host), ("service", "nova-compute")),
                         (PerfDatum("running", int(self.up), minimum=0),)),),
            (Event("log", "nova.compute.manager", NOW - 1, Severity.ERROR, "nova", "",
                   "boom", f"req-{self.host}"),))


def runs(host: str, up: bool = True) -> list[tuple[str, bool, Collection]]:
    """What an agent on ``host`` buffers: its source's run as the runner makes it, ``host``
    added where the source left it out."""
    runner = Runner([Processes(host, up)], timeout=5)
    return [(r.source, r.partial, with_host(_at_now(r.collection), host))
            for r in runner.run_once()]


def _at_now(collection: Collection) -> Collection:
    """The run stamped at the test's ``NOW``, the server's clock here (the wall clock
    moves on: in a long session a push would come "from the future")."""
    return dataclasses.replace(
        collection,
        samples=tuple(dataclasses.replace(s, timestamp=NOW) for s in collection.samples),
        checks=tuple(dataclasses.replace(c, timestamp=NOW) for c in collection.checks))


def push(host: str = "cmp1", first_seq: int = 1, up: bool = True, agent: str = AGENT,
         created: float = NOW) -> bytes:
    batches = [encode_batch(first_seq + i, host, source, partial, created, collection)
               for i, (source, partial, collection) in enumerate(runs(host, up))]
    return encode_push(agent, batches)


@pytest.fixture
def store(store_config: StoreConfig) -> Iterator[Store]:
    s = open_store(store_config)
    yield s
    s.close()


class Client:
    """The app with an Ingest over ``store``, its clock at ``now``."""

    def __init__(self, store: Store, now: float = NOW, accept: bool = True,
                 **server: Any) -> None:
        self.store = store
        self.ingest = Ingest(store, ServerConfig(**server), clock=lambda: now) \
            if accept else None
        self.now = now

    def call(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None
             = None, now: float | None = None) -> tuple[int, Any]:
        clock = self.now if now is None else now

        async def go() -> tuple[int, Any]:
            app = make_app(self.store, load_catalog(), clock=lambda: clock, max_age=180,
                           ingest=self.ingest)
            async with TestClient(TestServer(app)) as client:
                response = await client.request(method, path, data=body, headers=headers)
                text = await response.text()
                try:
                    return response.status, json.loads(text)
                except ValueError:
                    return response.status, text
        return asyncio.run(go())

    def post(self, body: bytes, **kwargs: Any) -> tuple[int, Any]:
        return self.call("POST", "/api/v1/ingest", body, **kwargs)

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        _, text = self.call("GET", "/metrics")
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(text) for s in f.samples}


def count(store: Store, table: str) -> int:
    if isinstance(store, PostgresStore):
        return int(store._query(f"SELECT COUNT(*) FROM {table}")[0][0])
    conn = store._reader()  # type: ignore[attr-defined]
    return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_a_push_is_stored_once_and_a_replay_is_acknowledged(store: Store) -> None:
    client = Client(store)
    body = push()
    status, ack = client.post(body)
    assert status == 200, ack
    assert ack == {"accepted": [f"{AGENT}:1"], "duplicates": []}
    rows = (count(store, "checks"), count(store, "events"), count(store, "samples"))
    status, ack = client.post(body)  # the agent did not get the first answer
    assert status == 200
    assert ack == {"accepted": [], "duplicates": [f"{AGENT}:1"]}
    assert (count(store, "checks"), count(store, "events"), count(store, "samples")) == rows
    assert count(store, "agent_batches") == 1
    metrics = client.metrics()
    assert metrics[("stackwatch_ingest_batches_total", (("outcome", "stored"),))] == 1
    assert metrics[("stackwatch_ingest_batches_total", (("outcome", "duplicate"),))] == 1
    assert metrics[("stackwatch_ingest_duration_seconds_count", ())] == 2
    # what arrived reads as the node's: its check under the node's source, perfdata kept
    _, checks = client.call("GET", "/api/v1/checks?name=node.process")
    (check,) = checks["items"]
    assert check["labels"] == {"host": "cmp1", "service": "nova-compute"}
    assert check["perfdata"] == ["running=1;;;0"]
    _, sources = client.call("GET", "/api/v1/checks?name=stackwatch_source")
    assert sources["items"][0]["labels"] == {"host": "cmp1", "source": "node.processes"}
    _, events = client.call("GET", "/api/v1/events?start=0")
    assert [e["host"] for e in events["items"]] == ["cmp1"]  # empty host: the node's
    health = client.call("GET", "/api/v1/health")[1]["health"]
    compute = next(s for s in health["services"] if s["name"] == "nova-compute")
    assert compute["status"] == "OK" and compute["members"][0]["host"] == "cmp1"


def test_each_node_replaces_only_its_own_previous_run(store: Store) -> None:
    client = Client(store)
    assert client.post(push("cmp1", 1, agent="agent-1"))[0] == 200
    assert client.post(push("cmp2", 1, agent="agent-2"))[0] == 200
    assert client.post(push("cmp1", 2, up=False, agent="agent-1"))[0] == 200
    health = client.call("GET", "/api/v1/health")[1]["health"]
    compute = next(s for s in health["services"] if s["name"] == "nova-compute")
    members = {m["host"]: m["status"] for m in compute["members"]}
    assert members == {"cmp1": "CRITICAL", "cmp2": "OK"}
    _, samples = client.call("GET", "/api/v1/samples?name=stackwatch_source_up")
    assert sorted(s["labels"]["host"] for s in samples) == ["cmp1", "cmp2"]
    # each node's source is its own row of the sources view, named as stored
    _, views = client.call("GET", "/api/v1/sources")
    assert [(v["source"], v["up"], v["samples"]) for v in views] == [
        ("cmp1/node.processes", 1.0, 1.0), ("cmp2/node.processes", 1.0, 1.0)]
    status, one = client.call("GET", "/api/v1/sources/cmp2%2Fnode.processes")
    assert status == 200 and one["source"] == "cmp2/node.processes"


def test_an_agent_that_stops_pushing_goes_stale(store: Store) -> None:
    """A node whose agent stopped: after max_age its member is UNKNOWN, not OK."""
    client = Client(store)
    assert client.post(push("cmp1"))[0] == 200
    later = NOW + 181  # max_age 180; the checks were stamped at NOW
    health = client.call("GET", "/api/v1/health", now=later)[1]["health"]
    compute = next(s for s in health["services"] if s["name"] == "nova-compute")
    assert compute["status"] == "UNKNOWN"
    assert compute["members"][0]["message"].startswith("stale: last seen 181 s ago: ")
    _, checks = client.call("GET", "/api/v1/checks?name=node.process", now=later)
    assert checks["items"][0]["status"] == "UNKNOWN"


def _refusals(client: Client) -> dict[str, float]:
    return {dict(k[1])["reason"]: v for k, v in client.metrics().items()
            if k[0] == "stackwatch_ingest_refused_total"}


def _batch_json(**change: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(push())["batches"][0]
    data.update(change)
    return data


BAD = [
    ("truncated", push()[:-40], 400, "json", "not valid JSON"),
    ("not json", b"\xff\xfe garbage", 400, "json", "not valid JSON"),
    ("empty", b"", 400, "json", "not valid JSON"),
    ("a list", b"[]", 400, "schema", "not a push"),
    ("no batches", json.dumps({"version": 1, "agent": AGENT, "batches": []}).encode(), 400,
     "schema", "batches"),
    ("version 2", json.dumps({"version": 2, "agent": AGENT,
                              "batches": [_batch_json()]}).encode(), 400, "schema", "version"),
    ("bad status", json.dumps({"version": 1, "agent": AGENT, "batches": [_batch_json(
        checks=[{"name": "c", "status": "FINE", "ts": NOW}])]}).encode(), 400, "schema",
     "batches.0.checks.0.status"),
    ("unknown field", json.dumps({"version": 1, "agent": AGENT, "batches": [_batch_json(
        extra=1)]}).encode(), 400, "schema", "batches.0.extra"),
    ("seq backwards", json.dumps({"version": 1, "agent": AGENT, "batches": [
        _batch_json(seq=5), _batch_json(seq=4)]}).encode(), 400, "schema", "increase"),
    ("host with /", json.dumps({"version": 1, "agent": AGENT, "batches": [
        _batch_json(host="a/b")]}).encode(), 400, "schema", "batches.0.host"),
    ("an hour ahead", push(created=NOW + 3600), 400, "future",
     "is 3600 s in the future"),
]


@pytest.mark.parametrize(("body", "status", "reason", "message"),
                         [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_a_bad_push_is_refused_counted_and_leaves_nothing(
        store: Store, body: bytes, status: int, reason: str, message: str) -> None:
    client = Client(store)
    code, answer = client.post(body)
    assert code == status, answer
    assert message in answer["error"]["message"]
    assert _refusals(client)[reason] == 1
    assert sum(_refusals(client).values()) == 1
    for table in ("agent_batches", "series", "samples", "checks", "events"):
        assert count(store, table) == 0, table


def test_nothing_of_a_push_is_stored_when_one_batch_is_bad(store: Store) -> None:
    good = json.loads(push())["batches"][0]
    late = json.loads(push(first_seq=2, created=NOW + 900))["batches"][0]
    body = json.dumps({"version": 1, "agent": AGENT, "batches": [good, late]}).encode()
    client = Client(store)
    code, answer = client.post(body)
    assert code == 400
    assert "batch 2 (node.processes on cmp1): timestamp" in answer["error"]["message"]
    assert count(store, "agent_batches") == count(store, "samples") == 0
    # within the allowed skew it is taken
    code, _ = client.post(push(created=NOW + 200))
    assert code == 200


def test_a_push_too_large_is_refused_before_it_is_read(store: Store) -> None:
    client = Client(store, max_push_bytes=4096)
    body = push()
    big = encode_push(AGENT, [encode_batch(i + 1, "cmp1", "node.processes", False, NOW,
                                           runs("cmp1")[0][2]) for i in range(20)])
    assert len(body) < 4096 < len(big)
    assert client.post(big)[0] == 413

    async def chunked() -> int:
        async def parts() -> Any:
            for i in range(0, len(big), 1000):
                yield big[i:i + 1000]
        assert client.ingest is not None
        app = make_app(store, load_catalog(), ingest=client.ingest)
        async with TestClient(TestServer(app)) as http:
            response = await http.post("/api/v1/ingest", data=parts())
            return response.status
    assert asyncio.run(chunked()) == 413  # no Content-Length: counted while read
    assert _refusals(client)["too_large"] == 2
    assert count(store, "agent_batches") == 0
    assert client.post(body)[0] == 200


def test_nan_samples_are_left_out_and_counted(store: Store) -> None:
    collection = Collection((Sample.of("stackwatch_test_value", math.nan, host="cmp1"),
                             Sample.of("stackwatch_test_other", math.inf, host="cmp1"),
                             Sample.of("stackwatch_test_third", 2, host="cmp1")))
    body = encode_push(AGENT, [encode_batch(1, "cmp1", "node.host", False, NOW, collection)])
    client = Client(store)
    assert client.post(body)[0] == 200
    assert sorted(s.name for s in store.latest_samples()) == [
        "stackwatch_test_other", "stackwatch_test_third"]
    assert store.latest_samples("stackwatch_test_other")[0].value == math.inf
    assert client.metrics()[("stackwatch_ingest_nan_samples_total", ())] == 1


def test_a_server_not_taking_agents_says_so(store: Store) -> None:
    client = Client(store, accept=False)
    code, answer = client.post(push())
    assert code == 404
    assert "server.accept_agents" in answer["error"]["message"]
    assert count(store, "agent_batches") == 0


def test_the_openapi_document_describes_the_push(store: Store) -> None:
    _, spec = Client(store).call("GET", "/api/v1/openapi.json")
    operation = spec["paths"]["/api/v1/ingest"]["post"]
    assert operation["x-role"] == "agent"
    assert {"200", "400", "401", "403", "413"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"version", "agent"} <= set(body["required"])
    assert body["properties"]["batches"]["items"]["$ref"].endswith("/WireBatch")
    assert "WireBatch" in spec["components"]["schemas"]


def test_the_agents_view_says_who_pushed_what_is_missing_and_how_fresh(
        store: Store) -> None:
    client = Client(store)
    assert client.post(push("cmp1", 1, agent="agent-1"))[0] == 200
    assert client.post(push("cmp1", 4, agent="agent-1"))[0] == 200  # 2 and 3 never came
    assert client.post(push("cmp2", 1, agent="agent-2"))[0] == 200
    status, views = client.call("GET", "/api/v1/agents", now=NOW + 30)
    assert status == 200
    assert [(v["agent"], v["host"], v["batches"], v["first_seq"], v["last_seq"], v["missing"])
            for v in views] == [("agent-1", "cmp1", 2, 1, 4, 2), ("agent-2", "cmp2", 1, 1, 1, 0)]
    assert views[0]["age_seconds"] == 30.0 and views[0]["last_received_time"].endswith("Z")
