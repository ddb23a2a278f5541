"""The sender against real servers: a batch the server refuses is found among its
neighbours and dropped alone; a server that never answers holds up no check."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from tests.agent.fleet import Agent, Server, running, wait_for
from tests.agent.test_ingest import runs
from tests.servers import free_port

from stackwatch.agent.wire import encode_batch

pytestmark = pytest.mark.integration


def _batches(server: Server) -> dict[int, str]:
    return dict(server.query("SELECT seq, source FROM agent_batches ORDER BY seq"))


def test_a_refused_batch_is_dropped_alone_and_its_neighbours_arrive(tmp_path: Path) -> None:
    server = Server(tmp_path, free_port())
    agent = Agent(tmp_path, "cmp-1", server, batch_size=20)
    # four batches waiting from an earlier run; the third from a clock an hour ahead
    (agent.buffer / "batches").mkdir(parents=True)
    (agent.buffer / "state.json").write_text(json.dumps({"agent": "a-1", "seq": 4}))
    collection = runs("cmp-1")[0][2]
    now = time.time()
    for seq in (1, 2, 3, 4):
        created = now + 3600 if seq == 3 else now
        (agent.buffer / "batches" / f"{seq:012d}.json").write_bytes(
            encode_batch(seq, "cmp-1", "node.processes", False, created, collection))
    with running(server, agent):
        server.start()
        agent.start()
        wait_for(lambda: {1, 2, 4} <= set(_batches(server)), 30, what="the good batches")
        wait_for(lambda: agent.state()["rejected"] == 1, 10, what="the bad one counted")
        assert 3 not in _batches(server)
        assert 3 not in agent.waiting()
        output = agent.process.output()
        assert "refused batch a-1:3 (400" in output and "in the future" in output
        # and the agent goes on: its own runs follow
        wait_for(lambda: max(_batches(server)) > 4, 30, what="new runs after the old ones")


def test_a_server_that_never_answers_holds_up_no_check(tmp_path: Path) -> None:
    """Connections accepted by the kernel, never answered: each push times out; the
    agent's runs go on at their interval into the buffer meanwhile."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        agent = Agent(tmp_path, "cmp-1", url, interval=0.5, timeout=3)
        with running(agent):
            agent.start()
            started = time.monotonic()
            wait_for(lambda: "timed out" in agent.process.output(), 30, what="a push timing out")
            time.sleep(4)
            elapsed = time.monotonic() - started
            logs_runs = len(agent.waiting())
            # about two runs a second of logs.nova, plus the agent's own: not one per timeout
            assert logs_runs >= elapsed * 1.2, (logs_runs, elapsed)
            assert agent.state()["dropped"] == 0
