"""Compiled kernels for the hot loops over log bytes: numba's ``njit``, typed for mypy.

A kernel is a plain Python function over NumPy arrays (``uint8`` views of a file's
bytes, integer and float arrays for results) compiled to machine code on first call,
with the GIL released (threads run kernels in parallel) and the machine code cached on
disk (``__pycache__``, else ``NUMBA_CACHE_DIR``), so only the first run on a machine
pays the compilation. Modules that define kernels import this one, and are themselves
imported only where a kernel is used: importing numba costs about half a second.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

F = TypeVar("F", bound=Callable[..., object])


def kernel(function: F) -> F:
    """``function`` compiled by numba (nopython, GIL released, cached on disk)."""
    import numba

    return cast(F, numba.njit(nogil=True, cache=True)(function))
