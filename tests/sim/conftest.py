"""Fixtures shared by the simulator tests: a small simulated cloud per module and the
fidelity replayer logged into it (a module may define its own to override them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fidelity import Replayer, Session, login_from_clouds_yaml

from stackwatch.sim.cloud import SimulatedCloud


@pytest.fixture(scope="module")
def cloud(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[SimulatedCloud]:
    """A small simulated cloud for the whole test module."""
    workdir = tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2])
    with SimulatedCloud(workdir=workdir, size="small") as c:
        yield c


@pytest.fixture(scope="module")
def optional_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    """A small simulated cloud serving the nine optional services too (heat, octavia...),
    for the whole test module (per module, as ``cloud``: a simulator outliving its
    module would keep its threads and frozen objects through the rest of the run)."""
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("optional"), size="small",
                        optional_services=True) as c:
        yield c


@pytest.fixture(scope="module")
def replayer(cloud: SimulatedCloud) -> Replayer:
    """Replays recordings against ``cloud`` as the admin of its clouds.yaml."""
    return Replayer(login_from_clouds_yaml(Path(cloud.clouds_yaml)))


@pytest.fixture(scope="module")
def member(cloud: SimulatedCloud) -> Session:
    """A session of the ``demo`` member, for the 403 and member-view recordings."""
    return login_from_clouds_yaml(Path(cloud.clouds_yaml), username="demo", project_name="demo")
