"""Inventory (hypervisors, services, agents, routers, servers in ERROR, volumes out of
their resting status) and quotas against usage: the lists behind the capacity,
compute, network and storage pages, paged and filtered."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stackwatch.query import compute, network, quotas, storage
from stackwatch.query.compute import HypervisorRow, ServiceRow
from stackwatch.query.context import Context
from stackwatch.query.models import ItemView
from stackwatch.query.network import AgentRow, RouterRow
from stackwatch.query.paging import Page, PageQuery
from stackwatch.query.quotas import QuotaView
from stackwatch.query.storage import VolumeRow
from stackwatch.web.api.endpoint import Endpoint


class HypervisorsQuery(PageQuery):
    host: str = Field("", description="a hypervisor's host or hostname")
    state: Literal["", "up", "down"] = Field("", description="up or down")
    admin_state: Literal["", "enabled", "disabled"] = Field("", description="enabled or "
                                                            "disabled")
    availability_zone: str = ""


class ServicesQuery(PageQuery):
    service: Literal["", "nova", "cinder"] = Field("", description="nova or cinder")
    binary: str = Field("", description="e.g. nova-compute, cinder-volume")
    host: str = ""
    state: Literal["", "up", "down"] = Field("", description="up or down")


class AgentsQuery(PageQuery):
    binary: str = Field("", description="e.g. neutron-l3-agent")
    host: str = ""
    alive: bool | None = Field(None, description="true: alive agents only; false: dead only")


class RoutersQuery(PageQuery):
    stranded: bool | None = Field(None, description="true: only routers no live L3 agent "
                                                    "hosts")
    agent: str = Field("", description="an L3 agent's id or host")


class ServersQuery(PageQuery):
    status: Literal["ERROR"] = Field("ERROR", description="servers in ERROR are the ones "
                                     "listed (counts by status: the samples of "
                                     "openstack_nova_servers)")
    host: str = Field("", description="a compute host or hypervisor hostname")
    project: str = Field("", description="a project id")


class VolumesQuery(PageQuery):
    kind: Literal["", "volume", "snapshot"] = Field("", description="volume or snapshot")
    stuck: bool | None = Field(None, description="true: only those out of their resting "
                                                 "status longer than stuck_after")
    stuck_after: float = Field(storage.STUCK_AFTER_S, ge=0, le=1e9, allow_inf_nan=False,
                               description="seconds out of a resting status that make one "
                                           "stuck")
    status: str = Field("", description="e.g. deleting, error_deleting, creating")
    project: str = Field("", description="a project id")


class QuotasQuery(PageQuery):
    project: str = Field("", description="a project's name or id")
    service: Literal["", "nova", "neutron", "cinder"] = ""
    resource: str = Field("", description="e.g. cores, ram, instances, port, gigabytes")


def _hypervisors(ctx: Context, q: HypervisorsQuery) -> Page[HypervisorRow]:
    rows = [r for r in compute.hypervisors(ctx)
            if (not q.host or q.host in (r.host, r.hostname))
            and (not q.state or r.state == q.state)
            and (not q.admin_state or r.admin_state == q.admin_state)
            and (not q.availability_zone or r.availability_zone == q.availability_zone)]
    return Page.of(rows, q)


def _services(ctx: Context, q: ServicesQuery) -> Page[ServiceRow]:
    checks = ctx.checks()
    rows = [*compute.nova_services(ctx, checks), *storage.cinder_services(ctx, checks)]
    return Page.of([r for r in rows if (not q.service or r.project == q.service)
                    and (not q.binary or r.binary == q.binary)
                    and (not q.host or r.host == q.host)
                    and (not q.state or r.state == q.state)], q)


def _servers(ctx: Context, q: ServersQuery) -> Page[ItemView]:
    return Page.of(compute.servers_in_error(ctx, q.host, q.project), q)


def _volumes(ctx: Context, q: VolumesQuery) -> Page[VolumeRow]:
    return Page.of(storage.volumes(ctx, q.kind, q.stuck, q.status, q.project, q.stuck_after),
                   q)


ENDPOINTS = (
    Endpoint("GET", "/api/v1/inventory/hypervisors",
             "Hypervisors: state, admin state, servers, placement's vCPU/RAM/disk use",
             "inventory", Page[HypervisorRow], _hypervisors, HypervisorsQuery),
    Endpoint("GET", "/api/v1/inventory/services", "Nova and cinder services, worst first",
             "inventory", Page[ServiceRow], _services, ServicesQuery),
    Endpoint("GET", "/api/v1/inventory/agents", "Neutron agents, worst first", "inventory",
             Page[AgentRow],
             lambda ctx, q: Page.of(network.agents(ctx, q.binary, q.host, q.alive), q),
             AgentsQuery),
    Endpoint("GET", "/api/v1/inventory/routers",
             "Routers per L3 agent, the stranded ones (no live agent) first", "inventory",
             Page[RouterRow],
             lambda ctx, q: Page.of(network.routers(ctx, q.stranded, q.agent), q),
             RoutersQuery),
    Endpoint("GET", "/api/v1/inventory/servers",
             "Servers in ERROR with their fault, the newest first", "inventory",
             Page[ItemView], _servers, ServersQuery),
    Endpoint("GET", "/api/v1/inventory/volumes",
             "Volumes and snapshots out of their resting status, the stuck ones first",
             "inventory", Page[VolumeRow], _volumes, VolumesQuery),
    Endpoint("GET", "/api/v1/quotas",
             "Quota against usage per project and resource, the largest share used first",
             "quotas", Page[QuotaView],
             lambda ctx, q: Page.of(quotas.quotas(ctx, q.project, q.service, q.resource), q),
             QuotasQuery),
)
