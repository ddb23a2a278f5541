"""The steps of a synthetic run, as data, and what one run found.

A step belongs to a transaction (``token``, ``image``, ``server``, ``volume``,
``floating_ip``) and has default WARNING / CRITICAL thresholds in seconds, which
``synthetic.thresholds`` overrides. A step that ran is OK (under its thresholds),
WARNING or CRITICAL by its time, or CRITICAL when it failed; one that did not run
(an earlier step of its transaction failed) is UNKNOWN and says which.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One step: its transaction, what it does, its default thresholds (seconds)."""

    name: str
    transaction: str
    what: str
    warning: float
    critical: float


_SPECS = (
    StepSpec("token", "token", "a token issued (POST /v3/auth/tokens)", 2.0, 10.0),
    StepSpec("image_upload", "image", "an image created and its data uploaded", 10.0, 60.0),
    StepSpec("image_active", "image", "the image active", 10.0, 60.0),
    StepSpec("server_boot", "server", "a server asked for (POST /servers)", 5.0, 30.0),
    StepSpec("server_active", "server", "the server ACTIVE", 60.0, 180.0),
    StepSpec("server_delete", "server", "the server deleted and gone", 30.0, 120.0),
    StepSpec("image_delete", "image", "the image deleted and gone", 5.0, 30.0),
    StepSpec("volume_create", "volume", "a volume asked for (POST /volumes)", 5.0, 30.0),
    StepSpec("volume_available", "volume", "the volume available", 30.0, 120.0),
    StepSpec("volume_delete", "volume", "the volume deleted and gone", 30.0, 120.0),
    StepSpec("floating_ip_create", "floating_ip", "a floating IP allocated", 5.0, 30.0),
    StepSpec("floating_ip_delete", "floating_ip", "the floating IP released", 5.0, 30.0),
)

#: Every step by name, in the order a run takes them.
STEPS: dict[str, StepSpec] = {s.name: s for s in _SPECS}

#: The steps that delete what their transaction made: they run whenever it was made.
DELETES = frozenset({"server_delete", "image_delete", "volume_delete", "floating_ip_delete"})


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one step did: ``ok`` True / False, or None when it did not run."""

    step: str
    ok: bool | None
    seconds: float
    message: str

    @property
    def transaction(self) -> str:
        return STEPS[self.step].transaction


@dataclass(frozen=True, slots=True)
class RunResult:
    """One synthetic run: its steps, and what it cleaned up.

    ``earlier`` are the names of resources of earlier runs found (and deleted) at the
    start; ``left`` those with the prefix still there at the end (earlier or own) that
    could not be deleted, each with why.
    """

    run_id: str
    started: float  # wall clock
    seconds: float
    steps: tuple[StepResult, ...]
    earlier: tuple[str, ...] = ()
    left: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[StepResult, ...]:
        return tuple(s for s in self.steps if s.ok is False)
