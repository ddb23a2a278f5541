"""Simulated keystone (identity API v3.14), following ``reference/api/identity/``.

Password (and token) authentication issues a token in ``X-Subject-Token`` with the
catalog and expiry (``POST___v3__auth__tokens.201-project-scoped.json``); validation
answers 200/404 (``GET___v3__auth__tokens.*``); users, projects, domains, roles,
role assignments, services, endpoints and regions list as recorded (every list has
``links: {next: null, self, previous: null}``: keystone does not paginate).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from stackwatch.sim import auth as sim_auth
from stackwatch.sim import records as r
from stackwatch.sim.routing import ApiContext, Auth, auth_of, empty_response, json_response
from stackwatch.sim.state import CloudState

VERSION = "v3.14"
VERSION_UPDATED = "2020-04-07T00:00:00Z"


def ks_time(value: datetime) -> str:
    """keystone's token times: ``2026-11-21T07:18:31.000000Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error(status: int, title: str, message: str, headers: dict[str, str] | None = None
           ) -> web.Response:
    # identity/GET___v3__users__{user_id}.404.json
    return json_response({"error": {"code": status, "message": message, "title": title}},
                         status, {"Vary": "X-Auth-Token", **(headers or {})})


def _unauthorized(api: ApiContext) -> web.Response:
    # identity/POST___v3__auth__tokens.401-wrong-password.json
    return _error(401, "Unauthorized", "The request you have made requires authentication.",
                  {"WWW-Authenticate": f'Keystone uri="{api.url("/v3")}"'})


def _forbidden(action: str) -> web.Response:
    # identity/GET___v3__users.403-member.json
    return _error(403, "Forbidden",
                  f"You are not authorized to perform the requested action: {action}.")


def register(api: ApiContext) -> None:
    """Add keystone's routes under ``/identity``."""
    state = api.state

    def version_doc() -> dict[str, Any]:
        return {
            "id": VERSION, "status": "stable", "updated": VERSION_UPDATED,
            "links": [{"rel": "self", "href": api.url("/v3/")}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v3+json"}],
        }

    async def root(request: web.Request) -> web.Response:
        # identity/GET___.json: 300 Multiple Choices
        return json_response({"versions": {"values": [version_doc()]}}, 300,
                             {"Location": api.url("/v3/"), "Vary": "X-Auth-Token"})

    async def v3(request: web.Request) -> web.Response:
        # identity/GET___v3.json
        return json_response({"version": version_doc()}, 200, {"Vary": "X-Auth-Token"})

    def listing(key: str, items: list[dict[str, Any]], path: str,
                request: web.Request | None = None) -> web.Response:
        if request is not None and request.query_string:
            path = f"{path}?{request.query_string}"
        return json_response(
            {key: items, "links": {"next": None, "self": api.url(path), "previous": None}},
            200, {"Vary": "X-Auth-Token"})

    def admin_only(action: str, handler: Callable[[web.Request, Auth], web.Response]
                   ) -> Callable[[web.Request], Any]:
        async def wrapped(request: web.Request) -> web.Response:
            caller = auth_of(request)
            if not caller.is_admin:
                return _forbidden(action)
            return handler(request, caller)
        return wrapped

    # ---------------------------------------------------------------- tokens

    def catalog(project_id: str | None) -> list[dict[str, Any]]:
        # identity/GET___v3__auth__catalog.json
        out = []
        for svc in state.catalog_services:
            endpoints = []
            for ep in state.endpoints.by("service_id", svc.id):
                url = ep.url
                if "$(project_id)s" in url:
                    if project_id is None:
                        continue
                    url = url.replace("$(project_id)s", project_id)
                endpoints.append({"id": ep.id, "interface": ep.interface,
                                  "region_id": ep.region_id, "url": url, "region": ep.region_id})
            out.append({"endpoints": endpoints, "id": svc.id, "type": svc.type,
                        "name": svc.name})
        return out

    def token_body(token: r.Token, with_catalog: bool) -> dict[str, Any]:
        # identity/POST___v3__auth__tokens.201-project-scoped.json / .201-unscoped.json
        user = state.users.get(token.user_id)
        assert user is not None
        domain = state.domains.get(user.domain_id)
        body: dict[str, Any] = {
            "methods": list(token.methods),
            "user": {"domain": {"id": user.domain_id, "name": domain.name if domain else ""},
                     "id": user.id, "name": user.name, "password_expires_at": None},
            "audit_ids": [token.audit_id],
            "expires_at": ks_time(token.expires_at),
            "issued_at": ks_time(token.issued_at),
        }
        if token.project_id is not None:
            project = state.projects.get(token.project_id)
            assert project is not None
            pdomain = state.domains.get(project.domain_id)
            body["project"] = {"domain": {"id": project.domain_id,
                                          "name": pdomain.name if pdomain else ""},
                               "id": project.id, "name": project.name}
            body["is_domain"] = False
            body["roles"] = [{"id": role.id, "name": role.name}
                             for role in sim_auth.role_names(state, user.id, project.id)]
            if with_catalog:
                body["catalog"] = catalog(project.id)
        return {"token": body}

    def find_user(ident: dict[str, Any]) -> r.User | None:
        if "id" in ident:
            return state.users.get(str(ident["id"]))
        name = ident.get("name")
        domain = ident.get("domain") or {}
        domain_id = _domain_id(state, domain)
        for user in state.users.by("name", name):
            if user.domain_id == domain_id:
                return user
        return None

    def find_project(scope: dict[str, Any]) -> r.Project | None:
        if "id" in scope:
            return state.projects.get(str(scope["id"]))
        domain_id = _domain_id(state, scope.get("domain") or {})
        for project in state.projects.by("name", scope.get("name")):
            if project.domain_id == domain_id:
                return project
        return None

    async def issue(request: web.Request) -> web.Response:
        try:
            data = await request.json()
            auth = data["auth"]
            identity = auth["identity"]
            methods = list(identity["methods"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "Bad Request",
                          "Invalid input for field 'identity': 'identity' is a required property")
        user: r.User | None = None
        if "password" in methods:
            pw = identity.get("password", {}).get("user", {})
            user = find_user(pw)
            if user is None or not user.enabled or not sim_auth.check_password(
                    user, str(pw.get("password", ""))):
                return _unauthorized(api)
        elif "token" in methods:
            previous = sim_auth.resolve(state, str(identity.get("token", {}).get("id", "")))
            if previous is None:
                return _unauthorized(api)
            user = state.users.get(previous.user_id)
        if user is None:
            return _unauthorized(api)
        project = None
        scope = auth.get("scope")
        if isinstance(scope, dict) and "project" in scope:
            project = find_project(scope["project"])
            if project is None or not sim_auth.role_names(state, user.id, project.id):
                return _unauthorized(api)
        elif scope is None and user.default_project_id:
            project = state.projects.get(user.default_project_id)
        token = sim_auth.issue_token(state, user, project, request.remote or "127.0.0.1",
                                     ("password",) if "password" in methods else ("token",))
        nocatalog = "nocatalog" in request.query
        return json_response(token_body(token, not nocatalog), 201,
                             {"X-Subject-Token": token.id, "Vary": "X-Auth-Token"})

    async def validate(request: web.Request) -> web.Response:
        auth_of(request)
        subject = request.headers.get("X-Subject-Token", "")
        token = state.tokens.get(subject)
        if token is None:
            # identity/GET___v3__auth__tokens.404-bad-token.json
            return _error(404, "Not Found", "Could not recognize Fernet token")
        if token.revoked or token.expires_at <= state.now():
            # identity/GET___v3__auth__tokens.404-revoked-token.json
            return _error(404, "Not Found", "Failed to validate token")
        body = token_body(token, "nocatalog" not in request.query)
        response = json_response(body, 200, {"X-Subject-Token": token.id,
                                             "Vary": "X-Auth-Token"})
        if request.method == "HEAD":
            return web.Response(status=200, headers={
                "X-Subject-Token": token.id, "Vary": "X-Auth-Token",
                "Content-Type": "application/json",
                "Content-Length": str(len(response.body or b""))})  # type: ignore[arg-type]
        return response

    async def revoke(request: web.Request) -> web.Response:
        auth_of(request)
        subject = request.headers.get("X-Subject-Token", "")
        token = state.tokens.get(subject)
        if token is None or token.revoked:
            return _error(404, "Not Found", "Could not recognize Fernet token")
        state.update("token", token.id, revoked=True)
        # identity/DELETE___v3__auth__tokens.204-revoke.json
        return empty_response(204, {"Vary": "X-Auth-Token"})

    async def auth_catalog(request: web.Request) -> web.Response:
        caller = auth_of(request)
        return json_response({"catalog": catalog(caller.project_id),
                              "links": {"self": api.url("/v3/auth/catalog")}},
                             200, {"Vary": "X-Auth-Token"})

    async def auth_projects(request: web.Request) -> web.Response:
        caller = auth_of(request)
        projects = _user_projects(state, caller.user_id)
        return listing("projects", [project_body(p) for p in projects], "/v3/auth/projects")

    # ---------------------------------------------------------------- resources

    def project_body(p: r.Project) -> dict[str, Any]:
        # identity/GET___v3__projects.json
        return {"id": p.id, "name": p.name, "domain_id": p.domain_id,
                "description": p.description, "enabled": p.enabled, "parent_id": p.parent_id,
                "is_domain": p.is_domain, "tags": list(p.tags), "options": {},
                "links": {"self": api.url(f"/v3/projects/{p.id}")}}

    def user_body(u: r.User) -> dict[str, Any]:
        # identity/GET___v3__users.json (default_project_id only when set)
        body: dict[str, Any] = {"id": u.id, "name": u.name, "domain_id": u.domain_id,
                                "enabled": u.enabled}
        if u.default_project_id:
            body["default_project_id"] = u.default_project_id
        body.update({"password_expires_at": None, "options": {},
                     "links": {"self": api.url(f"/v3/users/{u.id}")}})
        return body

    def domain_body(d: r.Domain) -> dict[str, Any]:
        return {"id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
                "tags": [], "options": {}, "links": {"self": api.url(f"/v3/domains/{d.id}")}}

    def role_body(ro: r.Role) -> dict[str, Any]:
        # identity/GET___v3__roles.json
        return {"id": ro.id, "name": ro.name, "domain_id": ro.domain_id,
                "description": ro.description, "options": {"immutable": True},
                "links": {"self": api.url(f"/v3/roles/{ro.id}")}}

    def list_users(request: web.Request, caller: Auth) -> web.Response:
        users = list(state.users)
        name = request.query.get("name")
        if name is not None:
            users = [u for u in users if u.name == name]
        users.sort(key=lambda u: u.id)
        return listing("users", [user_body(u) for u in users], "/v3/users")

    def show_user(request: web.Request, caller: Auth) -> web.Response:
        uid = request.match_info["user_id"]
        user = state.users.get(uid)
        if user is None:
            return _error(404, "Not Found", f"Could not find user: {uid}.")
        return json_response({"user": user_body(user)}, 200, {"Vary": "X-Auth-Token"})

    async def user_projects(request: web.Request) -> web.Response:
        caller = auth_of(request)
        uid = request.match_info["user_id"]
        if uid != caller.user_id and not caller.is_admin:
            return _forbidden("identity:list_user_projects")
        if uid not in state.users:
            return _error(404, "Not Found", f"Could not find user: {uid}.")
        projects = _user_projects(state, uid)
        return listing("projects", [project_body(p) for p in projects],
                       f"/v3/users/{uid}/projects")

    def list_projects(request: web.Request, caller: Auth) -> web.Response:
        projects = list(state.projects)
        q = request.query
        if "name" in q:
            projects = [p for p in projects if p.name == q["name"]]
        if "domain_id" in q:
            projects = [p for p in projects if p.domain_id == q["domain_id"]]
        if "enabled" in q:
            enabled = q["enabled"].lower() not in ("0", "false", "no")
            projects = [p for p in projects if p.enabled == enabled]
        projects.sort(key=lambda p: p.id)
        return listing("projects", [project_body(p) for p in projects], "/v3/projects")

    async def show_project(request: web.Request) -> web.Response:
        caller = auth_of(request)
        pid = request.match_info["project_id"]
        project = state.projects.get(pid)
        if project is None or not (caller.is_admin or caller.project_id == pid):
            return _error(404, "Not Found", f"Could not find project: {pid}.")
        return json_response({"project": project_body(project)}, 200, {"Vary": "X-Auth-Token"})

    def list_domains(request: web.Request, caller: Auth) -> web.Response:
        return listing("domains", [domain_body(d) for d in state.domains], "/v3/domains")

    async def show_domain(request: web.Request) -> web.Response:
        auth_of(request)
        did = request.match_info["domain_id"]
        domain = state.domains.get(did)
        if domain is None:
            return _error(404, "Not Found", f"Could not find domain: {did}.")
        return json_response({"domain": domain_body(domain)}, 200, {"Vary": "X-Auth-Token"})

    def list_groups(request: web.Request, caller: Auth) -> web.Response:
        # the simulated cloud has no groups: keystone's answer for none
        return listing("groups", [], "/v3/groups")

    def list_roles(request: web.Request, caller: Auth) -> web.Response:
        roles = sorted(state.roles, key=lambda ro: ro.id)
        return listing("roles", [role_body(ro) for ro in roles], "/v3/roles")

    def list_assignments(request: web.Request, caller: Auth) -> web.Response:
        # identity/GET___v3__role_assignments(~include_names=true).json
        names = request.query.get("include_names", "").lower() in ("1", "true", "")
        names = names and "include_names" in request.query
        q_user = request.query.get("user.id")
        q_project = request.query.get("scope.project.id")
        rows = list(state.role_assignments)
        if q_user:
            rows = [a for a in rows if a.user_id == q_user]
        if q_project:
            rows = [a for a in rows if a.project_id == q_project]
        out = []
        for a in rows:
            if a.project_id is None:
                continue
            item: dict[str, Any] = {
                "links": {"assignment": api.url(
                    f"/v3/projects/{a.project_id}/users/{a.user_id}/roles/{a.role_id}")},
                "scope": {"project": {"id": a.project_id}},
                "user": {"id": a.user_id}, "role": {"id": a.role_id}}
            if names:
                project, user, role = (state.projects.get(a.project_id),
                                       state.users.get(a.user_id), state.roles.get(a.role_id))
                default = {"id": "default", "name": "Default"}
                item["scope"]["project"].update(
                    {"name": project.name if project else "", "domain": default})
                item["user"].update({"name": user.name if user else "", "domain": default})
                item["role"]["name"] = role.name if role else ""
            out.append(item)
        return listing("role_assignments", out, "/v3/role_assignments", request)

    def list_services(request: web.Request, caller: Auth) -> web.Response:
        # identity/GET___v3__services.json
        items = [{"name": s.name, "id": s.id, "type": s.type, "enabled": s.enabled,
                  "links": {"self": api.url(f"/v3/services/{s.id}")}}
                 for s in sorted(state.catalog_services, key=lambda s: s.id)]
        return listing("services", items, "/v3/services")

    def list_endpoints(request: web.Request, caller: Auth) -> web.Response:
        # identity/GET___v3__endpoints.json
        items = [{"id": e.id, "interface": e.interface, "region_id": e.region_id,
                  "service_id": e.service_id, "url": e.url, "enabled": e.enabled,
                  "region": e.region_id, "links": {"self": api.url(f"/v3/endpoints/{e.id}")}}
                 for e in sorted(state.endpoints, key=lambda e: e.id)]
        return listing("endpoints", items, "/v3/endpoints")

    def show_role(request: web.Request, caller: Auth) -> web.Response:
        rid = request.match_info["role_id"]
        role = state.roles.get(rid)
        if role is None:
            return _error(404, "Not Found", f"Could not find role: {rid}.")
        return json_response({"role": role_body(role)}, 200, {"Vary": "X-Auth-Token"})

    def show_service(request: web.Request, caller: Auth) -> web.Response:
        sid = request.match_info["service_id"]
        svc = state.catalog_services.get(sid)
        if svc is None:
            return _error(404, "Not Found", f"Could not find service: {sid}.")
        return json_response({"service": {
            "name": svc.name, "id": svc.id, "type": svc.type, "enabled": svc.enabled,
            "links": {"self": api.url(f"/v3/services/{svc.id}")}}}, 200, {"Vary": "X-Auth-Token"})

    async def list_regions(request: web.Request) -> web.Response:
        auth_of(request)
        items = [{"id": g.id, "description": g.description,
                  "parent_region_id": g.parent_region_id,
                  "links": {"self": api.url(f"/v3/regions/{g.id}")}} for g in state.regions]
        return listing("regions", items, "/v3/regions")

    async def create_user(request: web.Request) -> web.Response:
        # identity/POST___v3__users.json
        caller = auth_of(request)
        if not caller.is_admin:
            return _forbidden("identity:create_user")
        data = (await request.json()).get("user", {})
        user = r.User(id=uuid.uuid4().hex, name=str(data.get("name", "")),
                      password=str(data.get("password", "")),
                      domain_id=str(data.get("domain_id", "default")),
                      default_project_id=data.get("default_project_id"),
                      created_at=state.now())
        state.add(user)
        body = user_body(user)
        if data.get("description"):
            body = {"description": data["description"], **body}
        return json_response({"user": body}, 201, {"Vary": "X-Auth-Token"})

    async def grant(request: web.Request) -> web.Response:
        # identity/PUT___v3__projects__{project_id}__users__{user_id}__roles__{role_id}.json
        caller = auth_of(request)
        if not caller.is_admin:
            return _forbidden("identity:create_grant")
        m = request.match_info
        aid = f"{m['user_id']}:{m['role_id']}:{m['project_id']}"
        if aid not in state.role_assignments:
            state.add(r.RoleAssignment(id=aid, user_id=m["user_id"], role_id=m["role_id"],
                                       project_id=m["project_id"]))
        return empty_response(204, {"Vary": "X-Auth-Token"})

    api.route("GET", "/", root, auth=False)
    api.route("GET", "/v3", v3, auth=False)
    api.route("GET", "/v3/", v3, auth=False)
    api.route("POST", "/v3/auth/tokens", issue, auth=False)
    api.route("GET", "/v3/auth/tokens", validate)
    api.route("HEAD", "/v3/auth/tokens", validate)
    api.route("DELETE", "/v3/auth/tokens", revoke)
    api.route("GET", "/v3/auth/catalog", auth_catalog)
    api.route("GET", "/v3/auth/projects", auth_projects)
    api.route("GET", "/v3/users", admin_only("identity:list_users", list_users))
    api.route("POST", "/v3/users", create_user)
    api.route("GET", "/v3/users/{user_id}", admin_only("identity:get_user", show_user))
    api.route("GET", "/v3/users/{user_id}/projects", user_projects)
    api.route("GET", "/v3/projects", admin_only("identity:list_projects", list_projects))
    api.route("GET", "/v3/projects/{project_id}", show_project)
    api.route("PUT", "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}", grant)
    api.route("GET", "/v3/domains", admin_only("identity:list_domains", list_domains))
    api.route("GET", "/v3/domains/{domain_id}", show_domain)
    api.route("GET", "/v3/groups", admin_only("identity:list_groups", list_groups))
    api.route("GET", "/v3/roles", admin_only("identity:list_roles", list_roles))
    api.route("GET", "/v3/role_assignments",
              admin_only("identity:list_role_assignments", list_assignments))
    api.route("GET", "/v3/services", admin_only("identity:list_services", list_services))
    api.route("GET", "/v3/endpoints", admin_only("identity:list_endpoints", list_endpoints))
    api.route("GET", "/v3/regions", list_regions)
    api.route("GET", "/v3/roles/{role_id}", admin_only("identity:get_role", show_role))
    api.route("GET", "/v3/services/{service_id}",
              admin_only("identity:get_service", show_service))


def _domain_id(state: CloudState, domain: dict[str, Any]) -> str:
    if "id" in domain:
        return str(domain["id"])
    if "name" in domain:
        for d in state.domains:
            if d.name == domain["name"]:
                return d.id
        return "<unknown>"
    return "default"


def _user_projects(state: CloudState, user_id: str) -> list[r.Project]:
    ids = {a.project_id for a in state.role_assignments.by("user_id", user_id) if a.project_id}
    return sorted((p for pid in ids if (p := state.projects.get(pid)) is not None),
                  key=lambda p: p.id)
