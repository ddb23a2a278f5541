"""Real ``stackwatch server`` and ``stackwatch agent`` processes on 127.0.0.1, and what an
agent's logs source reads: log lines with a request id each, written while the test runs.

Every line a :class:`LogWriter` writes is an ERROR record of nova-compute with its own
request id, so the server's events table says which lines arrived, and how many times.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stackwatch.store.base import Role
from stackwatch.store.tokens import SQLiteTokenStore
from stackwatch.tokens import issue

MAIN = "from stackwatch.cli import main; main()"
TOKEN = "sw_agent-test-token-not-a-real-one"


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.2,
             what: str = "condition") -> None:
    """Poll until ``condition()`` holds; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(step)
    raise AssertionError(f"{what}: not reached in {timeout:g} s")


def get_json(url: str, token: str | None = None) -> Any:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    return env


@dataclass
class Process:
    """One stackwatch command in its own session (killed whole)."""

    args: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        out = open(self.log, "ab")  # noqa: SIM115 (the child holds it)
        self.proc = subprocess.Popen([sys.executable, "-c", MAIN, *self.args], stdout=out,
                                     stderr=subprocess.STDOUT, env=_python_env(),
                                     start_new_session=True)
        out.close()

    def kill9(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill9()
            return -9

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Server:
    """``stackwatch server`` taking agents' pushes on a fixed port (kept across restarts);
    over HTTPS with ``tls`` (certificate, key)."""

    def __init__(self, workdir: Path, port: int, address: str = "127.0.0.1",
                 tls: tuple[Path, Path] | None = None) -> None:
        self.workdir = workdir
        self.port = port
        self.url = f"{'https' if tls else 'http'}://{address}:{port}"
        self.context = ssl.create_default_context(cafile=str(tls[0])) if tls else None
        self.store = workdir / "server" / "store.sqlite"
        web: dict[str, Any] = {"listen": f"{address}:{port}"}
        if tls:
            web.update(tls_cert=str(tls[0]), tls_key=str(tls[1]))
        config = {"clouds": [{"name": "c", "disable": ["api"]}],
                  "store": {"path": str(self.store)},
                  "server": {"accept_agents": True}, "web": web}
        self.config = workdir / "server.yaml"
        self.config.write_text(yaml.safe_dump(config))
        #: a token of the agent role, made as ``stackwatch token create`` makes one
        self.agent_token = self.token("agents", Role.AGENT)
        self.process = Process(["server", "--config", str(self.config)], workdir / "server.log")

    def token(self, name: str, role: Role) -> str:
        """A new token of ``role`` in the server's store."""
        store = SQLiteTokenStore(self.store)
        try:
            return issue(store, name, role, time.time())
        finally:
            store.close()

    def start(self) -> None:
        self.process.start()
        wait_for(self.answers, 60, what=f"server on {self.url}")

    def answers(self) -> bool:
        try:
            urllib.request.urlopen(self.url + "/api/v1/health", timeout=5,
                                   context=self.context).close()
            return True
        except urllib.error.HTTPError:
            return True  # refused (a token needed): but up
        except (OSError, urllib.error.URLError):
            return False

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Read the server's store directly (read-only), as the store's own tables say."""
        conn = sqlite3.connect(f"file:{self.store}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def request_ids(self) -> dict[str, int]:
        """Each request id in the events table, with how many events hold it."""
        return dict(self.query("SELECT request_id, COUNT(*) FROM events "
                               "WHERE request_id != '' GROUP BY request_id"))


@dataclass
class LogWriter:
    """Appends nova-compute ERROR lines, one request id each, ``rate`` a second."""

    path: Path
    rate: float = 5.0
    written: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def line(self) -> str:
        request = f"req-{uuid.uuid4()}"
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))  # oslo times: UTC
        self.written.append((now, request))
        return (f"{stamp}.{int(now % 1 * 1000):03d} 4242 ERROR nova.compute.manager "
                f"[{request} - - - - -] instance failed to spawn\n")

    def write(self, count: int = 1) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            for _ in range(count):
                f.write(self.line())

    def start(self) -> None:
        def run() -> None:
            while not self._stop.wait(1 / self.rate):
                self.write()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def ids(self) -> list[str]:
        return [request for _, request in self.written]


class Agent:
    """``stackwatch agent`` tailing its own nova-compute log, pushing to ``server`` (with
    its agent token; or to a URL, with ``token``)."""

    def __init__(self, workdir: Path, host: str, server: Server | str, interval: float = 1.0,
                 token: str = TOKEN, **settings: Any) -> None:
        if isinstance(server, Server):
            server_url, token = server.url, server.agent_token
        else:
            server_url = server
        self.host = host
        self.dir = workdir / host
        logs = self.dir / "log"
        (logs / "nova").mkdir(parents=True, exist_ok=True)
        self.logs = LogWriter(logs / "nova" / "nova-compute.log")
        self.logs.path.touch()
        self.buffer = self.dir / "buffer"
        agent = {"server": server_url, "host": host, "buffer_dir": str(self.buffer),
                 "push_interval": 0.5, "retry_max": 1.0, "timeout": 5, **settings}
        if "token_file" not in settings:
            agent["token"] = token
        config = {"clouds": [{"name": "c", "disable": ["api"],
                              "logs": {"root": str(logs), "compiled": False}}],
                  "intervals": {"logs": interval, "agent": 2 * interval},
                  "store": {"path": str(self.dir / "agent.sqlite")}, "agent": agent}
        self.config = self.dir / "agent.yaml"
        self.config.write_text(yaml.safe_dump(config))
        self.process = Process(["-v", "agent", "--config", str(self.config)],
                               self.dir / "agent.log")

    def start(self) -> None:
        self.process.start()
        wait_for(lambda: (self.buffer / "state.json").exists(), 60,
                 what=f"agent {self.host} started")

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.buffer / "state.json").read_text())
        return data

    def waiting(self) -> list[int]:
        """Sequence numbers of the batches in the buffer."""
        return sorted(int(p.name.split(".")[0]) for p in self._files())

    def buffer_bytes(self) -> int:
        return sum(p.stat().st_size for p in self._files())

    def _files(self) -> list[Path]:
        """The batch files (not a temporary one being written)."""
        found = []
        for path in (self.buffer / "batches").glob("[0-9]*.json"):
            with contextlib.suppress(FileNotFoundError):  # pushed and removed meanwhile
                path.stat()
                found.append(path)
        return found


@contextlib.contextmanager
def running(*processes: Server | Agent) -> Iterator[None]:
    """Stop every process at the end (SIGTERM, then SIGKILL), whatever happened."""
    try:
        yield
    finally:
        for item in processes:
            if item.process.alive:
                item.process.stop()
