"""The overview, a service, a node, the checks and the sources pages."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from stackwatch.query import checks, nodes, overview, service, sources
from stackwatch.query.context import Context
from stackwatch.query.models import CheckView
from stackwatch.query.times import Stamped
from stackwatch.web.pages.page import PageSpec, RangeParams


class ServiceParams(RangeParams):
    name: str = Field(min_length=1)


class NodeParams(RangeParams):
    host: str = Field(min_length=1)


class ChecksParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = ""
    status: str = ""


class Listing(Stamped):
    """A page that is one list."""

    items: list[CheckView] | list[sources.SourceView]


def _checks(ctx: Context, params: ChecksParams) -> Listing:
    statuses = [s for s in params.status.split(",") if s]
    return Listing(timestamp=ctx.now, items=checks.latest_checks(ctx, statuses, params.name))


PAGES = (
    PageSpec("/overview", "overview.html", "Overview",
             lambda ctx, _: overview.overview(ctx), nav="Overview", key="o"),
    PageSpec("/services/{name}", "service.html", "Service",
             lambda ctx, p: service.service_page(ctx, p.name, p.seconds), ServiceParams),
    PageSpec("/nodes/{host}", "node.html", "Node",
             lambda ctx, p: nodes.node(ctx, p.host, p.seconds), NodeParams),
    PageSpec("/checks", "checks.html", "Checks", _checks, ChecksParams),
)

#: pages that come last in the navigation
TRAILING = (
    PageSpec("/nodes", "nodes.html", "Nodes", lambda ctx, _: nodes.node_list(ctx),
             nav="Nodes", key="d"),
    PageSpec("/sources", "sources.html", "Sources",
             lambda ctx, _: Listing(timestamp=ctx.now, items=sources.sources(ctx)),
             nav="Sources", key="f"),
)
