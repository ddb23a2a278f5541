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

import msgspec
import orjson

#: Envelope versions this decoder reads (oslo.messaging's ``_VERSION``).
VERSIONS = frozenset({"2.0"})
#: the same keys with a string value, in the JSON text kept raw
#: what follows a token key whose value is a string
_TOKEN_VALUE = re.compile(r'\s*:\s*"')
_TOKEN = re.compile(r'("(?:_context_)?(?:auth|service)_token")\s*:\s*"(?:[^"\\]|\\.)*"')


class Poison(Exception):
    """A message that is not a notification; ``reason`` says why (a short code first)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Message(msgspec.Struct, gc=False):
    """The fields of an ``oslo.message`` read here: the rest of it (most of the request
    context: roles, catalog, token…) is skipped unread. ``_context_<name>`` as ``<name>``."""

    event_type: Any = None
    message_id: Any = None
    unique_id: Any = msgspec.field(default=None, name="_unique_id")
    priority: Any = None
    publisher_id: Any = None
    timestamp: Any = None
    payload: Any = None
    request_id: Any = msgspec.field(default=None, name="_context_request_id")
    global_request_id: Any = msgspec.field(default=None, name="_context_global_request_id")
    user_id: Any = msgspec.field(default=None, name="_context_user_id")
    user: Any = msgspec.field(default=None, name="_context_user")
    project_id: Any = msgspec.field(default=None, name="_context_project_id")
    project: Any = msgspec.field(default=None, name="_context_project")


_MESSAGE = msgspec.json.Decoder(Message)


class Notification(NamedTuple):
    """One decoded notification (the inner ``oslo.message``; a tuple: one per message)."""

    message_id: str
    event_type: str
    priority: str
    publisher_id: str
    timestamp: float
    payload: Any
    message: Message
    #: the message as JSON text, secrets removed (what is kept raw)
    raw: str

    def context(self, name: str) -> str:
        """A context value read (:class:`Message`: ``request_id``, ``user_id``…) as text
        ("" when absent or null)."""
        value = getattr(self.message, name)
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


def _has_token(text: str) -> bool:
    """Whether a ``…_token`` key of the JSON text has a string value (one scan)."""
    at = text.find('_token"')
    while at >= 0:
        at += 7
        if _TOKEN_VALUE.match(text, at):
            return True
        at = text.find('_token"', at)
    return False


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
    text = outer["oslo.message"]
    if not isinstance(text, str):
        raise Poison(f"bad-json: oslo.message: a JSON {type(text).__name__}, not a string")
    try:
        inner = _MESSAGE.decode(text)
    except msgspec.ValidationError:  # valid JSON, not an object
        raise Poison("no-envelope: oslo.message is not a JSON object") from None
    except msgspec.DecodeError as exc:
        raise Poison(f"bad-json: oslo.message: {exc}") from None
    event_type = inner.event_type
    if not isinstance(event_type, str) or not event_type:
        raise Poison("no-event-type: the message has no event_type")
    message_id = inner.message_id or inner.unique_id
    if not isinstance(message_id, str) or not message_id:
        raise Poison("no-message-id: the message has neither message_id nor _unique_id")
    when = parse_time(inner.timestamp)
    if when is None:
        raise Poison(f"bad-timestamp: {inner.timestamp!r}")
    if _has_token(text):  # a token at any depth: masked there
        text = _TOKEN.sub(r'\1: "<redacted>"', text)
    return Notification(message_id, event_type, str(inner.priority or "INFO").upper(),
                        str(inner.publisher_id or ""), when, inner.payload, inner, text)
