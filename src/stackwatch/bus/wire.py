"""The oslo.messaging notification envelope, decoded, or the reason it cannot be.

A notification's AMQP body is the JSON string ``{"oslo.version": "2.0", "oslo.message":
"<json>"}`` (the rabbit driver since oslo.messaging 1.3); the inner message carries
``message_id``, ``event_type``, ``priority``, ``publisher_id``, ``timestamp``,
``payload`` and the request context as ``_context_*`` keys, plus ``_unique_id``. A
message that is not that (bad JSON, no envelope, another ``oslo.version``, too big) is
:class:`Poison`: the consumer sets it aside with the reason and acknowledges it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

#: Envelope versions this decoder reads (oslo.messaging's ``_VERSION``).
VERSIONS = frozenset({"2.0"})
#: Keys of a context whose values are secrets: never kept.
SECRET_KEYS = frozenset({"_context_auth_token", "auth_token", "_context_service_token"})
#: the same keys with a string value, in the JSON text kept raw
_TOKEN = re.compile(r'("(?:_context_)?(?:auth|service)_token")\s*:\s*"(?:[^"\\]|\\.)*"')


class Poison(Exception):
    """A message that is not a notification; ``reason`` says why (a short code first)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Notification(NamedTuple):
    """One decoded notification (the inner ``oslo.message``; a tuple: one per message)."""

    message_id: str
    event_type: str
    priority: str
    publisher_id: str
    timestamp: float
    payload: Any
    message: dict[str, Any]
    #: the message as JSON text, secrets removed (what is kept raw)
    raw: str

    def context(self, name: str) -> str:
        """A ``_context_<name>`` value as text ("" when absent or null)."""
        value = self.message.get(f"_context_{name}")
        return "" if value is None else str(value)


#: minutes since the epoch of ``YYYY-MM-DD HH:MM`` prefixes seen lately (bounded)
_MINUTES: dict[str, int] = {}


def parse_time(text: object) -> float | None:
    """Seconds since the epoch of the time formats notifications use (naive = UTC):
    ``2026-11-21 06:12:28.586920``, ``2026-11-21T06:12:28Z``, ``…+00:00``, ``…+0000``."""
    if not isinstance(text, str) or not text:
        return None
    # oslo's own (``2026-11-21 06:12:28.586920``, nearly every message): its minute
    # worked out once, the seconds added in integer microseconds (as datetime.timestamp)
    if len(text) == 26 and text[19] == "." and text[16] == ":" and text.isascii() \
            and text[17] < "6" and text[17:19].isdigit() and text[20:].isdigit():
        minute = _MINUTES.get(text[:16])
        if minute is None:
            whole = _parse_iso(text[:16])
            if whole is None:
                return None
            if len(_MINUTES) >= 4096:
                _MINUTES.clear()
            minute = _MINUTES[text[:16]] = int(whole) // 60
        return (minute * 60_000_000 + int(text[17:19]) * 1_000_000 + int(text[20:])) / 1e6
    return _parse_iso(text)


def _parse_iso(text: str) -> float | None:
    value = text.strip().replace(" ", "T", 1)
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    elif len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit() and ":" not in value[-5:]:
        value = f"{value[:-2]}:{value[-2:]}"  # +0000 -> +00:00 (keystone's CADF eventTime)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def scrub(message: dict[str, Any]) -> bool:
    """Remove secret context values (the token a service sent along); True when any was."""
    found = False
    for key in SECRET_KEYS & message.keys():
        if message[key] is not None:
            message[key] = "<redacted>"
            found = True
    return found


def decode(body: bytes | str, max_bytes: int) -> Notification:
    """The notification in one AMQP body; :class:`Poison` with the reason when it is none."""
    size = len(body)
    if size > max_bytes:
        raise Poison(f"too-large: {size} bytes, over the {max_bytes}-byte limit")
    try:
        outer = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Poison(f"bad-json: {exc}") from None
    if not isinstance(outer, dict):
        raise Poison(f"no-envelope: the body is a JSON {type(outer).__name__}")
    if "oslo.message" not in outer:
        if "event_type" in outer and "message_id" in outer:  # a v1 message, never enveloped
            raise Poison("no-envelope: an un-enveloped (oslo.messaging v1) message")
        raise Poison("no-envelope: no oslo.message in the body")
    version = outer.get("oslo.version")
    if version not in VERSIONS:
        raise Poison(f"unknown-version: oslo.version {version!r}")
    try:
        inner = orjson.loads(outer["oslo.message"])
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise Poison(f"bad-json: oslo.message: {exc}") from None
    if not isinstance(inner, dict):
        raise Poison("no-envelope: oslo.message is not a JSON object")
    event_type = inner.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise Poison("no-event-type: the message has no event_type")
    message_id = inner.get("message_id") or inner.get("_unique_id")
    if not isinstance(message_id, str) or not message_id:
        raise Poison("no-message-id: the message has neither message_id nor _unique_id")
    when = parse_time(inner.get("timestamp"))
    if when is None:
        raise Poison(f"bad-timestamp: {inner.get('timestamp')!r}")
    text = outer["oslo.message"]
    scrub(inner)
    if 'token": "' in text or 'token":"' in text:  # a token at any depth: masked there
        text = _TOKEN.sub(r'\1: "<redacted>"', text)
    return Notification(message_id, event_type, str(inner.get("priority") or "INFO").upper(),
                        str(inner.get("publisher_id") or ""), when, inner.get("payload"),
                        inner, text)
