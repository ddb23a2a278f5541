"""The compiled engine's kernels against their specification, line by line: a line is
counted by a kernel exactly when the strict patterns of
:mod:`stackwatch.sources.logs.compiled` take it (as the engine tries them), with the same
fields (hour, level, method and path, status, seconds to the bit), and every other line
is either skipped as a continuation or handed to the reference. Samples are real recorded
lines, the simulator's lines (HAProxy too) and generated ones, each also changed one byte
at a time: lines one byte off from valid must go to the reference."""

from __future__ import annotations

import gzip
import random
import re
from bisect import bisect_left
from pathlib import Path

import numpy as np
import pytest
from tests.logs.conftest import REFERENCE
from tests.logs.test_backfill_compiled import access_line, oslo_line, write_sim_logs

from stackwatch.logparse import backfill_kernel as kernels
from stackwatch.logparse.engine import LogFormat, detect_format
from stackwatch.logparse.tally import BUCKETS
from stackwatch.sources.logs.compiled import (
    _CODES,
    ACCESS_LINE,
    HAPROXY_LINE,
    OSLO_DEFAULT,
    OSLO_PREFIX,
    OSLO_RECORD,
    OSLO_REQUEST,
    CompiledBackfill,
    read_pieces,
)

# hour, level, method and path, status, seconds (None where a line has none)
Fields = tuple[str | None, str | None, str | None, str | None, float | None]
Fate = tuple[str, Fields | None]

_PATTERNS = {name: re.compile(pattern) for name, pattern in (
    ("request", OSLO_REQUEST), ("default", OSLO_DEFAULT), ("record", OSLO_RECORD),
    ("prefixed", OSLO_PREFIX + r"(?: |$)"), ("access", ACCESS_LINE),
    ("haproxy", HAPROXY_LINE))}


def _request(line: str) -> tuple[str, int]:
    """Method and path without its query, as the reference cuts them, and the closing
    quote's position."""
    opened, closed = line.find('"'), line.find('" ')
    method, target = line[opened + 1:closed].split(" ")[:2]
    return f"{method} {target.split('?', 1)[0]}", closed


def expected(line: str, fmt: LogFormat, count_requests: bool) -> Fate:
    """What the patterns decide for a line, tried in the engine's order (the model)."""
    if not line:
        return "skipped", None
    if fmt is LogFormat.HAPROXY:
        taken = _PATTERNS["haproxy"].search(line)
        return ("counted", (None,) * 5) if taken else ("odd", None)  # type: ignore[return-value]
    if fmt is LogFormat.ACCESS:
        if not _PATTERNS["access"].search(line):
            return "odd", None
        request, closed = _request(line)
        time = line[line.rfind('"') + 2:]  # after the agent (the reference's q[6])
        seconds = None if not time else float(time) if "." in time else float(time) / 1e6
        hour = line[line.find("[") + 1:][:14]
        return "counted", (hour, None, request, line[closed + 2:closed + 5], seconds)
    level = line.split(" ")[3] if len(line.split(" ")) > 3 else None
    for mark, name, status_at in (('" status: ', "request", 10), (" - - [", "default", 2)):
        if count_requests and mark in line:
            if not _PATTERNS[name].search(line):
                return "odd", None
            request, closed = _request(line)
            if name == "request":
                tail = line[closed:]
                timed = tail.find(" time: ")
                seconds = float(tail[timed + 7:]) if timed >= 0 else None
            else:
                seconds = float(line.split(" ")[-1])
            status = line[closed + status_at:closed + status_at + 3]
            return "counted", (line[:13], level, request, status, seconds)
    if _PATTERNS["record"].search(line):
        return "counted", (line[:13], level, None, None, None)
    prefixed = _PATTERNS["prefixed"].search(line) is not None
    context = line.split(" ")[5] if prefixed and len(line.split(" ")) > 5 else ""
    if prefixed and context.startswith("[") and not context.startswith("[instance:"):
        return "odd", None
    if not prefixed and line[4:5] == "-":
        return "odd", None
    return "skipped", None


def scanned(line: str, fmt: LogFormat, count_requests: bool) -> Fate:
    """What :func:`kernels.scan` decides for a line on its own."""
    data = np.frombuffer(f"{line}\n".encode(), np.uint8)  # read-only, as the engine's
    lines, groups, sums, odd, verdict = kernels.scan(data, _CODES[fmt], count_requests, True)
    if verdict == kernels.NOT_ASCII:
        lines, groups, sums, odd, verdict = kernels.scan(data, _CODES[fmt], count_requests,
                                                         False)
    assert lines == 1 and verdict == kernels.CLEAN
    if len(odd):
        assert odd.tolist() == [[0, len(data) - 1]]
        return "odd", None
    if not len(groups):
        return "skipped", None
    row = groups[0].tolist()
    assert row[kernels.COUNT] == 1

    def text(at: int) -> str | None:
        return data[row[at]:row[at] + row[at + 1]].tobytes().decode() if row[at + 1] > 0 \
            else None

    bucket = row[kernels.BUCKET]
    seconds = float(sums[0]) if bucket >= 0 else None
    if seconds is not None:
        assert bucket == bisect_left(BUCKETS, seconds)
    status = f"{row[kernels.STATUS]:03d}" if row[kernels.STATUS] >= 0 else None
    return "counted", (text(kernels.HOUR), text(kernels.LEVEL), text(kernels.REQUEST),
                       status, seconds)


def _long_number(line: str) -> bool:
    """A time with more digits than a double holds exactly: the kernels leave it to the
    reference (their number reader is exact only below 2**53)."""
    return re.search(r"[0-9.]{17,}$", line) is not None


def agree(line: str, fmt: LogFormat, count_requests: bool = True) -> None:
    want = expected(line, fmt, count_requests)
    got = scanned(line, fmt, count_requests)
    if want[0] == "counted" and got[0] == "odd" and _long_number(line):
        return
    assert got == want, (line, fmt, count_requests)


def mutations(line: str, rng: random.Random, count: int) -> list[str]:
    """``line`` changed at ``count`` random places: a byte replaced by one the patterns
    care about, removed, or one inserted."""
    specials = ' "[]-/:.0aAi?*+'
    changed = []
    for _ in range(count):
        at = rng.randrange(len(line) + 1)
        byte = rng.choice(specials)
        kind = rng.randrange(3)
        if kind == 0 and at < len(line):
            changed.append(line[:at] + byte + line[at + 1:])
        elif kind == 1 and at < len(line):
            changed.append(line[:at] + line[at + 1:])
        else:
            changed.append(line[:at] + byte + line[at:])
    return changed


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[LogFormat, list[str]]:
    """Distinct lines per format: recorded real logs, the simulator's, generated ones."""
    root = tmp_path_factory.mktemp("sim") / "log"
    write_sim_logs(root, requests=300, hours=2)
    found: dict[LogFormat, set[str]] = {fmt: set() for fmt in _CODES}
    for path in [*REFERENCE.rglob("*.log"), *root.rglob("*")]:
        if path.is_file() and (fmt := detect_format(path)) in found:
            found[fmt].update(path.read_text(encoding="utf-8").splitlines())
    rng = random.Random(4)
    found[LogFormat.OSLO].update(oslo_line(rng, rng.randrange(24)) for _ in range(400))
    found[LogFormat.ACCESS].update(access_line(rng, rng.randrange(24)) for _ in range(200))
    return {fmt: sorted(lines) for fmt, lines in found.items()}


@pytest.mark.unit
def test_every_sample_line_as_the_patterns_decide(samples: dict[LogFormat, list[str]]
                                                  ) -> None:
    fates: dict[str, int] = {}
    for fmt, lines in samples.items():
        assert len(lines) >= 100, fmt
        for line in lines:
            for count_requests in (True, False):
                agree(line, fmt, count_requests)
            fate = expected(line, fmt, True)[0]
            fates[f"{fmt}-{fate}"] = fates.get(f"{fmt}-{fate}", 0) + 1
    # the samples reach every outcome of every format
    assert {"oslo-counted", "oslo-skipped", "oslo-odd", "access-counted", "access-odd",
            "haproxy-counted"} <= fates.keys(), fates


@pytest.mark.unit
def test_lines_one_byte_off(samples: dict[LogFormat, list[str]]) -> None:
    rng = random.Random(9)
    counted = odd = 0
    for fmt, lines in samples.items():
        valid = [line for line in lines if expected(line, fmt, True)[0] == "counted"]
        for line in rng.sample(valid, min(len(valid), 150)):
            for changed in mutations(line, rng, 60):
                agree(changed, fmt)
                agree(changed, fmt, count_requests=False)
                fate = scanned(changed, fmt, True)[0]
                counted += fate == "counted"
                odd += fate == "odd"
    assert counted > 1000 and odd > 1000  # both sides of the line were reached


@pytest.mark.unit
@pytest.mark.parametrize(("line", "fate"), [
    # requestlog: every field at its edge
    ('2026-11-21 06:19:36.304 590 INFO n.r [req-1 - - -] 10.0.0.1 "GET /v2.1/s?x=1 HTTP/1.1"'
     " status: 200 len: 1 microversion: 2.1 time: 0.005", "counted"),
    ('2026-11-21 06:19:36 590 INFO n.r [req-1] ip "GET /" status: 404  len: 0', "counted"),
    ('2026-11-21 06:19:36 590 INFO n.r [req-1] ip "GET /" status: 404 len: 0 time: 1.', "odd"),
    ('2026-11-21 06:19:36 590 INFO n.r [req-1] ip "GET /" status: 404 len: 0 time: .5', "odd"),
    ('2026-11-21 06:19:36 590 INFO n.r [req-1] ip "GET /" status: 2000 len: 0', "odd"),
    ('2026-11-21 06:19:36 590 INFO n.r [req-1] ip "GET /" status: 200len: 0', "odd"),
    ('2026-11-21 06:19:36 590 INFO n.r [req-1] ip "GET / a b" status: 200 len: 0', "odd"),
    ('2026-11-21 06:19:36 590 INFO n.r [req-1] ip "Get /" status: 200 len: 0', "odd"),
    ('2026-11-21 06:19:36 590 INFO n.r [req-1] "GET /" status: 200 len: 0', "odd"),
    ('2026-11-21 06:19:36 590 INFO n.r [req-1] ip "GET /" status: 200 len: 0 time: 0.1 ', "odd"),
    ('2026-11-21 06:19:36 590 INFO n.r [req-1] ip "GET /" status: 200 len: 0 microversion: '
     '"2.1"', "odd"),
    ('2026-11-21 06:19:36 590 INFO n.r [instance: x] ip "GET /" status: 200 len: 0', "odd"),
    ('2026-11-21 06:19:36 590 INFO n.r [req-1] [instance: 8a90fa0e-1b2c-4d5e-8f90-012345678'
     '9ab] ip "GET /" status: 200 len: 0', "counted"),
    ('2026-11-21 06:19:36 590 INFO n.r [req-1] [instance: 8a90fa0e-1b2c-4d5e-8f90-012345678'
     '9a] ip "GET /" status: 200 len: 0', "odd"),
    # a double's worth of digits and one more
    ('2026-11-21 06:19:36 590 INFO n.r [-] ip "GET /" status: 200 len: 0 time: '
     "9007199254740991", "counted"),
    ('2026-11-21 06:19:36 590 INFO n.r [-] ip "GET /" status: 200 len: 0 time: '
     "0.1000000000000000055511151231257827", "odd"),
    # eventlet's default line
    ('2026-11-21 06:19:36.304 590 INFO e.w [-] 10.0.0.1 - - [21/Nov/2026 06:19:36] '
     '"GET /v2/images HTTP/1.1" 200 1682 0.002', "counted"),
    ('2026-11-21 06:19:36.304 590 INFO e.w [-] 10.0.0.1 - - [21/Nov/2026 06:19:36] '
     '"GET /v2/images HTTP/1.1" 200 - 0.002', "counted"),
    ('2026-11-21 06:19:36.304 590 INFO e.w [-] 10.0.0.1 - - [21/Nov/2026 06:19:36] '
     '"GET /v2/images" 200 1682 0.002', "odd"),
    ('2026-11-21 06:19:36.304 590 INFO e.w [-] 10.0.0.1 - - [21/Nov/2026 06:19:36] '
     '"GET /v2/images HTTP/1.1" 200 1682 2', "odd"),
    # records, tracebacks, continuation lines
    ("2026-11-21 06:19:36.304 590 WARNING nova.compute [-] disk full", "counted"),
    ("2026-11-21 06:19:36.304 590 ERROR nova.compute Traceback (most recent call last):",
     "skipped"),
    ("2026-11-21 06:19:36.304 590 ERROR nova.compute [i] x", "odd"),
    ("2026-11-21 06:19:36.304 590 ERROR nova.compute [a\"b] x", "odd"),
    ("2026-11-21 06:19:36.304 590 ERROR nova.compute [instance: x] y", "skipped"),
    ("2026-11-21T06:19:36.304 590 ERROR nova.compute [-] y", "odd"),
    ('  File "/usr/lib/python3/x.py", line 1, in f', "skipped"),
    ("", "skipped"),
])
def test_oslo_edges(line: str, fate: str) -> None:
    assert scanned(line, LogFormat.OSLO, True)[0] == fate
    agree(line, LogFormat.OSLO)


@pytest.mark.unit
@pytest.mark.parametrize(("line", "fate"), [
    ('10.0.0.1 - - [21/Nov/2026:06:19:36 +0000] "GET /v3 HTTP/1.1" 200 5 "-" "sdk" 63527',
     "counted"),
    ('10.0.0.1 - - [21/Nov/2026:06:19:36 +0000] "GET /v3 HTTP/1.1" 200 5 "-" "sdk" 0.0123',
     "counted"),
    ('10.0.0.1 - - [21/Nov/2026:06:19:36 +0000] "OPTIONS * HTTP/1.1" 200 5 "" "" 1', "counted"),
    ('10.0.0.1 - - [21/Nov/2026:06:19:36 +0000] "GET /v3" 200 - "-" "sdk"', "counted"),
    ('10.0.0.1 - - [21/Nov/2026:06:19:36 +0000] "GET v3 HTTP/1.1" 200 5 "-" "sdk" 1', "odd"),
    ('10.0.0.1 - - [21/Nov/2026:06:19:36 +0000] "GET /v3 HTTP/1.1" 200 5 "-" "sdk" 1.', "odd"),
    ('10.0.0.1 - - [21/Nov/2026:06:19:36 +0000] "GET /v3 HTTP/1.1" 200 5 "-" "sdk" 12(us)',
     "odd"),
    ('ctl1:5000 10.0.0.1 - - [21/Nov/2026:06:19:36 +0000] "GET /v3 HTTP/1.1" 200 5 "-" "s" 1',
     "odd"),
    ('10.0.0.1 - - [21/Nov/2026:06:19:36] "GET /v3 HTTP/1.1" 200 5 "-" "sdk" 1', "odd"),
])
def test_access_edges(line: str, fate: str) -> None:
    assert scanned(line, LogFormat.ACCESS, True)[0] == fate
    agree(line, LogFormat.ACCESS)


HAPROXY = ('Nov 21 06:19:36 ctl1 haproxy[812]: 10.0.0.9:51234 [21/Nov/2026:06:19:36.120] '
           'nova_api nova_api/ctl1 0/0/1/12/{t} 200 1834 - - ---- 3/3/0/0/0 0/0 '
           '"GET /v2.1/servers HTTP/1.1"')


@pytest.mark.unit
@pytest.mark.parametrize(("line", "fate"), [
    (HAPROXY.format(t="13"), "counted"),
    (HAPROXY.format(t="+13"), "counted"),
    (HAPROXY.format(t="-1"), "counted"),
    (HAPROXY.format(t="+-1"), "odd"),
    (HAPROXY.format(t="1/3"), "odd"),
    (HAPROXY.format(t="13").replace("Nov 21", "Nov  1"), "counted"),
    (HAPROXY.format(t="13").replace("Nov 21", "Nov 1"), "odd"),
    (HAPROXY.format(t="13").replace(" 200 ", " 20 "), "odd"),
    (HAPROXY.format(t="13").replace("nova_api/ctl1", "/ctl1"), "odd"),
    (HAPROXY.format(t="13").replace(' "GET', " GET"), "odd"),
    (HAPROXY.format(t="13").replace(' /v2.1/servers HTTP/1.1"', ""), "odd"),
    (HAPROXY.format(t="13").replace(' HTTP/1.1"', ""), "counted"),  # a space after "GET
])
def test_haproxy_edges(line: str, fate: str) -> None:
    assert scanned(line, LogFormat.HAPROXY, True)[0] == fate
    agree(line, LogFormat.HAPROXY)


@pytest.mark.unit
def test_lines_with_other_bytes_go_to_the_reference() -> None:
    line = ('2026-11-21 06:19:36 590 INFO n.r [req-1] ip "GET /é" status: 200 len: 0')
    assert expected(line, LogFormat.OSLO, True)[0] == "counted"
    assert scanned(line, LogFormat.OSLO, True)[0] == "odd"  # the kernels read ASCII only


@pytest.mark.unit
def test_groups_never_merge_two_keys() -> None:
    """Many distinct requests in one piece (the table grows several times) and keys that
    differ in one byte: each group holds exactly its own lines."""
    lines = []
    for n in range(5000):
        lines.append(f'2026-11-21 0{n % 3}:19:36 590 INFO n.r [-] ip "GET /v/{n}?q={n % 7}" '
                     f"status: {200 + n % 2} len: 0 time: {n % 5}.5")
        lines.append(f"2026-11-21 0{n % 3}:19:36 590 {'INFO' if n % 2 else 'INFX'} n.r [-] m")
    data = np.frombuffer("".join(f"{line}\n" for line in lines).encode(), np.uint8)
    total, groups, sums, odd, verdict = kernels.scan(data, kernels.OSLO, True, True)
    assert total == len(lines) and not len(odd) and verdict == kernels.CLEAN
    seen: dict[tuple[str, str, str, int, int], int] = {}
    for row, value in zip(groups.tolist(), sums.tolist(), strict=True):
        hour, level, request = (data[row[at]:row[at] + row[at + 1]].tobytes().decode()
                                for at in (kernels.HOUR, kernels.LEVEL, kernels.REQUEST))
        key = (hour, level, request, row[kernels.STATUS], row[kernels.BUCKET])
        assert key not in seen
        seen[key] = row[kernels.COUNT]
        if request:
            number = int(request.split("/")[-1])
            assert value == row[kernels.COUNT] * (number % 5 + 0.5)
    assert len(seen) == 5000 + 6
    assert sum(seen.values()) == len(lines)


@pytest.mark.unit
def test_pieces_end_at_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    rng = random.Random(2)
    text = b"".join(b"x" * rng.randrange(0, 300) + b"\n" for _ in range(2000)) + b"tail"
    path.write_bytes(text)
    packed = tmp_path / "a.log.1.gz"
    packed.write_bytes(gzip.compress(text))
    for source in (path, packed):  # plain, then decompressed
        pieces = [piece.tobytes() for piece in read_pieces(source, 1000)]
        assert b"".join(pieces) == text
        assert all(piece.endswith(b"\n") for piece in pieces[:-1])
        assert len(pieces) > 100
    long = tmp_path / "long.log"  # a line longer than a piece
    long.write_bytes(b"y" * 5000 + b"\n" + b"z\n")
    long.with_name("long.log.1.gz").write_bytes(gzip.compress(long.read_bytes()))
    for source in (long, long.with_name("long.log.1.gz")):
        pieces = [piece.tobytes() for piece in read_pieces(source, 1000)]
        assert b"".join(pieces) == long.read_bytes()
        assert all(piece.endswith(b"\n") for piece in pieces)
    (tmp_path / "empty.log").write_bytes(b"")
    assert list(read_pieces(tmp_path / "empty.log", 10)) == []


@pytest.mark.unit
def test_an_oslo_head_longer_than_a_piece_goes_to_the_reference(tmp_path: Path) -> None:
    path = tmp_path / "nova-api.log"
    record = (REFERENCE / "nova-api.log").read_bytes()
    path.write_bytes(b"  continuation of a record in the previous file\n" * 100 + record)
    engine = CompiledBackfill(threads=1, piece=1024)
    engine.parse(path, "nova", "ctl1", True)
    assert engine.fallbacks == [str(path)]


@pytest.mark.unit
@pytest.mark.parametrize(("byte", "verdict"), [(b"\r", kernels.BAD), (b"\0", kernels.BAD),
                                               (b"\xc3", kernels.NOT_ASCII),
                                               (b"x", kernels.CLEAN)])
@pytest.mark.parametrize("at", [0, 300_000, -2])
def test_a_piece_is_checked_as_it_is_scanned(byte: bytes, verdict: int, at: int) -> None:
    """Blocks are checked ahead of the lines: a bad byte anywhere, the last block too."""
    line = b'2026-11-21 06:19:36 590 INFO n.r [-] ip "GET /" status: 200 len: 0\n'
    data = bytearray(line * 10_000)
    data[at] = byte[0]
    scanned = kernels.scan(np.frombuffer(bytes(data), np.uint8), kernels.OSLO, True, True)
    assert scanned[-1] == verdict
    if verdict == kernels.CLEAN:
        assert scanned[0] == 10_000
