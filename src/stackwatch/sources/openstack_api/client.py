"""One authenticated HTTP client per cloud, shared by its API sources.

* Credentials, region and TLS settings come from the standard ``clouds.yaml``
  (openstacksdk's ``OpenStackConfig``); requests go through one keystoneauth
  :class:`~keystoneauth1.session.Session`, so the token is fetched once and
  reused until it is near expiry (keystoneauth renews it within two minutes
  of ``expires_at``). :attr:`ApiClient.tokens_issued` counts ``POST
  /v3/auth/tokens`` answers; :attr:`ApiClient.calls` counts every request.
* Authentication is one attempt at a time for all the sources of a cloud: a thread
  that waited while another one's attempt failed gets that failure, not a new
  attempt. When keystone refuses the credentials (401), the client does not ask
  again with the same ones: every later request raises a :class:`SourceAuthError`
  saying when they were refused, until the cloud's settings in ``clouds.yaml``
  change (then it authenticates at once, with a new session) or the process
  restarts. Keystone counts each failure towards ``lockout_failure_attempts`` and
  forgets them only on a success, so any retry schedule with a wrong password
  would lock the account in the end.
* Concurrency is bounded: at most ``api_concurrency`` requests are in flight,
  whatever the number of threads asking (one connection pool of that size).
  Listings and single reads go first: while one is under way, the per-item
  fan-out (:meth:`ApiClient.map`: quotas per project, usages per provider) keeps
  at most :data:`FANOUT_WHILE_LISTING` requests in flight, so that the thousands
  of fan-out requests of a big cloud do not starve the pages of the servers list (a
  fan-out of :data:`SMALL_FANOUT` items or fewer takes its turns as a listing does).
* :meth:`ApiClient.map` stops taking items at the thread's deadline
  (:mod:`stackwatch.deadline`); the items left get a :class:`SourceTimeout`.
* Listings are fully paginated (:meth:`ApiClient.list_all`), with the largest
  page the service allows, following ``<key>_links`` (nova, cinder, neutron, octavia,
  manila), ``next`` (glance, ironic, magnum), ``links`` (heat, trove) or
  ``links.next`` (designate); listings answered as JSON arrays (swift, gnocchi) by
  marker (:meth:`ApiClient.list_array`). Next links are re-based on the catalog endpoint: a
  service behind a proxy often advertises its own internal host name.
* Every third-party exception is translated here into a
  :class:`~stackwatch.errors.SourceError` naming the request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import orjson
import requests
from keystoneauth1 import exceptions as ksa_exc
from keystoneauth1 import session as ksa_session

from stackwatch import __version__
from stackwatch import deadline as deadlines
from stackwatch.errors import (
    InvalidResponse,
    SourceAuthError,
    SourceError,
    SourceForbidden,
    SourceTimeout,
    SourceUnavailable,
)
from stackwatch.sources.openstack_api.transport import Answer, Transport

log = logging.getLogger(__name__)

_DIGEST_KEY = secrets.token_bytes(32)  # this process's key for the settings digests
_LOAD_LOCK = threading.Lock()  # one clouds.yaml load at a time (see _load_cloud)
#: The same lock for other loaders of clouds.yaml in this process (stackwatch.synthetic).
CLOUDS_YAML_LOCK = _LOAD_LOCK

T = TypeVar("T")
Json = dict[str, Any]

#: Catalog types tried for each service type (the official type first, then aliases).
CATALOG_TYPES: dict[str, tuple[str, ...]] = {
    "identity": ("identity",),
    "compute": ("compute",),
    "placement": ("placement",),
    "network": ("network",),
    "image": ("image",),
    "block-storage": ("block-storage", "volumev3", "volume"),
    # the optional services' aliases (openstacksdk's service-types-authority)
    "shared-file-system": ("shared-file-system", "sharev2", "share"),
    "container-infrastructure-management": ("container-infrastructure-management",
                                            "container-infra", "container"),
}

#: A token is used until this many seconds before it expires (keystoneauth renews at 120).
TOKEN_MARGIN_S = 300.0

#: Fan-out requests kept in flight while a listing or single read is under way.
FANOUT_WHILE_LISTING = 2
#: A fan-out of at most this many items goes with the listings, not after them: a
#: steady cycle's few (the changed instances' actions, the L3 agents' routers) are on
#: its critical path, and two requests in flight would stretch them over seconds.
SMALL_FANOUT = 100
#: Fan-outs that can take their turns side by side (map() lanes: this times concurrency).
FANOUT_POOL_FACTOR = 4

#: Version prefix the listing paths carry themselves (stripped from catalog URLs).
VERSION_SUFFIX: dict[str, str] = {"network": "/v2.0", "image": "/v2"}

#: Name used in the ``OpenStack-API-Version`` header, per service type.
MICROVERSION_HEADER_NAME: dict[str, str] = {
    "compute": "compute",
    "placement": "placement",
    "block-storage": "volume",
    "baremetal": "baremetal",
    "shared-file-system": "shared-file-system",
}

#: The older service-specific microversion header, sent beside ``OpenStack-API-Version``.
LEGACY_MICROVERSION_HEADER: dict[str, str] = {
    "compute": "X-OpenStack-Nova-API-Version",
    "baremetal": "X-OpenStack-Ironic-API-Version",
    "shared-file-system": "X-OpenStack-Manila-API-Version",
}

#: Highest microversion whose answers stackwatch was checked against (reference 2026.1).
MICROVERSION_CEILING: dict[str, tuple[int, int]] = {
    "compute": (2, 103),
    "placement": (1, 39),
    "block-storage": (3, 71),
    # ironic 1.65: node lessee (1.65), retired (1.61), conductor_group (1.46)
    "baremetal": (1, 65),
    # manila 2.6: share_type_name in share listings
    "shared-file-system": (2, 6),
}

#: Where the version document is, for services whose catalog URL carries a version (and
#: project) that the document is not under: ``root`` (the path before the version
#: segment), or a path below the catalog URL's root (swift answers ``/info``).
VERSION_DOCUMENT: dict[str, str] = {
    "orchestration": "root",                        # http://h:8004/v1/<project>
    "shared-file-system": "root",                   # http://h:8786/v2[/<project>]
    "container-infrastructure-management": "root",  # http://h:9511/v1
    "database": "root",                             # http://h:8779/v1.0/<project>
    "object-store": "info",                         # http://h:8080/v1/AUTH_<project>
}


def parse_version(text: str) -> tuple[int, int]:
    """``"2.88"`` -> ``(2, 88)``; raise :class:`InvalidResponse` otherwise."""
    major, _, minor = text.strip().lstrip("v").partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        raise InvalidResponse(f"not a microversion: {text!r}") from None


def format_version(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A service's catalog URL and what its version document said."""

    service_type: str
    url: str
    microversion: tuple[int, int] | None
    status: int
    latency: float


@dataclass(frozen=True, slots=True)
class AuthRefusal:
    """Keystone refused the credentials (401): when, its words, and which settings."""

    at: float            # wall-clock time of the refusal
    detail: str          # keystone's message and request id (never a secret)
    fingerprint: str = field(repr=False)  # digest of the refused settings (never shown)

    def message(self, cloud: str, where: str) -> str:
        when = time.strftime("%H:%M:%S", time.gmtime(self.at))
        return (f"authentication to cloud {cloud!r} refused at {when} UTC: "
                f"{self.detail}; not retrying until its credentials in {where} change "
                f"(or stackwatch restarts)")


class _Counter:
    """Thread-safe counts of requests, of tokens issued and of authentications refused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.tokens = 0
        self.refused = 0

    def count(self) -> None:
        with self._lock:
            self.calls += 1

    def hook(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        with self._lock:
            self.calls += 1
            if (response.request.method == "POST"
                    and response.url.rstrip("/").endswith("/auth/tokens")):
                if response.status_code == 201:
                    self.tokens += 1
                elif response.status_code == 401:
                    self.refused += 1


def _rebase(link: str, base: str) -> str:
    """Keep the path and query of ``link`` but the scheme and host of ``base``."""
    target = urlsplit(urljoin(base, link))
    root = urlsplit(base)
    return urlunsplit((root.scheme, root.netloc, target.path, target.query, ""))


class ApiClient:
    """Authenticated, bounded, paginating access to one cloud's APIs."""

    def __init__(
        self,
        cloud_name: str,
        *,
        clouds_yaml: Path | None = None,
        region: str | None = None,
        timeout: float = 30.0,
        concurrency: int = 16,
        verify_tls: bool = True,
        page_size: int = 1000,
    ) -> None:
        self.cloud_name = cloud_name
        self.clouds_yaml = clouds_yaml
        self.region = region
        self.timeout = timeout
        self.concurrency = concurrency
        self.verify_tls = verify_tls
        self.page_size = page_size
        self._counter = _Counter()
        self._gate = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._auth_lock = threading.Lock()
        self._token_header: tuple[dict[str, str], float] | None = None
        self._session: ksa_session.Session | None = None
        self._fingerprint = ""                    # of the settings the session was built from
        self._refusal: AuthRefusal | None = None  # set while keystone refuses them
        self._failures = 0                        # failed authentication attempts so far
        self._last_failure: SourceError | None = None
        self._http = Transport(timeout, pool_size=concurrency)
        self._interface = "public"
        self._pool: ThreadPoolExecutor | None = None
        self._endpoints: dict[str, Endpoint] = {}
        self._memo: dict[str, tuple[float, object]] = {}
        self._memo_locks: dict[str, threading.Lock] = {}
        self._lanes = threading.local()     # .fanout: this thread is a map() lane
        self._turns = threading.Condition()  # fan-out waits here while listings run
        self._listing = 0                    # listings and single reads under way
        self._fanout = 0                     # fan-out requests in flight

    # ------------------------------------------------------------------ figures
    @property
    def calls(self) -> int:
        """HTTP requests sent so far (auth and version documents included)."""
        return self._counter.calls

    @property
    def tokens_issued(self) -> int:
        """Tokens keystone issued to this client so far."""
        return self._counter.tokens

    @property
    def auth_refused(self) -> int:
        """``POST /v3/auth/tokens`` answered 401 so far (failed logins keystone counted)."""
        return self._counter.refused

    @property
    def region_label(self) -> str:
        return self.region or ""

    # ------------------------------------------------------------------ session
    @property
    def _where(self) -> str:
        return str(self.clouds_yaml or "the clouds.yaml search path")

    def _load_cloud(self) -> tuple[Any, str]:
        """The cloud's settings from clouds.yaml, and a digest of them (kept, never shown)."""
        import openstack.config
        from openstack.config.exceptions import OpenStackConfigException

        files = [str(self.clouds_yaml)] if self.clouds_yaml else None
        try:
            # catch_warnings changes the process's filters: two clouds loading at once
            # would restore each other's (and a warning made an error escape)
            with _LOAD_LOCK, warnings.catch_warnings():
                # openstacksdk warns about its own InfluxDB support on every load.
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", PendingDeprecationWarning)
                config = openstack.config.OpenStackConfig(config_files=files,
                                                          load_envvars=False)
                cloud = config.get_one(cloud=self.cloud_name, region_name=self.region)
        except (OpenStackConfigException, ksa_exc.ClientException) as exc:
            raise SourceUnavailable(
                f"cloud {self.cloud_name!r} from {self._where}: {exc}") from None
        settings = json.dumps(cloud.config, sort_keys=True, default=str)
        # keyed with this process's random key: the digest tells settings apart, and
        # cannot be tried against guessed passwords by whoever sees it
        return cloud, hashlib.blake2b(settings.encode(), key=_DIGEST_KEY).hexdigest()

    def _build_session(self, loaded: tuple[Any, str] | None = None) -> ksa_session.Session:
        cloud, self._fingerprint = loaded or self._load_cloud()
        if self.region is None:
            self.region = cloud.get_region_name() or None
        interface = cloud.get_interface()
        self._interface = interface if isinstance(interface, str) and interface else "public"
        verify, cert = cloud.get_requests_verify_args()
        http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=8, pool_maxsize=max(self.concurrency, 8))
        http.mount("http://", adapter)
        http.mount("https://", adapter)
        http.hooks["response"].append(self._counter.hook)
        verify = (True if verify is None else verify) if self.verify_tls else False
        self._http.close()
        self._http = Transport(self.timeout, verify, cert, pool_size=self.concurrency)
        # "stackwatch/<version> keystoneauth1/..." tells the monitor's logins apart in
        # keystone's access log
        return ksa_session.Session(auth=cloud.get_auth(), session=http, timeout=self.timeout,
                                   verify=verify, cert=cert, app_name="stackwatch",
                                   app_version=__version__)

    @property
    def session(self) -> ksa_session.Session:
        with self._lock:
            if self._session is None:
                self._session = self._build_session()
            return self._session

    def close(self) -> None:
        """Release the thread pool and HTTP connections."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            if self._session is not None:
                self._session.session.close()
                self._session = None
            self._http.close()

    def invalidate(self) -> None:
        """Forget cached endpoints and memoised data (not the token)."""
        with self._lock:
            self._endpoints.clear()
            self._memo.clear()

    # ------------------------------------------------------------------ catalog
    def catalog_url(self, service_type: str) -> str:
        """The service's URL from the token's catalog; SourceUnavailable when missing."""
        url = self._catalog_url_or_none(service_type)
        if url is not None:
            return url
        raise SourceUnavailable(
            f"service {service_type!r} is missing from the catalog of cloud "
            f"{self.cloud_name!r} (interface {self._interface}, region {self.region or 'any'})")

    def in_catalog(self, service_type: str) -> bool:
        """Whether the token's catalog lists the service (no request once authenticated)."""
        return self._catalog_url_or_none(service_type) is not None

    def _catalog_url_or_none(self, service_type: str) -> str | None:
        catalog = self._access().service_catalog
        for catalog_type in CATALOG_TYPES.get(service_type, (service_type,)):
            try:
                url = catalog.url_for(service_type=catalog_type, interface=self._interface,
                                      region_name=self.region)
            except ksa_exc.EndpointNotFound:
                continue
            if url:
                url = str(url).rstrip("/")
                # Neutron and glance listings are addressed with their version prefix.
                suffix = VERSION_SUFFIX.get(service_type, "")
                if suffix and url.endswith(suffix):
                    url = url[: -len(suffix)]
                return url
        return None

    def endpoint(self, service_type: str, *, refresh: bool = False) -> Endpoint:
        """Catalog URL plus the negotiated microversion (version document, cached)."""
        known = self._endpoints.get(service_type)  # one dict read: atomic, no lock needed
        if known is not None and not refresh:
            return known
        url = self.catalog_url(service_type)
        started = time.monotonic()
        doc_url = _version_document_url(service_type, url)
        response = self._send("GET", doc_url, f"GET {doc_url}",
                              authenticated=service_type != "identity")
        latency = time.monotonic() - started
        # Keystone, glance and cinder answer their root with 300 Multiple Choices.
        if response.status not in (200, 300):
            _raise_for_status(response, f"GET {doc_url}")
        body = _json(response, f"GET {doc_url}")
        found = Endpoint(service_type, url, _negotiate(service_type, body),
                         response.status, latency)
        with self._lock:
            self._endpoints[service_type] = found
        return found

    def cloud_now(self, service_type: str) -> float | None:
        """The service's clock now (its answers' ``Date`` header), for ages measured on
        the cloud's time rather than ours; None when it sent none."""
        known = self._endpoints.get(service_type)
        return None if known is None else self._http.server_now(known.url)

    # ------------------------------------------------------------------ authentication
    def _access(self) -> Any:
        """The token's :class:`~keystoneauth1.access.AccessInfo`, authenticating when needed.

        One attempt at a time: a caller that waited while another's attempt failed
        raises that failure instead of trying again, so the six sources starting
        together make one attempt. After a 401 no attempt is made with the same
        settings (see the module docstring).
        """
        failures = self._failures
        with self._auth_lock:
            self._check_refusal()
            if self._failures != failures and self._last_failure is not None:
                raise self._last_failure  # tried while this caller waited: same outcome
            session = self.session
            auth = session.auth
            if auth is None:  # pragma: no cover - always set by _build_session
                raise SourceUnavailable("no auth plugin")
            try:
                access = auth.get_access(session)  # type: ignore[attr-defined]
            except ksa_exc.ClientException as exc:
                self._failures += 1
                error = self._failure(exc)
                self._last_failure = error
                raise error from None
            self._last_failure = None
            return access

    def _failure(self, exc: ksa_exc.ClientException) -> SourceError:
        """The error of a failed attempt; a 401 becomes the standing refusal."""
        if getattr(exc, "http_status", None) != 401:
            return _translate(exc, f"authenticate to cloud {self.cloud_name!r}")
        detail = " ".join(str(exc).split())[:300]  # keystone's words and request id
        self._refusal = AuthRefusal(time.time(), detail, self._fingerprint)
        message = self._refusal.message(self.cloud_name, self._where)
        log.error("%s", message)
        return SourceAuthError(message)

    def _check_refusal(self) -> None:
        """Raise while keystone's refusal stands; start afresh when the settings changed."""
        refusal = self._refusal
        if refusal is None:
            return
        loaded = self._load_cloud()
        if loaded[1] == refusal.fingerprint:
            raise SourceAuthError(refusal.message(self.cloud_name, self._where))
        log.warning("cloud %r: its settings in %s changed since keystone refused them; "
                    "authenticating again", self.cloud_name, self._where)
        with self._lock:
            if self._session is not None:
                self._session.session.close()
            self._session = self._build_session(loaded)
            self._endpoints.clear()
        self._refusal = self._last_failure = None  # the new settings get their own attempt
        self._token_header = None

    # ------------------------------------------------------------------ requests
    def _auth_headers(self) -> dict[str, str]:
        """The token header; keystoneauth fetches or renews the token when needed.

        The header is kept until five minutes before the token expires (keystoneauth
        itself renews two minutes before), so that the expiry is not parsed again for
        each of tens of thousands of requests. The cached pair is replaced whole, so
        it is read without the lock (64 threads taking one lock per request cost CPU).
        """
        cached = self._token_header
        if cached is not None and time.time() < cached[1]:
            return cached[0]
        access = self._access()  # one attempt for all threads (see there)
        with self._auth_lock:
            cached = self._token_header
            if cached is not None and time.time() < cached[1]:
                return cached[0]
            token = getattr(access, "auth_token", None)
            if not token:
                raise SourceAuthError(f"cloud {self.cloud_name!r}: no token")
            until = time.time() + 60.0
            expires = getattr(access, "expires", None)
            if expires is not None:
                until = max(until, expires.timestamp() - TOKEN_MARGIN_S)
            self._token_header = ({"X-Auth-Token": str(token)}, until)
            return self._token_header[0]

    def _forget_token(self) -> None:
        with self._auth_lock:
            self._token_header = None
            self.session.invalidate()

    def _send(self, method: str, url: str, what: str, *, authenticated: bool = True,
              headers: Mapping[str, str] | None = None,
              params: Mapping[str, object] | None = None) -> Answer:
        """One request on a pooled kept-alive connection, at most ``concurrency`` at once
        (keystoneauth is used for auth only: its per-request overhead is what limits
        a 26,000-request collection; see ``transport.py``).

        A 401 is retried once with a new token (the token may have been revoked).
        """
        if self._session is None:
            self.session  # noqa: B018 - builds the session and the transport on first use
        if params:
            url += ("&" if "?" in url else "?") + urlencode(
                [(k, v) for k, v in params.items()], doseq=True)
        for attempt in (1, 2):
            request_headers = dict(headers or {})
            if authenticated:
                request_headers.update(self._auth_headers())
            started = time.monotonic()
            with self._turn(), self._gate:
                try:
                    answer = self._http.get(url, request_headers, what)
                finally:
                    self._counter.count()
            log.info("%s %s -> %s in %.3fs", method, url, answer.status,
                     time.monotonic() - started)
            if answer.status == 401 and authenticated and attempt == 1:
                self._forget_token()
                continue
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """Listings and single reads go first; the fan-out yields to them (but for
        :data:`FANOUT_WHILE_LISTING` requests, so that it is never stopped outright).

        Used around each request and around a whole listing (its pages follow one
        another: between two of them the fan-out must not fill every slot)."""
        depth = getattr(self._lanes, "depth", 0)
        if depth:  # a request within a listing that already has its turn
            yield
            return
        fanout = getattr(self._lanes, "fanout", False)
        self._lanes.depth = 1
        with self._turns:
            if fanout:
                self._turns.wait_for(
                    lambda: self._listing == 0 or self._fanout < FANOUT_WHILE_LISTING)
                self._fanout += 1
            else:
                self._listing += 1
        try:
            yield
        finally:
            self._lanes.depth = 0
            with self._turns:
                if fanout:
                    self._fanout -= 1
                else:
                    self._listing -= 1
                self._turns.notify_all()

    def get(self, service_type: str, path: str, *, params: Mapping[str, object] | None = None,
            microversion: bool = True, headers: Mapping[str, str] | None = None) -> Json:
        """GET ``path`` (relative to the catalog URL, or absolute) and return the JSON object."""
        body = self.get_json(service_type, path, params=params, microversion=microversion,
                             headers=headers)
        if not isinstance(body, dict):
            raise InvalidResponse(f"GET {path}: expected a JSON object, got "
                                  f"{type(body).__name__}")
        return body

    def get_json(self, service_type: str, path: str, *,
                 params: Mapping[str, object] | None = None, microversion: bool = True,
                 headers: Mapping[str, str] | None = None) -> Any:
        """:meth:`get`, whatever JSON the answer holds (swift and gnocchi list as arrays)."""
        endpoint = self.endpoint(service_type)
        url = path if "://" in path else f"{endpoint.url}/{path.lstrip('/')}"
        sent = {"Accept": "application/json", **(headers or {})}
        name = MICROVERSION_HEADER_NAME.get(service_type)
        if microversion and name and endpoint.microversion:
            version = format_version(endpoint.microversion)
            sent["OpenStack-API-Version"] = f"{name} {version}"
            legacy = LEGACY_MICROVERSION_HEADER.get(service_type)
            if legacy:
                sent[legacy] = version
        if params:
            url += ("&" if "?" in url else "?") + urlencode(list(params.items()), doseq=True)
        what = f"GET {url}"
        response = self._send("GET", url, what, headers=sent)
        if response.status >= 300:
            _raise_for_status(response, what)
        return _any_json(response, what)

    def list_array(self, service_type: str, path: str, marker_key: str, *,
                   params: Mapping[str, object] | None = None,
                   page_size: int = 1000) -> Iterator[Json]:
        """Every item of a listing answered as a JSON array (swift, gnocchi), page after
        page: the next page starts after the last item's ``marker_key``; a page shorter
        than ``page_size`` is the last."""
        query: dict[str, object] = {**(params or {}), "limit": page_size}
        seen: set[str] = set()
        with self._turn():
            while True:
                page = self.get_json(service_type, path, params=query)
                if not isinstance(page, list):
                    raise InvalidResponse(f"GET {path}: expected a JSON array, got "
                                          f"{type(page).__name__}")
                for item in page:
                    if not isinstance(item, dict):
                        raise InvalidResponse(f"GET {path}: an item is not an object")
                    yield item
                if len(page) < page_size:
                    return
                marker = str(page[-1].get(marker_key, ""))
                if not marker or marker in seen:
                    raise InvalidResponse(f"GET {path}: pagination loops on {marker!r}")
                seen.add(marker)
                query = {**query, "marker": marker}

    def send(self, method: str, service_type: str, path: str, body: Json | None = None
             ) -> Json | None:
        """A request that changes something (a fix's POST, PUT or DELETE): through the
        keystoneauth session, with the token the reads use; the JSON answer (None when
        the answer has no body). An answer of 300 or more raises, naming the request.

        Writes are few, so they take the session's path rather than the pooled reader
        (:meth:`_send`, GET only)."""
        endpoint = self.endpoint(service_type)
        url = path if "://" in path else f"{endpoint.url}/{path.lstrip('/')}"
        what = f"{method} {url}"
        headers = {"Accept": "application/json", **self._auth_headers()}
        name = MICROVERSION_HEADER_NAME.get(service_type)
        if name and endpoint.microversion:
            headers["OpenStack-API-Version"] = f"{name} {format_version(endpoint.microversion)}"
        started = time.monotonic()
        try:
            response = self.session.request(url, method, json=body, headers=headers,
                                            authenticated=False, raise_exc=False)
        except ksa_exc.ClientException as exc:
            raise _translate(exc, what) from None
        log.info("%s -> %s in %.3fs", what, response.status_code, time.monotonic() - started)
        answer = Answer(response.status_code, response.content)
        if answer.status >= 300:
            _raise_for_status(answer, what)
        if answer.content.strip() in (b"", b"null"):
            return None
        return _json(answer, what)

    def list_all(self, service_type: str, path: str, key: str, *,
                 params: Mapping[str, object] | None = None,
                 page_size: int | None = None,
                 headers: Mapping[str, str] | None = None) -> Iterator[Json]:
        """Every item of a listing, page after page (``limit=None`` sends no limit)."""
        query: dict[str, object] = dict(params or {})
        size = self.page_size if page_size is None else page_size
        if size > 0:
            query["limit"] = size
        endpoint = self.endpoint(service_type)
        url: str | None = f"{endpoint.url}/{path.lstrip('/')}"
        seen: set[str] = set()
        with self._turn():  # first place from the first page to the last, not per page
            yield from self._pages(service_type, endpoint, url, key, query, seen, headers)

    def _pages(self, service_type: str, endpoint: Endpoint, url: str | None, key: str,
               query: dict[str, object], seen: set[str],
               headers: Mapping[str, str] | None = None) -> Iterator[Json]:
        while url is not None:
            body = self.get(service_type, url, params=query or None, headers=headers)
            items = body.get(key)
            if not isinstance(items, list):
                raise InvalidResponse(f"GET {url}: no {key!r} list in the answer")
            for item in items:
                if not isinstance(item, dict):
                    raise InvalidResponse(f"GET {url}: an item of {key!r} is not an object")
                yield item
            link = _next_link(body, key)
            if link is None or not items:
                return
            if service_type == "image" and link.startswith("/"):
                # glance's "next" is relative to its own root, which may sit under a
                # path prefix of the catalog URL (http://host/image): join, do not re-root.
                url = endpoint.url + link
            else:
                url = _rebase(link, endpoint.url)
            if url in seen:
                raise InvalidResponse(f"GET {url}: pagination loops on the same page")
            seen.add(url)
            query = {}

    # ------------------------------------------------------------------ fan-out
    def map(self, fn: Callable[[T], Any], items: Iterable[T]) -> list[Any]:
        """Apply ``fn`` to every item on the client's pool; results in order.

        Exceptions are returned in place of results, so that one failing
        project does not hide the others; the caller decides what they mean.

        At most ``concurrency`` tasks ("lanes") take the items in turn: a future
        per item costs some 35 µs of CPU, about 1 s over the 26,000 items of a
        big cloud (per-provider and per-project reads).
        """
        todo = list(items)
        results: list[Any] = [None] * len(todo)
        queue = iter(enumerate(todo))
        taking = threading.Lock()
        deadline = deadlines.current()

        small = len(todo) <= SMALL_FANOUT

        def lane() -> None:
            self._lanes.fanout = not small
            try:
                with deadlines.until(deadline):
                    take()
            finally:
                self._lanes.fanout = False

        def take() -> None:
            while True:
                with taking:
                    taken = next(queue, None)
                if taken is None:
                    return
                index, item = taken
                if deadlines.passed():
                    results[index] = SourceTimeout("not read before the run's deadline")
                    continue
                try:
                    results[index] = fn(item)
                except Exception as exc:  # in its place: the caller decides what it means
                    results[index] = exc

        with self._lock:
            if self._pool is None:
                # lanes for several fan-outs at once (quotas of nova and cinder, placement
                # usages): with only ``concurrency`` workers the first fan-out would hold
                # them all and the others wait for its end; the gate bounds the requests
                self._pool = ThreadPoolExecutor(self.concurrency * FANOUT_POOL_FACTOR,
                                                thread_name_prefix="api")
            pool = self._pool
        for running in [pool.submit(lane) for _ in range(min(self.concurrency, len(todo)))]:
            running.result()
        return results

    def forget(self, prefix: str) -> None:
        """Drop memoised data whose key starts with ``prefix`` (a source's new cycle)."""
        with self._lock:
            for key in [k for k in self._memo if k.startswith(prefix)]:
                del self._memo[key]

    def shared(self, key: str, max_age: float, loader: Callable[[], T]) -> T:
        """Data loaded at most once per ``max_age`` seconds, shared between sources."""
        with self._lock:
            lock = self._memo_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                cached = self._memo.get(key)
            if cached is not None and time.monotonic() - cached[0] < max_age:
                return cached[1]  # type: ignore[return-value]
            value = loader()
            with self._lock:
                self._memo[key] = (time.monotonic(), value)
            return value


# ---------------------------------------------------------------------- helpers


def _version_document_url(service_type: str, url: str) -> str:
    """Where the version document of a catalog URL is.

    Nova (``/v2.1``) and keystone (``/v3``) answer on the versioned URL; cinder's
    catalog URL carries the project (``/v3/{project_id}``), so its document is
    one level up; placement, glance and neutron publish theirs at the root.
    """
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    where = VERSION_DOCUMENT.get(service_type)
    if where is not None:
        # the path before the version segment (a deployment's prefix, /heat-api, stays)
        for index, segment in enumerate(segments):
            if segment[:1] == "v" and segment[1:2].isdigit():
                segments = segments[:index]
                break
        if where != "root":
            segments.append(where)
        path = "/" + "/".join(segments) + ("/" if segments and where == "root" else "")
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    if service_type in ("compute", "identity", "block-storage"):
        for index, segment in enumerate(segments):
            if segment[:1] == "v" and segment[1:2].isdigit():
                path = "/" + "/".join(segments[: index + 1]) + "/"
                return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    if service_type == "network" and segments and segments[-1] == "v2.0":
        segments = segments[:-1]
    path = "/" + "/".join(segments) + ("/" if segments else "")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _negotiate(service_type: str, body: Json) -> tuple[int, int] | None:
    """Highest microversion both the service and stackwatch know, or None."""
    ceiling = MICROVERSION_CEILING.get(service_type)
    if ceiling is None:
        return None
    candidates: list[Any] = []
    if isinstance(body.get("version"), dict):
        candidates.append(body["version"])
    versions = body.get("versions")
    if isinstance(versions, dict):  # keystone's {"versions": {"values": [...]}}
        versions = versions.get("values")
    if isinstance(versions, list):
        candidates.extend(versions)
    best: tuple[int, int] | None = None
    for entry in candidates:
        if not isinstance(entry, dict) or entry.get("status") not in ("CURRENT", "SUPPORTED"):
            continue
        text = entry.get("max_version") or entry.get("version")
        if not text:
            continue
        version = parse_version(str(text))
        if version[0] == ceiling[0] and (best is None or version > best):
            best = version
    if best is None:
        return None  # no microversions: the base version of the API
    return min(best, ceiling)


def _next_link(body: Json, key: str) -> str | None:
    nxt = body.get("next")  # glance, ironic, magnum
    if isinstance(nxt, str) and nxt:
        return nxt
    links = body.get(f"{key}_links", body.get("links"))  # heat and trove: "links"
    if isinstance(links, dict):  # designate: {"self": ..., "next": ...}
        nxt = links.get("next")
        return nxt if isinstance(nxt, str) and nxt else None
    if isinstance(links, list):
        for link in links:
            if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
                return str(link["href"])
    return None


def _any_json(response: Answer, what: str) -> Any:
    # orjson: about 35 % less CPU than json.loads over a big collection (1.4 s -> 0.9 s).
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise InvalidResponse(
            f"{what}: answer is not valid JSON (truncated?) at byte {getattr(exc, 'pos', '?')} "
            f"of {len(response.content)}") from None


def _json(response: Answer, what: str) -> Json:
    body = _any_json(response, what)
    if not isinstance(body, dict):
        raise InvalidResponse(f"{what}: expected a JSON object, got {type(body).__name__}")
    return body


def _raise_for_status(response: Answer, what: str) -> None:
    status = response.status
    detail = _error_detail(response)
    message = f"{what}: HTTP {status}{': ' + detail if detail else ''}"
    if status == 403:
        raise SourceForbidden(message)
    if status == 401:
        raise SourceAuthError(message)
    if status in (408, 504):
        raise SourceTimeout(message)
    if status >= 500 or status == 404:
        raise SourceUnavailable(message)
    raise InvalidResponse(message)


def _error_detail(response: Answer) -> str:
    """The ``message`` of an OpenStack error body, if there is one (never the whole body)."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return ""
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return " ".join(str(value["message"]).split())[:200]
        if isinstance(body.get("NeutronError"), dict):
            return str(body["NeutronError"].get("message", ""))[:200]
    return ""


def _translate(exc: ksa_exc.ClientException, what: str) -> SourceError:
    """keystoneauth exception -> the stackwatch error for it."""
    text = f"{what}: {exc}"
    if isinstance(exc, ksa_exc.ConnectTimeout):
        return SourceTimeout(text)
    if isinstance(exc, ksa_exc.Forbidden):
        return SourceForbidden(text)
    if isinstance(exc, (ksa_exc.Unauthorized, ksa_exc.AuthorizationFailure,
                        ksa_exc.MissingAuthPlugin, ksa_exc.MissingRequiredOptions)):
        return SourceAuthError(text)
    if isinstance(exc, (ksa_exc.EndpointNotFound, ksa_exc.EmptyCatalog)):
        return SourceUnavailable(text)
    if isinstance(exc, ksa_exc.UnknownConnectionError):
        cause = str(exc)
        if "IncompleteRead" in cause or "ChunkedEncoding" in cause or "Connection broken" in cause:
            return InvalidResponse(f"{what}: answer cut short ({cause[:200]})")
        return SourceUnavailable(text)
    if isinstance(exc, ksa_exc.HttpError):
        status = getattr(exc, "http_status", 0) or 0
        if status == 403:
            return SourceForbidden(text)
        if status == 401:
            return SourceAuthError(text)
        if status in (408, 504):
            return SourceTimeout(text)
        return SourceUnavailable(text)
    return SourceUnavailable(text)
