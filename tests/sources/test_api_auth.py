"""A wrong password costs keystone one failed login, not one per source and cycle.

Against the simulated cloud, counting what its keystone answered to ``POST
/v3/auth/tokens``: the six API sources of a cloud authenticate once together; after
a 401 they do not ask again until the cloud's settings in clouds.yaml change; then
the next cycle authenticates at once and succeeds.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from stackwatch.cli import main
from stackwatch.config import load_config
from stackwatch.runner import Loop, Run, Runner
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.events import ServedRequest
from stackwatch.sources.base import Source
from stackwatch.sources.registry import (
    API_SOURCE_NAMES,
    OPTIONAL_API_SOURCE_NAMES,
    build_sources,
)

pytestmark = pytest.mark.integration

WRONG = "not-the-admin-password"


class Logins:
    """``POST /v3/auth/tokens`` answers of the simulated keystone, by status."""

    def __init__(self, cloud: SimulatedCloud) -> None:
        self._lock = threading.Lock()
        self._seen: Counter[int] = Counter()
        self.agents: set[str] = set()
        cloud.on_request(self._served)

    def _served(self, served: ServedRequest) -> None:
        if served.method == "POST" and served.path.rstrip("/").endswith("/auth/tokens"):
            with self._lock:
                self._seen[served.status] += 1
                # keystone's access log tells the monitor's logins apart
                self.agents.add(served.user_agent.split(" ", 1)[0].split("/")[0])

    def take(self) -> Counter[int]:
        """The answers since the last call."""
        with self._lock:
            seen, self._seen = self._seen, Counter()
        return seen


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path, size="small", life=False, databases=False) as sim:
        yield sim


def set_password(cloud: SimulatedCloud, old: str, new: str) -> None:
    text = cloud.clouds_yaml.read_text()
    assert f"password: {old}" in text
    cloud.clouds_yaml.write_text(text.replace(f"password: {old}", f"password: {new}"))


def api_sources(cloud: SimulatedCloud) -> list[Source]:
    # the six every cloud has (the optional services' are not in the simulator's catalog)
    sources = [s for s in build_sources(load_config(cloud.config_path))
               if s.name in API_SOURCE_NAMES]
    assert len(sources) == 6
    return sources


def test_a_wrong_password_is_one_failed_login_until_the_file_changes(
        cloud: SimulatedCloud) -> None:
    logins = Logins(cloud)
    set_password(cloud, cloud.admin_password, WRONG)
    runner = Runner(api_sources(cloud), 20)
    first = runner.run_once()
    assert logins.take() == {401: 1}  # six sources, one attempt
    assert not any(run.ok for run in first)
    reasons = {run.reason for run in first}
    assert len(reasons) == 1, reasons  # every source says the same, stable across cycles
    reason = reasons.pop()
    assert "SourceAuthError: authentication to cloud 'stackwatch-sim' refused at " in reason
    assert f"not retrying until its credentials in {cloud.clouds_yaml} change" in reason
    assert WRONG not in reason and cloud.admin_password not in reason
    for _ in range(3):  # backing off: keystone is not asked again
        again = runner.run_once()
        assert logins.take() == {}
        assert {run.reason for run in again} == {reason}
    # an edit that leaves the cloud's settings as they were is no reason to ask again
    cloud.clouds_yaml.write_text(cloud.clouds_yaml.read_text() + "# edited\n")
    runner.run_once()
    assert logins.take() == {}
    set_password(cloud, WRONG, cloud.admin_password)
    fixed = runner.run_once()
    assert all(run.ok for run in fixed), [run.reason for run in fixed]
    assert logins.take() == {201: 1}
    assert logins.agents == {"stackwatch"}
    runner.run_once()
    assert logins.take() == {}  # the token is reused


def test_new_wrong_credentials_are_tried_once_more(cloud: SimulatedCloud) -> None:
    logins = Logins(cloud)
    set_password(cloud, cloud.admin_password, WRONG)
    runner = Runner(api_sources(cloud), 20)
    runner.run_once()
    assert logins.take() == {401: 1}
    set_password(cloud, WRONG, WRONG + "-2")
    runner.run_once()
    runner.run_once()
    assert logins.take() == {401: 1}


def test_the_server_loop_backs_off_the_same_way(cloud: SimulatedCloud) -> None:
    logins = Logins(cloud)
    set_password(cloud, cloud.admin_password, WRONG)
    runs: list[Run] = []
    loop = Loop(Runner(api_sources(cloud), 20), lambda _name: 0.3, runs.append, tick=0.05)
    assert loop.run(max_runs=6 * 5) == 30  # five cycles of the six sources
    assert logins.take() == {401: 1}
    assert not any(run.ok for run in runs)
    assert all("refused at" in run.reason for run in runs)


@pytest.mark.parametrize("command", [["collect", "--once", "--format", "json"], ["status"]])
def test_collect_once_and_status_log_in_once(cloud: SimulatedCloud,
                                             command: list[str]) -> None:
    logins = Logins(cloud)
    set_password(cloud, cloud.admin_password, WRONG)
    result = CliRunner().invoke(main, [*command, "--config", str(cloud.config_path),
                                       "-s", "api"])
    assert result.exit_code == 3, result.output
    assert logins.take() == {401: 1}
    assert WRONG not in result.output
    if command[0] == "collect":
        sources = json.loads(result.output)["sources"]
        # the six and the optional services' (which look at the catalog: that needs a token)
        assert len(sources) == len(API_SOURCE_NAMES) + len(OPTIONAL_API_SOURCE_NAMES)
        assert all("refused at" in s["reason"] for s in sources)
    else:
        assert "refused at" in result.output
