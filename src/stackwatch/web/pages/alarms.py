"""The alarms page: active alarms, root causes first (consequences under their cause),
and the latest transitions; its JSON twin is the same view."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from stackwatch.query import alarms as view
from stackwatch.query.context import Context
from stackwatch.query.times import Stamped
from stackwatch.web.pages.page import PageSpec


class AlarmsParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    severity: str | None = Field(None, pattern="^(info|warning|critical)$")


class AlarmsPage(Stamped):
    running: bool
    active: view.AlarmsView
    history: list[view.TransitionView]
    silences: list[view.SilenceView]


def alarms_page(ctx: Context, params: AlarmsParams) -> AlarmsPage:
    states = ctx.alarm_states
    if states is None:
        return AlarmsPage(timestamp=ctx.now, running=False,
                          active=view.AlarmsView(firing=0, insufficient_data=0, ok=0,
                                                 alarms=[]), history=[], silences=[])
    return AlarmsPage(timestamp=ctx.now, running=True,
                      active=view.active(states, ctx.catalog, ctx.now, params.severity),
                      history=view.history(states, ctx.now - 86400, ctx.now, limit=50),
                      silences=view.silences(states, ctx.now))


PAGES = (
    PageSpec("/alarms", "alarms.html", "Alarms", alarms_page, AlarmsParams, nav="Alarms",
             key="m"),
)
