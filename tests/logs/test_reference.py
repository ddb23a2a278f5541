"""Every line of every recorded real log is parsed or deliberately skipped, none unexplained."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.logs.conftest import reference_files

from stackwatch.logparse.engine import FileParser, LogFormat, detect_format
from stackwatch.logparse.oslo import parse_oslo
from stackwatch.logparse.tally import Tally
from stackwatch.sources.logs import LogsSource

pytestmark = pytest.mark.unit

EXPECTED_FORMATS = {
    "-access.log": LogFormat.ACCESS,
    "-gunicorn.log": LogFormat.GUNICORN,
    ".stdout": LogFormat.TEXT,
}


def _parse(path: Path, **options: bool) -> tuple[FileParser, Tally]:
    text = path.read_text(encoding="utf-8")
    parser = FileParser(detect_format(path, text[:4096]), "svc", "vm", path.name, **options)
    parser.feed(text)
    return parser, parser.drain()


@pytest.mark.parametrize("path", reference_files(), ids=lambda p: p.name)
def test_every_line_explained(path: Path) -> None:
    parser, tally = _parse(path, index=True)
    lines = path.read_text(encoding="utf-8").count("\n")
    assert tally.line_total() == lines
    assert tally.outcome("unparsed") == 0, list(parser.unparsed_sample)
    assert sum(tally.skipped.values()) == tally.outcome("skipped")


@pytest.mark.parametrize("path", reference_files(), ids=lambda p: p.name)
def test_format_detected_from_name_and_content(path: Path) -> None:
    fmt = detect_format(path, path.read_text(encoding="utf-8")[:4096])
    expected = next((f for suffix, f in EXPECTED_FORMATS.items() if path.name.endswith(suffix)),
                    None)
    if "mariadb" in path.name:
        expected = LogFormat.MARIADB
    elif "rabbit" in path.name or path.parent.name == "rabbitmq":
        expected = LogFormat.RABBITMQ
    assert fmt == (expected or LogFormat.OSLO)


@pytest.mark.parametrize("path", sorted(p for p in reference_files()
                                        if p.name.endswith("-access.log")), ids=lambda p: p.name)
def test_access_logs_count_every_request(path: Path) -> None:
    _, tally = _parse(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert sum(tally.requests.values()) == len(lines)
    statuses: dict[str, int] = {}
    for line in lines:
        status = line.split('" ', 1)[1].split(" ", 1)[0]
        statuses[status] = statuses.get(status, 0) + 1
    counted: dict[str, int] = {}
    for (_, _, _, _, status), n in tally.requests.items():
        counted[status] = counted.get(status, 0) + n
    assert counted == statuses
    durations = sum(h[-1] for h in tally.durations.values())
    assert durations == pytest.approx(sum(float(line.rsplit(" ", 1)[1]) for line in lines))


@pytest.mark.parametrize("path", sorted(p for p in reference_files() if p.suffix == ".log"
                                        and detect_format(p) is LogFormat.OSLO),
                         ids=lambda p: p.name)
def test_oslo_records_and_tracebacks(path: Path) -> None:
    """A record is a line with a context bracket; traceback lines belong to it."""
    _, tally = _parse(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    firsts = [parse_oslo(line) for line in lines]
    records = [line for line in firsts if line is not None and line.context is not None]
    by_level: dict[str, int] = {}
    for record in records:
        by_level[record.level] = by_level.get(record.level, 0) + 1
    assert {level: n for (_, _, level), n in tally.records.items()} == by_level


def test_multiline_traceback_is_one_record(reference_logs: Path) -> None:
    _, tally = _parse(reference_logs / "nova-api.log")
    text = (reference_logs / "nova-api.log").read_text(encoding="utf-8")
    errors = len(re.findall(r"^\S+ \S+ \d+ ERROR \S+ \[", text, re.M))
    assert tally.records[("svc", "vm", "ERROR")] == errors
    assert tally.tracebacks[("svc", "vm")] == errors
    # the 176 lines of those tracebacks (prefixed or not) are continuations
    assert tally.skipped[("svc", "continuation")] == len(text.splitlines()) - sum(
        tally.records.values())


def test_nova_requests_counted_once(reference_logs: Path, tmp_path: Path) -> None:
    """nova-api writes a requestlog line and an access line per call: one request."""
    source = LogsSource("nova", reference_logs, ["nova-api*.log"], tmp_path / "cp.json",
                        host="vm")
    collection = source.collect()
    counted = sum(s.value for s in collection.samples
                  if s.name == "openstack_log_http_requests_total")
    access = (reference_logs / "nova-api-access.log").read_text(encoding="utf-8").count("\n")
    assert counted == access
    only_oslo = LogsSource("nova", reference_logs, ["nova-api.log"], None, host="vm")
    requestlog = (reference_logs / "nova-api.log").read_text(encoding="utf-8").count(
        "nova.api.openstack.requestlog")
    assert sum(s.value for s in only_oslo.collect().samples
               if s.name == "openstack_log_http_requests_total") == requestlog


def test_chunk_boundaries_do_not_matter(reference_logs: Path) -> None:
    """Feeding a file line by line or whole gives the same counts."""
    path = reference_logs / "nova-conductor.log"
    text = path.read_text(encoding="utf-8")
    whole = FileParser(LogFormat.OSLO, "nova", "vm", path.name)
    whole.feed(text)
    split = FileParser(LogFormat.OSLO, "nova", "vm", path.name)
    for line in text.splitlines(keepends=True):
        split.feed(line)
    assert whole.drain() == split.drain()
