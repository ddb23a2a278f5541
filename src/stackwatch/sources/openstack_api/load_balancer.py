"""``api.load_balancer``: octavia load balancers, amphorae and pools (openstack-exporter's
``loadbalancer`` metrics), and listeners (stackwatch's own, named alike).

Calls per collection: ``/v2/lbaas/loadbalancers``, ``/v2/octavia/amphorae`` (admin only),
``/v2/lbaas/pools`` and ``/v2/lbaas/listeners``, each ceil(N/1000)
(``pagination_max_limit``; ``<key>_links``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from stackwatch.model import Collection
from stackwatch.sources.openstack_api.optional import (
    OptionalApiSource,
    label_text,
    labels_of,
    status_index,
)
from stackwatch.sources.resources import Resource

#: openstack-exporter's tables, in its order (a status gauge's value is the position).
OPERATING_STATUSES = ("ONLINE", "DRAINING", "OFFLINE", "ERROR", "NO_MONITOR")
AMPHORA_STATUSES = ("BOOTING", "ALLOCATED", "READY", "PENDING_CREATE", "PENDING_DELETE",
                    "DELETED", "ERROR")
POOL_STATUSES = ("ACTIVE", "DELETED", "ERROR", "PENDING_CREATE", "PENDING_UPDATE",
                 "PENDING_DELETE")


def rfc3339(value: object) -> str:
    """octavia's ``2019-09-19 00:34:51`` (UTC) as the exporter writes it:
    ``2019-09-19T00:34:51Z``; Go's zero time when there is none."""
    text = label_text(value)
    if not text:
        return "0001-01-01T00:00:00Z"
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ids(refs: object) -> str:
    """The ids of a list of references (``[{"id": ...}]``), comma-separated."""
    if not isinstance(refs, list):
        return ""
    return ",".join(label_text(ref.get("id")) for ref in refs if isinstance(ref, dict))


def amphora_labels(amphora: Mapping[str, object]) -> dict[str, str]:
    """An amphora's labels. Octavia answers ``loadbalancer_id`` (as the exporter reads it);
    its API reference's example spells it ``load_balancer_id``: either is taken."""
    lb_id = amphora.get("loadbalancer_id", amphora.get("load_balancer_id"))
    return {"loadbalancer_id": label_text(lb_id), "cert_expiration":
            rfc3339(amphora.get("cert_expiration")),
            **labels_of(amphora, "id", "compute_id", "status", "role", "lb_network_ip", "ha_ip")}


class LoadBalancerSource(OptionalApiSource):
    """Octavia through its API."""

    service_type = "load-balancer"
    codename = "loadbalancer"  # openstack-exporter's name

    def readers(self) -> Sequence[Resource]:
        return (Resource("loadbalancers", self.loadbalancers, self.interval("loadbalancers")),
                Resource("amphorae", self.amphorae, self.interval("amphorae")),
                Resource("pools", self.pools, self.interval("pools")),
                Resource("listeners", self.listeners, self.interval("listeners")))

    def loadbalancers(self) -> Collection:
        found = list(self.client.list_all("load-balancer", "v2/lbaas/loadbalancers",
                                          "loadbalancers"))
        samples = [self.metric("total_loadbalancers", len(found))]
        for lb in found:
            samples.append(self.metric(
                "loadbalancer_status",
                status_index(OPERATING_STATUSES, label_text(lb.get("operating_status"))),
                **labels_of(lb, "id", "name", "project_id", "operating_status",
                            "provisioning_status", "provider", "vip_address")))
        return Collection(tuple(samples))

    def amphorae(self) -> Collection:
        found = list(self.client.list_all("load-balancer", "v2/octavia/amphorae", "amphorae"))
        samples = [self.metric("total_amphorae", len(found))]
        for a in found:
            samples.append(self.metric(
                "amphora_status", status_index(AMPHORA_STATUSES, label_text(a.get("status"))),
                **amphora_labels(a)))
        return Collection(tuple(samples))

    def listeners(self) -> Collection:
        found = list(self.client.list_all("load-balancer", "v2/lbaas/listeners", "listeners"))
        samples = [self.metric("total_listeners", len(found))]
        for item in found:
            samples.append(self.metric(
                "listener_status",
                status_index(OPERATING_STATUSES, label_text(item.get("operating_status"))),
                loadbalancers=_ids(item.get("loadbalancers")),
                **labels_of(item, "id", "name", "project_id", "protocol", "protocol_port",
                            "provisioning_status", "operating_status")))
        samples += self.counter("listener_status_counter", OPERATING_STATUSES,
                                (label_text(i.get("operating_status")) for i in found))
        return Collection(tuple(samples))

    def pools(self) -> Collection:
        found = list(self.client.list_all("load-balancer", "v2/lbaas/pools", "pools"))
        samples = [self.metric("total_pools", len(found))]
        for p in found:
            samples.append(self.metric(
                "pool_status",
                status_index(POOL_STATUSES, label_text(p.get("provisioning_status"))),
                loadbalancers=_ids(p.get("loadbalancers")),
                lb_algorithm=label_text(p.get("lb_algorithm")),
                **labels_of(p, "id", "provisioning_status", "name", "protocol",
                            "operating_status", "project_id")))
        return Collection(tuple(samples))
