"""Every runbook: one module of :mod:`stackwatch.runbooks.books` exposing ``RUNBOOK``.

A new runbook is one module there; nothing else lists it. Modules are imported when the
registry is first asked, not at import time.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from stackwatch.errors import FixRefused
from stackwatch.runbooks import books
from stackwatch.runbooks.base import Fix, Runbook


@functools.cache
def runbooks() -> tuple[Runbook, ...]:
    """Every runbook, by name."""
    found: list[Runbook] = []
    for info in sorted(pkgutil.iter_modules(books.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{books.__name__}.{info.name}")
        runbook = getattr(module, "RUNBOOK", None)
        if runbook is None:
            continue
        if not isinstance(runbook, Runbook):
            raise TypeError(f"{module.__name__}.RUNBOOK is not a Runbook")
        found.append(runbook)
    names = [r.name for r in found]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise TypeError(f"runbooks named twice: {', '.join(sorted(duplicates))}")
    return tuple(sorted(found, key=lambda r: r.name))


def fixes() -> tuple[Fix, ...]:
    """The runbooks that can change things, by fix name."""
    return tuple(sorted((r for r in runbooks() if isinstance(r, Fix)), key=lambda r: r.fix))


def runbook(name: str) -> Runbook:
    """The runbook of that name (or fix name); FixRefused listing the known ones."""
    for found in runbooks():
        if found.name == name or (isinstance(found, Fix) and found.fix == name):
            return found
    known = ", ".join(r.name for r in runbooks())
    raise FixRefused(f"no runbook named {name!r} (known: {known})", "unknown")


def fix(name: str) -> Fix:
    """The fix of that name (or its runbook's name); FixRefused listing the known ones."""
    for found in fixes():
        if name in (found.fix, found.name):
            return found
    known = ", ".join(f.fix for f in fixes())
    raise FixRefused(f"no fix named {name!r} (fixes: {known})", "unknown")
