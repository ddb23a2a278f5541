"""Orchestration API v1 (heat) of the simulated cloud, served with the optional
services (:mod:`stackwatch.sim.optional`).

Follows heat's API reference (``stacks-list-response.json``): ``GET /`` answers the
version document with 300 Multiple Choices; ``GET /v1/{project_id}/stacks`` lists
stacks a page of at most 100 (``max_stacks_per_page``) by ``limit``/``marker``, with
a ``links`` next link when the page is full. An admin's plain listing holds every
project's stacks (heat's ``context_is_admin``), a member's its project's. With
``global_tenant=True`` the simulated policy lets admins list every project's stacks
(``stacks:global_index`` set to ``rule:context_is_admin``, as operators do; a stock
heat denies it to everyone) and answers others heat's 403.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from stackwatch.sim.api.paging import next_url, page
from stackwatch.sim.api.wire import json_response, truthy, zulu
from stackwatch.sim.optional import Stack, world_of
from stackwatch.sim.routing import ApiContext, auth_of

MAX_PER_PAGE = 100  # heat.conf max_stacks_per_page


def stack_payload(api: ApiContext, project: str, stack: Stack) -> dict[str, Any]:
    """One stack of the listing (API reference sample, plus ``project``)."""
    action, _, state = stack.status.partition("_")
    reason = {"COMPLETE": "completed successfully", "FAILED": "failed",
              "IN_PROGRESS": "in progress"}[state]
    return {
        "creation_time": zulu(stack.created_at), "deletion_time": None,
        "description": "", "id": stack.id,
        "links": [{"href": api.url(f"/v1/{project}/stacks/{stack.name}/{stack.id}"),
                   "rel": "self"}],
        "parent": None, "project": stack.project_id, "stack_name": stack.name,
        "stack_owner": None, "stack_status": stack.status,
        "stack_status_reason": f"Stack {action} {reason}", "stack_user_project_id": None,
        "tags": None, "updated_time": None,
    }


def _forbidden(action: str) -> web.Response:
    """heat's fault body (heat/api/middleware/fault.py)."""
    message = f"You are not authorized to use {action}."
    return json_response({"explanation": "Access was denied to this resource.", "code": 403,
                          "error": {"message": message, "traceback": None,
                                    "type": "Forbidden"}, "title": "Forbidden"}, 403)


def register(api: ApiContext) -> None:
    """Serve heat's version document and stack listing."""

    async def versions(request: web.Request) -> web.Response:
        return json_response({"versions": [{
            "status": "CURRENT", "id": "v1.0",
            "links": [{"href": api.url("/v1/"), "rel": "self"}]}]}, 300)

    async def stacks(request: web.Request) -> web.Response:
        auth = auth_of(request)
        project = request.match_info["project_id"]
        every = truthy(request.query.get("global_tenant", "false"))
        if every and not auth.is_admin:
            return _forbidden("global_index")
        world = world_of(api.state)
        items = world.stacks if auth.is_admin else \
            [s for s in world.stacks if s.project_id == auth.project_id]
        chosen, full = page(request, items, lambda s: s.id, cap=MAX_PER_PAGE)
        body: dict[str, Any] = {"stacks": [stack_payload(api, project, s) for s in chosen]}
        if full:
            body["links"] = [{"href": next_url(api, request, chosen[-1].id), "rel": "next"}]
        return json_response(body)

    api.route("GET", "/", versions, auth=False)
    api.route("GET", "/v1/{project_id}/stacks", stacks)
