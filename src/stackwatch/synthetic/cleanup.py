"""Finding and deleting what synthetic runs made, by the prefix of their names.

Servers, images and volumes are named ``<prefix>-<run id>-<kind>``; a floating IP has
no name and carries it as its description. A run sweeps the project at its start
(what a crashed or killed run left) and at its end (its own, whatever its steps did).
A resource that cannot be deleted, or is not gone within the wait, is *left*, named
with why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from stackwatch.errors import StepFailed
from stackwatch.synthetic.api import Api


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of resource: where it is listed and deleted, and its name field."""

    kind: str
    service: str
    listing: str  # path; {project} is the project id
    key: str  # the listing's key
    path: str  # one resource: {id}
    name_field: str = "name"
    deleted: tuple[int, ...] = (202, 204)


KINDS = (
    Kind("server", "compute", "/servers?name=^{prefix}", "servers", "/servers/{id}"),
    Kind("image", "image", "/images?owner={project}&limit=1000", "images", "/images/{id}"),
    Kind("volume", "volume", "/volumes?limit=1000", "volumes", "/volumes/{id}"),
    Kind("floating_ip", "network", "/floatingips?project_id={project}", "floatingips",
         "/floatingips/{id}", name_field="description"),
)


@dataclass(frozen=True, slots=True)
class Found:
    kind: Kind
    id: str
    name: str

    def label(self) -> str:
        return f"{self.kind.kind} {self.name} ({self.id})"


@dataclass(frozen=True, slots=True)
class Sweep:
    """What one sweep found, and what it could not delete (each with why)."""

    found: tuple[str, ...]
    left: tuple[str, ...]


def find(api: Api, project: str, prefix: str) -> tuple[list[Found], list[str]]:
    """The resources named with ``prefix``; and the listings that failed, with why."""
    found: list[Found] = []
    failed: list[str] = []
    for kind in KINDS:
        url = kind.listing.format(project=project, prefix=prefix)
        try:
            body = api.json("cleanup", kind.service, "GET", url)
        except StepFailed as exc:
            failed.append(f"{kind.kind}s not listed: {exc.reason}")
            continue
        for row in body.get(kind.key) or ():
            name = str(row.get(kind.name_field) or "")
            if isinstance(row, dict) and name.startswith(prefix) and row.get("id"):
                found.append(Found(kind, str(row["id"]), name))
    return found, failed


def gone(api: Api, item: Found) -> bool:
    """True when the resource answers 404 (or a deleted image's ``deleted``)."""
    response = api.call("cleanup", item.kind.service, "GET",
                        item.kind.path.format(id=item.id), ok=(200, 404))
    if response.status_code == 404:
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    status = body.get("status") if isinstance(body, dict) else None
    return status == "deleted"


def sweep(api: Api, project: str, prefix: str, timeout: float, poll: float,
          clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> Sweep:
    """Delete every resource named with ``prefix`` and wait until they are gone."""
    found, left = find(api, project, prefix)
    waiting: list[Found] = []
    for item in found:
        try:
            api.call("cleanup", item.kind.service, "DELETE", item.kind.path.format(id=item.id),
                     ok=(*item.kind.deleted, 404))
        except StepFailed as exc:
            left.append(f"{item.label()}: {exc.reason}")
            continue
        waiting.append(item)
    deadline = clock() + timeout
    while waiting:
        still = []
        for item in waiting:
            try:
                if not gone(api, item):
                    still.append(item)
            except StepFailed as exc:
                left.append(f"{item.label()}: {exc.reason}")
        waiting = still
        if not waiting:
            break
        if clock() >= deadline:
            left += [f"{item.label()}: not gone {timeout:.0f}s after its delete"
                     for item in waiting]
            break
        sleep(poll)
    return Sweep(tuple(item.label() for item in found), tuple(left))
