"""Property-based: random and truncated lines never raise, and every line is counted."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.logs.conftest import REFERENCE

from stackwatch.logparse.engine import FileParser, LogFormat
from stackwatch.sources.logs import LogsSource

pytestmark = pytest.mark.unit

REAL_LINES = [line for path in sorted(REFERENCE.glob("*.log"))
              for line in path.read_text(encoding="utf-8").splitlines()[:40] if line]

line_text = st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)),
                    max_size=300)


@st.composite
def truncated_real_line(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(REAL_LINES))
    cut = draw(st.integers(0, len(line)))
    return line[:cut]


any_line = st.one_of(line_text, truncated_real_line(), st.sampled_from(REAL_LINES))


@settings(max_examples=150, deadline=None)
@given(fmt=st.sampled_from(list(LogFormat)), lines=st.lists(any_line, max_size=40),
       split=st.integers(0, 40))
def test_every_line_is_counted(fmt: LogFormat, lines: list[str], split: int) -> None:
    parser = FileParser(fmt, "svc", "host", "f.log", index=True)
    text = "".join(f"{line}\n" for line in lines)
    cut = len("".join(f"{line}\n" for line in lines[:split]))
    parser.feed(text[:cut])
    rows = parser.take_rows()
    parser.feed(text[cut:])
    rows += parser.take_rows()
    assert all(isinstance(row.timestamp, float) for row in rows)
    tally = parser.drain()
    assert tally.line_total() == len(lines)
    assert tally.outcome("parsed") + tally.outcome("skipped") + tally.outcome("unparsed") == \
        len(lines)
    assert sum(tally.skipped.values()) == tally.outcome("skipped")
    assert len(parser.unparsed_sample) == min(tally.outcome("unparsed"), 20)


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(line_text, min_size=1, max_size=30))
def test_garbage_is_unparsed_not_dropped(lines: list[str]) -> None:
    """Lines of an access log that do not look like requests are counted as unparsed."""
    parser = FileParser(LogFormat.ACCESS, "svc", "host", "a.log")
    parser.feed("".join(f"x{line}\n" for line in lines))
    tally = parser.drain()
    assert tally.outcome("unparsed") + tally.outcome("skipped") == len(lines)
    assert tally.outcome("parsed") == 0


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000))
def test_random_bytes_through_the_source(tmp_path: Path, data: bytes) -> None:
    """Invalid UTF-8, NULs, no final newline: the source reads on and counts lines."""
    log = tmp_path / "nova" / "nova-api.log"
    log.parent.mkdir(exist_ok=True)
    log.write_bytes(data)
    checkpoint = tmp_path / "cp.json"
    checkpoint.unlink(missing_ok=True)
    source = LogsSource("nova", tmp_path, ["nova/*.log"], checkpoint, host="h")
    source.collect()
    complete = data.count(b"\n")
    head = data[:data.find(b"\n") + 1]
    expected = complete if b"\n" in head or len(data) >= 1024 else 0
    assert source.total.line_total() == expected


# A numeric field blown up to hundreds or thousands of digits (a corrupt line): int() of
# it overflows float division, and past 4,300 digits int() itself refuses.
HUGE_NUMBERS = [
    'Nov 21 06:19:36 lb1 haproxy[1]: 10.0.0.5:1 [21/Nov/2026:06:19:36.123] fe be/s 0/0/0/0/'
    + "9" * 400 + ' 200 12 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"',
    '10.0.0.1 - - [21/Nov/2026:06:19:36 +0000] "GET /v3 HTTP/1.1" 200 5 "-" "a" ' + "9" * 400,
    '10.0.0.1 - - [21/Nov/2026:06:19:36 +0000] "GET /v3 HTTP/1.1" 200 5 "-" "a" ' + "9" * 5000,
    '10.0.0.1 - - [21/Nov/2026:06:19:36 +0000] "GET /v3 HTTP/1.1" 200 5 "-" "a" x '
    + "9" * 400 + "(us)",
    "[pid: 9|app: 0|req: 1/1] 10.0.0.4 () {34 vars in 470 bytes} [Sat Nov 21 06:19:36 2026] "
    "POST /v3/auth/tokens => generated 2301 bytes in " + "9" * 400
    + " msecs (HTTP/1.1 401) 5 headers in 200 bytes (1 switches on core 0)",
    '10.0.0.12 - - [21/Nov/111111111111111111111:06:19:36 +0000] "POST /v3/auth/tokens '
    'HTTP/1.1" 401 224 "-" "a" 1234',
    '10.0.0.12 - - [' + "9" * 400 + '/Nov/2026:06:19:36 +0000] "POST /v3/auth/tokens '
    'HTTP/1.1" 401 224 "-" "a" 1234',
]


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "per-line"])
@pytest.mark.parametrize("line", HUGE_NUMBERS, ids=range(len(HUGE_NUMBERS)))
def test_a_huge_number_is_counted_not_raised(line: str, batch: bool) -> None:
    """Seen on both paths: an OverflowError left feed(), and the tailer read the line again
    at every poll (the offset only moves once the line is taken): the source was stuck."""
    for fmt in (LogFormat.ACCESS, LogFormat.HAPROXY):
        parser = FileParser(fmt, "keystone", "host", "f.log", index=True)
        parser.batch_bytes = 0 if batch else 1 << 62
        parser.feed(f"{line}\n" * 3, 0)
        tally = parser.drain()
        assert tally.line_total() == 3


@st.composite
def blown_up_number(draw: st.DrawFn) -> str:
    """A real line with one of its runs of digits repeated to hundreds or thousands."""
    line = draw(st.sampled_from([x for x in REAL_LINES if any(c.isdigit() for c in x)]))
    spots = [i for i, c in enumerate(line) if c.isdigit()]
    at = draw(st.sampled_from(spots))
    return line[:at] + line[at] * draw(st.sampled_from([330, 1000, 5000])) + line[at + 1:]


@settings(max_examples=150, deadline=None)
@given(fmt=st.sampled_from(list(LogFormat)), lines=st.lists(blown_up_number(), min_size=1,
                                                            max_size=5),
       batch=st.booleans())
def test_huge_numbers_anywhere_never_raise(fmt: LogFormat, lines: list[str],
                                           batch: bool) -> None:
    parser = FileParser(fmt, "svc", "host", "f.log", index=True)
    parser.batch_bytes = 0 if batch else 1 << 62
    parser.feed("".join(f"{line}\n" for line in lines), 0)
    parser.take_rows()
    assert parser.drain().line_total() == len(lines)
