"""Ground truth about the real cloud, from the stock tools an operator trusts.

* :meth:`Truth.cli` runs the stock ``openstack`` CLI (python-openstackclient with
  osc-placement, from the realcloud venv) with ``-f json`` as admin and returns the
  decoded answer. It is slow (~2 s of start-up per call), so callers ask once and
  derive several figures from one answer.
* :meth:`Truth.sql` runs a query as the read-only ``monitor`` MariaDB account.

Nothing here imports stackwatch: the truth must not share code with what it checks.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from realcloud.cloud import RealCloud

CLI_TIMEOUT_S = 120.0


class TruthError(RuntimeError):
    """The CLI or the database could not answer."""


@dataclass
class Truth:
    """Ground truth queries against one running real cloud."""

    cloud: RealCloud
    _engines: dict[str, sa.Engine] = field(default_factory=dict)

    # ------------------------------------------------------------------ CLI
    def run(self, *args: str, microversion: Mapping[str, str] | None = None) -> str:
        """``openstack ARGS`` as admin; its standard output (TruthError on failure).

        ``microversion`` maps an API to a version, e.g. ``{"compute": "2.87"}``
        (``--os-compute-api-version 2.87``).
        """
        options: list[str] = []
        for api, version in (microversion or {}).items():
            options += [f"--os-{api}-api-version", version]
        command = [str(self.cloud.openstack_cli), *options, *args]
        try:
            done = subprocess.run(command, env=self.cloud.admin_env(), capture_output=True,
                                  text=True, timeout=CLI_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise TruthError(f"openstack {args[0]} ...: no answer in {CLI_TIMEOUT_S}s") from None
        if done.returncode != 0:
            # arguments are not echoed: they may hold a token
            raise TruthError(f"openstack {' '.join(args[:3])} ... exited {done.returncode}: "
                             f"{done.stderr.strip()[-800:]}")
        return done.stdout

    def cli(self, *args: str, microversion: Mapping[str, str] | None = None) -> Any:
        """``openstack ARGS -f json`` as admin; the decoded JSON answer."""
        out = self.run(*args, "-f", "json", microversion=microversion)
        try:
            return json.loads(out or "null")
        except json.JSONDecodeError as exc:
            raise TruthError(f"openstack {' '.join(args)}: not JSON ({exc}): "
                             f"{out[:300]!r}") from None

    def cli_many(self, commands: Mapping[str, tuple[str, ...]],
                 processes: int = 2) -> dict[str, Any]:
        """Several CLI commands, answers by key, in few CLI processes.

        The CLI's start-up costs seconds, so the commands are fed to its interactive
        mode (one command per stdin line, each printing one JSON document), split
        over ``processes`` processes running at once.
        """
        items = list(commands.items())
        if not items:
            return {}
        chunks = [items[i::processes] for i in range(min(processes, len(items)))]
        with ThreadPoolExecutor(len(chunks)) as pool:
            answers = list(pool.map(self._batch, chunks))
        return {k: v for answer in answers for k, v in answer.items()}

    def _batch(self, items: list[tuple[str, tuple[str, ...]]]) -> dict[str, Any]:
        script = "".join(" ".join(shlex.quote(a) for a in (*args, "-f", "json")) + "\n"
                         for _, args in items)
        try:
            done = subprocess.run([str(self.cloud.openstack_cli)], input=script,
                                  env=self.cloud.admin_env(), capture_output=True, text=True,
                                  timeout=CLI_TIMEOUT_S * 3, check=False)
        except subprocess.TimeoutExpired:
            raise TruthError(f"openstack (batch of {len(items)}): no answer in time") from None
        decoder = json.JSONDecoder()
        documents: list[Any] = []
        text, position = done.stdout, 0
        while True:
            while position < len(text) and text[position].isspace():
                position += 1
            if position >= len(text):
                break
            try:
                value, position = decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                raise TruthError(f"openstack batch: not JSON at {text[position:position + 200]!r}"
                                 f"; stderr: {done.stderr[-800:]}") from None
            documents.append(value)
        if len(documents) != len(items):
            raise TruthError(f"openstack batch: {len(items)} commands, {len(documents)} answers;"
                             f" stderr: {done.stderr.strip()[-800:]}")
        return {k: doc for (k, _), doc in zip(items, documents, strict=True)}

    # ------------------------------------------------------------------ SQL
    def engine(self, database: str) -> sa.Engine:
        if database not in self._engines:
            self._engines[database] = sa.create_engine(self.cloud.db_url(database),
                                                       pool_pre_ping=True)
        return self._engines[database]

    def sql(self, database: str, query: str, **params: object) -> list[dict[str, Any]]:
        """Rows of ``query`` (with ``:name`` parameters) as the ``monitor`` account."""
        with self.engine(database).connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.text(query), params)]

    def scalar(self, database: str, query: str, **params: object) -> Any:
        """The single value of a one-row, one-column query."""
        rows = self.sql(database, query, **params)
        if len(rows) != 1 or len(rows[0]) != 1:
            raise TruthError(f"{query!r} gave {len(rows)} rows, expected one value")
        return next(iter(rows[0].values()))

    def close(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()


def count_by(rows: Iterable[Mapping[str, Any]], key: str) -> dict[str, int]:
    """How many rows have each value of ``key`` (values as strings)."""
    return dict(Counter(str(row[key]) for row in rows))
