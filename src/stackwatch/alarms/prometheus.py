"""The alarms as Prometheus alerting rules over the names of stackwatch's ``/metrics``.

A metric alarm becomes ``<aggregate> by (group_by) (<stat>_over_time(metric{...}[period]))
<op> threshold`` (no aggregation when the alarm has no ``group_by``: one alert per
series, as stackwatch's instances), with ``for:`` the extra evaluation periods; a share
(``divide_by``) divides the two expressions. A check alarm reads
``stackwatch_check_status{check="..."}`` (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN). What
PromQL has no equivalent for (composite alarms, time constraints, ``missing`` as an
alarm) is skipped or approximated, and the rule file says so in a comment.
"""

from __future__ import annotations

from collections.abc import Iterable

import yaml

from stackwatch.alarms.definitions import Alarm

_OVER_TIME = {"last": "last_over_time", "min": "min_over_time", "max": "max_over_time",
              "avg": "avg_over_time", "sum": "sum_over_time", "count": "count_over_time",
              "rate": "rate", "increase": "increase"}
_STATUS = {"warning": 1, "critical": 2, "unknown": 3}


def _selector(metric: str, alarm: Alarm) -> str:
    inner = ",".join(m.promql() for m in alarm.match)
    return f"{metric}{{{inner}}}" if inner else metric


def _series(metric: str, alarm: Alarm) -> str:
    window = f"[{int(alarm.period)}s]"
    p = alarm.percentile
    if p is not None:
        inner = f"quantile_over_time({p / 100:g}, {_selector(metric, alarm)}{window})"
    else:
        inner = f"{_OVER_TIME[alarm.statistic]}({_selector(metric, alarm)}{window})"
    if alarm.group_by is None:
        return inner
    by = ", ".join(alarm.group_by)
    return f"{alarm.combine} by ({by}) ({inner})"


def expression(alarm: Alarm) -> tuple[str | None, str]:
    """The PromQL of an alarm and a note; (None, why) when it has none."""
    notes = []
    if alarm.time_constraints:
        notes.append("time constraints not exported (Alertmanager time intervals do that)")
    if alarm.composite is not None:
        return None, "composite alarm: no PromQL equivalent of and/or over other alerts"
    if alarm.check is not None:
        values = sorted(_STATUS[s] for s in alarm.status)
        sel = ",".join([f'check="{alarm.check}"', *(m.promql() for m in alarm.match)])
        expr = f"stackwatch_check_status{{{sel}}}"
        cond = f" == {values[0]}" if len(values) == 1 else (
            f" >= {values[0]} <= {values[-1]}"
            if values == list(range(values[0], values[-1] + 1)) else
            " == " + f" or {expr} == ".join(map(str, values)))
        if alarm.group_by is not None:
            expr = f"max by ({', '.join(alarm.group_by)}) ({expr})"
        return expr + cond, "; ".join(notes)
    assert alarm.metric is not None and alarm.threshold is not None
    expr = _series(alarm.metric, alarm)
    if alarm.divide_by is not None:
        expr = f"({expr}) / ({_series(alarm.divide_by, alarm)})"
    if alarm.missing not in ("insufficient_data", "ok"):
        notes.append("missing data as an alarm not exported")
    op = alarm.comparison_operator
    threshold = f"{alarm.threshold:g}"
    return f"{expr} {op.symbol} {threshold}", "; ".join(notes)


def rule(alarm: Alarm) -> dict[str, object] | None:
    expr, _ = expression(alarm)
    if expr is None:
        return None
    out: dict[str, object] = {"alert": alarm.name, "expr": expr}
    if alarm.evaluation_periods > 1:
        out["for"] = f"{int(alarm.period * (alarm.evaluation_periods - 1))}s"
    labels = {"severity": alarm.severity.value} if alarm.severity else {}
    if alarm.check is not None and alarm.severity is None:
        labels = {"severity": "critical" if "critical" in alarm.status else "warning"}
    if alarm.metric is not None and alarm.severity is None:
        labels = {"severity": "warning"}
    out["labels"] = labels
    out["annotations"] = {"summary": alarm.describe(),
                          **({"description": alarm.description} if alarm.description else {}),
                          **alarm.annotations}
    return out


def rules_document(alarms: Iterable[Alarm], interval: float = 60.0,
                   group: str = "stackwatch") -> str:
    """A Prometheus rule file (YAML) of ``alarms``, with a comment per alarm skipped or
    approximated."""
    rules: list[dict[str, object]] = []
    comments: list[str] = []
    for alarm in alarms:
        expr, note = expression(alarm)
        if expr is None:
            comments.append(f"# {alarm.name}: skipped: {note}")
            continue
        if note:
            comments.append(f"# {alarm.name}: {note}")
        made = rule(alarm)
        assert made is not None
        rules.append(made)
    head = ["# Prometheus alerting rules exported by `stackwatch export prometheus-rules`",
            "# over the names of stackwatch's /metrics (stackwatch_check_status: 0 OK,",
            "# 1 WARNING, 2 CRITICAL, 3 UNKNOWN). `for:` stands for the extra evaluation",
            "# periods; rate/increase extrapolate to the window's edges as PromQL does.",
            *comments]
    body = yaml.safe_dump({"groups": [{"name": group, "interval": f"{int(interval)}s",
                                       "rules": rules}]}, sort_keys=False, width=120)
    return "\n".join(head) + "\n" + body
