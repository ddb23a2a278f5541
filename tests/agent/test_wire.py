"""What an agent sends: encoded without pydantic, read back by the server as it was made;
the node's name added where the sources left it out, and only there."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from stackwatch.agent.config import AgentConfig
from stackwatch.agent.identity import with_host
from stackwatch.agent.wire import Push, encode_batch, encode_push
from stackwatch.config import parse_config
from stackwatch.errors import ConfigError
from stackwatch.model import (
    CheckResult,
    Collection,
    Event,
    PerfDatum,
    Sample,
    Severity,
    Status,
    make_labels,
)

pytestmark = pytest.mark.unit

T = 1_790_000_000.25


def test_a_push_reads_back_as_the_collection_it_was_made_from() -> None:
    collection = Collection(
        (Sample.of("a", 1.5, T, host="c1", disk="/"), Sample.of("b", math.inf, T),
         Sample.of("c", -math.inf, T), Sample.of("d", math.nan, T)),
        (CheckResult("node.disk", Status.WARNING, "81 % used", make_labels(host="c1"),
                     (PerfDatum("used", 81, "%", 80, 90, 0, 100),
                      PerfDatum("x", math.nan), PerfDatum("y", 1, warn=math.inf)), T),),
        (Event("log", "nova.compute.manager", T, Severity.ERROR, "nova", "c1", "boom",
               "req-1", ("vm-1", "vm-2"), make_labels(level="ERROR")),))
    body = encode_push("agent-1", [encode_batch(7, "c1", "node.host", True, T, collection),
                                   encode_batch(8, "c1", "node.host", False, T, Collection())])
    push = Push.model_validate_json(body)
    assert push.agent == "agent-1" and [b.seq for b in push.batches] == [7, 8]
    first = push.batches[0]
    assert (first.host, first.source, first.partial, first.created) == ("c1", "node.host",
                                                                         True, T)
    back = first.collection()
    assert back.samples[:3] == collection.samples[:3]
    assert math.isnan(back.samples[3].value)
    check = back.checks[0]
    assert check.perfdata[0] == collection.checks[0].perfdata[0]
    assert math.isnan(check.perfdata[1].value)
    assert check.perfdata[2].warn is None  # an infinite threshold means none
    assert (check.name, check.status, check.message, check.labels, check.timestamp) == (
        "node.disk", Status.WARNING, "81 % used", (("host", "c1"),), T)
    assert back.events == collection.events


def test_the_node_is_added_where_the_sources_left_it_out_and_only_there() -> None:
    collection = Collection(
        (Sample.of("stackwatch_source_up", 1, T, source="logs.nova"),
         Sample.of("stackwatch_process_count", 2, T, service="nova-api", host="ctl-real")),
        (CheckResult("stackwatch_source", Status.OK, "ok", make_labels(source="logs.nova")),
         CheckResult("stackwatch.partial", Status.UNKNOWN, "x",
                     make_labels(source="logs.nova", resource="r")),
         CheckResult("node.process", Status.OK, "ok",
                     make_labels(service="nova-api", host="ctl-real")),
         CheckResult("logs.auth_bruteforce", Status.WARNING, "403 x 50",
                     make_labels(service="keystone")),
         CheckResult("endpoint", Status.OK, "ok", make_labels(service_type="compute"))),
        (Event("log", "x", T, host=""), Event("log", "y", T, host="elsewhere")))
    out = with_host(collection, "cmp-1")
    assert out.samples[0].labels == (("host", "cmp-1"), ("source", "logs.nova"))
    assert out.samples[1].labels == collection.samples[1].labels  # its own host kept
    labels = [dict(c.labels) for c in out.checks]
    assert labels[0] == {"host": "cmp-1", "source": "logs.nova"}
    assert labels[1]["host"] == "cmp-1"
    assert labels[2] == {"service": "nova-api", "host": "ctl-real"}
    # a check about a service as a whole, or an endpoint, is no member of this node
    assert labels[3] == {"service": "keystone"}
    assert labels[4] == {"service_type": "compute"}
    assert [e.host for e in out.events] == ["cmp-1", "elsewhere"]


def _agent(**given: object) -> dict[str, object]:
    return {"clouds": [{"name": "c"}], "agent": {"server": "https://mon.example:9550",
                                                 "token": "sw_s3cret-agent-token", **given}}


@pytest.mark.parametrize(("given", "problem"), [
    ({"server": "ftp://mon"}, "agent.server: Value error, not an http:// or https:// URL"),
    ({"server": "https://user:pw@mon"}, "agent.server: Value error, no user or password"),
    ({"token_file": "t"}, "agent: Value error, give token or token_file (one of them)"),
    ({"token": " "}, "agent: Value error, token is empty"),
    ({"batch_size": 0}, "agent.batch_size: Input should be greater than or equal to 1"),
    ({"buffer_max_bytes": 10}, "agent.buffer_max_bytes: Input should be greater"),
    ({"push_interval": -1}, "agent.push_interval: Input should be greater than 0"),
    ({"host": "a/b"}, "agent.host: Value error, a host name has no '/'"),
    ({"retries": 3}, "agent.retries: Extra inputs are not permitted"),
])
def test_a_bad_agent_section_names_the_field_never_the_token(given: dict[str, object],
                                                             problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_agent(**given))
    assert problem in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_files_are_taken_from_the_config_directory_and_must_exist(tmp_path: Path) -> None:
    data = _agent(token=None, token_file="agent.token", ca_file="ca.pem", buffer_dir="buf")
    with pytest.raises(ConfigError, match=r"agent.token_file: .*agent.token does not exist"):
        parse_config(data, "x.yaml", tmp_path)
    (tmp_path / "agent.token").write_text("sw_from-a-file\n")
    (tmp_path / "ca.pem").write_text("")
    config = parse_config(data, "x.yaml", tmp_path)
    assert config.agent is not None
    assert config.agent.buffer_dir == tmp_path / "buf"
    assert config.agent.read_token() == "sw_from-a-file"
    http = _agent(server="http://mon:9550", ca_file=str(tmp_path / "ca.pem"))
    with pytest.raises(ConfigError, match=r"agent\.ca_file: given, but agent\.server is http"):
        parse_config(http)


def test_the_token_is_not_in_the_config_repr() -> None:
    agent = AgentConfig(server="https://mon", token="sw_s3cret-agent-token")  # type: ignore[arg-type]
    assert "s3cret" not in repr(agent) and "s3cret" not in str(agent.model_dump())
    assert agent.read_token() == "sw_s3cret-agent-token"
    assert agent.ingest_url == "https://mon/api/v1/ingest"


def test_the_node_checks_and_the_logs_take_the_agents_host_name() -> None:
    from stackwatch.agent.daemon import node_config

    config = node_config(parse_config({**_agent(host="cmp7"), "node": {"roles": ["compute"]}}))
    assert config.node is not None and config.node.host == "cmp7"
    assert config.clouds[0].logs.host == "cmp7"
    named = node_config(parse_config({**_agent(host="cmp7"), "node": {"host": "compute-7"}}))
    assert named.node is not None and named.node.host == "compute-7"  # given: kept
