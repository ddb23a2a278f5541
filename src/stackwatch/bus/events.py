"""A notification distilled into one flat :class:`~stackwatch.model.Event`.

Legacy (``compute.instance.*``, cinder, neutron, glance) payloads are flat dicts; nova's
versioned ones (``instance.*``) wrap every object as ``{"nova_object.data": {...}}``,
unwrapped where a field of it is read; keystone's are CADF (``initiator``, ``target``,
``outcome``). Which payload keys become which attribute is the table :data:`FIELDS`; the
resource ids an event is found by (``store.events(resource_id=…)``) are those of
:data:`RESOURCE_FIELDS`. Pure: no I/O, no clock.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson

from stackwatch.bus.records import Note
from stackwatch.bus.wire import Notification, parse_time
from stackwatch.model import Event, Severity

KIND = "notification"

#: exchange -> service (cinder publishes on ``openstack``; some deployments on ``cinder``)
SERVICES = {"nova": "nova", "openstack": "cinder", "cinder": "cinder", "neutron": "neutron",
            "glance": "glance", "keystone": "keystone"}
#: event type prefix -> service, when the exchange says nothing
PREFIXES = (("compute", "nova"), ("instance.", "nova"), ("scheduler.", "nova"),
            ("aggregate.", "nova"), ("flavor.", "nova"), ("keypair.", "nova"),
            ("volume.", "cinder"), ("snapshot.", "cinder"), ("backup.", "cinder"),
            ("image.", "glance"), ("identity.", "keystone"))
NEUTRON = ("network", "subnet", "port", "router", "floatingip", "security_group",
           "security_group_rule", "trunk", "subnetpool", "address_scope")

#: attribute -> payload keys tried in order (on the unwrapped payload, top level)
FIELDS: dict[str, tuple[str, ...]] = {
    "project": ("tenant_id", "project_id", "owner"),
    "user": ("user_id",),
    "state": ("state", "status"),
    "task_state": ("new_task_state", "task_state", "state_description"),
    "old_state": ("old_state",),
    "old_task_state": ("old_task_state",),
    "name": ("display_name", "name"),
    "host": ("host",),
    "created_at": ("created_at",),
    "launched_at": ("launched_at",),
    "deleted_at": ("deleted_at",),
    "terminated_at": ("terminated_at",),
    "audit_period_beginning": ("audit_period_beginning",),
    "audit_period_ending": ("audit_period_ending",),
    "flavor": ("instance_flavor_id",),
    "flavor_name": ("instance_type",),
    "size": ("size", "volume_size"),
}
_FIELD_KEYS = frozenset(key for keys in FIELDS.values() for key in keys)
#: (attribute, key) of FIELDS in the order tried
_FIELD_ORDER = tuple((attr, key) for attr, keys in FIELDS.items() for key in keys)
#: attribute -> payload keys naming the resource (also kept as resource ids)
RESOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "instance_id": ("instance_id", "instance_uuid"),
    "volume_id": ("volume_id",),
    "snapshot_id": ("snapshot_id",),
}
_RESOURCE_ORDER = tuple((attr, key) for attr, keys in RESOURCE_FIELDS.items() for key in keys)
#: payload keys an error's details may be under (:func:`_fault`)
_FAULT_KEYS = frozenset({"exception_message", "fault", "reason", "exception"})


class Distilled(NamedTuple):
    """A notification's event as the consumer writes it: its columns and its attributes
    (non-empty text only; sorted where they become an :class:`Event` or a row)."""

    service: str
    host: str
    severity: Severity
    message: str
    request_id: str
    resource_ids: tuple[str, ...]
    attributes: dict[str, str]


def _object(value: Any) -> Any:
    """A versioned nova object's own fields (one level; those read here are scalars)."""
    if isinstance(value, dict) and "nova_object.data" in value:
        return value["nova_object.data"]
    return value


@functools.lru_cache(maxsize=4096)
def service_of(exchange: str, event_type: str) -> str:
    """The service (codename) that published an event type on an exchange."""
    if exchange in SERVICES:
        return SERVICES[exchange]
    for prefix, service in PREFIXES:
        if event_type.startswith(prefix):
            return service
    if event_type.split(".", 1)[0] in NEUTRON:
        return "neutron"
    return exchange


@functools.lru_cache(maxsize=65536)
def host_of(publisher_id: str) -> str:
    """The host of a publisher id: ``compute.cmp-1``, ``nova-compute:cmp-1``,
    ``volume.ctl@lvm#lvm`` (the backend after ``@`` left out)."""
    if ":" in publisher_id:
        host = publisher_id.split(":", 1)[1]
    elif "." in publisher_id:
        host = publisher_id.split(".", 1)[1]
    else:
        host = publisher_id
    return host.split("@", 1)[0]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fault(data: Mapping[str, Any]) -> tuple[str, str, str]:
    """(exception, code, message) of an error payload: versioned ``fault``/``reason``
    (ExceptionPayload), legacy ``exception``/``reason``/``message``."""
    if "exception_message" in data:  # compute.exception itself: an ExceptionPayload
        return (_text(data.get("exception")), _text(data.get("code")),
                _text(data.get("exception_message")).split("\n", 1)[0])
    for key in ("fault", "reason", "exception"):
        value = _object(data.get(key))
        if isinstance(value, dict):
            text = str(value.get("exception_message") or value.get("message") or "")
            return (str(value.get("exception") or value.get("class") or ""),
                    _text(value.get("code")), text.split("\n", 1)[0])
        if isinstance(value, str) and value:
            return _legacy_reason(value)
    return ("", "", "")


def _legacy_reason(text: str) -> tuple[str, str, str]:
    """The legacy conductor's ``reason``: a repr of a dict with ``class``, ``message`` and
    ``kwargs.code`` (``compute_task.build_instances``), or plain text."""
    exception = code = ""
    message = text
    marker = "'class': '"
    if marker in text:
        exception = text.split(marker, 1)[1].split("'", 1)[0]
    if "'message': '" in text:
        message = text.split("'message': '", 1)[1].split("', '", 1)[0]
    if "'code': " in text:
        code = text.split("'code': ", 1)[1].split("}", 1)[0].split(",", 1)[0].strip()
    return exception, code, message.split("\n", 1)[0]


def _neutron(event_type: str, data: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    kind = event_type.split(".", 1)[0]
    body = data.get(kind)
    if isinstance(body, dict):
        return str(body.get("id") or data.get(f"{kind}_id") or ""), body
    return str(data.get(f"{kind}_id") or data.get("id") or ""), dict(data)


def distil(n: Notification, exchange: str) -> Event:
    """The flat event of one notification published on ``exchange``."""
    d = distilled(n, exchange)
    return Event(KIND, n.event_type, n.timestamp, d.severity, d.service, d.host, d.message,
                 d.request_id, d.resource_ids, tuple(sorted(d.attributes.items())))


def note(n: Notification, d: Distilled, exchange: str, routing_key: str, received: float
         ) -> Note:
    """What the store writes of a notification and its distilled event."""
    return Note(n.message_id, n.timestamp, received, exchange, routing_key, n.event_type,
                n.raw, int(d.severity), d.service, d.host, d.message, d.request_id,
                d.resource_ids, orjson.dumps(d.attributes, option=orjson.OPT_SORT_KEYS).decode())


def distilled(n: Notification, exchange: str) -> Distilled:
    """:func:`distil` without making the :class:`Event` (the consumer's hot path)."""
    et = n.event_type
    service = service_of(exchange, et)
    raw = n.payload if isinstance(n.payload, dict) else {}
    # versioned: the object's own fields; nested objects are unwrapped where read (cheap)
    data: dict[str, Any] = raw.get("nova_object.data", raw) if "nova_object.data" in raw else raw
    if not isinstance(data, dict):
        data = {}
    attrs: dict[str, str] = {}  # only non-empty values go in
    resources: list[str] = []
    for attr, key in _RESOURCE_ORDER:
        if attr not in attrs:
            value = data.get(key)
            if isinstance(value, str) and value:
                attrs[attr] = value
                if value not in resources:
                    resources.append(value)
    if service == "nova" and "uuid" in data and "instance_id" not in attrs:
        uuid = str(data["uuid"])
        if uuid:
            attrs["instance_id"] = uuid
        resources.append(uuid)
    top: Mapping[str, Any] = data
    if service == "glance" and et.startswith("image."):
        if data.get("id"):
            attrs["image_id"] = str(data["id"])
            resources.append(attrs["image_id"])
    elif service == "neutron":
        rid, top = _neutron(et, data)
        if rid:
            attrs[f"{et.split('.', 1)[0]}_id"] = rid
            resources.append(rid)
    elif service == "keystone":
        top = _cadf(data, attrs, resources)
    state_update = _object(data.get("state_update"))
    if isinstance(state_update, dict):  # versioned instance.update
        top = {**data, **state_update}
    present = top.keys() & _FIELD_KEYS  # most payloads carry few of them: skip the rest
    if present:
        for attr, key in _fields_of(frozenset(present)):
            if attr not in attrs:
                value = top[key]
                if value is not None and value != "":
                    attrs[attr] = _text(value)
    flavor = _object(data.get("flavor"))
    if isinstance(flavor, dict):
        _default(attrs, "flavor", flavor.get("flavorid"))
        _default(attrs, "flavor_name", flavor.get("name"))
    audit = _object(data.get("audit_period"))
    if isinstance(audit, dict) and et.endswith("exists"):
        for key in ("audit_period_beginning", "audit_period_ending"):
            _default(attrs, key, audit.get(key))
    if not _FAULT_KEYS.isdisjoint(data.keys()):
        exception, code, fault = _fault(data)
        if exception or fault:
            for key, value in (("exception", exception), ("code", code), ("fault", fault)):
                if value:
                    attrs[key] = value
                else:
                    attrs.pop(key, None)
    m = n.message
    request_id = (_context(m.request_id) or _text(data.get("request_id"))
                  or attrs.pop("request_id", ""))
    if _context(m.global_request_id):
        attrs["global_request_id"] = _context(m.global_request_id)
    if "user" not in attrs:
        _default(attrs, "user", _context(m.user_id) or _context(m.user))
    if "project" not in attrs:
        _default(attrs, "project", _context(m.project_id) or _context(m.project))
    if n.publisher_id:
        attrs["publisher"] = n.publisher_id
    attrs["message_id"] = n.message_id
    return Distilled(service, host_of(n.publisher_id), _severity(n, attrs),
                     _message(et, attrs), request_id, tuple(resources), attrs)


@functools.lru_cache(maxsize=4096)
def _fields_of(present: frozenset[str]) -> tuple[tuple[str, str], ...]:
    """The (attribute, key) of :data:`FIELDS` to try, in order, for payloads with these
    keys (a few shapes per event type: each worked out once)."""
    return tuple(pair for pair in _FIELD_ORDER if pair[1] in present)


def _context(value: Any) -> str:
    """A request context's value as text ("" when absent or null)."""
    return "" if value is None else str(value)


def _default(attrs: dict[str, str], key: str, value: Any) -> None:
    """``attrs[key]`` set to ``value`` as text, unless set already or empty."""
    if key not in attrs:
        text = _text(value)
        if text:
            attrs[key] = text


def _cadf(data: Mapping[str, Any], attrs: dict[str, str], resources: list[str]
          ) -> Mapping[str, Any]:
    initiator = data.get("initiator") if isinstance(data.get("initiator"), dict) else {}
    assert isinstance(initiator, dict)
    if initiator.get("request_id"):
        attrs["request_id"] = str(initiator["request_id"])
    if initiator.get("user_id"):
        attrs["user"] = str(initiator["user_id"])
    host = initiator.get("host")
    if isinstance(host, dict) and host.get("address"):
        attrs["address"] = str(host["address"])
    if data.get("outcome"):
        attrs["outcome"] = str(data["outcome"])
    target = data.get("resource_info") or data.get("id")
    if isinstance(target, str) and target:
        resources.append(target)
    when = parse_time(data.get("eventTime"))
    if when is not None:
        attrs["event_time"] = f"{when:.6f}"
    return {k: v for k, v in data.items() if k not in ("initiator", "target", "observer")}


def _severity(n: Notification, attrs: Mapping[str, str]) -> Severity:
    if n.priority in ("ERROR", "CRITICAL") or n.event_type.endswith(".error"):
        return Severity.ERROR
    if n.priority == "WARN" or n.priority == "WARNING" or attrs.get("outcome") == "failure":
        return Severity.WARNING
    if attrs.get("state") == "error" and attrs.get("old_state") not in (None, "error"):
        return Severity.ERROR
    return Severity.INFO


def _message(event_type: str, attrs: Mapping[str, str]) -> str:
    parts = [event_type]
    name = attrs.get("name")
    if name:
        parts.append(name)
    state = attrs.get("state")
    if state:
        old = attrs.get("old_state")
        parts.append(f"{old} -> {state}" if old and old != state else state)
    if attrs.get("outcome"):
        parts.append(attrs["outcome"])
    if attrs.get("fault") or attrs.get("exception"):
        parts.append(f"{attrs.get('exception', '')}: {attrs.get('fault', '')}".strip(": "))
    return " ".join(parts)
