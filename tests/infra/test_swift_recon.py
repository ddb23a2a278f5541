"""infra.swift on the recon answers of real swift servers (``tests/data/recorded/swift/``),
served by small HTTP servers on 127.0.0.1: the figures, nodes whose rings disagree, an
unmounted drive and replication failures in health, and every way of failing to look."""

from __future__ import annotations

import contextlib
import copy
import http.server
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.errors import SourceTimeout
from stackwatch.health.evaluate import evaluate
from stackwatch.infra_config import SwiftConfig
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sources.infra.swift import SwiftSource

pytestmark = pytest.mark.unit

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded" / "swift"
KINDS = ("object", "container", "account")
#: an answer: a JSON body, or (status, raw bytes), or None: never answered in time
Answer = Any
HANG = None


def recorded(kind: str) -> dict[str, Answer]:
    """The recorded answers of one server, by recon path (``replication/object``...)."""
    answers: dict[str, Answer] = {}
    for path in RECORDED.glob(f"{kind}-*.json"):
        check = path.stem.split("-", 1)[1].replace("_", "/")
        answers[check] = json.loads(path.read_text())
    return answers


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        answer = self.server.answers.get(self.path.removeprefix("/recon/"), (404, b"no"))
        if answer is HANG:
            time.sleep(self.server.hang_s)
            return
        status, body = answer if isinstance(answer, tuple) else (
            200, json.dumps(answer).encode())
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    answers: Mapping[str, Answer]
    hang_s = 2.0


@contextlib.contextmanager
def recon(answers: Mapping[str, Answer]) -> Iterator[str]:
    """A recon middleware on 127.0.0.1 answering ``answers``; yields its address."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.answers = answers
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def cluster(nodes: Mapping[str, Mapping[str, Mapping[str, Answer]]], **options: object
            ) -> Iterator[SwiftSource]:
    """An infra.swift source over one recon server per node and kind: node -> kind ->
    answers."""
    with contextlib.ExitStack() as stack:
        config: dict[str, Any] = {"timeout": 0.5, **options}
        for node, kinds in nodes.items():
            for kind, answers in kinds.items():
                address = stack.enter_context(recon(answers))
                config.setdefault(kind, []).append({"address": address, "host": node})
        yield SwiftSource(SwiftConfig.model_validate(config))


def value(out: Collection, name: str, **labels: str) -> float:
    found = [s.value for s in out.samples if s.name == name
             and all(s.label(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def only(out: Collection, name: str, **labels: str) -> CheckResult:
    found = [c for c in out.checks if c.name == name
             and all(dict(c.labels).get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, out.checks)
    return found[0]


def real() -> dict[str, dict[str, Answer]]:
    return {kind: recorded(kind) for kind in KINDS}


def test_recorded_answers_give_their_figures() -> None:
    answers = real()
    with cluster({"stor1": answers}) as source:
        started = time.time()
        out = source.collect()
    assert_declared(out, source="infra")
    version = answers["object"]["version"]["version"]
    for kind in KINDS:
        assert value(out, "stackwatch_swift_version_info", node="stor1", kind=kind,
                     version=version) == 1
        repl = answers[kind][f"replication/{kind}"]
        stats = repl["replication_stats"]
        assert value(out, "stackwatch_swift_replication_failures", node="stor1",
                     kind=kind) == stats["failure"]
        assert value(out, "stackwatch_swift_replication_successes", node="stor1",
                     kind=kind) == stats["success"]
        minutes = kind == "object"  # swift/obj/replicator.py writes minutes
        assert value(out, "stackwatch_swift_replication_duration_seconds", node="stor1",
                     kind=kind) == pytest.approx(repl["replication_time"]
                                                 * (60 if minutes else 1))
        age = value(out, "stackwatch_swift_replication_age_seconds", node="stor1", kind=kind)
        assert started - repl["replication_last"] <= age <= time.time() - repl[
            "replication_last"]
        server = only(out, "swift.server", service=f"swift-{kind}-server", host="stor1")
        assert server.status is Status.OK, server.message
        assert value(out, "stackwatch_infra_target_up", target=f"stor1:{kind}") == 1
    assert value(out, "stackwatch_swift_async_pendings", node="stor1") == answers[
        "object"]["async"]["async_pending"]
    # the one-node swift keeps its device in a directory (mount_check = false): recon
    # says it is not mounted, with no sizes, as /recon/unmounted lists it
    unmounted = [d["device"] for d in answers["object"]["unmounted"]]
    assert unmounted == [d["device"] for d in answers["object"]["diskusage"]
                         if d["mounted"] is False] == ["sdb1"]
    assert value(out, "stackwatch_swift_unmounted_drives", node="stor1") == 1
    assert value(out, "stackwatch_swift_device_mounted", node="stor1", device="sdb1") == 0
    drives = only(out, "swift.drives", host="stor1")
    assert drives.status is Status.WARNING and "not mounted: sdb1" in drives.message
    quarantined = answers["object"]["quarantined"]
    for key, kind in (("objects", "object"), ("containers", "container"),
                      ("accounts", "account")):
        assert value(out, "stackwatch_swift_quarantined", node="stor1",
                     kind=kind) == quarantined[key]
    rings = sorted(Path(p).name for p in answers["object"]["ringmd5"])
    assert rings == ["account.ring.gz", "container.ring.gz", "object.ring.gz"]
    for ring in rings:
        assert value(out, "stackwatch_swift_ring_md5_agreement", ring=ring) == 1
        assert only(out, "swift.agreement", what=ring).status is Status.OK
    assert value(out, "stackwatch_swift_version_agreement") == 1
    # the node's devices are read once, through its object server
    assert len([s for s in out.samples if s.name == "stackwatch_swift_unmounted_drives"]) == 1
    health = evaluate(default_catalog(), out.checks)
    status = {kind: health.service(f"swift-{kind}-server") for kind in KINDS}
    assert {k: s.status if s else None for k, s in status.items()} == {
        "object": Status.WARNING, "container": Status.OK, "account": Status.OK}


def test_told_mount_check_is_off_a_directory_is_not_judged() -> None:
    with cluster({"stor1": real()}, mount_check=False) as source:
        out = source.collect()
    drives = only(out, "swift.drives", host="stor1")
    assert drives.status is Status.OK and "mount_check off" in drives.message
    assert value(out, "stackwatch_swift_unmounted_drives", node="stor1") == 0
    assert evaluate(default_catalog(), out.checks).status is Status.OK


def mounted(tmp_path: Path, device: str, used_share: float | None = None) -> dict[str, Any]:
    """A mounted device's diskusage entry as recon computes it (os.statvfs of its
    directory), or with ``used_share`` of its size used."""
    disk = os.statvfs(tmp_path)
    size = disk.f_bsize * disk.f_blocks
    avail = disk.f_bsize * disk.f_bavail
    if used_share is not None:
        avail = int(size * (1 - used_share))
    return {"device": device, "mounted": True, "size": size, "used": size - avail,
            "avail": avail}


def test_mounted_devices_give_their_sizes(tmp_path: Path) -> None:
    obj = copy.deepcopy(recorded("object"))
    entry = mounted(tmp_path, "sdc1")
    obj["diskusage"] = [entry]
    with cluster({"stor1": {"object": obj}}) as source:
        out = source.collect()
    for field in ("size", "used", "avail"):
        assert value(out, f"stackwatch_swift_device_{field}_bytes", node="stor1",
                     device="sdc1") == entry[field]
    assert value(out, "stackwatch_swift_device_mounted", node="stor1", device="sdc1") == 1
    assert value(out, "stackwatch_swift_unmounted_drives", node="stor1") == 0


def _other_ring(answers: dict[str, Answer], ring: str, md5: str) -> dict[str, Answer]:
    changed = copy.deepcopy(answers)
    changed["ringmd5"] = {path: (md5 if path.endswith("/" + ring) else value)
                          for path, value in changed["ringmd5"].items()}
    return changed


def test_a_node_whose_ring_differs_is_named_and_warns() -> None:
    obj = recorded("object")
    nodes = {"stor1": {"object": obj}, "stor2": {"object": obj},
             "stor3": {"object": _other_ring(obj, "object.ring.gz", "0" * 32)}}
    with cluster(nodes) as source:
        out = source.collect()
    assert value(out, "stackwatch_swift_ring_md5_agreement", ring="object.ring.gz") == 0
    assert value(out, "stackwatch_swift_ring_md5_agreement", ring="account.ring.gz") == 1
    agrees = {s.label("node"): s.value for s in out.samples
              if s.name == "stackwatch_swift_ring_md5_agrees"
              and s.label("ring") == "object.ring.gz"}
    assert agrees == {"stor1": 1, "stor2": 1, "stor3": 0}
    result = only(out, "swift.agreement", what="object.ring.gz")
    assert result.status is Status.WARNING
    assert "stor3:object (000000000000) differ" in result.message
    assert "2 servers have" in result.message
    health = evaluate(default_catalog(), out.checks)
    assert health.status is Status.WARNING   # a check about no member counts for the cloud


def test_two_nodes_that_disagree_are_both_named() -> None:
    obj = recorded("object")
    nodes = {"stor1": {"object": obj},
             "stor2": {"object": _other_ring(obj, "object.ring.gz", "f" * 32)}}
    with cluster(nodes) as source:
        out = source.collect()
    result = only(out, "swift.agreement", what="object.ring.gz")
    assert result.status is Status.WARNING
    assert "no answer is the most common" in result.message
    assert "stor1:object" in result.message and "stor2:object" in result.message
    assert {s.value for s in out.samples if s.name == "stackwatch_swift_ring_md5_agrees"
            and s.label("ring") == "object.ring.gz"} == {0}


def test_unmounted_drive_full_disk_and_replication_failures_warn_in_health(
        tmp_path: Path) -> None:
    obj = copy.deepcopy(recorded("object"))
    [unmounted] = obj["diskusage"]
    obj["diskusage"] = [mounted(tmp_path, "sdc1", used_share=0.95), unmounted]
    obj["replication/object"]["replication_stats"]["failure"] = 3
    with cluster({"stor1": {"object": obj}}) as source:
        out = source.collect()
    drives = only(out, "swift.drives", host="stor1")
    assert drives.status is Status.CRITICAL
    assert "sdc1 95% used" in drives.message
    assert value(out, "stackwatch_swift_unmounted_drives", node="stor1") == 1
    server = only(out, "swift.server", host="stor1")
    assert server.status is Status.WARNING
    assert "3 replication failures in the last pass" in server.message
    judged = evaluate(default_catalog(), out.checks).service("swift-object-server")
    assert judged is not None and judged.status is Status.CRITICAL   # its only member
    obj["diskusage"] = [mounted(tmp_path, "sdc1", used_share=0.5)]
    obj["replication/object"]["replication_last"] = time.time() - 3 * 86400
    with cluster({"stor1": {"object": obj}}) as source:
        out = source.collect()
    assert only(out, "swift.drives", host="stor1").status is Status.OK
    server = only(out, "swift.server", host="stor1")
    assert server.status is Status.WARNING and "last replication pass 72.0 h ago" in \
        server.message


def test_broken_servers_are_unknown_counted_and_the_others_read() -> None:
    good = real()
    bad_json = {"version": (200, b"{not json")}
    partial = copy.deepcopy(good["object"])
    partial["replication/object"] = (500, b"Internal server error.")
    partial["diskusage"] = {"unexpected": "shape"}
    nodes = {"stor1": {"object": partial, "container": good["container"]},
             "stor2": {"object": bad_json}, "stor3": {"object": {"version": HANG}}}
    with cluster(nodes) as source:
        started = time.monotonic()
        out = source.collect()
        elapsed = time.monotonic() - started
        again = source.collect()
    assert elapsed < 3   # the hanging server costs its one timeout (0.5 s)
    assert value(out, "stackwatch_infra_target_up", target="stor1:object") == 1
    assert value(out, "stackwatch_infra_target_up", target="stor2:object") == 0
    assert value(out, "stackwatch_infra_target_up", target="stor3:object") == 0
    assert "not JSON" in only(out, "swift.server", host="stor2").message
    stor3 = only(out, "swift.server", host="stor3")
    assert stor3.status is Status.UNKNOWN and "no answer within 0.5s" in stor3.message
    unread = {dict(c.labels)["resource"]: c for c in out.checks
              if c.name == "stackwatch.resource"}
    assert set(unread) == {"stor1:object replication/object", "stor1:object diskusage"}
    assert "HTTP 500" in unread["stor1:object replication/object"].message
    assert "not a list of devices" in unread["stor1:object diskusage"].message
    assert value(again, "stackwatch_swift_recon_failures_total", node="stor1", kind="object",
                 check="replication/object") == 2
    assert value(again, "stackwatch_swift_recon_failures_total", node="stor1", kind="object",
                 check="ringmd5") == 0
    assert value(again, "stackwatch_infra_target_failures_total",
                 target="stor3:object") == 2
    # what was read still counts: stor1's rings, its container server's figures
    assert value(out, "stackwatch_swift_ring_md5_agreement", ring="object.ring.gz") == 1
    assert value(out, "stackwatch_swift_replication_successes", node="stor1",
                 kind="container") >= 0
    health = evaluate(default_catalog(), out.checks)
    judged = health.service("swift-object-server")
    assert judged is not None and judged.blind   # stor1 partly read


def test_no_server_readable_raises() -> None:
    with cluster({"stor1": {"object": {"version": HANG}}}) as source, pytest.raises(
            SourceTimeout):
        source.collect()


def test_every_metric_is_emitted_by_these_answers(tmp_path: Path) -> None:
    obj = _other_ring(recorded("object"), "object.ring.gz", "0" * 32)
    obj["diskusage"] = [mounted(tmp_path, "sdc1")]
    nodes = {"stor1": real(), "stor2": {"object": obj}}
    with cluster(nodes) as source:
        out = source.collect()
    assert_declared(out, source="infra")
    assert_covered(out, "infra.swift")
