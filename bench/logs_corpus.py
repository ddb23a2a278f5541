"""A log corpus of any size from recorded real logs, in their real proportions.

The recorded files (one directory, the names the real control plane writes:
``nova-api.log``, ``keystone-access.log``, ``rabbitmq/rabbit@….log``…) are cut into
whole *records*: an oslo.log record is its head line (the one with the context
bracket) and every line after it up to the next head — traceback lines and a
message's continuation lines stay with their head; in other formats a line is a
record. Each file is repeated, record by record, until it holds its share of the
target (its share of the recorded lines), so every file keeps its proportion and the
traceback lines theirs. Copy ``n`` of a record has its timestamps moved ``n`` spans
of the whole recording later (so the files stay in time order and the services stay
aligned) and its request ids made distinct (``req-…`` ids changed in their last eight
hex digits, the same way within a copy, so a request still joins across services).

Files are laid out as the default globs expect (``nova/nova-api.log``…); a recorded
file no default glob takes is left out (and named).

:func:`independent_levels` is the ground truth the benchmark compares the parser's
counts with: plain patterns over every line, sharing no code with
``stackwatch.logparse``, counting record heads by level: oslo.log heads (a traceback
line is not one, even under a CRITICAL head: it repeats the prefix with ``ERROR`` and
no context), and the gunicorn error log's records (``[time] [pid] [LEVEL] …``, the API
servers' own log beside the services': stackwatch counts them by level too, logger
``gunicorn`` — a count of oslo.log heads alone misses them, about one INFO in ten
on the recorded control plane).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

# recorded name prefix -> directory of the standard layout (see sources/logs/globs.py)
LAYOUT = (
    ("keystone", "keystone"), ("nova", "nova"), ("placement", "placement"),
    ("neutron", "neutron"), ("glance", "glance"), ("cinder", "cinder"),
    ("rabbitmq/", "rabbitmq"),
)

HEAD = re.compile(
    rb"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)? \d+ ([A-Z]+) \S+ \[(?!instance: )",
    re.MULTILINE)
"""An oslo.log record's head: time, pid, level, logger, then the context bracket
(``logging_context_format_string`` / ``logging_default_format_string`` both write one;
``logging_exception_prefix`` lines have none, or ``[instance: …]`` straight after the
logger)."""

GUNICORN_HEAD = re.compile(rb"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[([A-Z]+)\] ")
"""A gunicorn error-log record: ``[2026-11-21 06:04:32 +0000] [29757] [INFO] …``."""

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_STAMP = re.compile(
    rb"(?P<iso>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)"
    rb"|(?P<clf>\d\d/(?:" + "|".join(_MONTHS).encode() + rb")/\d{4}[: ]\d\d:\d\d:\d\d)"
    rb"|(?P<req>req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4})[0-9a-f]{8}")


_LINE_STAMP = re.compile(rb"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d", re.MULTILINE)
"""A timestamp that starts a line (those in messages, token expiries, are not the log's)."""


@dataclass(frozen=True)
class Corpus:
    """What :func:`build` wrote."""

    root: Path
    lines: int
    size: int
    files: tuple[Path, ...]
    left_out: tuple[str, ...]


def target_of(name: str) -> str | None:
    """Where a recorded file goes in the standard layout, ``None`` when no glob takes it."""
    if not name.endswith(".log") and not name.endswith(".err"):
        return None
    base = name.rsplit("/", 1)[-1]
    if name.startswith("mariadb"):  # mysql/*.err, mariadb/*.log
        return f"mysql/{base}" if name.endswith(".err") else f"mariadb/{base}"
    for prefix, directory in LAYOUT:
        if name.startswith(prefix):
            return f"{directory}/{base}"
    return None


def records(data: bytes) -> list[bytes]:
    """``data`` (whole lines) cut into records: oslo.log heads with what follows them,
    every line alone in a file with no oslo.log head."""
    starts = [m.start() for m in HEAD.finditer(data)]
    if not starts:
        return data.splitlines(keepends=True)
    cut = [0, *starts] if starts[0] else starts
    return [data[a:b] for a, b in zip(cut, [*cut[1:], len(data)], strict=True) if a < b]


def _span(files: dict[str, bytes]) -> timedelta:
    """Time covered by the whole recording (its lines' own timestamps), rounded up to a
    minute: one copy's shift."""
    stamps = []
    for data in files.values():
        for match in _LINE_STAMP.finditer(data):
            stamps.append(datetime.strptime(match.group().decode()[:19].replace("T", " "),
                                            "%Y-%m-%d %H:%M:%S"))
    if not stamps:
        return timedelta(hours=1)
    return timedelta(minutes=int((max(stamps) - min(stamps)).total_seconds() // 60) + 1)


class _Shifter:
    """Rewrites timestamps and request ids of copy ``n`` (memoised: few distinct values)."""

    def __init__(self, shift: timedelta, copy: int) -> None:
        self.shift, self.copy = shift, copy
        self.memo: dict[bytes, bytes] = {}

    def __call__(self, match: re.Match[bytes]) -> bytes:
        text = match.group()
        done = self.memo.get(text)
        if done is None:
            done = self.memo[text] = self._shifted(match)
        return done

    def _shifted(self, match: re.Match[bytes]) -> bytes:
        if match.group("req"):
            tail = (int(match.group()[-8:], 16) + self.copy * 0x9E3779B1) & 0xFFFFFFFF
            return match.group("req") + f"{tail:08x}".encode()
        text = match.group().decode()
        if match.group("iso"):
            when = datetime.strptime(text[:10] + " " + text[11:], "%Y-%m-%d %H:%M:%S")
            return ((when + self.shift * self.copy).strftime("%Y-%m-%d") + text[10]
                    + (when + self.shift * self.copy).strftime("%H:%M:%S")).encode()
        when = datetime.strptime(text[:11] + " " + text[12:], "%d/%b/%Y %H:%M:%S")
        moved = when + self.shift * self.copy
        return (f"{moved.day:02d}/{_MONTHS[moved.month - 1]}/{moved.year}{text[11]}"
                f"{moved:%H:%M:%S}").encode()


def copy_of(data: bytes, shift: timedelta, copy: int) -> bytes:
    """``data`` as copy ``copy`` (0: unchanged)."""
    return data if copy == 0 else _STAMP.sub(_Shifter(shift, copy), data)


def recorded_files(recorded: Path) -> dict[str, bytes]:
    """Every recorded file (name relative to ``recorded``) with whole lines."""
    files = {}
    for path in sorted(recorded.rglob("*")):
        if path.is_file() and path.suffix != ".json" and path.name != "README.md":
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):
                data = data[:data.rfind(b"\n") + 1]
            files[path.relative_to(recorded).as_posix()] = data
    return files


def build(recorded: Path, root: Path, lines: int) -> Corpus:
    """Write a corpus of about ``lines`` lines under ``root`` from the files of ``recorded``."""
    found = recorded_files(recorded)
    kept = {name: data for name, data in found.items() if target_of(name) and data}
    if not kept:
        raise SystemExit(f"no recorded log a default glob takes under {recorded}")
    base = sum(data.count(b"\n") for data in kept.values())
    shift = _span(kept)
    written: list[Path] = []
    total = size = 0
    for name, data in kept.items():
        quota = max(1, round(data.count(b"\n") * lines / base))
        pieces = records(data)
        path = root / str(target_of(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        count = copy = 0
        with path.open("wb") as out:
            while count < quota:
                take, taken = [], 0
                for piece in pieces:  # whole records, up to the quota
                    if count + taken >= quota:
                        break
                    take.append(piece)
                    taken += piece.count(b"\n")
                chunk = copy_of(b"".join(take), shift, copy)
                out.write(chunk)
                count += taken
                size += len(chunk)
                copy += 1
        total += count
        written.append(path)
    left_out = tuple(sorted(set(found) - set(kept)))
    return Corpus(root, total, size, tuple(written), left_out)


def independent_levels(files: Iterable[Path]) -> Counter[str]:
    """Records by level, line by line: oslo.log heads (:data:`HEAD`) and gunicorn
    error-log records (:data:`GUNICORN_HEAD`)."""
    levels: Counter[str] = Counter()
    for path in files:
        with path.open("rb") as handle:
            for line in handle:
                match = HEAD.match(line) or GUNICORN_HEAD.match(line)
                if match is not None:
                    levels[match.group(1).decode()] += 1
    return levels


def traceback_share(files: Iterable[Path]) -> float:
    """Share of the lines that continue an oslo.log record (traceback lines mostly)."""
    heads = lines = oslo = 0
    for path in files:
        data = path.read_bytes()
        found = len(HEAD.findall(data))
        if found:
            heads += found
            oslo += data.count(b"\n")
        lines += data.count(b"\n")
    return (oslo - heads) / lines if lines else 0.0
