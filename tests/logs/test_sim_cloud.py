"""The whole path on the simulated cloud: its stackwatch.yaml, the registry's factory,
the log sources, the store and ``stackwatch trace``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from openstack.config.loader import OpenStackConfig
from openstack.connection import Connection

from stackwatch.catalog.testing import assert_declared
from stackwatch.config import load_config
from stackwatch.logcli import trace
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sources.logs import logs_sources
from stackwatch.store.sqlite import SQLiteStore

pytestmark = [
    pytest.mark.integration,
    # openstacksdk's own deprecations, raised while it reads clouds.yaml
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning"),
]


def test_sim_cloud_logs_to_store_and_trace(tmp_path: Path) -> None:
    with SimulatedCloud(workdir=tmp_path, size="small", seed=1) as cloud:
        region = OpenStackConfig(config_files=[str(cloud.clouds_yaml)]).get_one("stackwatch-sim")
        connection = Connection(config=region)
        servers = list(connection.compute.servers(all_projects=True))
        assert servers
        connection.close()
        config = load_config(cloud.config_path)
        (cloud_config,) = config.clouds
        sources = logs_sources(cloud_config, config)
        names = {s.name for s in sources}
        assert {"logs.nova", "logs.keystone", "logs.haproxy"} <= names
        store = SQLiteStore(config.store.path)
        collections = [s.collect() for s in sources]
        for collection in collections:
            store.write(collection)
        assert_declared(collections)
        unparsed = sum(s.value for c in collections for s in c.samples
                       if s.name == "openstack_log_lines_total"
                       and s.label("outcome") == "unparsed")
        assert unparsed == 0
        records = store.latest_samples("openstack_log_records_total")
        assert records, "start-up records of the simulated services"
        # the simulator writes its controller's logs: that node, not the monitor's
        assert {s.label("host") for s in records} == {"controller"}
        store.close()
        # a request id the simulated nova wrote is traced from the store
        nova_api = (cloud.log_dir / "nova" / "nova-api.log").read_text(encoding="utf-8")
        request = next(word for line in nova_api.splitlines() if "requestlog" in line
                       for word in line.split() if word.startswith("req-"))
        result = CliRunner().invoke(trace, [request, "--store", str(config.store.path)])
        assert result.exit_code == 0, result.output
        assert request in result.output
        assert all(line.split()[3] == "controller" for line in result.output.splitlines()
                   if request in line), result.output
