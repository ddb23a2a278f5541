"""Whether a list could be read: a page shows "none" only when its source looked.

A list on a page comes from one resource of one source (servers in ERROR from
``api.compute`` ``servers``). When that resource's last read failed, or the whole
source's run did, the list is empty because nobody looked, not because all is well:
:func:`sight` says which, from the ``stackwatch.resource`` and ``stackwatch_source``
checks, so a page can say "cannot look: ..." instead of "none".
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from stackwatch.model import CheckResult, Status
from stackwatch.runner import SOURCE_CHECK
from stackwatch.sources.resources import RESOURCE_CHECK

_RANK = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}


class Sight(BaseModel):
    """Whether ``resource`` of ``source`` was read: ``status`` OK when it was (with
    several clouds, when it was in every one), else why not."""

    source: str
    resource: str
    status: str
    message: str

    @property
    def blind(self) -> bool:
        return self.status != Status.OK.name


def _label(check: CheckResult, name: str) -> str:
    return dict(check.labels).get(name, "")


def sight(checks: Sequence[CheckResult], source: str, resource: str) -> Sight:
    """How the last reads of ``resource`` of ``source`` went (the worst over clouds)."""
    found = [c for c in checks if c.name == RESOURCE_CHECK
             and _label(c, "source") == source and _label(c, "resource") == resource]
    if not found:
        # a failed run carries no resource check, only the source's own (UNKNOWN, why);
        # with several clouds the source is named east/api.compute
        found = [c for c in checks if c.name == SOURCE_CHECK
                 and _label(c, "source").rsplit("/", 1)[-1] == source
                 and c.status != Status.OK]
    if not found:
        return Sight(source=source, resource=resource, status=Status.UNKNOWN.name,
                     message=f"{source} {resource}: not read yet")
    worst = max(found, key=lambda c: _RANK[c.status])
    return Sight(source=source, resource=resource, status=worst.status.name,
                 message=worst.message)
