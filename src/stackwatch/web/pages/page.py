"""One dashboard page as data, and the handlers that serve it as HTML and as JSON.

Every page ``/x`` has a JSON twin ``/x.json`` built by the same view, so what a page
shows and what a script reads cannot drift apart. A request with the header
``X-Stackwatch-Partial: 1`` gets only the page's ``main`` block, and the cloud's
status for the header's pill in ``X-Stackwatch-Status`` (its message URL-quoted in
``X-Stackwatch-Status-Message``): the page's script refreshes itself that way, without
reloading.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web
from jinja2.runtime import Macro
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stackwatch.query.context import Context
from stackwatch.query.errors import QueryError
from stackwatch.query.times import RANGE_PATTERN, RANGES, range_seconds
from stackwatch.web.auth import identity

PARTIAL_HEADER = "X-Stackwatch-Partial"
#: the cloud's status (and, URL-quoted, its message) with a partial answer
STATUS_HEADER = "X-Stackwatch-Status"
#: seconds between a page's refreshes
REFRESH_S = 10


class RangeParams(BaseModel):
    """A page's time range: ``range`` like 1h, 6h, 7d (default 6h)."""

    model_config = ConfigDict(extra="ignore")

    # the pattern is documented (OpenAPI), the validator says what is wrong in words
    range: str = Field("6h", json_schema_extra={"pattern": RANGE_PATTERN},
                       description="time range of the charts: 15m, 1h, 6h, 24h, 7d...")

    @field_validator("range")
    @classmethod
    def _valid(cls, value: str) -> str:
        range_seconds(value)
        return value

    @property
    def seconds(self) -> float:
        return range_seconds(self.range)


class Redirect(Exception):
    """Raised by a page's build to send the browser to ``location`` instead (the JSON twin
    to ``location`` + ``.json``): a search form's answer, say."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


@dataclass(frozen=True)
class PageSpec:
    """``build(context, params)`` gives the model ``template`` renders at ``path``."""

    path: str
    template: str
    title: str
    build: Callable[[Context, Any], BaseModel]
    params: type[BaseModel] = RangeParams
    #: its label in the top navigation; empty: reached by links only
    nav: str = ""
    #: its keyboard shortcut, ``g`` then this key
    key: str = ""


@dataclass(frozen=True)
class Site:
    """What every page's template sees besides its model."""

    pages: tuple[PageSpec, ...]
    env: jinja2.Environment

    @property
    def nav(self) -> list[PageSpec]:
        return [p for p in self.pages if p.nav]


def environment() -> jinja2.Environment:
    """The template environment: templates shipped in the package, autoescaped."""
    from stackwatch.web import charts, format

    env = jinja2.Environment(loader=jinja2.PackageLoader("stackwatch.web", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(format.FILTERS)
    env.globals.update(chart=charts.line_chart, lines=charts.lines, range_choices=RANGES)
    # The shared macros are globals too: a partial request renders the ``main`` block
    # alone, which never runs the template's top-level ``{% from "_macros.html" ... %}``
    # (every live refresh answered 500 on "'status' is undefined").
    macros = env.get_template("_macros.html").module
    env.globals.update({name: value for name, value in vars(macros).items()
                        if isinstance(value, Macro)})
    return env


def _params(spec: PageSpec, request: web.Request) -> BaseModel:
    raw: dict[str, str] = dict(request.query)
    raw.update(request.match_info)
    return spec.params.model_validate(raw)


def render(site: Site, spec: PageSpec, request: web.Request, model: BaseModel | None,
           params: BaseModel | None, error: str = "", banner: Any = None) -> str:
    """The page's HTML (only its ``main`` block for a partial request)."""
    template = site.env.get_template(spec.template if model is not None else "error.html")
    # an error page does not refresh itself: the refresh keeps only a good answer, so it
    # would ask again every few seconds for nothing (and a browser logs each 404)
    values = {"page": model, "params": params, "spec": spec, "site": site, "error": error,
              "path": request.path, "query": request.query_string,
              "refresh": REFRESH_S if model is not None else 0, "banner": banner,
              "who": identity(request)}
    if request.headers.get(PARTIAL_HEADER) == "1":
        context = template.new_context(values)
        return "".join(template.blocks["main"](context))
    return template.render(values)


ContextFactory = Callable[[web.Request], Context]


@dataclass(frozen=True)
class Built:
    """A page's model (None on an error), its parameters, the error and the status."""

    model: BaseModel | None
    params: BaseModel | None
    error: str
    status: int
    ctx: Context | None = None


def handlers(site: Site, spec: PageSpec, context: ContextFactory,
             banner: Callable[[Context], Any]
             ) -> tuple[Callable[[web.Request], Any], Callable[[web.Request], Any]]:
    """The HTML handler and the JSON twin's handler of one page."""

    async def build(request: web.Request) -> Built:
        try:
            params = _params(spec, request)
        except ValidationError as exc:
            return Built(None, None, "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()), 400)
        ctx = context(request)
        try:
            model = await asyncio.to_thread(spec.build, ctx, params)
        except QueryError as exc:
            return Built(None, params, str(exc), exc.status)
        return Built(model, params, "", 200, ctx)

    async def html(request: web.Request) -> web.Response:
        try:
            built = await build(request)
        except Redirect as exc:
            raise web.HTTPFound(exc.location) from None
        shown = None
        headers = {}
        if built.ctx is not None:
            shown = await asyncio.to_thread(banner, built.ctx)
            if request.headers.get(PARTIAL_HEADER) == "1":
                # the header's status pill is outside the part: the script sets it from these
                headers = {STATUS_HEADER: str(shown.status),
                           STATUS_HEADER + "-Message": quote(str(shown.message), safe=" ,;:")}
        text = render(site, spec, request, built.model, built.params, built.error, shown)
        return web.Response(text=text, status=built.status, content_type="text/html",
                            headers=headers)

    async def twin(request: web.Request) -> web.Response:
        try:
            built = await build(request)
        except Redirect as exc:
            raise web.HTTPFound(exc.location + ".json") from None
        model, error, status = built.model, built.error, built.status
        if model is None:
            return web.json_response({"error": {"status": status, "message": error}},
                                     status=status)
        return web.Response(body=model.model_dump_json(indent=1),
                            content_type="application/json")

    return html, twin
