"""How the node checks write durations, sizes and command lines in their messages."""

from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_COMMAND_MAX = 60


def span(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def size(count: float) -> str:
    """``512 B``, ``1.5 GiB``."""
    value = float(count)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def command(text: str) -> str:
    """A command line short enough for a one-line message."""
    text = " ".join(text.split())
    return text if len(text) <= _COMMAND_MAX else text[:_COMMAND_MAX - 3] + "..."


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 process``, ``3 processes``."""
    return f"{count} {word if count == 1 else many or word + 's'}"
