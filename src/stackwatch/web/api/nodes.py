"""The nodes: the list, worst first, and one node."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from stackwatch.query import nodes
from stackwatch.web.api.endpoint import Endpoint
from stackwatch.web.pages.page import RangeParams


class NodeQuery(RangeParams):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, description="the node's name")


ENDPOINTS = (
    Endpoint("GET", "/api/v1/nodes", "Every node with its verdict and host figures, worst "
             "first", "nodes", nodes.NodeList, lambda ctx, _: nodes.node_list(ctx)),
    Endpoint("GET", "/api/v1/nodes/{host}", "One node: members, processes, ports, host "
             "figures, infrastructure checks, agent", "nodes", nodes.NodeDetail,
             lambda ctx, q: nodes.node(ctx, q.host, q.seconds), NodeQuery),
)
