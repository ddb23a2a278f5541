"""The simulator's working directory: what it writes for clients and operators.

::

    <workdir>/clouds.yaml       cloud "stackwatch-sim" (openstacksdk / openstack CLI)
    <workdir>/stackwatch.yaml   a stackwatch config watching the simulated cloud
    <workdir>/sim.json          where the running simulator listens (for `stackwatch sim fault`)
    <workdir>/db/*.sqlite       service databases (default, SQLite)
    <workdir>/log/...           simulated /var/log (nova/nova-api.log, keystone/...)

Without ``--workdir`` the CLI uses ``$XDG_STATE_HOME/stackwatch/sim`` (by default
``~/.local/state/stackwatch/sim``).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from stackwatch.config import SQL_DATABASES, load_config
from stackwatch.errors import SimulatorError

#: The node whose logs the simulator writes (``LogWriter(host=...)``'s default).
LOG_HOST = "controller"

CLOUD_NAME = "stackwatch-sim"
SIM_FILE = "sim.json"


def default_workdir() -> Path:
    """``$XDG_STATE_HOME/stackwatch/sim`` (``~/.local/state/stackwatch/sim``)."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "stackwatch" / "sim"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a running simulator listens (``sim.json``)."""

    base_url: str
    control_key: str
    pid: int


def write_clouds_yaml(workdir: Path, auth_url: str, username: str, password: str,
                      project: str, region: str) -> Path:
    """``clouds.yaml`` with the cloud ``stackwatch-sim`` (admin credentials)."""
    path = workdir / "clouds.yaml"
    data = {"clouds": {CLOUD_NAME: {
        "auth": {"auth_url": auth_url, "username": username, "password": password,
                 "project_name": project, "user_domain_name": "Default",
                 "project_domain_name": "Default"},
        "region_name": region, "interface": "public", "identity_api_version": 3,
    }}}
    _write(path, yaml.safe_dump(data, sort_keys=False), private=True)
    return path


#: openstack-exporter's families left out of the written config of a big cloud (20,000
#: servers, 3,002 projects): one series per port, server, volume, project quota and
#: allocation is about 440,000 more series (read from the databases when they are
#: configured, through the API per project and per provider when not), a laptop's
#: demo need not hold
BIG_DISABLED_METRICS = ("openstack_neutron_port", "openstack_nova_server_status",
                        "openstack_nova_server_local_gb", "openstack_cinder_volume_gb",
                        "openstack_cinder_volume_status", "openstack_nova_quota_*",
                        "openstack_neutron_quota_*",
                        "openstack_placement_resource_provider_allocations")


def write_stackwatch_yaml(workdir: Path, region: str, db_urls: Mapping[str, str],
                          log_dir: Path, bus_url: str | None,
                          node: Mapping[str, object] | None = None,
                          disabled_metrics: Sequence[str] = (),
                          swift: Mapping[str, object] | None = None) -> Path:
    """A ``stackwatch.yaml`` watching this simulated cloud; validated before it is kept.
    ``node``: the ``node:`` section checking the simulated processes (``--processes``);
    ``swift``: the ``infra.swift`` section reading the simulated storage nodes' recon."""
    path = workdir / "stackwatch.yaml"
    cloud: dict[str, object] = {
        "name": CLOUD_NAME, "clouds_yaml": "./clouds.yaml", "region": region,
        # the databases stackwatch reads (placement's is kept, but stackwatch refuses it)
        "databases": {db: url for db, url in db_urls.items() if db in SQL_DATABASES},
        # the log writer writes the simulated controller's logs (LogWriter's host)
        "logs": {"root": str(log_dir), "host": LOG_HOST},
        "network_backend": "ovs",  # the simulated neutron runs ML2/OVS agents
    }
    if bus_url:
        cloud["bus"] = {"url": bus_url}
    if disabled_metrics:
        cloud["disabled_metrics"] = list(disabled_metrics)
    if swift is not None:
        cloud["infra"] = {"swift": dict(swift)}
    data: dict[str, object] = {"clouds": [cloud], "store": {"path": "./stackwatch.sqlite"},
                               "web": {"listen": "127.0.0.1:9550"}}
    if node is not None:
        data["node"] = dict(node)
    _write(path, "# Written by `stackwatch sim`: watches the simulated cloud.\n"
           + yaml.safe_dump(data, sort_keys=False), private=True)
    load_config(path)  # raises ConfigError if the schema moved under us
    return path


def write_endpoint(workdir: Path, endpoint: Endpoint) -> Path:
    path = workdir / SIM_FILE
    _write(path, json.dumps({"base_url": endpoint.base_url, "control_key": endpoint.control_key,
                             "pid": endpoint.pid}), private=True)
    return path


def read_endpoint(workdir: Path) -> Endpoint:
    """Where the simulator of ``workdir`` listens; a clear error if none runs there."""
    path = workdir / SIM_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Endpoint(str(data["base_url"]), str(data["control_key"]), int(data["pid"]))
    except FileNotFoundError:
        raise SimulatorError(f"no simulator runs in {workdir} (no {SIM_FILE})") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SimulatorError(f"{path}: unreadable ({exc})") from None


def remove_endpoint(workdir: Path) -> None:
    """Forget where the simulator listened (nothing to do if it never wrote it)."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        (workdir / SIM_FILE).unlink()


def _write(path: Path, text: str, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    if private:
        tmp.chmod(0o600)
    tmp.replace(path)
