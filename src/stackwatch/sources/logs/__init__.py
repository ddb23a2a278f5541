"""Log files as a source: ``logs.<service>`` sources, rotation-safe tailing, checkpoints.

:func:`logs_sources` (called by :mod:`stackwatch.sources.registry`) makes one
:class:`LogsSource` per service whose files exist under the cloud's log root,
with checkpoints beside the store (or in ``logs.checkpoint_dir``) and the request
index in the store's SQLite file (``store.path``: with a PostgreSQL store too, the index
of the logs a server reads stays on its machine).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

from stackwatch.sources.logs.globs import DEFAULT_ROOT, expand, service_globs
from stackwatch.sources.logs.source import LogsSource, RecordSink

if TYPE_CHECKING:  # annotations only: `logs backfill` runs without pydantic's import
    from stackwatch.config import CloudConfig, Config

__all__ = ["LogsSource", "build_log_sources", "logs_sources"]


def build_log_sources(cloud: CloudConfig, checkpoint_dir: Path, host: str | None = None,
                      index: RecordSink | None = None, retention: float | None = None
                      ) -> list[LogsSource]:
    """One source per service with at least one log file under ``cloud.logs.root``."""
    root = cloud.logs.root or DEFAULT_ROOT
    directory = cloud.logs.checkpoint_dir or checkpoint_dir
    host = host or cloud.logs.host or socket.gethostname()
    sources = []
    for service, patterns in service_globs(cloud.logs.globs).items():
        if expand(root, patterns):
            sources.append(LogsSource(service, root, patterns,
                                      directory / f"{cloud.name}.logs.{service}.json",
                                      host, index, retention=retention,
                                      compiled=cloud.logs.compiled, hosts=cloud.logs.hosts,
                                      bruteforce_window=cloud.logs.bruteforce_window,
                                      bruteforce_threshold=cloud.logs.bruteforce_threshold))
    return sources


def logs_sources(cloud: CloudConfig, config: Config) -> list[LogsSource]:
    """The registry's factory: checkpoints beside the store, index in the store file."""
    from stackwatch.store.request_index import RequestIndex

    store_path = config.store.path
    return build_log_sources(cloud, store_path.parent / "log-checkpoints",
                             index=RequestIndex(store_path),
                             retention=config.store.retention_days * 86400)
