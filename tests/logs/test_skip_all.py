"""RabbitMQ and MariaDB logs carry no metric: a chunk of their lines only is counted as
skipped in one step, exactly as line by line (``other.recognise`` on each line)."""

from __future__ import annotations

from collections import Counter

import pytest

from stackwatch.logparse import other
from stackwatch.logparse.engine import FileParser, LogFormat

pytestmark = pytest.mark.unit

RABBIT = [
    "2026-12-04 20:10:15.123456+00:00 [info] <0.230.0> Starting RabbitMQ 3.10.8 on Erlang 25",
    "2026-12-04 20:10:16.000001+00:00 [warning] <0.501.0> closing AMQP connection <0.501.0>",
]
MARIADB = [
    "2026-12-04 20:09:01 0 [Note] InnoDB: Buffer pool(s) load completed at 261204 20:09:01",
    "2026-12-04  8:09:01 0 [Warning] Aborted connection 12 to db: 'nova' user: 'nova'",
]
ODD = ["", "  banner text of the daemon", "[2026-12-04 20:09:00 +0000] [1] [INFO] gunicorn"]


def _per_line(fmt: LogFormat, lines: list[str]) -> Counter[str]:
    free = {LogFormat.RABBITMQ: "rabbitmq-text", LogFormat.MARIADB: "mariadb-text"}[fmt]
    return Counter(other.recognise(line) or free for line in lines)


@pytest.mark.parametrize(("fmt", "own"), [(LogFormat.RABBITMQ, RABBIT),
                                          (LogFormat.MARIADB, MARIADB)])
@pytest.mark.parametrize("odd", [[], ODD[:1], ODD[1:2], ODD[2:], ODD])
def test_chunk_skipped_as_line_by_line(fmt: LogFormat, own: list[str], odd: list[str]) -> None:
    lines = own * 500 + odd + own * 3
    parser = FileParser(fmt, "rabbitmq", "h", "f")
    parser.feed("\n".join(lines) + "\n")
    tally = parser.drain()
    assert Counter({reason: n for (_, reason), n in tally.skipped.items()}) == \
        _per_line(fmt, lines)
    assert not tally.records and not parser.unparsed_new


def test_the_other_recognisers_take_none_of_their_lines() -> None:
    """Why one count is exact: no recogniser before a format's own takes its lines."""
    names = [name for name, _ in other.RECOGNISERS]
    for reason, lines in (("rabbitmq", RABBIT), ("mariadb", MARIADB)):
        earlier = [p for name, p in other.RECOGNISERS[:names.index(reason)]]
        assert all(p.match(line) is None for p in earlier for line in lines)
        assert all(other.recognise(line) == reason for line in lines)


@pytest.mark.parametrize(("fmt", "own"), [(LogFormat.RABBITMQ, RABBIT),
                                          (LogFormat.MARIADB, MARIADB)])
@pytest.mark.parametrize("odd", [ODD[:1], ODD[1:2], ODD[2:], ODD])
def test_odd_first_or_last_line(fmt: LogFormat, own: list[str], odd: list[str]) -> None:
    """The first line is checked apart (the others after their newline): odd lines first,
    last, or a chunk of one line are still counted line by line."""
    for lines in (odd + own * 3, own * 3 + odd, odd[:1], own[:1]):
        parser = FileParser(fmt, "rabbitmq", "h", "f")
        parser.feed("\n".join(lines) + "\n")
        tally = parser.drain()
        assert Counter({reason: n for (_, reason), n in tally.skipped.items()}) == \
            _per_line(fmt, lines), lines
