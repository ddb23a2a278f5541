"""What neutron, glance and cinder put on the wire: JSON bodies, timestamps, paging input.

Shared by :mod:`~stackwatch.sim.api.network`, :mod:`~stackwatch.sim.api.image` and
:mod:`~stackwatch.sim.api.block_storage`. Content types are set byte for byte as the
recordings show (``application/json`` without a charset; cinder and glance send
``text/html; charset=UTF-8`` on empty 202/204 answers, neutron no content type).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

JSON = "application/json"
EMPTY_HTML = "text/html; charset=UTF-8"


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON answer with ``Content-Type: application/json`` exactly."""
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        headers={"Content-Type": JSON, **(headers or {})},
    )


def empty_response(
    status: int, content_type: str | None = None, headers: Mapping[str, str] | None = None
) -> web.Response:
    """An answer without a body (202/204), with the service's content type, if any."""
    all_headers = dict(headers or {})
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    return web.Response(status=status, headers=all_headers)


# Timestamp formats, as recorded: neutron and glance "2026-11-21T06:12:23Z"; cinder
# reads DATETIME columns ("…T06:12:28.000000") but answers a create from memory with
# microseconds ("…T06:12:28.301581"); neutron agents "2026-11-21 06:12:23" (API ref).


def _naive(moment: datetime) -> datetime:
    """The UTC wall time of ``moment`` (records keep UTC; isoformat is much faster
    than strftime, which matters for 1000-item pages)."""
    if moment.tzinfo is not None and moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None)


def at_or_after(value: str) -> Callable[[datetime | None], bool]:
    """Whether a record's ``updated_at`` is at or after ``value`` (an ISO time, UTC when
    it names no zone), as neutron's ``changed_since`` and cinder's ``updated_at=gte:``
    compare in SQL: a NULL one never is. Raises ValueError on a bad time."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    start = _naive(moment)
    return lambda updated: updated is not None and _naive(updated) >= start


def zulu(moment: datetime) -> str:
    """Neutron / glance: ``2026-11-21T06:12:23Z``."""
    return _naive(moment).isoformat(timespec="seconds") + "Z"


def db_micro(moment: datetime | None) -> str | None:
    """Cinder from its database: ``2026-11-21T06:12:28.000000`` (seconds precision)."""
    return None if moment is None else _naive(moment).isoformat(timespec="seconds") + ".000000"


def micro(moment: datetime | None) -> str | None:
    """Cinder from memory (create answers, pool reports): ``2026-11-21T06:12:28.301581``."""
    return None if moment is None else _naive(moment).isoformat(timespec="microseconds")


def spaced(moment: datetime | None) -> str | None:
    """Neutron agents: ``2026-11-21 06:12:23``."""
    return None if moment is None else _naive(moment).isoformat(sep=" ", timespec="seconds")


def parse_int(value: str | None) -> int | None:
    """A non-negative integer query parameter, None when absent; ValueError when bad."""
    if value is None:
        return None
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


def truthy(value: str) -> bool:
    """Query booleans as oslo ``strutils.bool_from_string`` reads them."""
    return value.strip().lower() in ("1", "t", "true", "on", "y", "yes")


class Fragments:
    """The JSON of records' payloads, reused while a record is the same object.

    Records are frozen and replaced on every change, so identity tells whether a
    cached fragment is still right; ``variant`` keys what else the payload depends on
    (microversion, admin view, ...). Big listings (1000 ports a page) then cost a
    join instead of building and encoding a thousand dicts. Bounded: it starts over
    when it holds ``limit`` fragments.
    """

    def __init__(self, limit: int = 250_000) -> None:
        self._cache: dict[tuple[str, Hashable], tuple[object, bytes]] = {}
        self.limit = limit

    def get(self, record: Any, variant: Hashable, build: Callable[[Any], Any]) -> bytes:
        key = (record.id, variant)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is record:
            return hit[1]
        if len(self._cache) >= self.limit:
            self._cache.clear()
        data = json.dumps(build(record)).encode()
        self._cache[key] = (record, data)
        return data


def collection_response(
    key: str, fragments: list[bytes], extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """``{"<key>": [fragments...], **extra}`` as JSON, the fragments already encoded."""
    parts = [b'{', json.dumps(key).encode(), b": [", b", ".join(fragments), b"]"]
    for name, value in (extra or {}).items():
        parts += [b", ", json.dumps(name).encode(), b": ", json.dumps(value).encode()]
    parts.append(b"}")
    return web.Response(body=b"".join(parts), headers={"Content-Type": JSON, **(headers or {})})
