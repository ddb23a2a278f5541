"""A fake neutron L3 agent for the real cloud: reports its state, hosts routers.

Run with the realcloud venv's python (it imports neutron), started by the tests the
way up.sh starts daemons (lib.sh ``start_bg``, a pid file in ``run/`` so that
down.sh stops it too)::

    python fake_l3_agent.py HOST /etc/neutron/neutron.conf

It sends neutron's ``report_state`` RPC every 10 s (neutron.conf has
``agent_down_time = 30``) as a ``neutron-l3-agent`` on ``HOST``, and consumes its own
``l3_agent.HOST`` topic so that neutron-server's ``router_added_to_agent`` call is
answered (without a consumer, scheduling a router hangs; realcloud README).
"""

from __future__ import annotations

import sys
import time
from typing import Any

REPORT_INTERVAL_S = 10


class L3AgentEndpoint:
    """Answers the RPC neutron-server sends an L3 agent (all no-ops)."""

    target: Any = None

    def router_added_to_agent(self, context: Any, payload: Any) -> None:
        return None

    def routers_updated(self, context: Any, routers: Any = None, **kwargs: Any) -> None:
        return None

    def router_removed_from_agent(self, context: Any, payload: Any) -> None:
        return None

    def router_deleted(self, context: Any, router_id: Any) -> None:
        return None


def main() -> int:
    host, *config_files = sys.argv[1:]
    import oslo_messaging
    from neutron.agent import rpc as agent_rpc
    from neutron.conf.agent import common as agent_config
    from neutron_lib import context as n_context
    from neutron_lib import rpc as n_rpc
    from neutron_lib.agent import topics
    from oslo_config import cfg

    agent_config.register_agent_state_opts_helper(cfg.CONF)
    # as neutron.common.config.init does: RPC goes to the "neutron" exchange
    oslo_messaging.set_transport_defaults(control_exchange="neutron")
    cfg.CONF(args=[], project="neutron", default_config_files=config_files)
    n_rpc.init(cfg.CONF)
    endpoint = L3AgentEndpoint()
    endpoint.target = oslo_messaging.Target(version="1.5")
    server = n_rpc.get_server(oslo_messaging.Target(topic=topics.L3_AGENT, server=host),
                              [endpoint])
    server.start()
    state_rpc = agent_rpc.PluginReportStateAPI(topics.REPORTS)
    context = n_context.get_admin_context_without_session()
    state: dict[str, Any] = {
        "binary": "neutron-l3-agent", "host": host, "availability_zone": "nova",
        "topic": topics.L3_AGENT, "agent_type": "L3 agent", "start_flag": True,
        "configurations": {"agent_mode": "legacy", "routers": 0},
    }
    while True:
        state_rpc.report_state(context, dict(state), use_call=True)
        state.pop("start_flag", None)
        time.sleep(REPORT_INTERVAL_S)


if __name__ == "__main__":
    sys.exit(main())
