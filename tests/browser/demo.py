"""``stackwatch demo`` as a user runs it, in a subprocess, and a hand on its simulated cloud.

:func:`run_demo` starts ``stackwatch demo --workdir DIR --listen 127.0.0.1:PORT`` and
returns once the demo's first round of collections is stored (its first status line).
:class:`Demo` injects and clears faults through the simulator's control endpoint, found
in the demo's work directory (``sim/sim.json``, what ``stackwatch sim fault`` uses), reads
the monitor's REST API, and lists the secrets the demo was given (passwords of its
``clouds.yaml``, database URL passwords of its ``stackwatch.yaml``, the control key).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from stackwatch.sim.workdir import read_endpoint

#: the demo's collection interval (``stackwatch demo`` caps every source at 10 s)
INTERVAL_S = 10.0
START_TIMEOUT_S = 240.0
_STATUS_LINE = re.compile(r"^\d\d:\d\d:\d\d (OK|WARNING|CRITICAL|UNKNOWN) - ", re.MULTILINE)
_MONITOR_LINE = re.compile(r"^monitor: (http://\S+)", re.MULTILINE)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Demo:
    """A running ``stackwatch demo``: its web address, work directory and output."""

    url: str
    workdir: Path
    process: subprocess.Popen[bytes]
    log: Path
    #: secrets the tests made (API tokens), grepped for with the demo's own
    made: list[str] = field(default_factory=list)

    @property
    def store(self) -> Path:
        """The monitor's store (``stackwatch demo`` keeps it in its work directory)."""
        return self.workdir / "stackwatch-store.sqlite"

    # ------------------------------------------------------------ the simulated cloud
    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> str:
        endpoint = read_endpoint(self.workdir / "sim")
        request = urllib.request.Request(
            endpoint.base_url + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json",
                     "X-Sim-Control-Key": endpoint.control_key})
        with urllib.request.urlopen(request, timeout=60) as response:
            return str(json.loads(response.read()).get("result", ""))

    def inject(self, name: str, /, **params: str) -> str:
        """Apply fault scenario ``name`` in the demo's simulated cloud; what it did."""
        return self._control("POST", "/_sim/faults", {"name": name, "params": params})

    def clear(self, name: str) -> str:
        """Undo fault scenario ``name``."""
        return self._control("DELETE", f"/_sim/faults/{name}")

    # ------------------------------------------------------------ the monitor
    def get(self, path: str) -> Any:
        """The monitor's JSON answer at ``path`` (raises on an error status)."""
        with urllib.request.urlopen(self.url + path, timeout=60) as response:
            return json.loads(response.read())

    def wait_for(self, what: str, test: Any, timeout: float) -> float:
        """Poll ``test()`` until true; the seconds it took (AssertionError after
        ``timeout``)."""
        started = time.monotonic()
        while not test():
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{what}: not within {timeout:.0f} s")
            time.sleep(0.5)
        return time.monotonic() - started

    # ------------------------------------------------------------ secrets
    def secrets(self) -> list[str]:
        """Every secret the demo holds: passwords in its ``clouds.yaml``, passwords of the
        database URLs in its ``stackwatch.yaml``, the simulator's control key, and the
        tokens the tests made."""
        sim = self.workdir / "sim"
        found: list[str] = []

        def passwords(node: Any) -> Iterator[str]:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "password" and isinstance(value, str) and value:
                        yield value
                    else:
                        yield from passwords(value)
            elif isinstance(node, list):
                for item in node:
                    yield from passwords(item)

        found += passwords(yaml.safe_load((sim / "clouds.yaml").read_text()))
        config = yaml.safe_load((sim / "stackwatch.yaml").read_text())
        for cloud in config.get("clouds", []):
            for url in (cloud.get("databases") or {}).values():
                password = sa.make_url(url).password
                if password:
                    found.append(str(password))
        found.append(read_endpoint(sim).control_key)
        return [*found, *self.made]

    def output(self) -> str:
        """What the demo printed so far (stdout and stderr)."""
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def run_demo(workdir: Path, *options: str) -> Iterator[Demo]:
    """``stackwatch demo`` in ``workdir`` on a free port, ready once its first collections
    are stored; stopped with SIGTERM after (it must exit 0)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "demo.log"
    command = [sys.executable, "-c", "from stackwatch.cli import main; main()", "demo",
               "--workdir", str(workdir), "--listen", f"127.0.0.1:{free_port()}", *options]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            text = log.read_text(errors="replace")
            monitor = _MONITOR_LINE.search(text)
            if monitor and _STATUS_LINE.search(text, monitor.end()):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"stackwatch demo did not start (exit {process.poll()}):"
                                   f"\n{text[-3000:]}")
            time.sleep(0.5)
        demo = Demo(monitor.group(1), workdir, process, log)
        yield demo
    finally:
        _stop(process)
    assert process.returncode == 0, f"demo exited {process.returncode}:\n{demo.output()[-3000:]}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the demo's process group; SIGKILL if it is still there after 60 s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
