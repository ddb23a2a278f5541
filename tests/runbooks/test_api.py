"""The runbooks over REST and on the dashboard, from a running server on the simulator:
a reader may diagnose but not fix; an operator's dry run and application are audited
under the token's name and shown by /api/v1/audit and the /audit page."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackwatch.server import Monitor
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.store.base import Role
from stackwatch.tokens import issue

from .conftest import configured
from .test_fixer import bindings

pytestmark = pytest.mark.integration


class Client:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def call(self, method: str, path: str) -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path, method=method, headers={
            "Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                body = answer.read().decode()
                status = answer.status
        except urllib.error.HTTPError as refused:
            body, status = refused.read().decode(), refused.code
        return status, (json.loads(body) if body.startswith(("{", "[")) else body)


@pytest.fixture
def server(cloud: SimulatedCloud, tmp_path: Path) -> Iterator[tuple[Monitor, Client, Client]]:
    config = configured(cloud, enabled=["l3-failover"])
    config = config.model_copy(update={
        "store": config.store.model_copy(update={"path": tmp_path / "store.sqlite"}),
        "web": config.web.model_copy(update={"allow_local": False})})
    with Monitor(config, [], listen=("127.0.0.1", 0)) as monitor:
        now = time.time()
        reader = Client(monitor.url, issue(monitor.tokens, "reader", Role.READ, now))
        operator = Client(monitor.url, issue(monitor.tokens, "ops-1", Role.OPERATOR, now))
        yield monitor, reader, operator


def test_a_reader_diagnoses_an_operator_fixes_and_the_audit_shows_it(
        cloud: SimulatedCloud, server: tuple[Monitor, Client, Client]) -> None:
    _, reader, operator = server
    cloud.inject("l3-agent-dead")
    try:
        status, diagnosis = reader.call("GET", "/api/v1/diagnose/l3-failover")
        assert status == 200 and diagnosis["verdict"] == "CRITICAL", diagnosis
        assert "stranded" in diagnosis["summary"]
        status, every = reader.call("GET", "/api/v1/diagnose")
        assert status == 200 and "l3-failover" in {d["runbook"] for d in every}
        assert reader.call("GET", "/api/v1/diagnose/nope")[0] == 404
        status, refused = reader.call("POST", "/api/v1/fix/l3-failover")
        assert status == 403 and "needs an operator token" in refused["error"]["message"]
        before = bindings(cloud)
        status, dry = operator.call("POST", "/api/v1/fix/l3-failover")
        assert status == 200 and dry["dry_run"] and dry["plan"]["changes"], dry
        assert bindings(cloud) == before
        status, token_flush = operator.call("POST", "/api/v1/fix/token-flush?dry_run=false")
        assert status in (404, 409), token_flush  # not enabled here (404: not built yet)
        status, done = operator.call("POST", "/api/v1/fix/l3-failover?dry_run=false")
        assert status == 200 and done["ok"] and not done["dry_run"], done
        assert done["plan"]["plan_id"] == dry["plan"]["plan_id"]
        moved = {c["target"]: c["after"].rsplit(" ", 1)[1] for c in done["plan"]["changes"]}
        assert all(bindings(cloud)[r] == {a} for r, a in moved.items())
        assert reader.call("GET", "/api/v1/diagnose/l3-failover")[1]["verdict"] == "OK"
        status, page = reader.call("GET", "/api/v1/audit?fix=l3-failover")
        assert status == 200
        applied = [e for e in page["items"] if not e["dry_run"]]
        assert {e["target"] for e in applied} == set(moved)
        assert all(e["actor"] == "ops-1" and e["role"] == "operator"
                   and e["result"] == "applied" for e in applied)
        assert any(e["dry_run"] and e["plan_id"] == dry["plan"]["plan_id"]
                   for e in page["items"])
        status, html = reader.call("GET", "/audit")
        assert status == 200 and 'id="audit"' in html
        assert all(router in html for router in moved) and "ops-1" in html
    finally:
        cloud.clear("l3-agent-dead")
