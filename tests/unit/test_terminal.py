"""terminal.printable: what reaches the terminal from log content."""

from __future__ import annotations

import pytest

from stackwatch.terminal import printable

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "shown"), [
    ("GET /v2.1/servers 200", "GET /v2.1/servers 200"),
    ("naïve 中文 ü", "naïve 中文 ü"),                      # printable Unicode is left alone
    ("C:\\path", "C:\\path"),                               # backslashes too
    ("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"),  # CSI, OSC, BEL
    ("a\x00b\x7fc", "a\\x00b\\x7fc"),
    ("tab\tcr\rlf\n", "tab\\tcr\\rlf\\n"),
    ("\x9b31m", "\\x9b31m"),                                # C1 CSI
    (b"\xff\xfe ok".decode("utf-8", "surrogateescape"), "\\xff\\xfe ok"),
    ("user\u202eexe.txt", "user\\u202eexe.txt"),            # bidi override
])
def test_printable(text: str, shown: str) -> None:
    assert printable(text) == shown
