"""Tokens of the simulated keystone: issue, resolve (for every API's middleware), revoke.

Token strings look like fernet tokens (``gAAAAAB`` + urlsafe base64) but are random;
the simulator keeps them in ``state.tokens``. Resolving a token is what
keystonemiddleware does in front of every service: unknown, expired or revoked gives
``None`` (the service answers 401).
"""

from __future__ import annotations

import base64
import os
import secrets
from datetime import timedelta

from stackwatch.sim import records as r
from stackwatch.sim.routing import Auth
from stackwatch.sim.state import CloudState

TOKEN_LIFETIME = timedelta(hours=1)  # keystone [token] expiration = 3600


def new_token_id() -> str:
    return "gAAAAAB" + base64.urlsafe_b64encode(os.urandom(135)).decode().rstrip("=")


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


def issue_token(
    state: CloudState, user: r.User, project: r.Project | None, remote_addr: str = "127.0.0.1",
    methods: tuple[str, ...] = ("password",),
) -> r.Token:
    """Create and store a token for ``user`` (project-scoped unless ``project`` is None)."""
    now = state.now().replace(microsecond=0)
    token = r.Token(
        id=new_token_id(), user_id=user.id, issued_at=now, expires_at=now + TOKEN_LIFETIME,
        audit_id=new_audit_id(), project_id=project.id if project else None, methods=methods,
        remote_addr=remote_addr,
    )
    state.add(token)
    return token


def role_names(state: CloudState, user_id: str, project_id: str | None) -> list[r.Role]:
    """Roles of a user on a project, with implied ones (admin > member > reader)."""
    if project_id is None:
        return []
    found: dict[str, r.Role] = {}
    for assignment in state.role_assignments.by("user_id", user_id):
        if assignment.project_id == project_id:
            role = state.roles.get(assignment.role_id)
            if role is not None:
                found[role.name] = role
    # keystone's default implied roles: admin implies member, member implies reader
    for high, low in (("admin", "member"), ("member", "reader")):
        if high in found and low not in found:
            implied = state.roles.by("name", low)
            if implied:
                found[low] = implied[0]
    return list(found.values())


def resolve(state: CloudState, token_id: str | None) -> Auth | None:
    """The caller of a valid token, or ``None`` if unknown, expired or revoked."""
    if not token_id:
        return None
    token = state.tokens.get(token_id)
    if token is None or token.revoked or token.expires_at <= state.now():
        return None
    user = state.users.get(token.user_id)
    if user is None or not user.enabled:
        return None
    project = state.projects.get(token.project_id) if token.project_id else None
    roles = tuple(role.name for role in role_names(state, user.id, token.project_id))
    return Auth(
        token_id=token.id, user_id=user.id, user_name=user.name,
        project_id=project.id if project else None,
        project_name=project.name if project else None,
        domain_id=user.domain_id, roles=roles,
    )


def check_password(user: r.User, password: str) -> bool:
    return secrets.compare_digest(user.password.encode(), password.encode())
