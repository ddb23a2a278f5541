"""Run a local command (``crm_mon``, ``ceph``, ``gluster``, ``virsh``, ``ovs-vsctl``) safely.

The command runs in its own process group with a timeout; one that hangs is
killed with its children and reported :class:`SourceTimeout`. A program that
is not there or cannot be run, and an exit status not accepted, are
:class:`SourceUnavailable` with the first line of what it said on stderr. The
output is capped (:data:`MAX_OUTPUT`): more is :class:`InvalidResponse`, as
garbage is once a parser has read it.

Messages and log lines name the program and the arguments stackwatch adds
(``ceph status``), never the configured leading arguments, which may hold a
key (``ceph --key ...``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from stackwatch.errors import InvalidResponse, SourceTimeout, SourceUnavailable

log = logging.getLogger(__name__)

MAX_OUTPUT = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Output:
    """What a command printed, and its exit status."""

    stdout: str
    stderr: str
    returncode: int


def describe(base: Sequence[str], args: Sequence[str]) -> str:
    """``ceph status`` for base ``[ceph, --id, x]`` and args ``[status, -f, json]``: the
    program and the words stackwatch adds, without options (a short one takes a value)."""
    words = [os.path.basename(base[0])] if base else []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("--"):
            continue
        elif arg.startswith("-") and len(arg) == 2:
            skip = True
        else:
            words.append(arg)
    return " ".join(words)


def first_line(text: str, size: int = 200) -> str:
    """The first non-empty line of ``text``, shortened."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line[:size]
    return ""


def run(base: Sequence[str], args: Sequence[str], timeout: float,
        ok_codes: Collection[int] = (0,), env: dict[str, str] | None = None) -> Output:
    """Run ``base + args``; its output when the exit status is one of ``ok_codes``."""
    what = describe(base, args)
    argv = [*base, *args]
    started = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                env={**os.environ, "LC_ALL": "C", **(env or {})})
    except FileNotFoundError:
        raise SourceUnavailable(f"{what}: {base[0]} not found") from None
    except PermissionError:
        raise SourceUnavailable(f"{what}: {base[0]}: permission denied") from None
    except OSError as exc:
        raise SourceUnavailable(f"{what}: cannot run: {exc.strerror}") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise SourceTimeout(f"{what}: no answer within {timeout:g}s (killed)") from None
    log.info("%s: exit %d in %.3fs", what, proc.returncode, time.monotonic() - started)
    if len(out) > MAX_OUTPUT:
        raise InvalidResponse(f"{what}: {len(out)} bytes of output, more than "
                              f"{MAX_OUTPUT} allowed")
    stdout = out.decode("utf-8", "replace")
    stderr = err.decode("utf-8", "replace")
    if proc.returncode not in ok_codes:
        said = first_line(stderr) or first_line(stdout) or "no message"
        if proc.returncode < 0:
            raise SourceUnavailable(f"{what}: killed by signal {-proc.returncode}: {said}")
        raise SourceUnavailable(f"{what}: exit status {proc.returncode}: {said}")
    return Output(stdout, stderr, proc.returncode)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command and whatever it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=5)
