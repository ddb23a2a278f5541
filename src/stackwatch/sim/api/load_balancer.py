"""Load-balancer API v2 (octavia) of the simulated cloud, served with the optional
services (:mod:`stackwatch.sim.optional`).

Follows octavia's API reference samples (``loadbalancers-list-response.json``,
``amphora-list-response.json``, ``pools-list-response.json``,
``listeners-list-response.json``): every listing pages by ``limit``/``marker`` at most
1000 (``pagination_max_limit``) with ``<key>_links`` (a next link when the page is
full). A member sees its project's load balancers, pools and listeners, an admin every
project's; amphorae are admin only (octavia's 403 otherwise). Listeners are served
though stackwatch's source does not read them (openstack-exporter has no listener
metric).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web

from stackwatch.sim.api.paging import next_url, page
from stackwatch.sim.api.wire import json_response
from stackwatch.sim.optional import Amphora, Listener, LoadBalancer, OptionalWorld, Pool, world_of
from stackwatch.sim.routing import ApiContext, auth_of

MAX_LIMIT = 1000  # octavia.conf pagination_max_limit
CREATED = "2026-01-05T09:00:00"
T = TypeVar("T")


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def lb_payload(lb: LoadBalancer, pools: Sequence[str], listeners: Sequence[str]
               ) -> dict[str, Any]:
    return {"description": "", "admin_state_up": True, "project_id": lb.project_id,
            "provisioning_status": lb.provisioning_status, "flavor_id": None,
            "vip_subnet_id": None, "listeners": [{"id": i} for i in listeners],
            "vip_address": lb.vip_address, "vip_network_id": None, "vip_port_id": None,
            "provider": "amphora", "pools": [{"id": i} for i in pools],
            "created_at": _time(lb.created_at), "updated_at": _time(lb.created_at),
            "id": lb.id, "operating_status": lb.operating_status, "name": lb.name,
            "tags": []}


def amphora_payload(a: Amphora) -> dict[str, Any]:
    return {"id": a.id, "load_balancer_id": a.load_balancer_id, "compute_id": a.compute_id,
            "lb_network_ip": a.lb_network_ip, "vrrp_ip": None, "ha_ip": a.ha_ip,
            "vrrp_port_id": None, "ha_port_id": None,
            "cert_expiration": a.cert_expiration.strftime("%Y-%m-%d %H:%M:%S"),
            "cert_busy": 0, "role": a.role, "status": a.status, "vrrp_interface": "eth1",
            "vrrp_id": 1, "vrrp_priority": 100 if a.role == "MASTER" else 90,
            "cached_zone": "nova", "created_at": CREATED, "updated_at": CREATED}


def pool_payload(p: Pool, listeners: Sequence[str]) -> dict[str, Any]:
    return {"lb_algorithm": p.lb_algorithm, "protocol": p.protocol, "description": "",
            "admin_state_up": True, "loadbalancers": [{"id": p.load_balancer_id}],
            "provisioning_status": p.provisioning_status, "session_persistence": None,
            "listeners": [{"id": i} for i in listeners], "members": [],
            "healthmonitor_id": None, "project_id": p.project_id, "id": p.id,
            "operating_status": p.operating_status, "name": p.name, "tags": [],
            "created_at": CREATED, "updated_at": CREATED}


def listener_payload(li: Listener, pool: str | None) -> dict[str, Any]:
    return {"description": "", "admin_state_up": True, "project_id": li.project_id,
            "protocol": li.protocol, "protocol_port": li.protocol_port,
            "provisioning_status": li.provisioning_status, "default_tls_container_ref": None,
            "loadbalancers": [{"id": li.load_balancer_id}], "insert_headers": {},
            "default_pool_id": pool, "connection_limit": -1, "l7policies": [],
            "id": li.id, "operating_status": li.operating_status, "name": li.name,
            "tags": []}


def _forbidden() -> web.Response:
    """octavia's (wsme) fault body."""
    return json_response({"faultcode": "Client", "debuginfo": None,
                          "faultstring": "Policy does not allow this request to be "
                                         "performed."}, 403)


def register(api: ApiContext) -> None:
    """Serve octavia's version document and its four listings."""

    async def versions(request: web.Request) -> web.Response:
        return json_response({"versions": [{
            "status": "CURRENT", "updated": "2023-06-09T00:00:00Z", "id": "v2.0",
            "links": [{"href": api.url("/v2"), "rel": "self"}]}]})

    def listing(key: str, items: Callable[[], Sequence[T]], ident: Callable[[T], str],
                payload: Callable[[T], dict[str, Any]], project: Callable[[T], str] | None,
                ) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            auth = auth_of(request)
            if project is None and not auth.is_admin:
                return _forbidden()
            found = items()
            if project is not None and not auth.is_admin:
                found = [i for i in found if project(i) == auth.project_id]
            chosen, full = page(request, found, ident, cap=MAX_LIMIT)
            links = [{"href": next_url(api, request, ident(chosen[-1])), "rel": "next"}] \
                if full else []
            return json_response({key: [payload(i) for i in chosen], f"{key}_links": links})
        return handler

    def world() -> OptionalWorld:
        return world_of(api.state)

    def of(lb_id: str) -> tuple[list[str], list[str]]:
        found: tuple[list[str], list[str]] = world().by_load_balancer.get(lb_id, ([], []))
        return found

    def lb(item: LoadBalancer) -> dict[str, Any]:
        return lb_payload(item, *of(item.id))

    def pool(item: Pool) -> dict[str, Any]:
        return pool_payload(item, of(item.load_balancer_id)[1])

    def listener(item: Listener) -> dict[str, Any]:
        pools = of(item.load_balancer_id)[0]
        return listener_payload(item, pools[0] if pools else None)

    api.route("GET", "/", versions, auth=False)
    api.route("GET", "/v2/lbaas/loadbalancers", listing(
        "loadbalancers", lambda: world().loadbalancers, lambda i: i.id, lb,
        lambda i: i.project_id))
    api.route("GET", "/v2/octavia/amphorae", listing(
        "amphorae", lambda: world().amphorae, lambda i: i.id, amphora_payload, None))
    api.route("GET", "/v2/lbaas/pools", listing(
        "pools", lambda: world().pools, lambda i: i.id, pool, lambda i: i.project_id))
    api.route("GET", "/v2/lbaas/listeners", listing(
        "listeners", lambda: world().listeners, lambda i: i.id, listener,
        lambda i: i.project_id))
