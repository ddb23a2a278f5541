"""The one place that picks the store of a configuration: SQLite at ``store.path``, or
PostgreSQL at ``store.url``.

``create`` is for writers (the server, ``token create``): a SQLite file is made, a
PostgreSQL schema created or migrated. Readers (``status --from-store``, ``token list``,
``logs trace``) pass ``create=False`` and get a :class:`~stackwatch.errors.StoreError`
ending in ``hint`` when there is no store, never an empty one made by looking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackwatch.store.base import AlarmStateStore, Store, TokenStore

if TYPE_CHECKING:  # annotations only: the CLI's readers import pydantic when they read a config
    from stackwatch.config import StoreConfig


def open_store(config: StoreConfig, *, create: bool = True, hint: str = "") -> Store:
    """The samples, checks and events store of ``config``."""
    if config.url is not None:
        from stackwatch.store.postgres import PostgresStore

        return PostgresStore(config.url, writer=config.writer, create=create, hint=hint,
                             index=config.path)
    from stackwatch.store.existing import existing_store
    from stackwatch.store.sqlite import SQLiteStore

    return SQLiteStore(config.path if create else existing_store(config.path, hint))


def open_token_store(config: StoreConfig, *, create: bool = True,
                     hint: str = "") -> TokenStore:
    """The web's access tokens, beside the data of ``config``'s store."""
    if config.url is not None:
        from stackwatch.store.postgres import PostgresStore

        # a small pool: a token is read once per authenticated request
        return PostgresStore(config.url, writer=config.writer, create=create, hint=hint,
                             pool_size=1)
    from stackwatch.store.existing import existing_store
    from stackwatch.store.tokens import SQLiteTokenStore

    return SQLiteTokenStore(config.path if create else existing_store(config.path, hint))


def open_alarm_store(config: StoreConfig, *, create: bool = True,
                     hint: str = "") -> AlarmStateStore:
    """The alarm engine's state, beside the data of ``config``'s store."""
    if config.url is not None:
        from stackwatch.store.postgres import PostgresStore

        return PostgresStore(config.url, writer=config.writer, create=create, hint=hint,
                             pool_size=2)
    from stackwatch.store.alarm_state import SQLiteAlarmStore
    from stackwatch.store.existing import existing_store

    return SQLiteAlarmStore(config.path if create else existing_store(config.path, hint))
