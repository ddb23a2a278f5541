"""swift's proxy-server log (``tests/data/recorded/swift/proxy-server.log``, written by the
real proxy of ``extra/heat_swift.sh``): every request line counted per method, swift
type and status with its time, subrequests and other lines skipped with their reason,
figures equal to a plain split of the same lines."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from stackwatch.logparse.engine import FileParser, LogFormat, detect_format
from stackwatch.logparse.swift import parse_proxy, swift_path
from stackwatch.logparse.tally import histogram_count

pytestmark = pytest.mark.unit

LOG = Path(__file__).resolve().parents[1] / "data" / "recorded" / "swift" / "proxy-server.log"
#: the default log_msg_template's fields, in order (swift/common/middleware/proxy_logging.py)
FIELDS = ("client_ip", "remote_addr", "datetime", "method", "path", "protocol", "status",
          "referer", "user_agent", "auth_token", "bytes_recvd", "bytes_sent", "etag",
          "transaction_id", "headers", "request_time", "source", "log_info", "start_time",
          "end_time", "policy_index", "access_user_id")


def split(line: str) -> dict[str, str] | None:
    """A request line by plain splitting (the parser's regex not used)."""
    _, sep, rest = line.partition("proxy-server: ")
    values = rest.split(" ")
    if not sep or len(values) != len(FIELDS) or not values[6].isdigit():
        return None
    return dict(zip(FIELDS, values, strict=True))


def test_recorded_requests_counted_by_method_type_and_status() -> None:
    text = LOG.read_text()
    lines = text.splitlines()
    rows = [row for line in lines if (row := split(line)) is not None]
    client = [r for r in rows if r["source"] == "-"]
    assert client and len(client) < len(lines)   # the recording has both kinds of lines
    expected = Counter((r["method"], swift_path(r["path"]), r["status"]) for r in client)
    assert {t for _, t, _ in expected} >= {"/v1/{account}", "/v1/{account}/{container}",
                                           "/v1/{account}/{container}/{object}"}
    assert detect_format("/var/log/swift/proxy.log") is LogFormat.SWIFT_PROXY
    assert detect_format("swift-proxy-server.stdout") is LogFormat.SWIFT_PROXY
    requests = "".join(f"{line}\n" for line in lines if split(line) is not None)
    assert detect_format("unknown.log", requests) is LogFormat.SWIFT_PROXY
    parser = FileParser(LogFormat.SWIFT_PROXY, "swift", "stor1", "proxy.log")
    parser.feed(text)
    tally = parser.drain()
    got = {(m, t, s): n for (_, _, m, t, s), n in tally.requests.items()}
    assert got == dict(expected)
    durations = Counter((r["method"], swift_path(r["path"])) for r in client)
    assert {(m, t): histogram_count(h) for (_, _, m, t), h in tally.durations.items()} == \
        dict(durations)
    total = sum(float(r["request_time"]) for r in client)
    assert sum(h[-1] for h in tally.durations.values()) == pytest.approx(total)
    outcome = {o: n for (_, _, o), n in tally.lines.items()}
    assert outcome["parsed"] == len(client)
    assert outcome["parsed"] + outcome["skipped"] == len(lines)
    assert outcome.get("unparsed", 0) == 0
    assert dict(tally.skipped).get(("swift", "swift-subrequest"), 0) == len(rows) - len(client)


def test_one_line_as_a_record() -> None:
    line = next(line for line in LOG.read_text().splitlines()
                if (row := split(line)) is not None and row["source"] == "-")
    row = split(line)
    assert row is not None
    record = parse_proxy(line)
    assert record is not None
    assert record.method == row["method"] and record.status == int(row["status"])
    assert record.timestamp == float(row["end_time"])
    assert record.duration == float(row["request_time"])
    assert record.path == swift_path(row["path"])


@pytest.mark.parametrize(("path", "template"), [
    ("/v1/AUTH_0ab1", "/v1/{account}"),
    ("/v1/AUTH_0ab1/", "/v1/{account}"),
    ("/v1/AUTH_0ab1/c1%3Fformat%3Djson", "/v1/{account}/{container}"),
    ("/v1/AUTH_0ab1/c1?format=json", "/v1/{account}/{container}"),
    ("/v1/AUTH_0ab1/c1/a/b/c.txt", "/v1/{account}/{container}/{object}"),
    ("/info", "/info"),
    ("/healthcheck", "/healthcheck"),
])
def test_paths_become_their_swift_type(path: str, template: str) -> None:
    assert swift_path(path) == template
