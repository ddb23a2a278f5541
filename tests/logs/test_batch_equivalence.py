"""The chunk-at-a-time paths of the engine give exactly what the per-line path gives.

Each test parses the same text twice, once with the batch paths forced on
(``batch_bytes = 1``) and once with them off, and compares everything the parser
hands over: the tally (float sums bit for bit), the rows, the brute-force failures
in order, and the unparsed samples.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.logparse.engine import AuthFailure, FileParser, IndexRow, LogFormat, detect_format
from stackwatch.logparse.tally import Tally
from stackwatch.logparse.urls import TemplateCache

pytestmark = pytest.mark.unit

Parsed = tuple[Tally, list[IndexRow], list[AuthFailure], list[str], list[str]]


def parse(fmt: LogFormat, pieces: list[str], batch: bool, count_requests: bool = True,
          index: bool = True) -> Parsed:
    """Feed ``pieces`` one after the other; everything the parser hands over."""
    parser = FileParser(fmt, "svc", "own-host", "f.log", index=index,
                        count_requests=count_requests)
    parser.batch_bytes = 1 if batch else 1 << 62
    rows: list[IndexRow] = []
    offset = 0
    for piece in pieces:
        parser.feed(piece, offset)
        offset += len(piece.encode("utf-8", "surrogateescape"))
        rows += parser.take_rows()
    return (parser.drain(), rows, parser.failures, list(parser.unparsed_sample),
            parser.unparsed_new)


def assert_same(fmt: LogFormat, pieces: list[str], count_requests: bool = True,
                index: bool = True) -> Parsed:
    batch = parse(fmt, pieces, True, count_requests, index)
    single = parse(fmt, pieces, False, count_requests, index)
    assert batch[0] == single[0]
    assert batch[1:] == single[1:]
    return batch


# -- HAProxy -----------------------------------------------------------------------

WORD = st.text("abcxyz_-.~:[]\"/+0123456789", min_size=0, max_size=6)
NUMBER = st.one_of(st.integers(-1, 70_000).map(str), st.sampled_from(
    ["+46", "++7", "-", "-1", "x", "", "0012", "1_0", "+-5", "99999999999999999", "٣"]))


@st.composite
def haproxy_line(draw: st.DrawFn) -> str:
    """An ``option httplog`` line with any field possibly odd."""
    day = draw(st.sampled_from(["21", " 1", "1", "  1"]))
    host = draw(st.sampled_from(["lb1", "lb2", "", "lb 3"]))
    program = draw(st.sampled_from(["haproxy[1234]:", "haproxy[1]:", "haproxy:", "proxy[1]:"]))
    client = draw(st.sampled_from(["203.0.113.7:51234", "10.0.0.5:1", "::1:80", "nocolon"]))
    accepted = draw(st.sampled_from(["[21/Nov/2026:06:19:36.123]", "[21/Nov/2026:06:19:37]",
                                     "21/Nov", "[x]"]))
    frontend = draw(st.sampled_from(["keystone_public", "nova~", "~", "", "fe/x"]))
    backend = draw(st.sampled_from(["keystone_back/ctl1", "nova_back/ctl2", "b/", "/s",
                                    "nobackend", "b/s/t"]))
    timers = "/".join(draw(st.lists(NUMBER, min_size=4, max_size=6)))
    status = draw(st.sampled_from(["200", "401", "503", "-1", "2000", "20x", "401"]))
    request = draw(st.sampled_from([
        '"POST /v3/auth/tokens HTTP/1.1"', '"POST /v2.0/tokens?x=1 HTTP/1.1"',
        '"GET /v3/auth/tokens HTTP/1.1"', '"POST /identity/v3/auth/tokens HTTP/1.1"',
        '"<BADREQ>"', "GET / HTTP/1.1", '"POST /v3/auth/tokens"', '"POST']))
    tail = draw(WORD)
    line = (f"Nov {day} 06:19:36 {host} {program} {client} {accepted} {frontend} {backend} "
            f"{timers} {status} 1234 - - ---- 10/5/0/0/0 0/0 {request}{tail}")
    cut = draw(st.one_of(st.none(), st.integers(0, len(line))))
    return line if cut is None else line[:cut]


ODD_HAPROXY = [
    "Nov 21 06:19:36 lb1 haproxy[1234]: Server nova_api_back/ctl2 is DOWN",
    "Nov 21 06:19:36 lb1 haproxy[1234]: Proxy nova_api started.",
    "2026-11-21T06:19:36+00:00 lb1 haproxy[1234]: 10.0.0.1:4000 [21/Nov/2026:06:19:36.000] "
    'fe be/s 0/0/1/2/3 200 10 - - ---- 1/1/1/1/0 0/0 "GET /x HTTP/1.1"',
    "203.0.113.7:51234 [21/Nov/2026:06:19:36.123] fe~ be/s 0/0/1/45/46 401 1234 - - ---- "
    '10/5/0/0/0 0/0 "POST /v3/auth/tokens HTTP/1.1"',
    "", "garbage", "\t",
    "Nov 21 06:19:36 lb1 haproxy[1]: 10.0.0.5:1 [21/Nov/2026:06:19:36.123] fe be/s "
    '0/0/0/0/5 200 12 - - ---- 1/1/0/0/0 0/0 "GET /café HTTP/1.1"',
]

@st.composite
def regular_haproxy_line(draw: st.DrawFn) -> str:
    """A line the batch path takes, with varied keys and times."""
    day = draw(st.sampled_from(["21", " 1"]))
    frontend = draw(st.sampled_from(["keystone_public", "nova~", "~"]))
    backend = draw(st.sampled_from(["keystone_back/ctl1", "nova_back/ctl2", "b/", "/s"]))
    total = draw(st.one_of(st.integers(0, 70_000).map(str), st.sampled_from(
        ["+46", "-1", "-", "0012", "999999999999999"])))
    status = draw(st.sampled_from(["200", "401", "503", "000"]))
    path = draw(st.sampled_from(["/v3/auth/tokens", "/v2.0/tokens?x", "/v3/users", "/"]))
    return (f"Nov {day} 06:19:36 lb1 haproxy[1]: 10.0.0.5:1 [21/Nov/2026:06:19:36.123] "
            f"{frontend} {backend} 0/0/1/2/{total} {status} 12 - - ---- 1/1/0/0/0 0/0 "
            f'"POST {path} HTTP/1.1"')


haproxy_lines = st.lists(st.one_of(regular_haproxy_line(), haproxy_line(),
                                   st.sampled_from(ODD_HAPROXY)), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(lines=haproxy_lines, cut=st.integers(0, 60))
def test_haproxy_batch_is_the_per_line_path(lines: list[str], cut: int) -> None:
    """Mixed valid and odd lines, fed in two pieces: the same tally, failures, samples."""
    pieces = ["".join(f"{line}\n" for line in lines[:cut]),
              "".join(f"{line}\n" for line in lines[cut:])]
    assert_same(LogFormat.HAPROXY, [piece for piece in pieces if piece])


@settings(max_examples=300, deadline=None)
@given(regular=st.lists(regular_haproxy_line(), min_size=8, max_size=60),
       odd=st.lists(st.tuples(st.integers(0, 60), st.one_of(
           haproxy_line(), st.sampled_from(ODD_HAPROXY))), max_size=8))
def test_haproxy_batch_with_a_few_odd_lines(regular: list[str], odd: list[tuple[int, str]]
                                            ) -> None:
    """Mostly regular lines (the batch path keeps the chunk) and odd ones among them, some
    of which the per-line path takes and times: the same sums, added in the same order."""
    lines = list(regular)
    for at, line in odd[:len(regular) // 8]:
        lines.insert(at, line)
    assert_same(LogFormat.HAPROXY, ["".join(f"{line}\n" for line in lines)])


def test_haproxy_batch_on_a_large_chunk() -> None:
    """Lines of the documented shapes repeated into a large chunk, odd lines in between:
    counts and float sums equal to the per-line path's."""
    sample = [
        "Nov 21 06:19:36 lb1 haproxy[1234]: 203.0.113.7:51234 [21/Nov/2026:06:19:36.123] "
        "keystone_public~ keystone_public_back/ctl1 0/0/1/45/46 401 1234 - - ---- 10/5/0/0/0 "
        '0/0 "POST /v3/auth/tokens HTTP/1.1"',
        "Nov  1 06:19:37 lb1 haproxy[1234]: 10.0.0.9:4000 [01/Nov/2026:06:19:37.001] "
        "nova_api nova_api_back/ctl2 0/0/0/11/12 200 90 - - ---- 1/1/0/0/0 0/0 "
        '"GET /v2.1/servers/detail?all_tenants=1 HTTP/1.1"',
        "Nov 21 06:19:38 lb1 haproxy[1234]: 10.0.0.9:4001 [21/Nov/2026:06:19:38.000] "
        "nova_api nova_api_back/<NOSRV> -1/-1/-1/-1/0 503 212 - - SC-- 1/1/0/0/0 0/0 "
        '"GET /v2.1/servers HTTP/1.1"',
    ]
    lines = sample * 200
    for at in range(0, len(lines), 97):
        lines.insert(at, ODD_HAPROXY[at % len(ODD_HAPROXY)])
    tally = assert_same(LogFormat.HAPROXY, ["".join(f"{line}\n" for line in lines)])[0]
    assert sum(tally.haproxy.values()) >= 3 * 200
    assert tally.haproxy_time


def test_haproxy_sums_are_added_in_file_order() -> None:
    """1 ms, 1 ms, then 8 ms from a line only the per-line path reads (ISO time): added in
    another order, the sum would differ in its last bit."""
    regular = ("Nov 21 06:19:36 lb1 haproxy[1]: 10.0.0.5:1 [21/Nov/2026:06:19:36.123] fe be/s "
               '0/0/0/0/{} 200 12 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"')
    iso = ("2026-11-21T06:19:36+00:00 lb1 haproxy[1]: 10.0.0.5:1 [21/Nov/2026:06:19:36.123] "
           'fe be/s 0/0/0/0/{} 200 12 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"')
    lines = [regular.format(1), regular.format(1), iso.format(8)] + [regular.format(0)] * 20
    tally = assert_same(LogFormat.HAPROXY, ["".join(f"{line}\n" for line in lines)])[0]
    assert tally.haproxy_time[("lb1", "fe", "be")][-1] == 0.001 + 0.001 + 0.008
    assert 0.001 + 0.001 + 0.008 != 0.008 + 0.001 + 0.001


def test_haproxy_total_time_that_is_not_a_number_is_no_error() -> None:
    """A total time the fast path cannot read goes to the pattern, which does not take it
    (skipped as a notice): no exception (it used to raise ValueError)."""
    line = ("Nov 21 06:19:36 lb1 haproxy[1234]: 203.0.113.7:51234 [21/Nov/2026:06:19:36.123] "
            'fe be/srv 0/0/1/45/x 200 1234 - - ---- 10/5/0/0/0 0/0 "GET / HTTP/1.1"\n')
    for batch in (True, False):
        tally = parse(LogFormat.HAPROXY, [line * 3], batch)[0]
        assert tally.outcome("parsed") == 0
        assert tally.line_total() == 3
        assert not tally.haproxy


# -- access logs -------------------------------------------------------------------


@st.composite
def access_line(draw: st.DrawFn) -> str:
    """A combined + time line, any part possibly odd."""
    remote = draw(st.sampled_from(["10.0.0.11", "ctl1:443 10.0.0.11", "", "::1"]))
    stamp = draw(st.sampled_from(["[21/Nov/2026:06:19:36 +0000]", "[21/Nov/2026:06:19:37.5 +0100]",
                                  "21/Nov/2026", "[x]"]))
    method = draw(st.sampled_from(["GET", "POST", "HEAD", "get", "M-SEARCH", "", "PUT"]))
    target = draw(st.sampled_from([
        "/v3/auth/tokens", "/v2.0/tokens", "/v3/users/8a90fa0e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
        "/v2.1/servers/detail?all_tenants=1", "*", "/", "x", "/a b", "/identity/v3/auth/tokens",
        "/v3/projects/abc?x=1"]))
    version = draw(st.sampled_from([" HTTP/1.1", "", " HTTP/1.0 extra"]))
    status = draw(st.sampled_from(["200", "401", "404", "500", "20", "2000", "abc"]))
    size = draw(st.sampled_from(["224", "-", "0"]))
    agent = draw(st.sampled_from(['"-" "python-requests/2.32.5"', '"-" "a"b"', '"-"']))
    time = draw(st.one_of(st.integers(0, 10**7).map(str), st.sampled_from(
        ["4.485598", "0.5", ".5", "5.", "1.2.3", "123(us)", "", "x", "²", "٣", "1e3",
         "9999999999999999", "00012"])))
    sep = draw(st.sampled_from([" ", "", "  ", "\t"]))
    line = (f'{remote} - - {stamp} "{method} {target}{version}" {status} {size} {agent}'
            f"{sep}{time}")
    cut = draw(st.one_of(st.none(), st.integers(0, len(line))))
    return line if cut is None else line[:cut]


@st.composite
def regular_access_line(draw: st.DrawFn) -> str:
    """A line the batch path takes, with varied keys and times."""
    method = draw(st.sampled_from(["GET", "POST", "HEAD"]))
    target = draw(st.sampled_from(["/v3/auth/tokens", "/v2.0/tokens?a=b", "/v3/users/42", "*",
                                   "/v3/users/alice"]))
    status = draw(st.sampled_from(["200", "201", "401", "404"]))
    time = draw(st.one_of(st.integers(0, 10**7).map(str), st.floats(0, 100).map(
        lambda x: f"{x:.6f}"), st.sampled_from(["0", "000123", "999999999999999"])))
    return (f'10.0.0.{draw(st.integers(1, 3))} - - [21/Nov/2026:06:19:36 +0000] '
            f'"{method} {target} HTTP/1.1" {status} 224 "-" "python-requests/2.32.5" {time}')


UWSGI_LINE = ("[pid: 9|app: 0|req: 1/1] 10.0.0.4 () {34 vars in 470 bytes} "
              "[Sat Nov 21 06:19:36 2026] POST /v3/auth/tokens => generated 2301 bytes in 8 "
              "msecs (HTTP/1.1 401) 6 headers in 385 bytes (1 switches on core 0)")
ODD_ACCESS = [
    UWSGI_LINE, "", "garbage",
    'ctl1:5000 10.0.0.9 - - [21/Nov/2026:06:19:36 +0000] "GET /v3 HTTP/1.1" 200 5 "-" "a" 1',
    '10.0.0.9 - - [21/Nov/2026:06:19:36 +0000] "GET /v3/users HTTP/1.1" 200 5 "-" "a" 123(us)',
    '10.0.0.9 - - [21/Nov/2026:06:19:36 +0000] "GET /v3 HTTP/1.1" 200 5 "-" "agent ü" 7',
]


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.one_of(regular_access_line(), access_line(),
                                st.sampled_from(ODD_ACCESS)), min_size=1, max_size=60),
       cut=st.integers(0, 60), count_requests=st.booleans())
def test_access_batch_is_the_per_line_path(lines: list[str], cut: int,
                                           count_requests: bool) -> None:
    """Mixed valid and odd access lines, fed in two pieces: the same results."""
    pieces = ["".join(f"{line}\n" for line in lines[:cut]),
              "".join(f"{line}\n" for line in lines[cut:])]
    assert_same(LogFormat.ACCESS, [piece for piece in pieces if piece],
                count_requests=count_requests)


@settings(max_examples=300, deadline=None)
@given(regular=st.lists(regular_access_line(), min_size=8, max_size=60),
       odd=st.lists(st.tuples(st.integers(0, 60), st.one_of(
           access_line(), st.sampled_from(ODD_ACCESS))), max_size=8))
def test_access_batch_with_a_few_odd_lines(regular: list[str], odd: list[tuple[int, str]]
                                           ) -> None:
    """Mostly regular lines (the batch path keeps the chunk) and odd ones among them."""
    lines = list(regular)
    for at, line in odd[:len(regular) // 8]:
        lines.insert(at, line)
    assert_same(LogFormat.ACCESS, ["".join(f"{line}\n" for line in lines)])


def test_access_sums_are_added_in_file_order() -> None:
    """1 ms, 1 ms, then 8 ms from a line only the per-line path reads (``123(us)``)."""
    line = ('10.0.0.9 - - [21/Nov/2026:06:19:36 +0000] "GET /v3/users HTTP/1.1" 200 5 "-" "a" '
            "{}")
    lines = [line.format(1000), line.format("0.001"), line.format("8000(us)")]
    lines += [line.format(0)] * 20
    tally = assert_same(LogFormat.ACCESS, ["".join(f"{line}\n" for line in lines)])[0]
    assert tally.durations[("svc", "own-host", "GET", "/v3/users")][-1] == 0.001 + 0.001 + 0.008


def test_access_batch_near_the_template_cap() -> None:
    """Past the cap new templates are ``{other}`` in the order they come: a chunk that could
    reach it goes line by line, so the same templates are kept either way."""
    lines = [f'10.0.0.9 - - [21/Nov/2026:06:19:36 +0000] "GET /t{n % 7}/x{n} HTTP/1.1" 200 5 '
             f'"-" "a" {n}' for n in range(40)]
    lines.insert(5, UWSGI_LINE.replace("/v3/auth/tokens", "/uwsgi/first"))
    text = "".join(f"{line}\n" for line in lines)
    results = []
    for batch in (True, False):
        parser = FileParser(LogFormat.ACCESS, "svc", "h", "f.log",
                            templates=TemplateCache(max_templates=10))
        parser.batch_bytes = 1 if batch else 1 << 62
        parser.feed(text)
        results.append(parser.drain())
    assert results[0] == results[1]
    assert ("GET", "{other}") in {(m, t) for _, _, m, t, _ in results[0].requests}


def test_batch_paths_stay_on_once_the_template_cap_is_full() -> None:
    """A full cache makes every new template ``{other}`` whatever the order: the batch paths
    are taken again (they were left for good once the cap was reached) and agree."""
    oslo = ('2026-11-21 06:19:36.304 590 INFO nova.api.openstack.requestlog [None req-{n:04d} '
            'u p - - default default] 10.0.0.9 "GET /new{n}/x" status: 200 len: 5 '
            'microversion: 2.1 time: 0.{n:03d}')
    access = ('10.0.0.9 - - [21/Nov/2026:06:19:36 +0000] "GET /new{n}/x HTTP/1.1" 200 5 "-" '
              '"a" {n}')
    for fmt, line in ((LogFormat.OSLO, oslo), (LogFormat.ACCESS, access)):
        text = "".join(line.format(n=n) + "\n" for n in range(200))
        results = []
        for batch in (True, False):
            templates = TemplateCache(max_templates=3)
            for n in range(3):
                templates(f"/full{n}")
            assert templates.room() == 0
            parser = FileParser(fmt, "svc", "h", "f.log", templates=templates)
            parser.batch_bytes = 1 if batch else 1 << 62
            name = "_oslo_batch" if fmt is LogFormat.OSLO else "_access_batch"
            taken: list[bool] = []
            method = getattr(parser, name)
            setattr(parser, name, lambda *args, m=method, t=taken: t.append(m(*args)) or t[-1])
            parser.feed(text)
            # the batch path itself took the chunk (it declines by returning False)
            assert taken == ([True] if batch else []), (fmt, taken)
            results.append(parser.drain())
        assert results[0] == results[1]
        assert {t for _, _, _, t, _ in results[0].requests} == {"{other}"}


@pytest.mark.parametrize(("after", "seconds"), [
    (" 1234", 0.001234), (" 0.5", 0.5), (" 1234(us)", 0.001234), ("x1234", None),
    ("-1234", None), (" -1234", None), (" nan", None), (" inf", None), (" 1e3", None),
    (" 1_000", None), (" .5", None), (" 5.", None)])
def test_access_time_is_a_field_of_digits(after: str, seconds: float | None) -> None:
    """What follows the agent's quote is a time only as its own field of digits (with one
    dot for seconds); on both paths (``"a"-1234`` was 1234 us, `` nan`` a nan sum)."""
    line = f'10.0.0.9 - - [21/Nov/2026:06:19:36 +0000] "GET /v3 HTTP/1.1" 200 5 "-" "a"{after}'
    tally = assert_same(LogFormat.ACCESS, [f"{line}\n" * 40])[0]
    assert tally.outcome("parsed") == 40
    hist = tally.durations.get(("svc", "own-host", "GET", "/v3"))
    if seconds is None:
        assert hist is None
    else:
        assert hist is not None and hist[-1] == pytest.approx(40 * seconds)


@pytest.mark.parametrize(("time", "seconds"), [
    ("0.0823", 0.0823), ("12", 12.0), ("nan", None), ("inf", None), ("1e3", None),
    ("1_000", None), ("-1", None), ("abc", None), ("9" * 400, None)])
def test_requestlog_time_is_digits(time: str, seconds: float | None) -> None:
    """``time:`` on a requestlog line is a time when it is digits; the request is counted
    either way, on both paths."""
    line = ('2026-11-21 06:19:36.304 590 INFO nova.api.openstack.requestlog [None req-1 u p '
            f'- - d d] 10.0.0.9 "GET /v2.1/servers" status: 200 len: 5 microversion: 2.1 '
            f'time: {time}')
    tally = assert_same(LogFormat.OSLO, [f"{line}\n" * 40])[0]
    assert tally.requests[("svc", "own-host", "GET", "/v2.1/servers", "200")] == 40
    hist = tally.durations.get(("svc", "own-host", "GET", "/v2.1/servers"))
    if seconds is None:
        assert hist is None
    else:
        assert hist is not None and hist[-1] == pytest.approx(40 * seconds)


def test_unicode_digit_time_is_no_error() -> None:
    """A superscript digit is a digit that int() refuses: no exception (it used to raise)."""
    line = ('10.0.0.9 - - [21/Nov/2026:06:19:36 +0000] "GET /v3 HTTP/1.1" 200 5 "-" "a" '
            "\u00b2\n")
    tally = parse(LogFormat.ACCESS, [line], False)[0]
    assert tally.outcome("parsed") == 1
    assert not tally.durations


def test_request_time_that_is_not_a_number_is_no_error() -> None:
    """``time: abc`` on a requestlog line: the request is counted without a time (as the
    pattern reads it), no exception (it used to raise ValueError)."""
    line = ("2026-11-21 06:19:36.304 590 INFO nova.api.openstack.requestlog [None req-1 u p - - "
            'default default] 10.0.0.1 "GET /v2.1/servers" status: 200 len: 5 time: abc\n')
    tally = parse(LogFormat.OSLO, [line], False)[0]
    assert tally.requests == {("svc", "own-host", "GET", "/v2.1/servers", "200"): 1}
    assert not tally.durations


# -- oslo.log ----------------------------------------------------------------------

UUID = "8a90fa0e-1b2c-4d5e-8f90-a1b2c3d4e5f6"
CONTEXTS = [
    "[None req-317dd0b1-1b2c-4d5e-8f90-a1b2c3d4e5f6 u p - - default default]",
    "[req-abc req-317dd0b1-1b2c-4d5e-8f90-a1b2c3d4e5f6 u p - - default default]",
    "[req-317dd0b1-1b2c-4d5e-8f90-a1b2c3d4e5f6 u p - - -]", "[-]", "[]", "[ req-x]",
    "[None]", "[req-", "[Non req-1]", "[req-1]", "[x req-1 y]", "[instance: x]",
    "[instance:x]",
]
REQUESTS = [
    '10.0.0.11 "GET /v2.1/servers/detail?all_tenants=1" status: 200 len: 1 microversion: 2.1 '
    "time: 0.722041",
    f'10.0.0.11 "GET /v2.1/servers/{UUID}/action" status: 401 len: 1 time: 12',
    '10.0.0.12 "POST /v3/auth/tokens HTTP/1.1" status: 401  len: 1226 time: 0.1210550',
    '10.0.0.12 "POST /v2.0/tokens HTTP/1.1" status: 201  len: 1226 time: 1.5',
    '10.0.0.11 "PUT /resource_providers/x/inventories" status: 200 len: 671 microversion: 1.39',
    f'10.0.0.13 - - [21/Nov/2026 09:57:27] "GET /v2/images/{UUID} HTTP/1.1" 200 1411 0.136787',
    '10.0.0.13 - - [21/Nov/2026 09:57:27] "GET /v2/images HTTP/1.1" 200 1411 12',
    '10.0.0.13 - - [21/Nov/2026 09:57:27] "GET /v2/images HTTP/1.1" 401 1411 1.2.3',
    'x "GET /a" status: 200 len: 1 time: abc', '"GET /a" status: 200 len: 1 time: .5',
    'noremote"GET /a" status: 200 len: 1', '1 "get /a" status: 200 len: 1 time: 1',
    '1 "GET /a b c" status: 200 len: 1', '1 "GET /a" status:\t200 len: 1 time: 1',
    '1 "GET" status: 200 len: 1', '1 "GET /a" status: 20 len: 1', '1 "GET /a" status: 200',
    '1 "GET /a" status: 200 len: 1 time: 1234567890123456',
    f'1 "GET /v2.1/servers/{UUID[:30]}" status: 200 len: 1 time: 0.5',
    '1 "GET /v2.1/servers/abcdefgh-jklmnopqrstuvwxyz0123456789" status: 200 len: 1 time: 1',
    '1 "GET /v2.1/servers/abcdefghijklmnopqrstuvw-yz0123456789" status: 200 len: 1 time: 1',
    "Unable to process extensions", "Traceback (most recent call last):", "",
    "Instance « café » spawned", '1 "GET /v2.1/servers/é" status: 200 len: 1 time: 0.5',
]


@st.composite
def oslo_line(draw: st.DrawFn) -> str:
    """A first line of a record, a traceback or continuation line, or something odd."""
    stamp = draw(st.sampled_from(["2026-11-21 06:19:36.304", "2026-11-21 06:19:36",
                                  "2026-11-21T06:19:36.304", "2026-11-21 06:20:01.999"]))
    level = draw(st.sampled_from(["INFO", "ERROR", "CRITICAL", "WARNING", "TRACE", "DEBUG2"]))
    logger = draw(st.sampled_from(["nova.api.openstack.requestlog", "neutron.wsgi", "x"]))
    context = draw(st.sampled_from([*CONTEXTS, ""]))
    instance = draw(st.sampled_from(["", f"[instance: {UUID}] ", "[instance: short] "]))
    message = draw(st.sampled_from(REQUESTS))
    kind = draw(st.sampled_from(["record", "record", "record", "traceback", "bare", "odd"]))
    if kind == "traceback":
        return f"{stamp} 590 ERROR {logger} {message}"
    if kind == "bare":
        return message
    if kind == "odd":
        return draw(st.sampled_from([f"{stamp}  590 INFO x [-] m", f"{stamp} 590 INFO  [-] m",
                                     f"{stamp} x INFO y [-] m", "2026 06 590 INFO x [-] m"]))
    head = f"{stamp} 590 {level} {logger} {context} {instance}{message}"
    cut = draw(st.one_of(st.none(), st.integers(0, len(head))))
    return head if cut is None else head[:cut]


@st.composite
def regular_oslo_line(draw: st.DrawFn) -> str:
    """A record's first line with a context, maybe a request: what the kernel takes."""
    level = draw(st.sampled_from(["INFO", "ERROR", "WARNING"]))
    context = draw(st.sampled_from([*CONTEXTS[:3], "[-]"]))
    instance = draw(st.sampled_from(["", f"[instance: {UUID}] "]))
    message = draw(st.sampled_from(REQUESTS[:8]))
    time = draw(st.one_of(st.floats(0, 100).map(lambda x: f"{x:.6f}"),
                          st.integers(0, 10**6).map(str)))
    message = message.replace("0.722041", time)
    return f"2026-11-21 06:19:36.304 590 {level} neutron.wsgi {context} {instance}{message}"


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.one_of(regular_oslo_line(), oslo_line()), min_size=1, max_size=60),
       cut=st.integers(0, 60), count_requests=st.booleans(), index=st.booleans())
def test_oslo_batch_is_the_per_line_path(lines: list[str], cut: int, count_requests: bool,
                                         index: bool) -> None:
    """Records, request lines, tracebacks, continuation and odd lines, in two pieces: the
    same tally, rows (with traceback lines added to their messages), failures, samples."""
    pieces = ["".join(f"{line}\n" for line in lines[:cut]),
              "".join(f"{line}\n" for line in lines[cut:])]
    assert_same(LogFormat.OSLO, [piece for piece in pieces if piece],
                count_requests=count_requests, index=index)


def test_oslo_sums_are_added_in_file_order() -> None:
    """1 ms, 1 ms, then 8 ms from a line only the per-line path reads (``time:`` after a
    tab), between lines of the kernel: the same sum, bit for bit."""
    line = ("2026-11-21 06:19:36.304 590 INFO neutron.wsgi [None req-1 u p - - d d] 10.0.0.1 "
            '"GET /v2.0/ports HTTP/1.1" status: 200 len: 1 time:{}')
    lines = [line.format(" 0.001"), line.format(" 0.001"), line.format("\t0.008")]
    lines += [line.format(" 0")] * 20
    tally = assert_same(LogFormat.OSLO, ["".join(f"{line}\n" for line in lines)])[0]
    assert tally.durations[("svc", "own-host", "GET", "/v2.0/ports")][-1] == \
        0.001 + 0.001 + 0.008


def test_oslo_batch_on_the_recorded_logs(reference_logs: Path) -> None:
    """Every recorded real oslo.log file, whole: the batch path gives what the per-line
    path gives (rows, tracebacks, requests, levels)."""
    for path in sorted(reference_logs.glob("*.log")):
        if detect_format(path, path.read_text(encoding="utf-8")[:1024]) is not LogFormat.OSLO:
            continue
        text = path.read_text(encoding="utf-8")
        for count_requests in (True, False):
            assert_same(LogFormat.OSLO, [text], count_requests=count_requests)


def test_oslo_batch_on_every_combination() -> None:
    """Every context, instance prefix and message of the tables above, as first lines of
    records at two levels, followed by a traceback or continuation line with the same
    prefix and message: one chunk, all settings."""
    lines = []
    for context in CONTEXTS:
        for instance in ("", f"[instance: {UUID}] ", "[instance: short] "):
            for message in REQUESTS:
                for level in ("INFO", "ERROR"):
                    lines.append(f"2026-11-21 06:19:36.304 590 {level} neutron.wsgi {context} "
                                 f"{instance}{message}")
                lines.append(f"2026-11-21 06:19:36.304 590 ERROR neutron.wsgi {instance}"
                             f"{message}")
    text = "".join(f"{line}\n" for line in lines)
    for count_requests in (True, False):
        for index in (True, False):
            tally = assert_same(LogFormat.OSLO, [text], count_requests, index)[0]
            assert tally.outcome("parsed") >= len(lines) // 2


def test_oslo_chunk_with_non_ascii_lines() -> None:
    """Non-ASCII lines among ASCII ones: the ASCII runs go through the batch path with their
    own byte offsets, the others line by line; rows (offsets in bytes) as line by line."""
    ascii_line = ("2026-11-21 06:19:36.304 590 INFO neutron.wsgi [None req-1 u p - - d d] 10.0.0.1 "
                  '"GET /v2.0/ports HTTP/1.1" status: 200 len: 1 time: 0.01')
    other = "2026-11-21 06:19:36.304 590 INFO neutron.wsgi [None req-2 u p - - d d] réseau ✓"
    lines = [ascii_line] * 5 + [other, other] + [ascii_line] * 3 + [other] + [ascii_line] * 4
    lines += ["2026-11-21 06:19:36.304 590 ERROR neutron.wsgi Traceback é", other]
    rows = assert_same(LogFormat.OSLO, ["".join(f"{line}\n" for line in lines)])[1]
    assert [row.request_id for row in rows].count("req-2") == 4
    assert rows[-1].offset == sum(len(f"{line}\n".encode()) for line in lines[:-1])
