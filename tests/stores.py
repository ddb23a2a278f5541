"""Both stores for the tests that must hold for each, the same test run on each.

- ``stores`` -> :class:`Stores`, parametrized ``sqlite`` (marked unit) and ``postgres``
  (marked integration: the session's real PostgreSQL from :mod:`servers`).
  ``stores.config()`` is the :class:`~stackwatch.config.StoreConfig` of a new, empty
  store each time it is called: a file in the test's directory, or a schema of its own
  in the session's test database (``options=-csearch_path=…`` in the URL, as an operator
  may keep stackwatch in a schema; a schema is made in milliseconds, a database in a
  third of a second), dropped after the test. ``stores.open()`` opens one with
  ``open_store``.
- ``store_config`` -> one such configuration.
- ``server_stores`` -> as ``stores``, for tests of a whole server (already marked
  integration): the SQLite run gets no mark of its own.
- ``postgres_stores`` -> :class:`Stores` of PostgreSQL only.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from servers import PostgreSQL
from stackwatch.config import StoreConfig
from stackwatch.store.base import Store
from stackwatch.store.opening import open_store

_NUMBERS = itertools.count(1)
#: The database the stores' schemas are made in, once per session.
DATABASE = "stackwatch_tests"


@dataclass
class Stores:
    """Makes new, empty stores of one kind."""

    kind: str
    directory: Path
    server: PostgreSQL | None = None
    schemas: list[str] = field(default_factory=list)

    def config(self, **settings: Any) -> StoreConfig:
        """A new, empty store's configuration (``settings`` added, e.g. ``writer``)."""
        number = next(_NUMBERS)
        local = self.directory / f"store-{number}.sqlite"
        if self.server is None:
            return StoreConfig(path=local, **settings)
        name = f"store_{number}"
        self.server.execute(f"CREATE SCHEMA {name}", database=DATABASE)
        self.schemas.append(name)
        url = f"{self.server.url(DATABASE)}?options=-csearch_path%3D{name}"
        return StoreConfig(path=local, url=url, **settings)

    def settings(self, **settings: Any) -> dict[str, Any]:
        """A new, empty store as the ``store:`` section of a stackwatch.yaml."""
        config = self.config(**settings)
        return config.model_dump(mode="json", exclude_none=True, exclude={"retention_days"})

    def open(self, **settings: Any) -> Store:
        """A new, empty store, opened."""
        return open_store(self.config(**settings))

    def drop(self) -> None:
        """Drop the schemas made."""
        if self.server is not None and self.schemas:
            self.server.execute(f"DROP SCHEMA {', '.join(self.schemas)} CASCADE",
                                database=DATABASE)
        self.schemas.clear()


def _stores(request: pytest.FixtureRequest, directory: Path) -> Iterator[Stores]:
    server = request.getfixturevalue("postgres_tests") if request.param == "postgres" \
        else None
    made = Stores(request.param, directory, server)
    yield made
    made.drop()


@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.unit),
                        pytest.param("postgres", marks=pytest.mark.integration)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """New stores of each kind in turn: the test runs once with SQLite, once with
    PostgreSQL."""
    yield from _stores(request, tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def server_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """As ``stores``, for tests of a whole server."""
    yield from _stores(request, tmp_path)


@pytest.fixture(scope="session")
def postgres_tests(postgres: PostgreSQL) -> PostgreSQL:
    """The session's PostgreSQL, with the database the stores' schemas go in."""
    postgres.create_database(DATABASE)
    return postgres


@pytest.fixture
def store_config(stores: Stores) -> StoreConfig:
    """A new, empty store of each kind in turn."""
    return stores.config()


@pytest.fixture
def postgres_stores(postgres_tests: PostgreSQL, tmp_path: Path) -> Iterator[Stores]:
    """New PostgreSQL stores only (for what only PostgreSQL has)."""
    made = Stores("postgres", tmp_path, postgres_tests)
    yield made
    made.drop()
