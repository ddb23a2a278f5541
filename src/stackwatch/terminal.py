"""Text from logs and sources made safe to print on a terminal.

Log lines are written by whoever reaches an API (a user agent, a URL, a
user name), so a line may carry escape sequences that move the cursor, set
the window title or hide text, NULs and other control characters, bytes that
are not UTF-8 (read with ``surrogateescape``) or bidirectional overrides that
reorder what is shown. :func:`printable` shows each of them as an escape
(``\\x1b``, ``\\t``, ``\\xff``, ``\\u202e``) and leaves all other text as it is.
"""

from __future__ import annotations

import re

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# C0 and C1 control characters and DEL; the surrogates surrogateescape makes of
# bytes that are not UTF-8; bidirectional embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\udc80-\udcff\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # the original byte
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character, undecodable byte and bidi control escaped."""
    return _UNSAFE.sub(_escape, text)
