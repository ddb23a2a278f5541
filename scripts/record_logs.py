#!/usr/bin/env python3
"""Record the log files of a real OpenStack control plane as test data.

Copies the services' own log files (oslo.log, gunicorn access and error logs, the
``*-manage.log`` of the db syncs, daemons' stdout, RabbitMQ's and MariaDB's logs) from
a log directory into ``<out>/logs/``, keeping each file's name (not the realcloud
tests' own helpers, ``rc-*``). A file of more than
``--max-lines`` lines is cut to its **last** lines (one contiguous piece, started at the
first line of a record, so no traceback is cut in two): the kept lines are the
file's own lines in their own order and proportions (tracebacks included), not a
selection. ``INDEX.json`` gives, per file, the original and kept line counts, the
kept range, and the lines per level and traceback lines of both, so a reader can
check the proportions; and the release the logs came from.

Scrubbed (nothing else is changed): fernet tokens -> ``<token>``, the password of a
``scheme://user:password@`` URL -> ``<password>``, ``password=...`` values ->
``<password>``; file-system paths of the recording host are rewritten to
conventional ones (``<root>/venv/.../site-packages`` -> ``/usr/lib/python3/dist-packages``,
``<root>/etc`` -> ``/etc``, ``<root>/logs`` -> ``/var/log/openstack``...), so the
data names no development machine.

Usage (``<root>`` is the realcloud's ``$RC_ROOT``)::

    python scripts/record_logs.py --root <root> [--out tests/data/recorded]
        [--max-lines 2500] [--versions-from <root>/venv/bin/python]

The previous ``<out>/logs/`` is replaced. Prints one line per file.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

RELEASE = "2026.1"
PACKAGES = ("keystone", "nova", "openstack-placement", "glance", "neutron", "cinder",
            "oslo.log", "oslo.messaging", "gunicorn")
PATTERNS = ("*.log", "*.stdout", "*.err", "rabbitmq/*.log")
_FERNET = re.compile(r"gAAAAA[\w-]+=*")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@")
_PASSWORD_FIELD = re.compile(r"(password['\"]?\s*[:=]\s*['\"]?)[^'\",\s}]+", re.I)
_SITE = re.compile(r"/[^\s\"':]*/lib/python3\.\d+/site-packages")
_STDLIB = re.compile(r"/[^\s\"':]*/lib/(python3\.\d+)\b")
_LEVEL = re.compile(
    r"^\S+ \S+ \d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL|TRACE) |"        # oslo.log
    r"^\S+ \S+ \[(debug|info|notice|warning|error|critical)\] |"       # rabbitmq
    r"^\[[^]]+\] \[\d+\] \[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] |"     # gunicorn
    r"^\S+ +\S+ \d+ \[(Note|Warning|ERROR)\] ")                          # mariadb


@dataclass(frozen=True)
class Kept:
    """What was kept of one file."""

    name: str
    original_lines: int
    first_line: int        # 1-based, in the original file
    lines: list[str]


def scrubber(root: Path) -> list[tuple[re.Pattern[str], str]]:
    """The (pattern, replacement) pairs applied to every kept line, in order."""
    places = [("venv/bin", "/usr/bin"), ("etc", "/etc"), ("logs", "/var/log/openstack"),
              ("state", "/var/lib/openstack"), ("mysql-run", "/run/mysqld"),
              ("mysql", "/var/lib/mysql"), ("rabbitmq", "/var/lib/rabbitmq"),
              ("run", "/run/openstack"), ("", "/var/lib/openstack")]
    pairs = [(_FERNET, "<token>"), (_URL_PASSWORD, r"\1<password>@"),
             (_PASSWORD_FIELD, r"\1<password>"), (_SITE, "/usr/lib/python3/dist-packages")]
    for sub, target in places:
        prefix = str(root / sub) if sub else str(root)
        pairs.append((re.compile(re.escape(prefix) + r"(?=[/\s\"':,)]|$)"), target))
    pairs.append((_STDLIB, r"/usr/lib/\1"))
    return pairs


def scrub(line: str, pairs: list[tuple[re.Pattern[str], str]]) -> str:
    for pattern, replacement in pairs:
        line = pattern.sub(replacement, line)
    return line


_OSLO = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \d+ [A-Z]+ \S+ ")


def record_start(lines: list[str], index: int) -> bool:
    """True when ``lines[index]`` begins a record: an oslo.log line with its context
    (``[req-...]``, ``[-]``; the lines of a traceback repeat the prefix without it),
    or any other line that starts with a date or ``[`` (others continue a record)."""
    line = lines[index]
    oslo = _OSLO.match(line)
    if oslo is not None:
        return line[oslo.end():oslo.end() + 1] == "["
    return line[:1].isdigit() or line.startswith("[")


def keep_tail(name: str, lines: list[str], max_lines: int) -> Kept:
    """The last ``max_lines`` lines (fewer: from the first record start among them)."""
    start = max(0, len(lines) - max_lines)
    while 0 < start < len(lines) and not record_start(lines, start):
        start += 1
    return Kept(name, len(lines), start + 1, lines[start:])


def shape(lines: list[str]) -> dict[str, object]:
    """Lines per level and traceback lines (for comparing proportions)."""
    levels: Counter[str] = Counter()
    traceback = 0
    for index, line in enumerate(lines):
        match = _LEVEL.match(line)
        if match is not None:
            levels[next(g for g in match.groups() if g).upper()] += 1
        if index and not record_start(lines, index):
            traceback += 1
    return {"lines": len(lines), "levels": dict(sorted(levels.items())),
            "continuation_lines": traceback}


def versions(python: Path | None) -> dict[str, str]:
    """Installed versions of the services, asked of the cloud's own interpreter."""
    if python is None:
        return {}
    code = ("import importlib.metadata as m, json, sys\n"
            "out = {}\n"
            f"for p in {PACKAGES!r}:\n"
            "    try: out[p] = m.version(p)\n"
            "    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(out))")
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                            timeout=120, check=True)
    found: dict[str, str] = json.loads(result.stdout)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True,
                        help="the control plane's root ($RC_ROOT); logs are read from <root>/logs")
    parser.add_argument("--out", type=Path, default=Path("tests/data/recorded"))
    parser.add_argument("--max-lines", type=int, default=2500)
    parser.add_argument("--versions-from", type=Path, default=None,
                        help="the services' python (default: <root>/venv/bin/python)")
    args = parser.parse_args(argv)

    root = args.root.resolve()
    source = root / "logs"
    python = args.versions_from or root / "venv" / "bin" / "python"
    pairs = scrubber(root)
    files = sorted({p for pattern in PATTERNS for p in source.glob(pattern)
                    if p.is_file() and not p.name.startswith("rc-")})  # the tests' helpers
    out = args.out / "logs"
    if out.exists():
        shutil.rmtree(out)
    index: dict[str, object] = {}
    for path in files:
        name = str(path.relative_to(source))
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if not lines:
            continue
        kept = keep_tail(name, lines, args.max_lines)
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(scrub(line, pairs) + "\n" for line in kept.lines),
                          encoding="utf-8")
        index[name] = {"original": shape(lines), "kept": shape(kept.lines),
                       "kept_range": [kept.first_line, kept.original_lines]}
        print(target)
    meta = {"release": RELEASE, "versions": versions(python if python.exists() else None),
            "max_lines": args.max_lines, "files": index}
    (out / "INDEX.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{len(index)} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
