"""The agents that push to this server: what the store keeps of each, how fresh it is."""

from __future__ import annotations

from pydantic import BaseModel, Field

from stackwatch.query.context import Context
from stackwatch.query.times import iso


class AgentView(BaseModel):
    """One agent (on one host) as its kept batch ids tell it."""

    agent: str = Field(description="the agent's id (kept in its buffer directory)")
    host: str
    batches: int = Field(description="batches whose ids are kept (store retention)")
    first_seq: int
    last_seq: int
    missing: int = Field(description="sequence numbers between first and last never "
                                     "stored: dropped by the agent's full buffer, or "
                                     "refused as invalid")
    last_received: float
    last_received_time: str
    age_seconds: float = Field(description="seconds since its last batch arrived")
    lag_seconds: float = Field(description="how old its last batch was when it arrived "
                                           "(a backlog being replayed)")


def agents(ctx: Context) -> list[AgentView]:
    """Every agent with batches kept, by host; the stalest first within a host."""
    out = [AgentView(agent=a.agent, host=a.host, batches=a.batches, first_seq=a.first_seq,
                     last_seq=a.last_seq, missing=a.last_seq - a.first_seq + 1 - a.batches,
                     last_received=a.last_received, last_received_time=iso(a.last_received),
                     age_seconds=round(max(0.0, ctx.now - a.last_received), 3),
                     lag_seconds=round(max(0.0, a.last_received - a.last_created), 3))
           for a in ctx.store.agent_batches()]
    return sorted(out, key=lambda v: (v.host, -v.age_seconds, v.agent))
