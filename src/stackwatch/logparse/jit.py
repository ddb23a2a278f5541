"""Compiled kernels for the hot loops over log bytes: numba's ``njit``, typed for mypy.

A kernel is a plain Python function over NumPy arrays (``uint8`` views of a file's
bytes, integer and float arrays for results) compiled to machine code on first call,
with the GIL released (threads run kernels in parallel) and the machine code cached on
disk (``__pycache__``, else ``NUMBA_CACHE_DIR``), so only the first run on a machine
pays the compilation. Modules that define kernels import this one, and are themselves
imported only where a kernel is used: importing numba costs about half a second.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar, cast

F = TypeVar("F", bound=Callable[..., object])


def kernel(function: F) -> F:
    """``function`` compiled by numba (nopython, GIL released, cached on disk)."""
    _numba_without_blas()
    import numba

    return cast(F, numba.njit(nogil=True, cache=True)(function))


def _numba_without_blas() -> None:
    """Load numba's array functions without SciPy's BLAS, which no kernel here uses.

    On first use numba's CPU target imports ``numba.np.arraymath``, which imports
    ``scipy.linalg.cython_blas`` (and with it most of SciPy, about 0.25 CPU-s of every
    run's start-up) only to learn whether ``np.dot`` and friends may be compiled. Marked
    missing while that module loads, numba reads "no BLAS": a kernel calling ``np.dot``
    would fail to compile, and none does. Nothing is changed if SciPy's BLAS is loaded.
    """
    if "numba.np.arraymath" in sys.modules or "scipy.linalg.cython_blas" in sys.modules:
        return
    sys.modules["scipy.linalg.cython_blas"] = None  # type: ignore[assignment]
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        del sys.modules["scipy.linalg.cython_blas"]
