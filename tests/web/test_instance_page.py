"""The instance page, its JSON twin, ``/api/v1/instances/{id}/timeline`` and ``stackwatch
trace``: one timeline merging notifications (as the bus consumer writes them), instance
actions and their events, faults and migrations, each step saying where it comes from."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from stackwatch.catalog.loader import load_catalog
from stackwatch.logcli import trace
from stackwatch.model import Collection, Event, Item, ItemKind, Severity, make_labels
from stackwatch.store.sqlite import SQLiteStore
from stackwatch.web.app import make_app

pytestmark = pytest.mark.unit


class Story:
    """A failed boot, then a migration of another instance, as the sources store them."""

    def __init__(self, store: SQLiteStore, path: Path) -> None:
        self.store = store
        self.path = path
        self.failed = str(uuid.uuid4())
        self.moved = str(uuid.uuid4())
        self.request = f"req-{uuid.uuid4()}"
        self.t0 = time.time() - 600
        t0 = self.t0
        fault = "No valid host was found. There are not enough hosts available."
        events = (
            # the bus consumer's notifications carry the request id; the second names
            # no instance: the trace finds it through the action's request id
            Event("notification", "compute.instance.create.start", t0, service="nova",
                  host="api-1", message="create start", request_id=self.request,
                  resource_ids=(self.failed,)),
            Event("notification", "scheduler.select_destinations.end", t0 + 2,
                  service="nova", host="ctl-1", message="no host", request_id=self.request),
            Event("instance_action", "create", t0, Severity.ERROR, "nova", "ctl-1",
                  "create error in 3.0s: Error", self.request, (self.failed,),
                  make_labels(action="create", result="error", start=t0, finish=t0 + 3)),
            Event("instance_action", "create/conductor_schedule_and_build_instances",
                  t0 + 3, Severity.ERROR, "nova", "ctl-1", f"create: conductor Error: {fault}",
                  self.request, (self.failed,), make_labels(result="Error", details=fault)),
            Event("fault", "fault/500", t0 + 3, Severity.ERROR, "nova", "", fault, "",
                  (self.failed,), make_labels(code="500", message=fault)),
            Event("migration", "live-migration/running", t0 + 100, service="nova",
                  host="cmp-1", message="live-migration cmp-1 -> cmp-2: running",
                  resource_ids=(self.moved,),
                  attributes=make_labels(uuid="m-1", migration_type="live-migration",
                                         status="running", source_compute="cmp-1",
                                         dest_compute="cmp-2", created=t0 + 100)),
            Event("migration", "live-migration/completed", t0 + 142, service="nova",
                  host="cmp-1", message="live-migration cmp-1 -> cmp-2: completed after 42s",
                  resource_ids=(self.moved,),
                  attributes=make_labels(uuid="m-1", migration_type="live-migration",
                                         status="completed", source_compute="cmp-1",
                                         dest_compute="cmp-2", created=t0 + 100,
                                         updated=t0 + 142, duration=42.0)),
        )
        item = Item(ItemKind.SERVER, self.failed, "vm-failed", "ERROR", "", "p1", fault,
                    t0 + 3, make_labels(fault_code="500"))
        store.write(Collection(events=events), "api.compute")
        store.write(Collection(items=(item,)), "api.compute.items")


@pytest.fixture
def story(tmp_path: Path) -> Iterator[Story]:
    path = tmp_path / "store.sqlite"
    store = SQLiteStore(path)
    try:
        yield Story(store, path)
    finally:
        store.close()


def get(store: SQLiteStore, *paths: str) -> list[tuple[int, str]]:
    async def go() -> list[tuple[int, str]]:
        app = make_app(store, load_catalog(), clock=time.time, max_age=600)
        async with TestClient(TestServer(app)) as client:
            return [(r.status, await r.text()) for r in
                    [await client.get(p, allow_redirects=False) for p in paths]]
    return asyncio.run(go())


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_instance_page_and_its_twins(story: Story) -> None:
    [(page_status, html), (twin_status, twin), (api_status, api)] = get(
        story.store, f"/instance/{story.failed}", f"/instance/{story.failed}.json",
        f"/api/v1/instances/{story.failed}/timeline")
    assert (page_status, twin_status, api_status) == (200, 200, 200), html[:500]
    view: dict[str, Any] = json.loads(api)

    def fixed(v: dict[str, Any]) -> dict[str, Any]:  # what the clock moves between reads
        server = dict(v["server"], age_seconds=0)
        return v | {"timestamp": 0, "time": "", "server": server}
    assert fixed(json.loads(twin)) == fixed(view)
    steps = view["steps"]
    # merged and sorted: both notifications (one found by the action's request id), the
    # action, its failed step and the fault; nothing of the other instance
    assert [(s["kind"], s["origin"]) for s in steps] == [
        ("notification", "compute.instance.create.start"), ("instance_action", "create"),
        ("notification", "scheduler.select_destinations.end"),
        ("instance_action", "create/conductor_schedule_and_build_instances"),
        ("fault", "fault/500")]
    assert [s["timestamp"] for s in steps] == sorted(s["timestamp"] for s in steps)
    assert view["actions"] == [{"action": "create", "request_id": story.request,
                                "start": story.t0, "result": "error",
                                "message": "create error in 3.0s: Error"}]
    assert [f["message"] for f in view["faults"]] == [steps[-1]["message"]]
    assert view["server"]["status"] == "ERROR" and view["migrations"] == []
    assert view["errors"] == 3
    shown = text(html)
    assert "vm-failed" in shown and "No valid host was found" in shown
    assert f'href="/trace/{story.request}"' in html
    assert f'href="/trace/{story.failed}"' in html  # the whole trace, log records too
    for kind in ("notification", "instance_action", "fault"):
        assert f"<td>{kind}</td>" in html


def test_migrations_with_their_last_status_and_duration(story: Story) -> None:
    [(status, body)] = get(story.store, f"/api/v1/instances/{story.moved}/timeline")
    assert status == 200
    view = json.loads(body)
    assert view["migrations"] == [{
        "uuid": "m-1", "migration_type": "live-migration", "status": "completed",
        "source_compute": "cmp-1", "dest_compute": "cmp-2", "created": story.t0 + 100,
        "updated": story.t0 + 142, "duration_seconds": 42.0}]
    assert view["server"] is None and view["errors"] == 0


def test_an_unknown_instance_has_an_empty_page_and_a_bad_id_is_refused(story: Story) -> None:
    unknown = str(uuid.uuid4())
    [(page, html), (api, body), (bad, refusal)] = get(
        story.store, f"/instance/{unknown}", f"/api/v1/instances/{unknown}/timeline",
        "/api/v1/instances/not-a-uuid/timeline")
    assert page == 200 and 'id="nothing"' in html
    assert api == 200 and json.loads(body)["steps"] == []
    assert bad == 400 and "id: String should match pattern" in refusal


def test_the_trace_command_says_where_each_line_comes_from(story: Story) -> None:
    story.store.close()
    result = CliRunner().invoke(trace, [story.failed, "--store", str(story.path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 5
    for line, where in zip(lines, ("notification:compute.instance.create.start",
                                   "instance_action:create",
                                   "notification:scheduler.select_destinations.end",
                                   "instance_action:create/conductor_schedule_and_build",
                                   "fault:fault/500"), strict=True):
        assert where in line, line
    as_json = CliRunner().invoke(trace, [story.failed, "--store", str(story.path),
                                         "--format", "json"])
    assert as_json.exit_code == 0
    assert [s["kind"] for s in json.loads(as_json.output)["steps"]] == [
        "notification", "instance_action", "notification", "instance_action", "fault"]
