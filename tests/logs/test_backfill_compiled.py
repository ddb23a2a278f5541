"""The compiled backfill stores exactly what the pure-Python reference stores: on every
recorded real log, on the simulator's logs, on gzip-rotated sets given in any order, and
on generated mixed lines; and each file is ingested once."""

from __future__ import annotations

import gzip
import math
import random
import shutil
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.logs.conftest import REFERENCE

from stackwatch.cli import main
from stackwatch.logparse.engine import LogFormat, detect_format
from stackwatch.sim.generate import Sizing, generate
from stackwatch.sim.logwriter import LogWriter
from stackwatch.sim.state import CloudState
from stackwatch.sim.traffic import TrafficGenerator
from stackwatch.sources.logs.backfill import FileResult, backfill, parse_range
from stackwatch.sources.logs.compiled import FAST_FORMATS, CompiledBackfill, backfill_compiled
from stackwatch.store.log_history import LogHistory

Stored = dict[str, Any]


def stored(results: Iterable[FileResult], path: Path) -> Stored:
    """What LogHistory keeps of the results: its tables' rows, and the unparsed lines."""
    history = LogHistory(path)
    unparsed = 0
    for result in results:
        assert not result.error, result.error
        history.add(result.hours, [(result.fingerprint, result.path, result.lines)])
        unparsed += sum(t.outcome("unparsed") for t in result.hours.values())
    conn = history._conn
    tables = {
        "requests": sorted(conn.execute("SELECT * FROM log_hourly_requests")),
        "records": sorted(conn.execute("SELECT * FROM log_hourly_records")),
        "durations": {row[:5]: row[5:] for row in conn.execute(
            "SELECT * FROM log_hourly_durations")},
        "files": sorted(conn.execute("SELECT fingerprint, path, lines FROM log_backfilled")),
        "unparsed": unparsed,
    }
    history.close()
    return tables


def assert_same(fast: Stored, reference: Stored) -> None:
    assert fast["requests"] == reference["requests"]
    assert fast["records"] == reference["records"]
    assert fast["files"] == reference["files"]
    assert fast["unparsed"] == reference["unparsed"]
    assert fast["durations"].keys() == reference["durations"].keys()
    for key, (count, total) in reference["durations"].items():
        # sums of the same float values, added in another order
        assert fast["durations"][key][0] == count, key
        assert math.isclose(fast["durations"][key][1], total, rel_tol=1e-9, abs_tol=1e-9), key


def both(paths: list[Path], tmp_path: Path, engine: CompiledBackfill | None = None
         ) -> tuple[Stored, Stored]:
    fast = stored(backfill_compiled(paths, host="ctl1", engine=engine), tmp_path / "fast.db")
    reference = stored(backfill(paths, workers=1, host="ctl1"), tmp_path / "ref.db")
    return fast, reference


def write_sim_logs(root: Path, requests: int = 1500, hours: int = 3) -> None:
    """The simulator's log writer (what SimulatedCloud writes) with traffic over hours."""
    state = CloudState()
    generate(state, Sizing.for_size("small"), seed=7, base_url="http://x", admin_password="p")
    writer = LogWriter(root, state, host="ctl1", seed=3).start()
    traffic = TrafficGenerator(writer, state, seed=5)
    start = datetime(2026, 11, 20, 22, 10, tzinfo=UTC)
    for hour in range(hours):
        traffic.emit(requests // hours)
        for minute in range(0, 60, 10):
            writer.periodic(start + timedelta(hours=hour, minutes=minute))
    writer.inject("auth-401-storm", {"count": "120"})
    writer.inject("api-5xx-burst", {"service": "compute", "count": "40"})
    writer.close()


@pytest.mark.unit
def test_every_reference_log_is_stored_the_same(tmp_path: Path) -> None:
    engine = CompiledBackfill()
    fast, reference = both([REFERENCE], tmp_path, engine)
    assert_same(fast, reference)
    assert reference["requests"] and reference["records"]
    taken = set(engine.fallbacks)
    fast_files = [p for p in REFERENCE.rglob("*.log")
                  if detect_format(p, p.read_text()[:8192]) in FAST_FORMATS
                  and p.read_bytes().endswith(b"\n")]
    assert len(fast_files) >= 20
    assert not taken & {str(p) for p in fast_files}, "the fast path took every oslo/access file"


@pytest.mark.integration
def test_simulator_logs_and_gzip_rotation_in_any_order(tmp_path: Path) -> None:
    root = tmp_path / "log"
    write_sim_logs(root)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    engine = CompiledBackfill(threads=2, piece=64 << 10)  # several pieces per file
    fast, reference = both([root], tmp_path / "whole", engine)
    assert_same(fast, reference)
    assert sum(r[-1] for r in reference["requests"]) > 1000
    assert len({r[0] for r in reference["records"]}) >= 3  # hours
    assert not engine.fallbacks or all(
        detect_format(Path(p)) not in FAST_FORMATS for p in engine.fallbacks)

    # logrotate: each file cut in three, .3.gz oldest, .2.gz, .1 plain; given shuffled
    rotated = tmp_path / "rotated"
    for path in files:
        lines = path.read_bytes().splitlines(keepends=True)
        cuts = sorted(random.Random(path.name).sample(range(len(lines) + 1), 2))
        parts = [lines[:cuts[0]], lines[cuts[0]:cuts[1]], lines[cuts[1]:]]
        target = rotated / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        (target.parent / f"{target.name}.3.gz").write_bytes(gzip.compress(b"".join(parts[0])))
        (target.parent / f"{target.name}.2.gz").write_bytes(gzip.compress(b"".join(parts[1])))
        (target.parent / f"{target.name}.1").write_bytes(b"".join(parts[2]))
    pieces = sorted(p for p in rotated.rglob("*") if p.is_file())
    random.Random(1).shuffle(pieces)
    fast, reference = both(pieces, tmp_path / "rotated-db")
    assert_same(fast, reference)
    assert sum(r[-1] for r in fast["requests"]) == sum(
        r[-1] for r in stored(backfill_compiled([root], host="ctl1"), tmp_path / "w.db")[
            "requests"])

    # ingested once: a second run adds nothing, nor does .1 once compressed to .2.gz
    history = LogHistory(tmp_path / "once.db")
    for result in backfill_compiled(pieces, host="ctl1", skip=history.ingested):
        history.add(result.hours, [(result.fingerprint, result.path, result.lines)])
    for plain in [p for p in pieces if p.name.endswith(".1")]:
        plain.with_name(plain.name[:-2] + ".4.gz").write_bytes(gzip.compress(plain.read_bytes()))
    again = list(backfill_compiled([rotated], host="ctl1", skip=history.ingested))
    assert again == []
    history.close()


@pytest.mark.unit
def test_files_it_cannot_vouch_for_go_to_the_reference(tmp_path: Path) -> None:
    real = (REFERENCE / "nova-api.log").read_bytes()
    traceback = b"".join(line for line in real.splitlines(keepends=True)
                         if b" ERROR " in line and b"[" not in line.split(b" ")[5][:1])[:400]
    cases = {
        "crlf": real.replace(b"\n", b"\r\n", 3),
        "no-final-newline": real.rstrip(b"\n"),
        "latin1": real.replace(b"GET", b"G\xe9T", 2),
        "nul": real.replace(b" INFO ", b" IN\x00FO ", 1),
        "empty": b"",
        "traceback-head": traceback + real,  # a rotated file starting inside a record
        "blank-lines": real.replace(b"\n", b"\n\n", 5),
        "truncated.gz": gzip.compress(real * 50)[:-5000],
        "corrupt.gz": _corrupt(gzip.compress(real * 50)),
    }
    for case, data in cases.items():
        path = tmp_path / case / ("nova-api.log" + (".1.gz" if case.endswith(".gz") else ""))
        path.parent.mkdir()
        path.write_bytes(data)
        engine = CompiledBackfill(threads=2, piece=2048)  # many pieces
        fast = engine.parse(path, "nova", "ctl1", True)
        reference = parse_range(path, "nova", "ctl1", True)
        fast.fingerprint = reference.fingerprint = "f"
        assert fast.error == reference.error
        fast.error = reference.error = ""
        assert_same(stored([fast], tmp_path / case / "fast.db"),
                    stored([reference], tmp_path / case / "ref.db"))
        expected = case in ("crlf", "no-final-newline", "latin1", "nul", "truncated.gz",
                            "corrupt.gz")
        assert (str(path) in engine.fallbacks) is expected, case


def _corrupt(packed: bytes) -> bytes:
    """A gzip stream with bytes changed in the middle of its deflate data."""
    middle = len(packed) // 2
    return packed[:middle] + bytes(b ^ 0x5A for b in packed[middle:middle + 64]) + \
        packed[middle + 64:]


@pytest.mark.integration
def test_cli_backfill_once(tmp_path: Path) -> None:
    root = tmp_path / "log"
    write_sim_logs(root, requests=300, hours=2)
    shutil.copy(REFERENCE / "nova-api.log", root / "nova" / "nova-api.log.9")
    store = tmp_path / "store.db"
    runner = CliRunner()
    fast = ["logs", "backfill", str(root), "--store", str(store)]  # compiled: the default
    first = runner.invoke(main, fast)
    assert first.exit_code == 0, first.output
    again = runner.invoke(main, fast)
    assert again.exit_code == 0, again.output
    assert " 0 lines (0 unparsed)" in again.output
    python = runner.invoke(main, ["logs", "backfill", str(root), "--engine", "python",
                                  "--store", str(tmp_path / "python.db")])
    assert python.exit_code == 0, python.output
    lines = first.output.split(" files, ")[1].split(" lines")[0]
    assert lines == python.output.split(" files, ")[1].split(" lines")[0]
    hourly = [runner.invoke(main, ["logs", "hourly", "--store", str(s), "--top", "50"]).output
              for s in (store, tmp_path / "python.db")]
    assert hourly[0] == hourly[1]
    assert "requests" in hourly[0]


# -- generated mixed lines ------------------------------------------------------------

UUID = "8a90fa0e-1b2c-4d5e-8f90-0123456789ab"
CONTEXTS = ["-", f"None req-{UUID} 5afa 9bd1 - - default default",
            f"req-{UUID} req-{UUID} admin admin - - -", "instance: x", 'q"uote', "", "iam ok"]
PATHS = ["/v2.1/servers/detail", f"/v2.1/servers/{UUID}", f"/v2.1/servers/{UUID}/action",
         "/v3/auth/tokens", "/v2.0/ports?device_id=1", "/", "/v2.1/flavors/m1.small", "*"]
junk = st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)),
               max_size=80)


def oslo_line(rng: random.Random, hour: int) -> str:
    stamp = f"2026-11-21 {hour:02d}:{rng.randrange(60):02d}:07.{rng.randrange(1000):03d}"
    level = rng.choice(["INFO", "INFO", "ERROR", "WARNING", "DEBUG", "CRITICAL", "TRACE"])
    logger = rng.choice(["nova.api.openstack.requestlog", "nova.compute", 'a"b'])
    method = rng.choice(["GET", "POST", "DELETE", "get"])
    path = rng.choice(PATHS)
    status = rng.choice(["200", "401", "404", "500", "20x"])
    timed = rng.choice(["", " time: 0.0823", " time: 12", " time: 7.5e-3", " time: 0.5 "])
    micro = rng.choice(["", " microversion: 2.100", ' microversion: "x"'])
    message = rng.choice([
        f'10.0.0.9 "{method} {path}" status: {status} len: 1834{micro}{timed}',
        f'10.0.0.9 "{method} {path} HTTP/1.1" status: {status}  len: 18{timed}',
        f'10.0.0.9 - - [21/Nov/2026 06:19:36] "{method} {path} HTTP/1.1" {status} 1682 '
        f"0.00{rng.randrange(100)}",
        f"[instance: {UUID}] Took 1.2 seconds", "Traceback (most recent call last):",
        "a message"])
    context = rng.choice([*(f"[{c}] " for c in CONTEXTS), "", "[instance: x] ", "[-]"])
    return f"{stamp} 590 {level} {logger} {context}{message}"


def access_line(rng: random.Random, hour: int) -> str:
    method = rng.choice(["GET", "POST", "PUT", "get"])
    path = rng.choice(PATHS)
    status = rng.choice(["200", "401", "503"])
    tail = rng.choice([" 63527", " 0.0123", "", " 12(us)", " x"])
    prefix = rng.choice(["10.0.0.1", "10.0.0.1", "ctl1:5000 10.0.0.1"])
    referer = rng.choice(['"-"', '"-"', '" "', '""'])
    return (f'{prefix} - - [21/Nov/2026:{hour:02d}:19:36 +0000] "{method} {path} HTTP/1.1" '
            f'{status} 5019 {referer} "openstacksdk/4.10"{tail}')


def haproxy_line(rng: random.Random, hour: int) -> str:
    day = rng.choice(["21", "21", " 1", "1"])
    frontend = rng.choice(["nova_api", "nova_api~"])
    backend = rng.choice(["nova_api/ctl1", "nova_api/<NOSRV>", "/ctl1", "nova_api"])
    timers = rng.choice(["0/0/1/12/13", "0/0/1/12/+13", "-1/-1/-1/-1/0", "0/0/0/0/-1",
                         "0/0/1/12", "a/b/c/d/1", "+-1/0/0/0/1"])
    status = rng.choice(["200", "200", "401", "503", "20"])
    request = rng.choice(['"GET /v2.1/servers HTTP/1.1"', '"POST /v3/auth/tokens HTTP/1.1"',
                          '"GET /v2.1/servers?x=1 HTTP/1.1"', '"<BADREQ>"', "GET /"])
    return (f"Nov {day} {hour:02d}:19:36 ctl1 haproxy[812]: 10.0.0.9:51234 "
            f"[21/Nov/2026:{hour:02d}:19:36.120] {frontend} {backend} {timers} {status} 1834 "
            f"- - ---- 3/3/0/0/0 0/0 {request}")


OTHER = ["", "  File \"x.py\", line 1, in f", "2026-11-21 05:00:00.000 590 ERROR nova.x "
         "Traceback (most recent call last):", "2026-11-21T05:00:00 1 INFO x [-] t"]


@st.composite
def log_file(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A file whose first and last records are in different hours (in between, any order):
    the reference then takes every line's own hour, as the compiled path does. Lines are
    made from a seeded generator, with the junk hypothesis draws mixed in."""
    makers = {"nova-api.log": oslo_line, "keystone_access.log": access_line,
              "haproxy.log": haproxy_line}
    name = draw(st.sampled_from(sorted(makers)))
    make = makers[name]
    rng = random.Random(draw(st.integers(0, 2**32)))
    lines = [make(rng, rng.randrange(1, 23)) if rng.random() < 0.8 else rng.choice(OTHER)
             for _ in range(draw(st.integers(0, 300)))]
    for text in draw(st.lists(junk, max_size=5)):
        lines.insert(rng.randrange(len(lines) + 1), text)
    head = [rng.choice(OTHER) for _ in range(rng.randrange(3))]
    return name, [*head, make(rng, 0), *lines, make(rng, 23)]


@pytest.mark.unit
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(case=log_file())
def test_generated_lines_are_stored_the_same(tmp_path: Path, case: tuple[str, list[str]]
                                             ) -> None:
    file_name, lines = case
    path = tmp_path / file_name
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    fmt = {"nova-api.log": LogFormat.OSLO, "keystone_access.log": LogFormat.ACCESS,
           "haproxy.log": LogFormat.HAPROXY}[file_name]
    assert detect_format(path) is fmt
    fast = CompiledBackfill(threads=1).parse(path, "svc", "ctl1", True)
    reference = parse_range(path, "svc", "ctl1", True)
    fast.fingerprint = reference.fingerprint = "f"
    stores = Path(tempfile.mkdtemp(dir=tmp_path))
    assert_same(stored([fast], stores / "fast.db"), stored([reference], stores / "ref.db"))


@pytest.mark.integration
@pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning")
@pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning")
def test_simulated_cloud_logs_after_real_requests(tmp_path: Path) -> None:
    from openstack.config.loader import OpenStackConfig
    from openstack.connection import Connection

    from stackwatch.sim.cloud import SimulatedCloud

    with SimulatedCloud(workdir=tmp_path / "cloud", size="small", seed=1) as cloud:
        region = OpenStackConfig(config_files=[str(cloud.clouds_yaml)]).get_one("stackwatch-sim")
        connection = Connection(config=region)
        for _ in range(3):
            assert list(connection.compute.servers(all_projects=True))
            list(connection.compute.flavors())
            list(connection.network.networks())
            list(connection.block_storage.volumes(all_projects=True))
        connection.close()
        fast, reference = both([cloud.log_dir], tmp_path)
    assert_same(fast, reference)
    methods = {row[3] for row in reference["requests"]}
    assert {"GET", "POST"} <= methods  # the token and the listings
    assert sum(row[-1] for row in reference["requests"]) >= 12


@pytest.mark.unit
@pytest.mark.parametrize("engine", ["compiled", "python"])
def test_access_log_ingested_earlier_still_counts_the_requests(tmp_path: Path, engine: str
                                                               ) -> None:
    """nova writes each call twice (requestlog and access line): once its access log is in
    the history, a later run over both files must not count nova-api.log's requests."""
    logs = tmp_path / "nova"
    logs.mkdir()
    for name in ("nova-api.log", "nova-api-access.log"):
        shutil.copy(REFERENCE / name, logs / name)

    def ingest(paths: list[Path], history: LogHistory) -> None:
        results = (backfill(paths, workers=1, host="ctl1", skip=history.ingested)
                   if engine == "python" else
                   backfill_compiled(paths, host="ctl1", skip=history.ingested))
        for result in results:
            history.add(result.hours, [(result.fingerprint, result.path, result.lines)])

    once, twice = LogHistory(tmp_path / "once.db"), LogHistory(tmp_path / "twice.db")
    ingest([logs], once)
    ingest([logs / "nova-api-access.log"], twice)
    ingest([logs], twice)
    first, second = once.requests_per_hour(), twice.requests_per_hour()
    def key(row: Any) -> tuple[float, str, str, str, int]:
        return (row.hour, row.service, row.method, row.url, row.requests)

    assert [key(r) for r in first] == [key(r) for r in second]
    assert all(math.isclose(a.mean_seconds or 0, b.mean_seconds or 0, rel_tol=1e-9)
               for a, b in zip(first, second, strict=True))
    access = (REFERENCE / "nova-api-access.log").read_bytes().count(b"\n")
    assert sum(r.requests for r in first) == access  # the access lines
    once.close()
    twice.close()


def test_template_limit_counts_the_lines_handed_to_the_reference(tmp_path: Path) -> None:
    """2,000 templates among the counted lines and one more on a line the patterns refuse
    (a space after its time): together past the limit, so the reference's order decides
    which becomes ``{other}``; the file goes to the reference (it did not: review finding)."""
    line = ('2026-11-21 06:19:36.304 590 INFO nova.api.openstack.requestlog [None req-1 u p - '
            '- d d] 10.0.0.1 "GET {path} HTTP/1.1" status: 200 len: 1 time: 0.01{end}\n')
    path = tmp_path / "nova" / "nova-api.log"
    path.parent.mkdir()
    path.write_text("".join(line.format(path=f"/a{i}x", end="") for i in range(2000))
                    + line.format(path="/zzz", end=" "))
    engine = CompiledBackfill(threads=2)
    fast, reference = both([path], tmp_path, engine)
    assert_same(fast, reference)
    assert str(path) in engine.fallbacks
    assert any(row[4] == "{other}" for row in reference["requests"]), reference["requests"][:3]


def test_a_file_of_mostly_odd_lines_goes_to_the_reference_early(tmp_path: Path) -> None:
    """An access log of a variant the strict pattern does not take (devstack's ``%v:%p``
    prefix): the reference reads it, rather than the compiled engine keeping every line as a
    string until the end of the file."""
    line = ('keystone.example:5000 10.0.0.{n} - - [21/Nov/2026:06:19:{s:02d} +0000] '
            '"GET /v3/users/{n} HTTP/1.1" 200 5 "-" "a" 1{n}\n')
    path = tmp_path / "apache2" / "keystone_access.log"
    path.parent.mkdir()
    path.write_text("".join(line.format(n=n % 250, s=n % 60) for n in range(5000)))
    engine = CompiledBackfill(threads=2, piece=16384)  # many pieces
    fast, reference = both([path], tmp_path, engine)
    assert_same(fast, reference)
    assert reference["files"][0][2] == 5000
    assert str(path) in engine.fallbacks
