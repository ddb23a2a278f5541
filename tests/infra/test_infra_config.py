"""The ``infra`` section: validated with errors naming the field (never a secret), one
source per piece, and a piece that cannot be set up is UNKNOWN without stopping the rest."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stackwatch.config import load_config
from stackwatch.errors import ConfigError
from stackwatch.runner import Runner
from stackwatch.sources.registry import build_sources

pytestmark = pytest.mark.unit

SECRET = "Pa55-not-shown"


def write(tmp_path: Path, infra: str) -> Path:
    path = tmp_path / "stackwatch.yaml"
    path.write_text("clouds:\n  - name: c\n    infra:\n" + "".join(
        f"      {line}\n" for line in infra.strip().splitlines()))
    return path


def test_every_piece_gives_its_source_in_order(tmp_path: Path) -> None:
    (tmp_path / "rmq.pw").write_text("from-a-file\n")
    config = load_config(write(tmp_path, """
command_timeout: 3
rabbitmq: {url: "http://ctl1:15672", user: monitor, password_file: rmq.pw}
mysql: {servers: [{url: "mysql+pymysql://monitor:x@ctl1:3306/"}], expected_cluster_size: 3}
memcached: {servers: ["ctl1:11211", {address: "ctl2", host: ctl2}]}
haproxy: {instances: [{url: "http://ctl1:1936/;csv"}, {socket: /run/haproxy.sock, host: c2}]}
pacemaker: {}
ceph: {command: [ceph, --id, monitor]}
glusterfs: {}
libvirt: {uri: "qemu+ssh://cmp1/system"}
ovs: {bridges: [br-int, br-ex]}
swift: {object: ["stor1:6200", {address: "10.0.0.12:6200", host: stor2}], account: ["stor1:6202"]}
"""))
    infra = config.clouds[0].infra
    assert infra.rabbitmq is not None and infra.rabbitmq.password_file == tmp_path / "rmq.pw"
    assert infra.rabbitmq.secret() == "from-a-file"
    assert infra.memcached is not None
    assert [s.endpoint() for s in infra.memcached.servers] == [("ctl1", 11211), ("ctl2", 11211)]
    names = [s.name for s in build_sources(config) if s.name.startswith("infra.")]
    assert names == ["infra.rabbitmq", "infra.mysql", "infra.memcached", "infra.haproxy",
                     "infra.pacemaker", "infra.ceph", "infra.glusterfs", "infra.libvirt",
                     "infra.ovs", "infra.swift"]
    assert infra.swift is not None
    assert [(kind, s.member(), s.endpoint()) for kind, s in infra.swift.servers()] == [
        ("object", "stor1", ("stor1", 6200)), ("object", "stor2", ("10.0.0.12", 6200)),
        ("account", "stor1", ("stor1", 6202))]
    assert config.interval("infra.mysql") == 30 and config.timeout("infra.ceph") == 60


@pytest.mark.parametrize(("infra", "field", "words"), [
    (f'rabbitmq: {{url: "http://monitor:{SECRET}@ctl1:15672"}}', "infra.rabbitmq.url",
     "must not hold a user or password"),
    ("rabbitmq: {url: ctl1}", "infra.rabbitmq.url", "is not an http:// or https:// URL"),
    (f"rabbitmq: {{url: 'http://ctl1', password: {SECRET}}}", "infra.rabbitmq",
     "a password needs a user"),
    (f"rabbitmq: {{url: 'http://ctl1', user: u, password: {SECRET}, password_file: f}}",
     "infra.rabbitmq", "give password or password_file, not both"),
    ("rabbitmq: {url: 'http://ctl1', descriptors: {warning: 95, critical: 90}}",
     "infra.rabbitmq.descriptors", "critical 90 is below warning 95"),
    ("rabbitmq: {url: 'http://ctl1', colour: red}", "infra.rabbitmq.colour",
     "Extra inputs are not permitted"),
    (f"mysql: {{servers: [{{url: 'postgresql://u:{SECRET}@db/'}}]}}",
     "infra.mysql.servers.0.url", "is not a mysql:// URL"),
    (f"mysql: {{servers: [{{url: 'mysql://u:{SECRET}@db:99999/'}}]}}",
     "infra.mysql.servers.0.url", "has a bad port"),
    ("mysql: {servers: []}", "infra.mysql.servers", "at least 1 item"),
    (f"mysql: {{servers: [{{url: 'mysql://u:{SECRET}@db/'}}, {{url: 'mysql://db:3307/'}}]}}",
     "infra.mysql", "two entries are the same member (db)"),
    ("memcached: {servers: ['ctl1:port']}", "infra.memcached.servers.0.address",
     "is not host:port"),
    ("haproxy: {instances: [{host: ctl1}]}", "infra.haproxy.instances.0",
     "give url or socket"),
    (f"haproxy: {{instances: [{{socket: /s, user: u, password: {SECRET}}}]}}",
     "infra.haproxy.instances.0", "the stats socket takes no user"),
    ("ceph: {command: ['']}", "infra.ceph.command", "the program is empty"),
    ("swift: {timeout: 3}", "infra.swift", "list at least one object, container or account"),
    ("swift: {object: ['stor1:x']}", "infra.swift.object.0.address", "is not host:port"),
    ("swift: {account: [stor1]}", "infra.swift.account.0.address", "is not host:port"),
    ("swift: {object: ['stor1:6200', 'stor1:6210']}", "infra.swift",
     "two entries are the same member (stor1)"),
    ("command_timeout: 0", "infra.command_timeout", "greater than 0"),
    ("zookeeper: {}", "infra.zookeeper", "Extra inputs are not permitted"),
])
def test_bad_sections_name_the_field_and_never_the_secret(
        tmp_path: Path, infra: str, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, infra))
    message = str(info.value)
    assert f"clouds.0.{field}" in message and words in message, message
    assert SECRET not in message


def test_secrets_do_not_show_in_the_loaded_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, f"""
rabbitmq: {{url: "http://ctl1:15672", user: monitor, password: {SECRET}}}
mysql: {{servers: [{{url: "mysql://monitor:{SECRET}@ctl1/"}}]}}
haproxy: {{instances: [{{url: "http://ctl1:1936/", user: admin, password: {SECRET}}}]}}
"""))
    assert SECRET not in repr(config) and SECRET not in str(config)
    assert SECRET not in config.model_dump_json()


def test_a_piece_that_cannot_be_set_up_is_unknown_and_the_others_run(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "nowhere.pw"
    config = load_config(write(tmp_path, f"""
rabbitmq: {{url: "http://127.0.0.1:9", user: monitor, password_file: {missing}}}
ovs: {{command: [{tmp_path / 'no-such-ovs-vsctl'}]}}
"""))
    caplog.set_level(logging.INFO)
    sources = [s for s in build_sources(config) if s.name.startswith("infra.")]
    runs = {run.source: run for run in Runner(sources, timeout=10).run_once()}
    assert set(runs) == {"infra.rabbitmq", "infra.ovs"}
    assert not runs["infra.rabbitmq"].ok
    assert "cannot be set up" in runs["infra.rabbitmq"].reason
    assert str(missing) in runs["infra.rabbitmq"].reason
    assert not runs["infra.ovs"].ok and "no-such-ovs-vsctl not found" in runs["infra.ovs"].reason
