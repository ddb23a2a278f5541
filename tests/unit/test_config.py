"""stackwatch.yaml validation: good files load, bad ones name file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwatch.config import DEFAULT_TIMEOUTS, load_config
from stackwatch.errors import ConfigError

pytestmark = pytest.mark.unit


def test_minimal_config_resolves_relative_paths(tmp_path: Path) -> None:
    path = tmp_path / "stackwatch.yaml"
    path.write_text(
        "clouds:\n"
        "  - name: sim\n"
        "    clouds_yaml: clouds.yaml\n"
        "    databases: {nova: 'sqlite:///nova.sqlite'}\n"
        "    logs: {root: logs}\n"
        "intervals: {api: 30, api.compute: 10}\n"
        "store: {path: store.sqlite}\n"
    )
    config = load_config(path)
    cloud = config.clouds[0]
    assert cloud.clouds_yaml == tmp_path / "clouds.yaml"
    assert cloud.logs.root == tmp_path / "logs"
    assert config.store.path == tmp_path / "store.sqlite"
    assert config.interval("api.compute") == 10
    assert config.interval("api.network") == 30
    assert config.interval("sql.nova") == 60


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("clouds: []\n", "clouds: List should have at least 1 item"),
        ("clouds: [{name: a, databases: {nova: 'nova.db'}}]\n", "clouds.0.databases"),
        ("clouds: [{name: a, databases: {heat: 'sqlite:///h.sqlite'}}]\n",
         "clouds.0.databases: Value error, heat: stackwatch does not read this database"),
        ("clouds: [{name: a}]\nweb: {listen: nowhere}\n", "web.listen"),
        ("clouds: [{name: a, colour: red}]\n", "clouds.0.colour"),
        ("clouds: [{name: a\n", "not valid YAML"),
        ("clouds: [{name: a, network_backend: linuxbridge}]\n",
         "clouds.0.network_backend: Input should be 'ovn' or 'ovs'"),
        ("clouds: [{name: a}]\nweb: {trusted_proxies: [10.0.0.300]}\n",
         "web.trusted_proxies: Value error, '10.0.0.300' is not an IP address or network"),
        ("clouds: [{name: a}]\nweb: {max_auth_failures: 0}\n", "web.max_auth_failures"),
        ("clouds: [{name: a}]\nweb: {tls_key: key.pem}\n",
         "tls_key is set but tls_cert is not"),
        ("clouds: [{name: a, logs: {bruteforce_window: 0}}]\n",
         "clouds.0.logs.bruteforce_window: Input should be greater than 0"),
        ("clouds: [{name: a, logs: {bruteforce_threshold: 0}}]\n",
         "clouds.0.logs.bruteforce_threshold: Input should be greater than or equal to 1"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "stackwatch.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_timeouts_default_per_kind_sized_for_a_big_cloud_and_disable_by_kind(
        tmp_path: Path) -> None:
    path = tmp_path / "stackwatch.yaml"
    path.write_text(
        "clouds:\n"
        "  - {name: sim, disable: [sql, api.image]}\n"
        "intervals: {api: 30}\n"
        "timeouts: {api.compute: 120}\n"
    )
    config = load_config(path)
    assert config.timeout("api.compute") == 120
    # not the interval (30): a big cloud's first API run takes longer than a minute
    assert config.timeout("api.network") == DEFAULT_TIMEOUTS["api"] == 120
    assert config.timeout("sql.nova") == 60
    assert config.timeout("logs.nova") == DEFAULT_TIMEOUTS["logs"] == 30
    assert config.timeout("east/api.compute") == 120
    assert config.timeout("bus.notifications") == 60  # no default for the kind: its interval
    cloud = config.clouds[0]
    assert not cloud.enabled("sql.nova")
    assert not cloud.enabled("api.image")
    assert cloud.enabled("api.compute")


def test_non_positive_interval_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "stackwatch.yaml"
    path.write_text("clouds: [{name: a}]\nintervals: {api: 0}\n")
    with pytest.raises(ConfigError, match=r"intervals: Value error, api: 0\.0 is not a positive"):
        load_config(path)


def test_network_backend_defaults_to_ovn_per_cloud(tmp_path: Path) -> None:
    path = tmp_path / "stackwatch.yaml"
    path.write_text("clouds: [{name: a}, {name: b, network_backend: ovs}]\n")
    config = load_config(path)
    assert [c.network_backend for c in config.clouds] == ["ovn", "ovs"]
    assert config.network_backends == {"ovn", "ovs"}


def test_web_access_settings(tmp_path: Path) -> None:
    path = tmp_path / "stackwatch.yaml"
    path.write_text("clouds: [{name: a}]\n"
                    "web: {allow_local: false, trusted_proxies: [10.0.0.5, 10.1.0.0/16, '::1']}\n")
    web = load_config(path).web
    assert not web.allow_local and not web.metrics_public and web.tls_cert is None
    assert [str(n) for n in web.trusted_proxies] == ["10.0.0.5/32", "10.1.0.0/16", "::1/128"]


def test_a_database_url_without_a_scheme_is_not_quoted(tmp_path: Path) -> None:
    """Without ``dialect://`` nothing could tell where its password is: not repeated."""
    path = tmp_path / "stackwatch.yaml"
    path.write_text("clouds: [{name: a, databases: {nova: 'monitor:hunter2@db1/nova'}}]\n")
    with pytest.raises(ConfigError, match="nova: not a SQLAlchemy URL") as info:
        load_config(path)
    assert "hunter2" not in str(info.value)


def test_a_database_password_with_an_unescaped_at_is_refused(tmp_path: Path) -> None:
    """SQLAlchemy would take the password's end for the host name, which the driver's
    errors then quote: refused at load, without repeating it."""
    path = tmp_path / "stackwatch.yaml"
    path.write_text("clouds: [{name: a, databases: {\n"
                    "  nova: 'mysql+pymysql://monitor:hun@ter2@db1/nova',\n"
                    "  cinder: 'mysql+pymysql://monitor:hun%40ter2@db1/cinder?x=a@b'}}]\n")
    with pytest.raises(ConfigError, match="nova: more than one '@' in the URL") as info:
        load_config(path)
    assert "ter2" not in str(info.value) and "cinder" not in str(info.value)


def test_a_postgresql_store_url_is_checked_and_never_quoted(tmp_path: Path) -> None:
    path = tmp_path / "stackwatch.yaml"

    def store(url: str, **more: str) -> str:
        extra = "".join(f", {k}: {v}" for k, v in more.items())
        path.write_text(f"clouds: [{{name: a}}]\nstore: {{url: '{url}'{extra}}}\n")
        try:
            config = load_config(path)
        except ConfigError as exc:
            assert "hunter2" not in str(exc)
            return f"error: {exc}"
        assert config.store.location == config.store.url.replace("hunter2", "***")
        return config.store.url

    good = "postgresql+psycopg://sw:hunter2@db1:5432/stackwatch"
    assert store("postgresql://sw:hunter2@db1:5432/stackwatch") == good
    assert store("postgres://sw:hunter2@db1:5432/stackwatch") == good
    assert store(good, writer="ctl-1") == good
    assert "store.url: Value error, not a PostgreSQL URL" in store(
        "mysql+pymysql://sw:hunter2@db1/stackwatch")
    assert "for SQLite, give path instead" in store("sqlite:////var/lib/s.sqlite")
    assert "more than one '@'" in store("postgresql://sw:hun@hunter2@db1/stackwatch")
    assert "names no database" in store("postgresql://sw:hunter2@db1:5432/")
    assert "store.writer" in store(good, writer="' '")
    path.write_text("clouds: [{name: a}]\nstore: {path: s.sqlite}\n")
    assert load_config(path).store.location == str(tmp_path / "s.sqlite")
