"""The alarms over REST (docs/alarms.md)::

    GET  /api/v1/alarms                      active instances, root causes first
    GET  /api/v1/alarms/history              transitions, newest first
    GET  /api/v1/alarms/silences             the silences active now
    POST /api/v1/alarms/{alarm}/ack          acknowledge (operator): by, reason, match
    POST /api/v1/alarms/silences             silence (operator): match, seconds, by, reason

``match`` is a comma-separated list of matchers (``host=cmp1,service=~nova.*``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from stackwatch.query import alarms as view
from stackwatch.query.context import Context
from stackwatch.query.errors import NotFound
from stackwatch.store.base import AlarmStateStore
from stackwatch.web.api.endpoint import Endpoint, NoParams

#: one matcher as the API documents it: a value without regex syntax beyond ``.*``
#: (any regex from the CLI), so a documented value is always a valid matcher
_ONE = r"[A-Za-z_][A-Za-z0-9_]*(?:=~|!~|!=|=)(?:[A-Za-z0-9_:@/-]|\.\*?)*"
MATCHERS = rf"^{_ONE}(?:,{_ONE})*$"
SAID = r".*\S.*"


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActiveParams(_Params):
    severity: str | None = Field(None, pattern="^(info|warning|critical)$",
                                 description="only alarms at least this severe")


class HistoryParams(_Params):
    alarm: str | None = Field(None, description="only this alarm's transitions")
    seconds: float = Field(86400.0, gt=0, description="how far back")
    limit: int = Field(200, ge=1, le=10000)


class AckParams(_Params):
    alarm: str = Field(min_length=1)
    by: str = Field(pattern=SAID, description="who acknowledges")
    reason: str = Field(pattern=SAID, description="why")
    match: str = Field("", pattern=rf"^(?:{_ONE}(?:,{_ONE})*)?$",
                       description="matchers of the instances, comma-separated")


class SilenceParams(_Params):
    match: str = Field(pattern=MATCHERS, description="matchers, comma-separated "
                                                     "(alertname=disk-80,host=~cmp.*)")
    seconds: float = Field(gt=0, description="how long")
    by: str = Field(pattern=SAID, description="who silences")
    reason: str = Field(pattern=SAID, description="why")


def states_of(ctx: Context) -> AlarmStateStore:
    if ctx.alarm_states is None:
        raise NotFound("no alarm engine runs here (stackwatch server evaluates alarms)")
    return ctx.alarm_states


def _matchers(text: str) -> list[str]:
    return [m for m in text.split(",") if m.strip()]


def _active(ctx: Context, p: ActiveParams) -> view.AlarmsView:
    return view.active(states_of(ctx), ctx.catalog, ctx.now, p.severity)


def _history(ctx: Context, p: HistoryParams) -> list[view.TransitionView]:
    return view.history(states_of(ctx), ctx.now - p.seconds, ctx.now, p.alarm, p.limit)


def _silences(ctx: Context, _: NoParams) -> list[view.SilenceView]:
    return view.silences(states_of(ctx), ctx.now)


def _ack(ctx: Context, p: AckParams) -> view.Acknowledged:
    return view.acknowledge(states_of(ctx), p.alarm, _matchers(p.match), p.by, p.reason,
                            ctx.now)


def _silence(ctx: Context, p: SilenceParams) -> view.SilenceView:
    return view.silence(states_of(ctx), _matchers(p.match), p.seconds, p.by, p.reason,
                        ctx.now)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/api/v1/alarms", "Active alarms, root causes first", "alarms",
             view.AlarmsView, _active, ActiveParams),
    Endpoint("GET", "/api/v1/alarms/history", "Alarm transitions, newest first", "alarms",
             list[view.TransitionView], _history, HistoryParams),
    Endpoint("GET", "/api/v1/alarms/silences", "Silences active now", "alarms",
             list[view.SilenceView], _silences),
    Endpoint("POST", "/api/v1/alarms/silences", "Silence alarm instances for a time",
             "alarms", view.SilenceView, _silence, SilenceParams, status=201,
             role="operator"),
    Endpoint("POST", "/api/v1/alarms/{alarm}/ack", "Acknowledge an alarm's firing instances",
             "alarms", view.Acknowledged, _ack, AckParams, role="operator"),
)
