"""What a runbook may use: the cloud's API and databases, the store, the catalog, the
configuration, and who is acting."""

from __future__ import annotations

import getpass
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stackwatch.errors import SourceUnavailable
from stackwatch.redact import redact
from stackwatch.store.base import Role

if TYPE_CHECKING:  # the API client and SQLAlchemy are imported when first used
    from sqlalchemy.engine import Engine

    from stackwatch.catalog.loader import Catalog
    from stackwatch.config import CloudConfig, Config
    from stackwatch.sources.openstack_api.client import ApiClient
    from stackwatch.store.base import Store


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: a web token's name and role, ``local`` (loopback), the CLI's user, or
    ``server`` (an automatic fix)."""

    name: str
    role: Role
    via: str  # "token", "session", "local", "cli", "server"

    @property
    def operator(self) -> bool:
        return self.role is Role.OPERATOR


SERVER = Actor("server", Role.OPERATOR, "server")


def cli_actor(operators: list[str]) -> Actor:
    """The local user running ``stackwatch``: an operator when root or listed in
    ``fixes.cli_operators``, a reader otherwise."""
    user = getpass.getuser()
    allowed = os.geteuid() == 0 or user in operators
    return Actor(f"cli:{user}", Role.OPERATOR if allowed else Role.READ, "cli")


@dataclass
class RunbookContext:
    """One runbook run's view of a cloud. ``client`` and ``engine`` are made on first
    use and released by :meth:`close`."""

    config: Config
    cloud: CloudConfig
    catalog: Catalog
    actor: Actor
    store: Store | None = None
    now: float = field(default_factory=time.time)
    #: a client shared with others (the web app's): used, never closed here
    shared_client: ApiClient | None = None
    _client: ApiClient | None = field(default=None, init=False, repr=False)
    _engines: dict[tuple[str, bool], Engine] = field(default_factory=dict, init=False,
                                                     repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def client(self) -> ApiClient:
        """The cloud's API client (clouds.yaml, one token for every request)."""
        if self.shared_client is not None:
            return self.shared_client
        with self._lock:
            if self._client is None:
                from stackwatch.sources.openstack_api import client_for

                self._client = client_for(self.cloud)
            return self._client

    def has_database(self, database: str) -> bool:
        return database in self.cloud.databases

    def engine(self, database: str, *, write: bool = False) -> Engine:
        """An engine on a service database: the cloud's read-only URL, or for ``write``
        the URL of ``fixes.databases`` (else the cloud's, which must then allow writes)."""
        url = self.cloud.databases.get(database)
        if write:
            url = self.config.fixes.databases.get(database, url)
        if url is None:
            raise SourceUnavailable(f"cloud {self.cloud.name!r}: no URL for the {database} "
                                    "database in stackwatch.yaml (databases:)")
        with self._lock:
            found = self._engines.get((database, write))
            if found is None:
                from sqlalchemy import exc

                from stackwatch.sources.sql.base import build_engine

                try:
                    found = build_engine(url, self.cloud.sql_timeout, read_only=not write)
                except (exc.ArgumentError, ImportError, ValueError) as error:
                    raise SourceUnavailable(f"{redact(url)}: {redact(str(error))}") from None
                self._engines[(database, write)] = found
            return found

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


def pick_cloud(config: Config, name: str | None) -> CloudConfig:
    """The cloud of that name in stackwatch.yaml, or the first; FixRefused otherwise."""
    from stackwatch.errors import FixRefused

    if name is None:
        return config.clouds[0]
    for cloud in config.clouds:
        if cloud.name == name:
            return cloud
    raise FixRefused(f"no cloud named {name!r} in stackwatch.yaml (clouds: "
                     f"{', '.join(c.name for c in config.clouds)})", "unknown")
