"""Compare an HTTP answer with one recorded from a real OpenStack service.

The recordings under ``shared/reference/api/<service>/`` hold what real 2026.1
services answered (see its README). :func:`compare` checks that another answer to
the same request — from the simulator, or later from a real cloud — has the same
*shape*: status, the headers clients look at, the same keys at every level, the
same JSON types (``null`` vs a value included), the same string formats (uuid vs
32-hex ids, each service's timestamp format, URLs, MACs, IPs) and links whose paths
and query keys have the same form (pagination ``*_links``, glance ``next``/``first``).
Values themselves differ (ids, names, counts) and are not compared.

Lists of objects are compared element by element against the *closest* recorded
element, because a real list mixes variants (an external network has ``is_default``,
an internal one not). Differences carry a path such as ``body/networks/*/mtu``; a
caller may *allow* some, with the reason (an ``allow`` pattern, fnmatch syntax), and
may declare dicts whose keys are data rather than schema (``maps``).

No I/O beyond reading recording files: the HTTP replay lives with whoever calls it
(``tests/sim/fidelity.py`` for the simulator).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# Headers whose presence (and, per rule, value) clients depend on; compared lower-cased.
EXACT_HEADERS = (
    "content-type",
    "openstack-api-version",
    "x-openstack-nova-api-version",
    "vary",
    "openstack-image-import-methods",
    "openstack-image-store-ids",
)
REQUEST_ID_HEADERS = ("x-openstack-request-id", "x-compute-request-id")
PRESENCE_HEADERS = ("x-subject-token",)
URL_HEADERS = ("location",)
WWW_AUTHENTICATE = "www-authenticate"

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# Ordered: the first pattern a recorded string matches is its format.
STRING_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("uuid", _UUID),
        ("hex32", r"[0-9a-f]{32}"),
        ("request-id", "req-" + _UUID),
        ("datetime-Z", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"),
        ("datetime-usec-Z", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"),
        ("datetime-usec", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}"),
        ("datetime-offset", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d"),
        ("datetime-naive", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"),
        ("datetime-space", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"),
        ("datetime-space-usec", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}"),
        ("url", r"https?://\S+"),
        ("mac", r"[0-9a-f]{2}(:[0-9a-f]{2}){5}"),
        ("cidr", r"\d{1,3}(\.\d{1,3}){3}/\d{1,2}"),
        ("ipv4", r"\d{1,3}(\.\d{1,3}){3}"),
        ("hex-digest", r"[0-9a-f]{40,128}"),
    )
)


def string_format(value: str) -> str | None:
    """The recognised format of ``value`` (``"uuid"``, ``"datetime-Z"``, ...), or None."""
    for name, pattern in STRING_FORMATS:
        if pattern.fullmatch(value):
            return name
    return None


def json_type(value: Any) -> str:
    """JSON type name of a decoded value; bool is not a number, int is not float."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, headers (any case) and decoded JSON body (None if empty)."""

    status: int
    headers: Mapping[str, str]
    body: Any

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


@dataclass(frozen=True)
class Difference:
    """One way an answer departs from the recording.

    ``kind``: status, header, missing-key, extra-key, type, null, format, link.
    ``allowed`` holds the reason when the caller tolerates it.
    """

    path: str
    kind: str
    recorded: str
    actual: str
    allowed: str | None = None

    def __str__(self) -> str:
        text = f"{self.path}: {self.kind}: recorded {self.recorded}, got {self.actual}"
        return f"{text} (allowed: {self.allowed})" if self.allowed else text


@dataclass(frozen=True)
class Report:
    """All differences found by :func:`compare`; true when none fails."""

    recording: str
    differences: tuple[Difference, ...] = ()

    @property
    def failures(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.allowed is None)

    @property
    def allowed(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.allowed is not None)

    def __bool__(self) -> bool:
        return not self.failures

    def explain(self) -> str:
        lines = [f"{self.recording}: {len(self.failures)} difference(s)"]
        lines += [f"  {d}" for d in self.differences]
        return "\n".join(lines)


@dataclass(frozen=True)
class Bases:
    """Service roots to strip from URLs before comparing them (recorded, actual).

    A root is the endpoint without its version (``http://127.0.0.1:9696`` for the
    recorded neutron, ``http://127.0.0.1:PORT/network`` for the simulator's).
    """

    recorded: tuple[str, ...] = ()
    actual: tuple[str, ...] = ()


# --------------------------------------------------------------------------- recordings


@dataclass(frozen=True)
class Recording:
    """One recorded request and its answer (a file of ``shared/reference/api``)."""

    name: str
    service: str
    method: str
    path_template: str
    query_template: str
    microversion: str | None
    variant: str | None
    request_url: str
    request_headers: Mapping[str, str]
    request_body: Any
    answer: Answer

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.path_template + "?" + self.query_template))

    def recorded_ids(self) -> dict[str, str]:
        """The value each placeholder had in the recorded request URL."""
        match = _template_regex(self.template).fullmatch(self.request_url)
        return dict(match.groupdict()) if match else {}

    @property
    def template(self) -> str:
        return self.path_template + ("?" + self.query_template if self.query_template else "")

    def url_for(self, ids: Mapping[str, str]) -> str:
        """The request URL (path and query) with placeholders filled from ``ids``.

        A placeholder missing from ``ids`` keeps its recorded value (e.g. the
        all-zero uuid of a 404 recording).
        """
        values = {**self.recorded_ids(), **ids}
        url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], self.template)
        # the columns asked (neutron's fields=), which the name leaves out, as recorded
        fields = [p for p in self.request_url.partition("?")[2].split("&")
                  if p.startswith("fields=")]
        return url + ("&" if "?" in url else "?") + "&".join(fields) if fields else url


def _template_regex(template: str) -> re.Pattern[str]:
    pattern, seen = "", set()
    for part in re.split(r"(\{\w+\})", template):
        name = part[1:-1]
        if not (part.startswith("{") and part.endswith("}")):
            pattern += re.escape(part)
        elif name in seen:
            pattern += f"(?P={name})"
        else:
            seen.add(name)
            pattern += f"(?P<{name}>[^/?&]+)"
    return re.compile(pattern)


_MICROVERSION = re.compile(r"@(latest|\d+\.\d+)(?:\.(.+))?$")


def load_recording(path: Path) -> Recording:
    """Read one recording; its file name gives the template, microversion and variant.

    File names are ``<METHOD>_<path>[@<microversion>][.<variant>].json`` with ``/``
    written ``__`` and ``?`` written ``~``; the recorded URL decides where the path
    ends and the variant begins, since both may contain dots.
    """
    data = json.loads(path.read_text())
    stem = path.name.removesuffix(".json")
    method, _, rest = stem.partition("_")
    request = data["request"]
    url: str = request["url"]
    named = _without_fields(url)  # the columns asked are not in the name (too long)
    microversion: str | None = None
    variant: str | None = None
    version_match = _MICROVERSION.search(rest)
    if version_match:
        microversion, variant = version_match.group(1), version_match.group(2)
        encoded = rest[: version_match.start()]
    else:
        encoded, variant = _split_variant(rest, named)
    decoded = encoded.replace("__", "/").replace("~", "?", 1)
    path_template, _, query_template = decoded.partition("?")
    if not _template_regex(decoded).fullmatch(named):
        raise ValueError(f"{path.name}: name does not match recorded URL {url}")
    return Recording(
        name=path.name,
        service=path.parent.name,
        method=method,
        path_template=path_template,
        query_template=query_template,
        microversion=microversion,
        variant=variant,
        request_url=url,
        request_headers=dict(request.get("headers", {})),
        request_body=request.get("body"),
        answer=Answer(int(data["status"]), dict(data["headers"]), data.get("body")),
    )


def _without_fields(url: str) -> str:
    """``url`` without its ``fields=`` parameters (neutron's column selection), which a
    recording's name leaves out: a listing of a dozen columns outgrows a file name."""
    path, _, query = url.partition("?")
    kept = [pair for pair in query.split("&") if pair and not pair.startswith("fields=")]
    return f"{path}?{'&'.join(kept)}" if kept else path


def _split_variant(rest: str, url: str) -> tuple[str, str | None]:
    cuts = [i for i, char in enumerate(rest) if char == "."] + [len(rest)]
    for cut in cuts:
        candidate = rest[:cut].replace("__", "/").replace("~", "?", 1)
        if _template_regex(candidate).fullmatch(url):
            return rest[:cut], (rest[cut + 1 :] or None)
    raise ValueError(f"recording name {rest!r} does not match its URL {url}")


def load_recordings(folder: Path) -> dict[str, Recording]:
    """All recordings of one service folder, by file name."""
    return {p.name: load_recording(p) for p in sorted(folder.glob("*.json"))}


def service_root(endpoint_url: str) -> str:
    """An endpoint URL without its version part: the root recorded paths hang from.

    ``http://h:8776/v3/<project>`` → ``http://h:8776``; ``http://h/identity/v3/`` →
    ``http://h/identity``; ``http://h:8778`` (placement, unversioned) is itself.
    """
    return re.sub(r"/v\d+(\.\d+)?(/.*)?$", "", endpoint_url.rstrip("/"))


def catalog_roots(
    catalog: Iterable[Mapping[str, Any]], interface: str = "public"
) -> dict[str, str]:
    """Service type → root, from a keystone token's ``catalog``."""
    roots: dict[str, str] = {}
    for service in catalog:
        for endpoint in service.get("endpoints", ()):
            if endpoint.get("interface") == interface:
                roots[str(service["type"])] = service_root(str(endpoint["url"]))
    return roots


# --------------------------------------------------------------------------- comparison


@dataclass
class _Context:
    bases: Bases
    allow: Mapping[str, str]
    maps: tuple[str, ...]
    found: list[Difference] = field(default_factory=list)

    def add(self, path: str, kind: str, recorded: str, actual: str) -> None:
        reason = next(
            (why for pattern, why in self.allow.items() if fnmatch.fnmatchcase(path, pattern)),
            None,
        )
        self.found.append(Difference(path, kind, recorded, actual, reason))


def compare(
    recorded: Answer,
    actual: Answer,
    *,
    name: str = "",
    bases: Bases = Bases(),
    allow: Mapping[str, str] | None = None,
    maps: Iterable[str] = (),
) -> Report:
    """Compare ``actual`` with ``recorded``: status, headers, body shape and links.

    ``allow`` maps fnmatch patterns of difference paths (``body/routers/*/routes``,
    ``header/vary``) to the reason they are tolerated. ``maps`` are patterns of body
    paths whose dicts have data for keys (``body/volumes/*/metadata``): their keys are
    not compared, only the types of values present in both.
    """
    ctx = _Context(bases, allow or {}, tuple(maps))
    if recorded.status != actual.status:
        ctx.add("status", "status", str(recorded.status), str(actual.status))
    _compare_headers(recorded, actual, ctx)
    _compare_value(recorded.body, actual.body, "body", ctx)
    return Report(name, tuple(_dedupe(ctx.found)))


def _dedupe(found: Iterable[Difference]) -> Iterator[Difference]:
    seen: set[tuple[str, str]] = set()
    for difference in found:
        if (difference.path, difference.kind) not in seen:
            seen.add((difference.path, difference.kind))
            yield difference


def _compare_headers(recorded: Answer, actual: Answer, ctx: _Context) -> None:
    def check(name: str, same: bool, rec: str | None, act: str | None) -> None:
        if rec is None and act is None:
            return
        if rec is None or act is None or not same:
            ctx.add(f"header/{name}", "header", repr(rec), repr(act))

    for name in EXACT_HEADERS:
        rec, act = recorded.header(name), actual.header(name)
        check(name, rec == act, rec, act)
    for name in REQUEST_ID_HEADERS:
        rec, act = recorded.header(name), actual.header(name)
        same = act is not None and string_format(act) == "request-id"
        check(name, same, rec, act)
    for name in PRESENCE_HEADERS:
        rec, act = recorded.header(name), actual.header(name)
        check(name, True, rec, act)
    for name in URL_HEADERS:
        rec, act = recorded.header(name), actual.header(name)
        same = rec is not None and act is not None and _href_shape(
            rec, ctx.bases.recorded
        ) == _href_shape(act, ctx.bases.actual)
        check(name, same, rec, act)
    rec, act = recorded.header(WWW_AUTHENTICATE), actual.header(WWW_AUTHENTICATE)
    keystone = re.compile(r'Keystone uri="https?://[^"]+"')
    check(WWW_AUTHENTICATE, bool(act and keystone.fullmatch(act)), rec, act)


def _compare_value(rec: Any, act: Any, path: str, ctx: _Context) -> None:
    rec_type, act_type = json_type(rec), json_type(act)
    if rec_type != act_type:
        kind = "null" if "null" in (rec_type, act_type) else "type"
        ctx.add(path, kind, rec_type, act_type)
        return
    if isinstance(rec, dict):
        _compare_object(rec, act, path, ctx)
    elif isinstance(rec, list):
        _compare_array(rec, act, path, ctx)
    elif isinstance(rec, str):
        _compare_string(rec, act, path, ctx)


def _compare_object(rec: dict[str, Any], act: dict[str, Any], path: str, ctx: _Context) -> None:
    is_map = any(fnmatch.fnmatchcase(path, pattern) for pattern in ctx.maps)
    if not is_map:
        for key in rec.keys() - act.keys():
            ctx.add(f"{path}/{key}", "missing-key", json_type(rec[key]), "absent")
        for key in act.keys() - rec.keys():
            ctx.add(f"{path}/{key}", "extra-key", "absent", json_type(act[key]))
    if "href" in rec and isinstance(rec["href"], str) and isinstance(act.get("href"), str):
        _compare_href(rec["href"], act["href"], f"{path}/href", ctx)
    for key in rec.keys() & act.keys():
        if key != "href":
            _compare_value(rec[key], act[key], f"{path}/{key}", ctx)


# Lists longer than this are sampled (evenly) when compared element by element.
SAMPLE = 60


def _compare_array(rec: list[Any], act: list[Any], path: str, ctx: _Context) -> None:
    if not rec or not act:
        return
    step = max(1, len(act) // SAMPLE)
    for item in act[::step]:
        best: list[Difference] | None = None
        for candidate in rec:
            trial = _Context(ctx.bases, ctx.allow, ctx.maps)
            _compare_value(candidate, item, f"{path}/*", trial)
            failures = [d for d in trial.found if d.allowed is None]
            if best is None or len(failures) < len([d for d in best if d.allowed is None]):
                best = trial.found
            if not failures:
                break
        ctx.found.extend(best or ())


def _compare_string(rec: str, act: str, path: str, ctx: _Context) -> None:
    if path.endswith("/href"):
        return
    wanted = string_format(rec)
    if wanted is not None and wanted != "url" and string_format(act) != wanted:
        ctx.add(path, "format", wanted, f"{string_format(act) or 'text'} ({act[:60]!r})")
    elif wanted == "url":
        _compare_href(rec, act, path, ctx)


def _compare_href(rec: str, act: str, path: str, ctx: _Context) -> None:
    rec_shape = _href_shape(rec, ctx.bases.recorded)
    act_shape = _href_shape(act, ctx.bases.actual)
    if rec_shape != act_shape:
        ctx.add(path, "link", rec_shape, act_shape)


def _href_shape(href: str, roots: Iterable[str]) -> str:
    """A URL reduced to its form: root stripped, ids → their format, query keys in order."""
    for root in sorted(roots, key=len, reverse=True):
        if root and href.startswith(root):
            href, prefix = href[len(root) :], "<root>"
            break
    else:
        if not href.startswith("/"):
            return href  # a foreign URL (docs.openstack.org): compared as is
        prefix = ""
    parts = urlsplit(href)
    segments = [_shape_token(s) for s in parts.path.split("/")]
    query = [f"{k}={_shape_token(v)}" for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    shape = prefix + "/".join(segments)
    return shape + ("?" + "&".join(query) if query else "")


def _shape_token(token: str) -> str:
    kind = string_format(token)
    return f"<{kind}>" if kind in ("uuid", "hex32") else token


def compare_recording(
    recording: Recording,
    actual: Answer,
    *,
    bases: Bases = Bases(),
    allow: Mapping[str, str] | None = None,
    maps: Iterable[str] = (),
) -> Report:
    """:func:`compare` against a loaded recording, named after its file."""
    return compare(
        recording.answer, actual, name=recording.name, bases=bases, allow=allow, maps=maps
    )


def pagination_problems(body: Any, key: str, id_key: str = "id") -> list[str]:
    """What is wrong with a listing page's links, as the three paging styles go.

    neutron/cinder ``<key>_links``: ``next`` carries the last item's id as ``marker``;
    neutron's ``previous`` the first item's, with ``page_reverse=True``. glance ``next``:
    the last item's id as ``marker``. Empty when the links are consistent with the page.
    """
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        return [f"no {key!r} list"]
    items = body[key]
    problems: list[str] = []
    links = {link.get("rel"): str(link.get("href", "")) for link in body.get(f"{key}_links", [])}
    if isinstance(body.get("next"), str):
        links["next"] = body["next"]
    for rel, href in links.items():
        query = dict(parse_qsl(urlsplit(href).query, keep_blank_values=True))
        if not items:
            continue
        want = items[-1].get(id_key) if rel == "next" else items[0].get(id_key)
        if query.get("marker") != want:
            problems.append(f"{rel} link marker {query.get('marker')!r}, expected {want!r}")
        if rel == "previous" and query.get("page_reverse") != "True":
            problems.append("previous link without page_reverse=True")
        if rel == "next" and "page_reverse" in query:
            problems.append("next link with page_reverse")
    return problems
