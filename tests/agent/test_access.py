"""Who may push: an agent token over HTTPS from a non-loopback peer, as a node pushes;
every other token refused with its status, counted twice (the access rules' and the
ingest's counters), and the token never in what the agent or the server logs."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.agent.fleet import MAIN, Agent, Server, _python_env, running, wait_for
from tests.agent.test_ingest import push
from tests.servers import free_port
from tests.web.client import Http

pytestmark = pytest.mark.integration


def token(server: Server, name: str, role: str) -> str:
    """``stackwatch token create`` against the server's store, as an operator would."""
    done = subprocess.run([sys.executable, "-c", MAIN, "token", "create", "--name", name,
                           "--role", role, "--config", str(server.config)],
                          capture_output=True, text=True, env=_python_env(), check=True)
    return done.stdout.strip()


def test_agents_push_with_their_role_and_nothing_else_gets_in(
        tmp_path: Path, public_address: str, certificate: tuple[Path, Path]) -> None:
    server = Server(tmp_path, free_port(), address=public_address, tls=certificate)
    server.start()
    agent_token = token(server, "cmp-1", "agent")
    read_token = token(server, "grafana", "read")
    operator_token = token(server, "oncall", "operator")
    token_file = tmp_path / "agent.token"
    token_file.write_text(agent_token + "\n")
    agent = Agent(tmp_path, "cmp-1", server, token_file=str(token_file),
                  ca_file=str(certificate[0]))
    with running(server, agent):
        agent.start()
        agent.logs.write(2)
        wait_for(lambda: all(r in server.request_ids() for r in agent.logs.ids), 60,
                 what="the agent's lines at the server over HTTPS")
        http = Http(server.url, context=ssl.create_default_context(cafile=str(certificate[0])))

        def post(bearer: str | None) -> int:
            headers = {"Content-Type": "application/json"}
            if bearer:
                headers["Authorization"] = f"Bearer {bearer}"
            return http.request("POST", "/api/v1/ingest", headers,
                                push("cmp-9", agent=f"direct-{bearer and bearer[-4:]}")).status

        assert post(None) == 401                     # a non-local peer without a token
        assert post("sw_" + "x" * 43) == 401         # a token nobody made
        assert post(read_token) == 403              # reading is not pushing
        assert post(operator_token) == 200          # an operator may do what agents do
        assert post(agent_token) == 200
        # an agent token opens nothing else: not the API, not the pages, not the actions
        assert http.get("/api/v1/health", agent_token).status == 403
        assert http.get("/overview", agent_token).status == 403
        assert http.post("/api/v1/sources/x/collect", agent_token).status == 403
        login = http.post("/login", form=f"token={agent_token}&next=/")
        assert login.status == 403 and "may only push" in login.body
        assert not login.all("Set-Cookie")
        metrics = http.get("/metrics", operator_token)
        assert metrics.status == 200
        counted = {(s.name, s.labels.get("reason", "")): s.value
                   for f in text_string_to_metric_families(metrics.body) for s in f.samples}
        assert counted[("stackwatch_ingest_refused_total", "token")] == 2
        assert counted[("stackwatch_ingest_refused_total", "role")] == 1
        assert counted[("stackwatch_web_auth_failures_total", "forbidden")] == 5
        hosts = json.loads(http.get("/api/v1/checks?name=stackwatch_source",
                                    read_token).body)["items"]
        assert {c["labels"]["host"] for c in hosts} >= {"cmp-1", "cmp-9"}
    for text in (agent.process.output(), server.process.output(),
                 agent.config.read_text()):
        assert agent_token not in text
    assert "sw_" not in agent.process.output()


def test_an_agent_with_a_bad_token_keeps_its_batches_and_says_why(tmp_path: Path) -> None:
    server = Server(tmp_path, free_port())
    agent = Agent(tmp_path, "cmp-1", server.url, token="sw_not-a-token-of-this-server")
    with running(server, agent):
        server.start()
        agent.start()
        agent.logs.write(1)
        # the refusal's own words: "401" alone is also in a port or a pytest-1401 path
        wait_for(lambda: "the token is invalid" in agent.process.output(), 30,
                 what="the refusal logged")
        wait_for(lambda: len(agent.waiting()) >= 2, 30, what="batches kept")
        assert server.query("SELECT COUNT(*) FROM agent_batches") == [(0,)]
        output = agent.process.output()
        assert "push failed" in output and "the token is invalid" in output
        assert output.count(": 401 ") == 1  # said once, not at every retry
        assert "sw_not-a-token" not in output
