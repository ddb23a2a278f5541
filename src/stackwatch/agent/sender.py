"""The thread that pushes the buffer to the server, oldest first, and never loses a batch
it could not deliver.

Every ``push_interval`` the sender takes up to ``batch_size`` of the oldest batches and
posts them (:class:`PushClient`: one kept-alive connection, ``Authorization: Bearer``);
while more wait it posts again at once, so a backlog drains at the server's pace. What
the server answers decides:

=================  ==========================================================
200                every batch of the push is stored (or was, before): removed
400, 413, 422      a push of several is split in halves and sent again, down to
                   one batch; one batch refused is dropped, counted as rejected
                   (``stackwatch_agent_rejected_batches_total``) and logged: the
                   server will never take it (a clock far ahead, a bad value)
401, 403, 404      the token file is read again on 401; retried after the longest
                   backoff, batches kept
no answer, 5xx,    retried after a backoff doubling from 1 s to ``retry_max`` (with
429, timeout       jitter, so a fleet does not come back in step), or after the
                   ``Retry-After`` the server gave if longer; batches kept
=================  ==========================================================

A failure is logged when its kind (the status, or what happened to the connection)
changes, not at every retry; the recovery is logged too. The checks never wait for this
thread: the loop only writes to the buffer.
"""

from __future__ import annotations

import http.client
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from stackwatch.agent.buffer import Buffer
from stackwatch.agent.config import AgentConfig
from stackwatch.agent.wire import encode_push
from stackwatch.errors import ConfigError

log = logging.getLogger(__name__)

BACKOFF_START_S = 1.0
REFUSED = (400, 413, 422)
NOT_ALLOWED = (401, 403, 404)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    retry_after: float = 0.0  # seconds the server asked to wait (429, 503)

    def message(self) -> str:
        """The server's error message (the API's ``{"error": {"message": ...}}``)."""
        try:
            data = orjson.loads(self.body)
            return str(data["error"]["message"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return self.body[:200].decode("utf-8", "replace")


class PushError(Exception):
    """The push got no HTTP answer (refused, reset, timed out, TLS failed)."""


class PushClient:
    """Posts bodies to the ingest URL over one kept-alive HTTP(S) connection."""

    def __init__(self, config: AgentConfig) -> None:
        self.url = config.ingest_url
        self._url = urlsplit(config.ingest_url)
        self._timeout = config.timeout
        self._config = config
        self._token = config.read_token()
        self._context: ssl.SSLContext | None = None
        if self._url.scheme == "https":
            try:
                self._context = ssl.create_default_context(
                    cafile=None if config.ca_file is None else str(config.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"agent.ca_file: {config.ca_file}: {exc}") from None
        self._conn: http.client.HTTPConnection | None = None

    def reload_token(self) -> bool:
        """Read the token file again (after a 401: it may have been replaced); True when
        the token changed."""
        try:
            token = self._config.read_token()
        except ConfigError as exc:
            log.error("agent: %s", exc)
            return False
        changed = token != self._token
        self._token = token
        return changed

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            host = self._url.hostname or ""
            if self._context is not None:
                self._conn = http.client.HTTPSConnection(host, self._url.port,
                                                         timeout=self._timeout,
                                                         context=self._context)
            else:
                self._conn = http.client.HTTPConnection(host, self._url.port,
                                                        timeout=self._timeout)
        return self._conn

    def post(self, body: bytes) -> Answer:
        """POST ``body``; :class:`PushError` when no answer came."""
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self._token}",
                   "Content-Length": str(len(body))}
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", self._url.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return Answer(response.status, data, _seconds(response.getheader("Retry-After")))
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as exc:
                self.close()
                # a kept-alive connection the server closed while idle: once more, anew
                if attempt == 2:
                    raise PushError(f"connection lost: {exc}") from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise PushError(_describe(exc)) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _seconds(value: str | None) -> float:
    """A ``Retry-After`` of seconds (an HTTP date is not sent by our server: 0)."""
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Counters:
    """What the sender did since the agent started."""

    pushes: int = 0
    pushed_batches: int = 0
    failures: int = 0
    last_ack: float = 0.0  # epoch seconds of the last 200
    last_error: str = ""  # why the last push failed; "" once one succeeds


class Sender:
    """Pushes the buffer in a thread of its own (:meth:`start`, :meth:`stop`)."""

    def __init__(self, buffer: Buffer, client: PushClient, config: AgentConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.buffer = buffer
        self.client = client
        self._batch_size = config.batch_size
        self._interval = config.push_interval
        self._retry_max = config.retry_max
        self._clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._delay = 0.0  # the current backoff before jitter; 0 while pushes succeed
        self._wait = 0.0
        self._problem = ""  # the last problem logged (each logged once per change)
        self.counters = Counters()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="agent-sender", daemon=True)
        self._thread.start()

    def stop(self, grace: float) -> None:
        """Stop after one last push of what waits, within ``grace`` seconds."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(grace)
        self.client.close()

    # ------------------------------------------------------------------ loop
    def _run(self) -> None:
        while True:
            self._wake.wait(self._wait or self._interval)
            self._wake.clear()
            stopping = self._stopping.is_set()
            try:
                self._drain(once=stopping)
            except Exception as exc:  # a bug or the disk: the thread must not die of it
                log.exception("agent: pushing failed unexpectedly; retrying")
                self._failed(f"unexpected {type(exc).__name__}: {exc}", "unexpected")
            if stopping:
                return

    def _drain(self, once: bool = False) -> None:
        """Push until the buffer is empty or a push fails (``once``: one push at most)."""
        while True:
            batches = self.buffer.take(self._batch_size)
            if not batches:
                return
            if not self._push(batches) or once or self._stopping.is_set():
                return

    def _push(self, batches: list[tuple[int, bytes]]) -> bool:
        """Push these batches (splitting on refusal); True when all were settled."""
        body = encode_push(self.buffer.agent, [data for _, data in batches])
        seqs = [seq for seq, _ in batches]
        self.buffer.make_durable(seqs[-1])
        started = time.monotonic()
        try:
            answer = self.client.post(body)
        except PushError as exc:
            return self._failed(f"{self.client.url}: {exc}", str(exc))
        self.counters.pushes += 1
        if answer.status == 200:
            self.buffer.remove(seqs)
            self.counters.pushed_batches += len(seqs)
            self.counters.last_ack = self._clock()
            self._recovered(len(seqs), time.monotonic() - started)
            return True
        if answer.status in REFUSED:
            if len(batches) > 1:
                half = len(batches) // 2
                return self._push(batches[:half]) and self._push(batches[half:])
            self.buffer.reject(seqs[0])
            log.error("agent: the server refused batch %s:%d (%d %s); dropped",
                      self.buffer.agent, seqs[0], answer.status, answer.message())
            return True
        if answer.status == 401:
            self.client.reload_token()
        problem = f"{self.client.url}: {answer.status} {answer.message()}"
        return self._failed(problem, str(answer.status), longest=answer.status in NOT_ALLOWED,
                            at_least=answer.retry_after)

    def _failed(self, problem: str, kind: str, longest: bool = False,
                at_least: float = 0.0) -> bool:
        """A push not acknowledged: back off, the waiting batches put on disk; log
        ``problem`` when its ``kind`` (status, or what happened to the connection)
        changed."""
        self.buffer.release()
        self.buffer.sync()
        self.counters.failures += 1
        self.counters.last_error = problem
        if longest:
            self._delay = self._retry_max
        else:
            self._delay = min(self._retry_max, max(BACKOFF_START_S, 2 * self._delay))
        self._wait = max(at_least, random.uniform(self._delay / 2, self._delay))
        waiting, size, _ = self.buffer.stats()
        if kind != self._problem:
            log.warning("agent: push failed: %s; %d batches (%d bytes) kept, retrying",
                        problem, waiting, size)
            self._problem = kind
        return False

    def _recovered(self, count: int, seconds: float) -> None:
        if self._problem:
            waiting, _, _ = self.buffer.stats()
            log.warning("agent: pushing again (%d batches in %.2f s; %d waiting)", count,
                        seconds, waiting)
            self._problem = ""
        self.counters.last_error = ""
        self._delay = self._wait = 0.0
