"""The exceptions stackwatch raises; every one derives from :class:`StackwatchError`.

::

    StackwatchError
    ├── ConfigError            bad stackwatch.yaml / clouds.yaml / catalog file
    ├── SourceError            a source could not produce its data
    │   ├── SourceUnavailable  connection refused, DNS, endpoint missing from catalog
    │   ├── SourceTimeout      the source did not answer in time
    │   ├── SourceAuthError    401 / 403 from the source
    │   │   └── SourceForbidden  403: known, but not allowed that request (policy)
    │   └── InvalidResponse    truncated JSON, unexpected shape, missing table
    ├── StoreError             the store could not read or write
    ├── FixRefused             a fix was refused: not enabled, wrong role, target changed
    ├── StepFailed             a synthetic transaction's step failed (step and why)
    ├── BackupError            a database dump or its verification could not be made
    └── SimulatorError         the simulated cloud could not start or act

The CLI catches :class:`StackwatchError` at its edge, prints the message on one
line and exits non-zero. Third-party exceptions are translated at the source
boundary, naming what was asked and where.
"""

from __future__ import annotations


class StackwatchError(Exception):
    """Root of every stackwatch error."""


class ConfigError(StackwatchError):
    """A configuration or catalog file is invalid; the message names file and field."""


class SourceError(StackwatchError):
    """A source could not produce its data; the check it feeds becomes UNKNOWN."""


class SourceUnavailable(SourceError):
    """The source could not be reached (refused, missing endpoint, DB down)."""


class SourceTimeout(SourceError):
    """The source did not answer within its timeout."""


class SourceAuthError(SourceError):
    """The source refused our credentials (401) or our rights (403)."""


class SourceForbidden(SourceAuthError):
    """403: the credentials are good, but a policy does not allow this request."""


class InvalidResponse(SourceError):
    """The source answered something we cannot read (truncated, wrong shape)."""


class StoreError(StackwatchError):
    """The store could not read or write."""


class FixRefused(StackwatchError):
    """A fix was refused before it changed anything; the message says why, ``reason`` in
    a word: ``disabled``, ``role``, ``no-dry-run``, ``changed``, ``args``, ``unknown``."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class BackupError(StackwatchError):
    """A database backup or its verification could not be made (what and why)."""


class SimulatorError(StackwatchError):
    """The simulated cloud could not start or carry out a request."""


class StepFailed(StackwatchError):
    """A step of a synthetic transaction failed; ``step`` names it, the message says why."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason
