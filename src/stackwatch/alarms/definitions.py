"""Alarm definitions: typed, validated, loaded from YAML and merged by name.

One alarm watches a metric (a statistic over ``period``-long windows, compared with a
threshold), a check (its status), or other alarms (``composite``: and/or). The Aodh
vocabulary is accepted as written (``statistic: avg, period: 600, evaluation_periods: 3,
comparison_operator: gt, threshold: 80, alarm_actions: ['log://']``, ``meter_name`` for
``metric``). The defaults ship in ``catalog/alarms.yaml``; the operator's file
(``alarms.file`` in stackwatch.yaml) merges over them by name (``enabled: false`` turns a
default off). A bad alarm is one :class:`AlarmProblem` naming the file, the alarm and the
field; the others still load.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from stackwatch.catalog.loader import Catalog, catalog_dir
from stackwatch.errors import ConfigError
from stackwatch.model import Status

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")
STATISTICS = ("last", "min", "max", "avg", "sum", "count", "rate", "increase")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Severity(StrEnum):
    """How bad a firing alarm is (Alertmanager's ``severity`` label)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Comparison(StrEnum):
    """Aodh's comparison operators."""

    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"
    EQ = "eq"
    NE = "ne"

    def holds(self, value: float, threshold: float) -> bool:
        return _COMPARE[self](value, threshold)

    @property
    def symbol(self) -> str:
        return _SYMBOL[self]


_COMPARE = {Comparison.GT: float.__gt__, Comparison.GE: float.__ge__,
            Comparison.LT: float.__lt__, Comparison.LE: float.__le__,
            Comparison.EQ: float.__eq__, Comparison.NE: float.__ne__}
_SYMBOL = {Comparison.GT: ">", Comparison.GE: ">=", Comparison.LT: "<", Comparison.LE: "<=",
           Comparison.EQ: "==", Comparison.NE: "!="}
_ALIASES = {"gte": "ge", "lte": "le", ">": "gt", ">=": "ge", "<": "lt", "<=": "le",
            "==": "eq", "!=": "ne"}


class Matcher(_Frozen):
    """One label matcher, Prometheus style: ``=``, ``!=``, ``=~``, ``!~`` (regexes anchored)."""

    label: str
    op: Literal["=", "!=", "=~", "!~"] = "="
    value: str

    @model_validator(mode="after")
    def _regex(self) -> Matcher:
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"{self.value!r} is not a regular expression: {exc}") from None
        return self

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """``host=~"cmp-.*"`` -> a matcher; ValueError when it is not one."""
        found = _MATCHER.match(text)
        if not found:
            raise ValueError(f"{text!r} is not a matcher like name=\"value\" (=, !=, =~, !~)")
        return cls(label=found[1], op=found[2], value=found[3])

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.label, "")
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        found = re.fullmatch(self.value, value) is not None
        return found if self.op == "=~" else not found

    def promql(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.label}{self.op}"{escaped}"'

    def __str__(self) -> str:
        return f'{self.label}{self.op}"{self.value}"'


def parse_matchers(raw: Any) -> list[Matcher]:
    """Matchers from a mapping (``{service: nova}``: equality, or ``{host: "=~cmp.*"}``),
    a list of ``name="value"`` strings, or one such string."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if isinstance(raw, Mapping):
        out = []
        for key, value in raw.items():
            text = str(value)
            for op in ("=~", "!~", "!=", "="):
                if text.startswith(op):
                    out.append(Matcher(label=str(key), op=op,
                                       value=text[len(op):]))
                    break
            else:
                out.append(Matcher(label=str(key), value=text))
        return out
    if isinstance(raw, list):
        return [m if isinstance(m, Matcher) else
                Matcher.model_validate(m) if isinstance(m, Mapping) else Matcher.parse(str(m))
                for m in raw]
    raise ValueError("matchers are a mapping or a list of name=\"value\" strings")


class TimeConstraint(_Frozen):
    """When the alarm is evaluated (Aodh): from each ``start`` (cron) for ``duration``
    seconds, in ``timezone``. Outside every constraint the alarm keeps its state."""

    name: str = ""
    start: str
    duration: float = Field(gt=0)
    timezone: str = "UTC"

    @field_validator("start")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression (minute hour day month "
                             "weekday)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (e.g. Europe/Paris)") from None
        return value

    def active(self, now: float) -> bool:
        """True when ``now`` falls within ``duration`` of the latest start."""
        from datetime import datetime, timedelta

        from croniter import croniter

        here = datetime.fromtimestamp(now, ZoneInfo(self.timezone))
        # the latest start at or before now (get_prev is strictly before its base)
        prev = croniter(self.start, here + timedelta(seconds=1)).get_prev(datetime)
        return 0 <= now - prev.timestamp() < self.duration


class Composite(_Frozen):
    """``and``/``or`` of other alarms (by name) or nested composites."""

    op: Literal["and", "or"]
    of: tuple[str | Composite, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and len(data) == 1:
            (key, value), = data.items()
            if key in ("and", "or"):
                return {"op": key, "of": value}
        return data

    def names(self) -> set[str]:
        out: set[str] = set()
        for part in self.of:
            out |= {part} if isinstance(part, str) else part.names()
        return out


class Alarm(_Frozen):
    """One alarm definition (see the module docstring and docs/alarms.md)."""

    name: str
    description: str = ""
    metric: str | None = Field(None, validation_alias="meter_name")
    check: str | None = None
    composite: Composite | None = None
    match: tuple[Matcher, ...] = ()
    #: a second metric (same labels, same matchers) the first is divided by: a share
    divide_by: str | None = None
    statistic: str = "last"
    period: float = Field(60.0, gt=0)
    evaluation_periods: int = Field(1, ge=1, le=1000)
    comparison_operator: Comparison = Comparison.GT
    threshold: float | None = None
    #: check statuses that fire (check alarms)
    status: tuple[Literal["warning", "critical", "unknown"], ...] = ("critical",)
    #: the severity when firing; check alarms without one take the check's status
    severity: Severity | None = None
    #: one instance per distinct value of these labels; none given: one per series
    group_by: tuple[str, ...] | None = None
    #: how the series of one group combine (default: sum for sum/count/rate/increase,
    #: else the worst for the comparison: max for gt/ge, min for lt/le)
    aggregate: Literal["sum", "max", "min", "avg"] | None = None
    #: the state of an instance with no data: insufficient_data, ok, or a severity (alarm)
    missing: Literal["insufficient_data", "ok", "info", "warning", "critical"] = (
        "insufficient_data")
    repeat_interval: float | None = Field(None, gt=0)
    time_constraints: tuple[TimeConstraint, ...] = ()
    alarm_actions: tuple[str, ...] | None = None
    ok_actions: tuple[str, ...] | None = None
    insufficient_data_actions: tuple[str, ...] | None = None
    annotations: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    #: Aodh's alarm type, accepted and checked against what the alarm is
    type: Literal["threshold", "check", "composite"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _aodh(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if "comparison" in data and "comparison_operator" not in data:
            data["comparison_operator"] = data.pop("comparison")
        op = data.get("comparison_operator")
        if isinstance(op, str):
            data["comparison_operator"] = _ALIASES.get(op, op)
        if isinstance(data.get("status"), str):
            data["status"] = [data["status"]]
        if isinstance(data.get("status"), list):
            data["status"] = [str(s).lower() for s in data["status"]]
        for key in ("alarm_actions", "ok_actions", "insufficient_data_actions"):
            if isinstance(data.get(key), str):
                data[key] = [data[key]]
        if isinstance(data.get("group_by"), str):
            data["group_by"] = [data["group_by"]]
        return data

    @field_validator("match", mode="before")
    @classmethod
    def _matchers(cls, value: Any) -> list[Matcher]:
        return parse_matchers(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not an alarm name (letters, digits, _ . -)")
        return value

    @field_validator("statistic")
    @classmethod
    def _statistic(cls, value: str) -> str:
        found = _PERCENTILE.match(value)
        if value not in STATISTICS and not (found and 0 < float(found[1]) < 100):
            raise ValueError(f"{value!r} is not a statistic: one of {', '.join(STATISTICS)} "
                             "or a percentile pNN")
        return value

    @field_validator("alarm_actions", "ok_actions", "insufficient_data_actions")
    @classmethod
    def _actions(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        from stackwatch.alarms.actions import target_of

        for url in value or ():
            target_of(url)  # ValueError naming the URL
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Alarm:
        kinds = [k for k in ("metric", "check", "composite") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("an alarm watches exactly one of metric, check or composite "
                             f"(found {', '.join(kinds) or 'none'})")
        if self.metric is not None and self.threshold is None:
            raise ValueError("a metric alarm needs a threshold")
        if self.divide_by is not None and self.metric is None:
            raise ValueError("divide_by needs a metric")
        if self.type is not None and self.type != self.kind:
            raise ValueError(f"type {self.type} does not match what it watches ({self.kind})")
        return self

    @property
    def kind(self) -> Literal["threshold", "check", "composite"]:
        if self.metric is not None:
            return "threshold"
        return "check" if self.check is not None else "composite"

    @property
    def percentile(self) -> float | None:
        found = _PERCENTILE.match(self.statistic)
        return float(found[1]) if found else None

    @property
    def combine(self) -> str:
        """How the series of a group combine (see ``aggregate``)."""
        if self.aggregate:
            return self.aggregate
        if self.statistic in ("sum", "count", "rate", "increase"):
            return "sum"
        return "min" if self.comparison_operator in (Comparison.LT, Comparison.LE) else "max"

    def window(self) -> float:
        """Seconds of data an evaluation reads."""
        return self.period * self.evaluation_periods

    def constrained_out(self, now: float) -> bool:
        """True when time constraints exist and none is active now."""
        return bool(self.time_constraints) and not any(
            c.active(now) for c in self.time_constraints)

    def describe(self) -> str:
        """One line of what fires it."""
        if self.metric is not None:
            sel = ",".join(map(str, self.match))
            per = f" / {self.divide_by}" if self.divide_by else ""
            return (f"{self.statistic}({self.metric}{per}{{{sel}}}[{self.period:g}s]) "
                    f"{self.comparison_operator.symbol} {self.threshold:g}"
                    + (f" for {self.evaluation_periods} periods"
                       if self.evaluation_periods > 1 else ""))
        if self.check is not None:
            sel = ",".join(map(str, self.match))
            return f"check {self.check}{{{sel}}} is {'/'.join(self.status)}"
        assert self.composite is not None
        return _composite_text(self.composite)

    def firing_statuses(self) -> set[Status]:
        return {Status[s.upper()] for s in self.status}


def _composite_text(c: Composite) -> str:
    return "(" + f" {c.op} ".join(p if isinstance(p, str) else _composite_text(p)
                                  for p in c.of) + ")"


@dataclass(frozen=True, slots=True)
class AlarmProblem:
    """One alarm that did not load: where and why."""

    file: str
    alarm: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.alarm}" + (f".{self.field}" if self.field else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class AlarmSet:
    """The alarms that loaded, in evaluation order (composites after what they use), and
    the problems of those that did not."""

    alarms: tuple[Alarm, ...]
    problems: tuple[AlarmProblem, ...] = ()

    def by_name(self) -> dict[str, Alarm]:
        return {a.name: a for a in self.alarms}

    def raise_problems(self) -> None:
        if self.problems:
            raise ConfigError("; ".join(map(str, self.problems)))


def default_alarms_path() -> Path:
    """The defaults shipped beside the metrics they watch."""
    return catalog_dir() / "alarms.yaml"


def _entries(path: Path | str, text: str | None, problems: list[AlarmProblem]
             ) -> list[tuple[str, Mapping[str, Any]]]:
    label = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text() if text is None else text)
    except (OSError, yaml.YAMLError) as exc:
        problems.append(AlarmProblem(label, "(file)", "", f"cannot read: {exc}"))
        return []
    if raw is None:
        return []
    entries = raw.get("alarms") if isinstance(raw, Mapping) else None
    if not isinstance(entries, list):
        problems.append(AlarmProblem(label, "(file)", "alarms",
                                     "expected a list of alarms under 'alarms:'"))
        return []
    out = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            problems.append(AlarmProblem(label, f"alarms.{index}", "name",
                                         "each alarm is a mapping with a name"))
            continue
        out.append((label, entry))
    return out


def _validate(label: str, entry: Mapping[str, Any], catalog: Catalog | None
              ) -> Alarm | AlarmProblem:
    name = str(entry["name"])
    try:
        alarm = Alarm.model_validate(entry)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = f"unknown field (a typo?); known: {', '.join(sorted(_FIELDS))}"
        return AlarmProblem(label, name, field, message)
    except ValueError as exc:  # a matcher list that is not one
        return AlarmProblem(label, name, "match", str(exc))
    for field_name in ("metric", "divide_by"):
        metric = getattr(alarm, field_name)
        if catalog is not None and metric is not None and (
                catalog.metric_for_sample(metric) is None):
            return AlarmProblem(label, name, field_name,
                                f"{metric!r} is not a metric of the catalog")
    return alarm


_FIELDS = set(Alarm.model_fields) | {"meter_name", "comparison"}


def load_alarms(
    files: Sequence[Path | str] = (),
    *,
    catalog: Catalog | None = None,
    defaults: bool = True,
    texts: Mapping[str, str] | None = None,
) -> AlarmSet:
    """The defaults (unless ``defaults`` is False), then each file merged over them by
    name (a later entry's fields replace the earlier's; ``enabled: false`` drops one).
    ``texts`` gives files by label with their content (tests, the API). Checked against
    ``catalog`` (metric names) when given; composites must name loaded alarms, without
    cycles."""
    problems: list[AlarmProblem] = []
    merged: dict[str, tuple[str, dict[str, Any]]] = {}
    sources: list[tuple[Path | str, str | None]] = []
    if defaults:
        sources.append((default_alarms_path(), None))
    sources += [(f, None) for f in files]
    sources += [(label, text) for label, text in (texts or {}).items()]
    for path, text in sources:
        for label, entry in _entries(path, text, problems):
            name = str(entry["name"])
            before = merged.get(name)
            fields = {**before[1], **entry} if before else dict(entry)
            merged[name] = (label, fields)
    alarms: dict[str, Alarm] = {}
    for name, (label, fields) in merged.items():
        result = _validate(label, fields, catalog)
        if isinstance(result, AlarmProblem):
            problems.append(result)
        elif result.enabled:
            alarms[name] = result
    ordered = _order(alarms, {n: lbl for n, (lbl, _) in merged.items()}, problems)
    return AlarmSet(tuple(ordered), tuple(problems))


def _order(alarms: dict[str, Alarm], labels: Mapping[str, str],
           problems: list[AlarmProblem]) -> list[Alarm]:
    """Alarms with composites after what they use; a composite naming an unknown alarm or
    in a cycle is a problem and left out (and so is one using it)."""
    done: dict[str, bool] = {}
    out: list[Alarm] = []

    def visit(name: str, path: tuple[str, ...]) -> bool:
        if name in done:
            return done[name]
        alarm = alarms.get(name)
        if alarm is None:
            return False
        if alarm.composite is not None:
            for used in sorted(alarm.composite.names()):
                if used in path or used == name:
                    members = (*path[path.index(used):], name) if used in path else (name,)
                    cycle = " -> ".join((*members, used))
                    problems.append(AlarmProblem(labels[used], used, "composite",
                                                 f"a cycle of composite alarms: {cycle}"))
                    for member in members:
                        done[member] = False
                    return False
                if used not in alarms:
                    problems.append(AlarmProblem(labels[name], name, "composite",
                                                 f"{used!r} is not a loaded alarm"))
                    done[name] = False
                    return False
                if not visit(used, (*path, name)):
                    if name not in done:
                        problems.append(AlarmProblem(labels[name], name, "composite",
                                                     f"uses {used!r}, which did not load"))
                    done[name] = False
                    return False
        if name not in done:
            done[name] = True
            out.append(alarm)
        return done[name]

    for name in alarms:
        visit(name, ())
    return out


def actions_of(alarm: Alarm, state: str, default: Iterable[str]) -> tuple[str, ...]:
    """The action URLs of a transition into ``state`` (the configured default when the
    alarm names none)."""
    own = {"alarm": alarm.alarm_actions, "ok": alarm.ok_actions,
           "insufficient_data": alarm.insufficient_data_actions}[state]
    if own is not None:
        return own
    if alarm.alarm_actions is not None:  # Aodh: an alarm with actions of its own
        return ()
    return tuple(default)
