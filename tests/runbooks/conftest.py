"""Fixtures of the runbook tests: the simulated cloud, its config with fixes enabled, a
runbook context over a fresh store acting as a given actor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stackwatch.catalog.loader import default_catalog
from stackwatch.config import Config, load_config
from stackwatch.runbooks.context import Actor, RunbookContext
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.store.base import Role, Store
from stackwatch.store.sqlite import SQLiteStore

OPERATOR = Actor("alice", Role.OPERATOR, "token")
READER = Actor("bob", Role.READ, "token")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("sim"), size="small",
                        life=False) as running:
        yield running


def configured(cloud: SimulatedCloud, **fixes: Any) -> Config:
    """The simulator's stackwatch.yaml with ``fixes`` set."""
    config = load_config(cloud.config_path)
    return config.model_copy(update={"fixes": config.fixes.model_validate(fixes)})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = SQLiteStore(tmp_path / "store.sqlite")
    yield opened
    opened.close()


ContextMaker = Callable[..., RunbookContext]


@pytest.fixture
def contexts(cloud: SimulatedCloud, store: Store) -> Iterator[ContextMaker]:
    """``contexts(actor, **fixes)``: a runbook context on the simulator, closed after."""
    made: list[RunbookContext] = []

    def make(actor: Actor = OPERATOR, **fixes: Any) -> RunbookContext:
        config = configured(cloud, **fixes)
        ctx = RunbookContext(config, config.clouds[0], default_catalog(), actor, store)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()
