"""Typed reads of JSON fields, so raw dicts never leave the API modules.

Each helper names the field and what was being read when the shape is wrong,
raising :class:`~stackwatch.errors.InvalidResponse`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from stackwatch.errors import InvalidResponse


def text(item: Mapping[str, Any], key: str, what: str, default: str | None = None) -> str:
    """A string field; ``None`` becomes ``default`` when one is given."""
    value = item.get(key)
    if value is None:
        if default is not None:
            return default
        raise InvalidResponse(f"{what}: field {key!r} is missing")
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    raise InvalidResponse(f"{what}: field {key!r} is {type(value).__name__}, not a string")


def number(item: Mapping[str, Any], key: str, what: str,
           default: float | None = None) -> float:
    """A numeric field (JSON numbers, or digits in a string as neutron sends some)."""
    value = item.get(key)
    if value is None:
        if default is not None:
            return default
        raise InvalidResponse(f"{what}: field {key!r} is missing")
    if isinstance(value, bool):
        raise InvalidResponse(f"{what}: field {key!r} is a boolean, not a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise InvalidResponse(f"{what}: field {key!r} is {value!r}, not a number")


def optional_number(item: Mapping[str, Any], key: str, what: str) -> float | None:
    """A numeric field that may be absent (e.g. removed by a microversion)."""
    if item.get(key) is None:
        return None
    return number(item, key, what)


def timestamp(item: Mapping[str, Any], key: str, what: str) -> float | None:
    """An ISO 8601 time field as Unix seconds, ``None`` when absent or null.

    OpenStack writes UTC without an offset (cinder ``2026-11-21T06:12:28.000000``,
    neutron ``2026-11-21 06:12:28``): a naive time is read as UTC.
    """
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidResponse(f"{what}: field {key!r} is {type(value).__name__}, not a time")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidResponse(f"{what}: field {key!r} is {value!r}, not an ISO 8601 time"
                              ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def flag(item: Mapping[str, Any], key: str, what: str, default: bool | None = None) -> bool:
    """A boolean field."""
    value = item.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, bool):
        return value
    raise InvalidResponse(f"{what}: field {key!r} is {value!r}, not a boolean")


def obj(item: Mapping[str, Any], key: str, what: str) -> Mapping[str, Any]:
    """A nested object (``{}`` when absent or null)."""
    value = item.get(key)
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    raise InvalidResponse(f"{what}: field {key!r} is {type(value).__name__}, not an object")


def items(item: Mapping[str, Any], key: str, what: str) -> list[Any]:
    """A list field (``[]`` when absent or null)."""
    value = item.get(key)
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise InvalidResponse(f"{what}: field {key!r} is {type(value).__name__}, not a list")
