"""Byte primitives of the backfill's kernels (numba): searches, runs of a byte class,
literals and numbers over ``uint8`` arrays, with glibc's ``memchr`` and eight-byte words
(SWAR: the zero bytes of a word found with a subtraction and masks) where they pay."""

# numba compiles loops, not all()/any() over generators: loops stay loops
# ruff: noqa: SIM110

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from stackwatch.logparse.jit import kernel

Bytes = npt.NDArray[np.uint8]

SP, QUOTE, OPEN, CLOSE = 32, 34, 91, 93
"""Space, ``"``, ``[``, ``]``."""
_BIG = 1 << 53
# numba freezes global arrays and scalars into the machine code
_POW10 = np.array([10.0 ** k for k in range(23)])


@kernel
def is_digit(b: int) -> bool:
    return 48 <= b <= 57


@kernel
def is_upper(b: int) -> bool:
    return 65 <= b <= 90


@kernel
def digits(buf: Bytes, i: int, e: int) -> int:
    """End of the run of digits at ``i``."""
    while i < e and 48 <= buf[i] <= 57:
        i += 1
    return i


_ONES = np.uint64(0x0101010101010101)
_HIGHS = np.uint64(0x8080808080808080)
_SPACES = np.uint64(0x2020202020202020)
_QUOTES = np.uint64(0x2222222222222222)
_RETURNS = np.uint64(0x0D0D0D0D0D0D0D0D)


@kernel
def _zeros(word: np.uint64) -> np.uint64:
    """The high bit of each zero byte of ``word`` (exact up to the first one: the lowest
    set bit is the first zero byte)."""
    return (word - _ONES) & ~word & _HIGHS


@kernel
def _first(found: np.uint64) -> int:
    """Index of the byte of the lowest set bit."""
    return int(np.int64(_trailing_zeros(found)) // 8)


@kernel
def word(buf: Bytes, i: int, e: int) -> int:
    """End of the run at ``i`` of bytes that are neither space nor quote (eight bytes at
    a time)."""
    base = buf.ctypes.data
    while i + 8 <= e:
        chunk = load8(base + i)
        found = _zeros(chunk ^ _SPACES) | _zeros(chunk ^ _QUOTES)
        if found:
            return i + _first(found)
        i += 8
    while i < e and buf[i] != SP and buf[i] != QUOTE:
        i += 1
    return i


@kernel
def token(buf: Bytes, i: int, e: int) -> int:
    """End of the run of non-space bytes at ``i`` (eight bytes at a time)."""
    base = buf.ctypes.data
    while i + 8 <= e:
        found = _zeros(load8(base + i) ^ _SPACES)
        if found:
            return i + _first(found)
        i += 8
    while i < e and buf[i] != SP:
        i += 1
    return i


@kernel
def literal(buf: Bytes, i: int, e: int, text: Bytes) -> bool:
    if i + text.size > e:
        return False
    for k in range(text.size):
        if buf[i + k] != text[k]:
            return False
    return True


@kernel
def number(buf: Bytes, i: int, e: int) -> float:
    """``[0-9]+(\\.[0-9]+)?`` filling ``[i, e)`` as Python's ``float`` reads it (exact:
    an integer mantissa below 2**53 over a power of ten up to 1e22), else -1."""
    mantissa = 0
    places = -1
    if i >= e:
        return -1.0
    for k in range(i, e):
        b = buf[k]
        if 48 <= b <= 57:
            mantissa = mantissa * 10 + (b - 48)
            if mantissa >= _BIG:
                return -1.0
            if places >= 0:
                places += 1
        elif b == 46 and places < 0 and k > i and k + 1 < e:
            places = 0
        else:
            return -1.0
    if places <= 0:
        return float(mantissa)
    if places > 22:
        return -1.0
    return float(mantissa / _POW10[places])


def _memchr_intrinsic() -> Any:
    """``memchr(address, byte, size)`` of the C library as a numba intrinsic (an address,
    0 if not found): glibc's vectorised search, far faster than a byte loop. A call by
    symbol name, so numba can cache the machine code."""
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    def memchr(typingctx: Any, address: Any, byte: Any, size: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            pointer = ir.IntType(8).as_pointer()
            function = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
                builder.module, ir.FunctionType(pointer, [pointer, ir.IntType(32),
                                                          ir.IntType(64)]), "memchr")
            found = builder.call(function, [builder.inttoptr(args[0], pointer),
                                            builder.trunc(args[1], ir.IntType(32)), args[2]])
            return builder.ptrtoint(found, ir.IntType(64))

        return types.intp(types.intp, types.intp, types.intp), codegen

    return intrinsic(memchr)


_memchr = _memchr_intrinsic()


def _trailing_zeros_intrinsic() -> Any:
    from numba.cpython.unsafe.numbers import trailing_zeros

    return trailing_zeros


def _load8_intrinsic() -> Any:
    """The 8 bytes at an address as one little-endian word (unaligned load)."""
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    def load8(typingctx: Any, address: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            word = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
            return builder.load(word, align=1)

        return types.uint64(types.intp), codegen

    return intrinsic(load8)


load8 = _load8_intrinsic()
_trailing_zeros = _trailing_zeros_intrinsic()


@kernel
def find(buf: Bytes, byte: int, i: int, e: int) -> int:
    """Position of the first ``byte`` in ``[i, e)``, else -1."""
    if i >= e:
        return -1
    base = buf.ctypes.data
    found = _memchr(base + i, byte, e - i)
    return -1 if found == 0 else int(found - base)


@kernel
def is_ascii(buf: Bytes, s: int, e: int) -> bool:
    for k in range(s, e):
        if buf[k] >= 128:
            return False
    return True


@kernel
def check(buf: Bytes) -> tuple[bool, bool]:
    """``(holds \\r or NUL, is ASCII)`` of a piece, in one pass eight bytes at a time."""
    base = buf.ctypes.data
    words = buf.size // 8
    high = bad = np.uint64(0)
    for k in range(words):
        word = load8(base + 8 * k)
        high |= word
        bad |= _zeros(word ^ _RETURNS) | _zeros(word)
    for k in range(words * 8, buf.size):
        high |= np.uint64(buf[k])
        bad |= np.uint64(buf[k] == 13 or buf[k] == 0)
    return bad != 0, (high & _HIGHS) == 0
