"""The synthetic project's connection: openstacksdk over one keystoneauth session.

One :class:`Api` per run: it authenticates once (the ``token`` step) and every request
of the run reuses that token. Requests go through the SDK's service proxies (catalog
lookup, version discovery, microversions) and every third-party exception, and every
answer that is not the one expected, becomes a :class:`~stackwatch.errors.StepFailed`
naming the step, the request, the status and the service's own words with its request
id. Nothing here logs or shows a credential.
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from collections.abc import Iterable
from typing import Any

import requests
from keystoneauth1 import exceptions as ksa_exc

from stackwatch.config import SyntheticConfig
from stackwatch.errors import ConfigError, StepFailed

log = logging.getLogger(__name__)

#: The proxy attribute of an openstacksdk Connection per service.
PROXIES = {"compute": "compute", "image": "image", "volume": "block_storage",
           "network": "network"}
_TAGS = re.compile(r"<[^>]+>")


def connect(config: SyntheticConfig) -> Any:
    """An openstacksdk Connection for ``config.cloud`` (not yet authenticated)."""
    import openstack.config
    import openstack.connection
    from openstack.config.exceptions import OpenStackConfigException

    from stackwatch.sources.openstack_api.client import CLOUDS_YAML_LOCK

    files = [str(config.clouds_yaml)] if config.clouds_yaml else None
    try:
        # catch_warnings changes the process's filters: one load at a time, as the
        # API sources' client does
        with CLOUDS_YAML_LOCK, warnings.catch_warnings():
            # openstacksdk warns about its own deprecated internals on every load
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            loader = openstack.config.OpenStackConfig(config_files=files, load_envvars=False)
            region = loader.get_one(cloud=config.cloud, region_name=config.region,
                                    verify=config.verify_tls, api_timeout=config.api_timeout)
            return openstack.connection.Connection(config=region)
    except (OpenStackConfigException, ksa_exc.ClientException) as exc:
        where = config.clouds_yaml or "the clouds.yaml search path"
        raise ConfigError(f"synthetic.cloud {config.cloud!r} from {where}: {exc}") from None


def why(response: requests.Response) -> str:
    """The service's own words from an error answer, and its request id."""
    text = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        inner = next(iter(body.values()), None) if len(body) == 1 else body
        if isinstance(inner, dict):
            text = str(inner.get("message") or inner.get("title") or inner)
        elif isinstance(inner, str):
            text = inner
    if not text:
        text = " ".join(_TAGS.sub(" ", response.text or "").split())
    rid = (response.headers.get("x-openstack-request-id")
           or response.headers.get("x-compute-request-id") or "")
    text = text[:300] or response.reason or ""
    return f"{text} (request {rid})" if rid else text


class Api:
    """The run's requests: each names the step it belongs to."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.calls = 0

    def authenticate(self) -> str:
        """Issue the run's one token; return the project id it is scoped to."""
        from openstack import exceptions as sdk_exc

        try:
            self.conn.authorize()
        except (sdk_exc.SDKException, ksa_exc.ClientException) as exc:
            raise StepFailed("token", f"{type(exc).__name__}: {_short(exc)}") from None
        project = self.conn.current_project_id
        if not project:
            raise StepFailed("token", "the token is not scoped to a project "
                                      "(give project_name in clouds.yaml)")
        return str(project)

    def call(self, step: str, service: str, method: str, url: str,
             ok: Iterable[int] = (200,), **kwargs: Any) -> requests.Response:
        """One request; a :class:`StepFailed` unless its status is in ``ok``."""
        from openstack import exceptions as sdk_exc

        proxy = getattr(self.conn, PROXIES[service])
        started = time.monotonic()
        self.calls += 1
        try:
            response: requests.Response = proxy.request(url, method, raise_exc=False,
                                                        **kwargs)
        except (sdk_exc.SDKException, ksa_exc.ClientException, requests.RequestException) \
                as exc:
            raise StepFailed(step, f"{method} {service} {url}: {type(exc).__name__}: "
                                   f"{_short(exc)}") from None
        log.info("synthetic %s %s %s -> %s in %.2fs", method, service, url,
                 response.status_code, time.monotonic() - started)
        if response.status_code not in tuple(ok):
            raise StepFailed(step, f"{method} {service} {url}: HTTP {response.status_code} "
                                   f"{why(response)}")
        return response

    def json(self, step: str, service: str, method: str, url: str,
             ok: Iterable[int] = (200,), **kwargs: Any) -> dict[str, Any]:
        """One request whose answer is a JSON object."""
        response = self.call(step, service, method, url, ok, **kwargs)
        try:
            body = response.json()
        except ValueError:
            raise StepFailed(step, f"{method} {service} {url}: HTTP {response.status_code} "
                                   "answer is not JSON") from None
        if not isinstance(body, dict):
            raise StepFailed(step, f"{method} {service} {url}: answer is not a JSON object")
        return body

    def close(self) -> None:
        self.conn.close()


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
