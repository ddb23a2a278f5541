"""What a runbook answers: a diagnosis, and the plan of a fix."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stackwatch.model import Status

Verdict = Literal["OK", "WARNING", "CRITICAL", "UNKNOWN"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Evidence(_Frozen):
    """One fact behind a verdict: what, its value, and where it was read."""

    label: str
    value: str
    source: str = ""


class Diagnosis(_Frozen):
    """A runbook's judgement of one problem."""

    runbook: str
    verdict: Verdict
    summary: str
    evidence: list[Evidence] = Field(default_factory=list)
    advice: list[str] = Field(default_factory=list)

    @property
    def status(self) -> Status:
        return Status[self.verdict]


class Change(_Frozen):
    """One change a fix makes: to ``target``, ``action``, from ``before`` to ``after``."""

    target: str
    action: str
    before: str = ""
    after: str = ""


class Plan(_Frozen):
    """The exact changes of a fix, and a fingerprint of its targets' state when planned.

    ``args`` are what the fix was asked with (and what planning fixed, e.g. a cut-off
    time), enough for :meth:`~stackwatch.runbooks.base.Runbook.apply` to carry out the
    plan as the dry run showed it; ``notes`` are lines to print with it (an index to
    create by hand, advice)."""

    runbook: str
    changes: list[Change] = Field(default_factory=list)
    fingerprint: str
    args: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    #: set when the plan is recorded (the audit log's plan id)
    plan_id: str = ""


class Applied(_Frozen):
    """What became of one change when a fix was applied."""

    change: Change
    ok: bool
    result: str


def fingerprint(*parts: object) -> str:
    """A short digest of the state read (JSON of ``parts``, keys sorted)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
