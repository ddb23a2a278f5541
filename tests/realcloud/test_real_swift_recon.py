"""infra.swift against the real swift of ``extra/heat_swift.sh`` (issue 16), figure for figure
with the stock ``swift-recon`` CLI of the realcloud venv on the same servers.

The script's one-node swift keeps its device in a directory (``mount_check = false``), so
the recon middleware says it is not mounted, and ``swift-recon -u`` prints it: stackwatch
must name the same drive (and, told ``mount_check: false`` as the servers are, not judge
it). One pass of each replicator and of ``swift-recon-cron`` (stage ``passes``) fills the
recon cache first, so replication and async pendings have figures to compare. Last,
the log source counts the requests the stock ``swift`` CLI makes in the proxy's log.
``swift-recon --md5`` compares the servers' rings with the files on disk, then stops on
``swift.conf`` (it looks for it in ``/etc/swift`` whatever ``--swiftdir`` says, and this
machine has none): its ring verdict is read from what it printed before.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from realcloud.cloud import RealCloud, port_open
from realcloud.extras import bring_up
from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_declared
from stackwatch.health.evaluate import evaluate
from stackwatch.infra_config import SwiftConfig
from stackwatch.model import Collection, Status
from stackwatch.sources.infra.swift import SwiftSource
from stackwatch.sources.logs.source import LogsSource

SERVERS = {"object": "127.0.0.1:6200", "container": "127.0.0.1:6201",
           "account": "127.0.0.1:6202"}
#: a swift-recon statistics line: ``[name] low: 0, high: 0, avg: 0.0, total: 0, ...``
STATS = re.compile(r"^\[(\w+)\] low: (-?\d+), high: (-?\d+), avg: \S+, total: (-?\d+),",
                   re.M)


@pytest.fixture(scope="module")
def swift(realcloud: RealCloud) -> RealCloud:
    """swift up and one pass of its periodic daemons."""
    # test_real_heat_swift brought swift up before (its stages are skipped when run)
    up = all(port_open(port) for port in (6200, 6201, 6202, 8080))
    stages = ("passes",) if up else ("install", "swift", "passes")
    return bring_up(realcloud, "heat_swift.sh", *stages, timeout=600.0,
                    timing="swift passes")


def _config(**options: object) -> SwiftConfig:
    return SwiftConfig.model_validate({kind: [{"address": address, "host": "realnode"}]
                                       for kind, address in SERVERS.items()} | options)


@pytest.fixture(scope="module")
def collected(swift: RealCloud) -> Collection:
    return SwiftSource(_config()).collect()


def swift_recon(cloud: RealCloud, kind: str, *options: str, check: bool = True) -> str:
    """What the stock ``swift-recon KIND OPTIONS`` printed (it finds the servers in the
    rings of the script's swift dir)."""
    done = subprocess.run([str(cloud.root / "venv" / "bin" / "swift-recon"), kind, *options,
                           "--swiftdir", str(cloud.root / "etc" / "swift")],
                          capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def totals(text: str) -> dict[str, int]:
    return {m[1]: int(m[4]) for m in STATS.finditer(text)}


def values(out: Collection, name: str, **labels: str) -> list[float]:
    return [s.value for s in out.samples if s.name == name
            and all(s.label(k) == v for k, v in labels.items())]


@pytest.fixture(scope="module")
def cli(swift: RealCloud) -> dict[str, str]:
    """swift-recon's report per kind: replication, unmounted, quarantined, versions, and
    async pendings for the object servers."""
    return {kind: swift_recon(swift, kind, "-r", "-u", "-q", "--swift-versions",
                              *(["-a"] if kind == "object" else []))
            for kind in SERVERS}


def test_every_server_is_read(collected: Collection) -> None:
    assert_declared(collected, source="infra")
    assert values(collected, "stackwatch_infra_target_up") == [1.0, 1.0, 1.0]
    assert not [c for c in collected.checks if c.name == "stackwatch.resource"]
    for kind in SERVERS:
        [server] = [c for c in collected.checks if c.name == "swift.server"
                    and dict(c.labels)["service"] == f"swift-{kind}-server"]
        assert server.status is Status.OK, server.message


def test_replication_equals_swift_recon(collected: Collection, cli: dict[str, str]) -> None:
    for kind, text in cli.items():
        stats = totals(text)
        for name, metric in (("replication_failure", "failures"),
                             ("replication_success", "successes"),
                             ("replication_attempted", "attempted")):
            assert values(collected, f"stackwatch_swift_replication_{metric}",
                          kind=kind) == [stats[name]], (kind, name, text)
        # swift-recon prints the time as %d in the replicator's unit (minutes for objects)
        [seconds] = values(collected, "stackwatch_swift_replication_duration_seconds",
                           kind=kind)
        assert int(seconds / (60 if kind == "object" else 1)) == stats["replication_time"]
        [last] = values(collected, "stackwatch_swift_replication_last_timestamp_seconds",
                        kind=kind)
        when = re.search(r"^Oldest completion was (\S+ \S+) \(", text, re.M)
        assert when is not None, text
        assert time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(last)) == when[1]
        [age] = values(collected, "stackwatch_swift_replication_age_seconds", kind=kind)
        assert 0 <= age <= time.time() - last


def test_async_and_quarantined_equal_swift_recon(collected: Collection,
                                                 cli: dict[str, str]) -> None:
    stats = totals(cli["object"])
    assert values(collected, "stackwatch_swift_async_pendings") == [stats["async_pending"]]
    for kind in SERVERS:
        assert values(collected, "stackwatch_swift_quarantined", kind=kind) == [
            totals(cli[kind])[f"quarantined_{kind}s"]]


def test_unmounted_drive_named_as_swift_recon_names_it(swift: RealCloud,
                                                       collected: Collection,
                                                       cli: dict[str, str]) -> None:
    listed = sorted(set(re.findall(r"^Not mounted: (\S+) on ", cli["object"], re.M)))
    assert listed == ["sdb1"], cli["object"]   # a directory: mount_check is off
    assert values(collected, "stackwatch_swift_unmounted_drives") == [len(listed)]
    [drives] = [c for c in collected.checks if c.name == "swift.drives"]
    assert drives.status is Status.WARNING and "not mounted: sdb1" in drives.message
    health = evaluate(default_catalog(), collected.checks)
    judged = health.service("swift-object-server")
    assert judged is not None and judged.status is Status.WARNING
    # told what the servers are told, it is not judged
    calm = SwiftSource(_config(mount_check=False)).collect()
    [drives] = [c for c in calm.checks if c.name == "swift.drives"]
    assert drives.status is Status.OK, drives.message
    assert evaluate(default_catalog(), calm.checks).status is Status.OK


def test_rings_and_versions_agree_as_swift_recon_says(swift: RealCloud,
                                                      collected: Collection,
                                                      cli: dict[str, str]) -> None:
    for kind in SERVERS:
        text = swift_recon(swift, kind, "--md5", check=False)
        matched = re.search(r"^(\d+)/(\d+) hosts matched, (\d+) error", text, re.M)
        assert matched is not None and matched[1] == matched[2] == "1", text
        ring = f"{kind}.ring.gz"
        assert values(collected, "stackwatch_swift_ring_md5_agreement", ring=ring) == [1]
        assert values(collected, "stackwatch_swift_ring_md5_agrees", ring=ring) == [1, 1, 1]
        version = re.search(r"^Versions matched \((\S+)\)", cli[kind], re.M)
        assert version is not None, cli[kind]
        assert values(collected, "stackwatch_swift_version_info", kind=kind,
                      version=version[1]) == [1]
    assert values(collected, "stackwatch_swift_version_agreement") == [1]
    assert all(c.status is Status.OK for c in collected.checks
               if c.name == "swift.agreement")


def test_proxy_log_counts_the_requests_made(swift: RealCloud, tmp_path: Path) -> None:
    """The log source on the real proxy's log: the requests the stock ``swift`` CLI makes
    are counted per method, swift type and status, with their times."""
    source = LogsSource("swift", swift.log_dir, ["swift-proxy-server.stdout"],
                        tmp_path / "checkpoint.json", host="realnode", start="end")
    source.collect()
    cli = [str(swift.root / "venv" / "bin" / "swift")]
    env = swift.admin_env()
    for args in (["stat", "hs-full"], ["stat", "hs-full"], ["stat", "hs-full", "absent"]):
        subprocess.run(cli + args, env=env, capture_output=True, timeout=60, check=False)
    time.sleep(0.5)  # the proxy writes its line after answering
    out = source.collect()
    counted = {(s.label("method"), s.label("url"), s.label("status")): s.value
               for s in out.samples if s.name == "openstack_log_http_requests_total"
               and s.label("service") == "swift"}
    assert counted == {("HEAD", "/v1/{account}/{container}", "204"): 2,
                       ("HEAD", "/v1/{account}/{container}/{object}", "404"): 1}, counted
    timed = [s.value for s in out.samples
             if s.name == "openstack_log_http_request_duration_seconds_count"
             and s.label("service") == "swift"]
    assert sorted(timed) == [1, 2]
    lines = {s.label("outcome"): s.value for s in out.samples
             if s.name == "openstack_log_lines_total"}
    assert lines.get("unparsed", 0) == 0 and lines["parsed"] == 3
