"""The runbooks of a running server: one API client per cloud shared by every request
(a token, not one per request), contexts made per request with who is acting."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from stackwatch.runbooks.context import Actor, RunbookContext, pick_cloud

if TYPE_CHECKING:
    from stackwatch.catalog.loader import Catalog
    from stackwatch.config import Config
    from stackwatch.sources.openstack_api.client import ApiClient
    from stackwatch.store.base import Store


class RunbookService:
    """Makes :class:`RunbookContext` s over one configuration and store."""

    def __init__(self, config: Config, store: Store, catalog: Catalog) -> None:
        self.config = config
        self.store = store
        self.catalog = catalog
        self._clients: dict[str, ApiClient] = {}
        self._lock = threading.Lock()

    def _client(self, cloud: str) -> ApiClient:
        from stackwatch.sources.openstack_api import client_for

        with self._lock:
            found = self._clients.get(cloud)
            if found is None:
                found = self._clients[cloud] = client_for(pick_cloud(self.config, cloud))
            return found

    def context(self, actor: Actor, cloud: str | None = None) -> RunbookContext:
        """A context for one request or one automatic run; close it after."""
        chosen = pick_cloud(self.config, cloud)
        return RunbookContext(self.config, chosen, self.catalog, actor, self.store,
                              shared_client=self._client(chosen.name))

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
