"""The runbook contract: a name, a diagnosis, and optionally a fix (plan, fingerprint,
apply). The safety rules are not the runbook's: :mod:`stackwatch.runbooks.fixer` applies
them to every fix."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from stackwatch.runbooks.context import RunbookContext
from stackwatch.runbooks.model import Applied, Diagnosis, Plan


@runtime_checkable
class Runbook(Protocol):
    """Diagnoses one recurring problem. ``name`` is what ``stackwatch diagnose`` takes;
    ``summary`` one line for listings."""

    name: str
    summary: str

    def diagnose(self, ctx: RunbookContext) -> Diagnosis:
        """Look now and judge; a source that cannot be read gives UNKNOWN with the reason
        (raising :class:`~stackwatch.errors.SourceError` is fine: the caller turns it
        into an UNKNOWN diagnosis)."""
        ...


@runtime_checkable
class Fix(Runbook, Protocol):
    """A runbook that can also change things. ``fix`` is what ``stackwatch fix`` and
    ``fixes.enabled`` take (``token-flush`` for the ``token-bloat`` runbook)."""

    fix: str

    def plan(self, ctx: RunbookContext, args: dict[str, str]) -> Plan:
        """The exact changes the fix would make now, with the fingerprint of their
        targets' state (:meth:`fingerprint`); changes nothing. Bad ``args``:
        :class:`~stackwatch.errors.FixRefused` naming the argument."""
        ...

    def fingerprint(self, ctx: RunbookContext, plan: Plan) -> str:
        """Re-read the targets of ``plan`` and digest their state as :meth:`plan` did: a
        different answer means they changed since."""
        ...

    def apply(self, ctx: RunbookContext, plan: Plan) -> list[Applied]:
        """Carry out ``plan``'s changes, each checked after (a failed one says why and
        the others go on)."""
        ...
