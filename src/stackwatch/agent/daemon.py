"""The agent: this node's sources run by the runner loop, each run buffered, pushed apart.

:class:`Agent` owns the :class:`~stackwatch.runner.Loop` (each source at its interval, in
its own thread, with its timeout: the runner the server uses), the
:class:`~stackwatch.agent.buffer.Buffer` every run is written to from the loop's thread
(``host`` added where the sources leave it out, :mod:`.identity`), and the
:class:`~stackwatch.agent.sender.Sender` thread that pushes. The loop never waits for the
network: a server away only makes the buffer grow.

The agent reports on itself as one more source, ``agent`` (:class:`AgentSource`, every
30 s or ``intervals.agent``): its buffer, drops, refusals and pushes, pushed like the
rest, so the server sees how each node's delivery is doing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from types import TracebackType

from stackwatch.agent.buffer import Buffer
from stackwatch.agent.config import AgentConfig
from stackwatch.agent.identity import with_host
from stackwatch.agent.sender import PushClient, Sender
from stackwatch.agent.wire import encode_batch
from stackwatch.catalog.loader import Catalog
from stackwatch.config import Config
from stackwatch.errors import ConfigError
from stackwatch.model import CheckResult, Collection, Sample, Status
from stackwatch.runner import Loop, Run, Runner
from stackwatch.sources.base import Source

log = logging.getLogger(__name__)

AGENT_SOURCE = "agent"
AGENT_INTERVAL_S = 30.0


def node_config(config: Config) -> Config:
    """``config`` as this node's agent runs it: the log files and the node checks are the
    node's own, so a cloud's ``logs.host`` and ``node.host`` not given are ``agent.host``
    (not the machine's host name)."""
    if config.agent is None:
        return config
    host = config.agent.node
    clouds = [cloud if cloud.logs.host else cloud.model_copy(update={
        "logs": cloud.logs.model_copy(update={"host": host})}) for cloud in config.clouds]
    update: dict[str, object] = {"clouds": clouds}
    if config.node is not None and config.node.host is None:
        update["node"] = config.node.model_copy(update={"host": host})
    return config.model_copy(update=update)


class AgentSource:
    """The agent's own delivery figures, as a source (``stackwatch_agent_*``)."""

    name = AGENT_SOURCE

    def __init__(self, buffer: Buffer, sender: Sender) -> None:
        self._buffer = buffer
        self._sender = sender
        self._seen = (buffer.state.dropped, buffer.state.rejected)

    def collect(self) -> Collection:
        now = time.time()
        batches, size, oldest = self._buffer.stats()
        state = self._buffer.state
        counters = self._sender.counters
        age = 0.0 if oldest is None else max(0.0, now - oldest)
        values = {
            "stackwatch_agent_buffer_batches": batches,
            "stackwatch_agent_buffer_bytes": size,
            "stackwatch_agent_oldest_batch_age_seconds": age,
            "stackwatch_agent_dropped_batches_total": state.dropped,
            "stackwatch_agent_rejected_batches_total": state.rejected,
            "stackwatch_agent_pushed_batches_total": counters.pushed_batches,
            "stackwatch_agent_push_failures_total": counters.failures,
            "stackwatch_agent_last_push_timestamp_seconds": counters.last_ack,
        }
        samples = tuple(Sample(name, float(v), (), now) for name, v in values.items())
        dropped = state.dropped - self._seen[0]
        rejected = state.rejected - self._seen[1]
        self._seen = (state.dropped, state.rejected)
        message = f"{batches} batches ({size} bytes) waiting"
        if oldest is not None:
            message += f", oldest {age:.0f} s"
        if counters.last_error:
            message += f"; pushes failing: {counters.last_error}"
        status = Status.OK
        if dropped or rejected:
            status = Status.WARNING
            message = (f"{dropped} batches dropped (buffer full), {rejected} refused by the "
                       f"server since the last report; {message}")
        check = CheckResult("stackwatch_agent", status, message, (), timestamp=now)
        return Collection(samples, (check,))


class Agent:
    """The sources of ``config`` run, buffered and pushed as ``config.agent`` says."""

    def __init__(self, config: Config, sources: Sequence[Source],
                 catalog: Catalog | None = None) -> None:
        if config.agent is None:
            raise ConfigError("stackwatch.yaml: agent: the section is missing (server URL "
                              "and token: docs/agent.md)")
        self.config = config
        self.settings: AgentConfig = config.agent
        self.host = self.settings.node
        self.buffer = Buffer(self.settings.buffer_dir, self.settings.buffer_max_bytes)
        try:
            client = PushClient(self.settings)
        except ConfigError:
            self.buffer.close()
            raise
        self.sender = Sender(self.buffer, client, self.settings)
        self.sources = [*sources, AgentSource(self.buffer, self.sender)]
        self.runner = Runner(self.sources, config.timeout, catalog=catalog)
        self.loop = Loop(self.runner, self._interval, self._keep)
        self._thread: threading.Thread | None = None

    def _interval(self, name: str) -> float:
        if name == AGENT_SOURCE:
            return self.config.intervals.get(AGENT_SOURCE, AGENT_INTERVAL_S)
        return self.config.interval(name)

    def _keep(self, run: Run) -> None:
        """Write the run to the buffer (from the loop's thread: fast, no network)."""
        collection = with_host(run.collection, self.host)
        created = time.time()
        self.buffer.append(lambda seq: encode_batch(seq, self.host, run.source, run.partial,
                                                    created, collection))

    def start(self) -> None:
        """Start the sender and the loop."""
        self.sender.start()
        self._thread = threading.Thread(target=self.loop.run, name="agent-loop", daemon=True)
        self._thread.start()
        log.info("agent %s (%s): %d sources, pushing to %s", self.buffer.agent, self.host,
                 len(self.sources), self.settings.server)

    def stop(self) -> None:
        """Stop the loop, push once more what waits (within the push timeout), release the
        buffer; what is not pushed waits there for the next start."""
        self.loop.stop()
        if self._thread is not None:
            self._thread.join(5.0)  # a tick; runs still under way are left (daemon threads)
        self.sender.stop(grace=self.settings.timeout + 1)
        self.buffer.close()

    def __enter__(self) -> Agent:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
