"""A Grafana dashboard for the metrics stackwatch exports (``stackwatch export grafana``).

The panels are data (:data:`ROWS`): one row per area — health, the APIs as their logs
show them (rate, 5xx, latency percentiles), compute capacity, agents, the sources'
freshness — each panel a title, a kind and its PromQL, over stackwatch's own
``/metrics`` names only, every one declared in ``catalog/metrics/*.yaml`` (the tests
parse every expression's metric names against the catalog, and have a real Prometheus
parse every expression). The datasource is a dashboard variable (``${datasource}``,
any Prometheus), so one import fits any Grafana; ``schemaVersion`` 39 (Grafana 10.4+
reads it; older ones migrate from 36 up).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
#: a histogram family's series in an expression (``..._bucket``) -> its catalog name
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


@dataclass(frozen=True, slots=True)
class Target:
    """One query of a panel and its legend."""

    expr: str
    legend: str = ""


@dataclass(frozen=True, slots=True)
class Panel:
    """One panel: ``kind`` a Grafana panel type (timeseries, stat, table)."""

    title: str
    targets: tuple[Target, ...]
    kind: str = "timeseries"
    unit: str = "short"
    description: str = ""


@dataclass(frozen=True, slots=True)
class Row:
    """One area of the dashboard."""

    title: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def _t(expr: str, legend: str = "") -> Target:
    return Target(expr, legend)


_QUANTILES = (("p50", "0.5"), ("p95", "0.95"), ("p99", "0.99"))
_APIS = (("keystone", "identity"), ("nova", "nova"), ("neutron", "neutron"),
         ("glance", "glance"), ("cinder", "cinder"), ("placement", "placement"))

ROWS: tuple[Row, ...] = (
    Row("Health", (
        Panel("API endpoints up", tuple(_t(f"min(openstack_{metric}_up)", name)
                                        for name, metric in _APIS), "stat",
              description="1 when the service's version document answered (api.endpoint)"),
        Panel("nova services down", (
            _t("sum by (service) (1 - openstack_nova_agent_state)", "{{service}}"),)),
        Panel("neutron agents dead", (
            _t("sum by (service) (1 - openstack_neutron_agent_state)", "{{service}}"),)),
        Panel("cinder services down", (
            _t("sum by (service) (1 - openstack_cinder_agent_state)", "{{service}}"),)),
        Panel("Oldest heartbeat per binary", (
            _t("max by (service) (openstack_nova_service_heartbeat_age_seconds)",
               "{{service}}"),
            _t("max by (service) (openstack_neutron_agent_heartbeat_age_seconds)",
               "{{service}}")), unit="s",
              description="late past twice the report interval (10 s nova, 30 s neutron)"),
        Panel("Servers in ERROR", (
            _t('sum(openstack_nova_servers{status="ERROR"})', "ERROR"),), "stat"),
    )),
    Row("APIs (from their logs)", (
        Panel("Requests per second", (
            _t("sum by (service) (rate(openstack_log_http_requests_total[5m]))",
               "{{service}}"),), unit="reqps"),
        Panel("5xx per second", (
            _t('sum by (service) (rate(openstack_log_http_requests_total{status=~"5.."}'
               '[5m]))', "{{service}}"),), unit="reqps"),
        Panel("5xx share", (
            _t('sum by (service) (rate(openstack_log_http_requests_total{status=~"5.."}'
               '[5m])) / sum by (service) (rate(openstack_log_http_requests_total[5m]))',
               "{{service}}"),), unit="percentunit"),
        Panel("Latency percentiles", tuple(
            _t(f"histogram_quantile({q}, sum by (service, le) "
               f"(rate(openstack_log_http_request_duration_seconds_bucket[5m])))",
               f"{{{{service}}}} {name}") for name, q in _QUANTILES), unit="s"),
        Panel("Failed logins per second", (
            _t("sum by (host) (rate(openstack_log_identity_auth_failures_total[5m]))",
               "{{host}}"),), unit="reqps"),
        Panel("Endpoint probe latency", (
            _t("openstack_api_endpoint_latency_seconds", "{{service}}"),), unit="s"),
    )),
    Row("Compute capacity", (
        Panel("vCPU used / capacity", (
            _t("sum(openstack_nova_vcpus_used) / sum(openstack_nova_vcpus_capacity)",
               "vCPU"),
            _t("sum(openstack_nova_memory_used_bytes) / "
               "sum(openstack_nova_memory_capacity_bytes)", "RAM")), unit="percentunit"),
        Panel("Free vCPU per zone", (
            _t("sum by (availability_zone) (openstack_nova_zone_vcpus_free)",
               "{{availability_zone}}"),)),
        Panel("Free RAM per zone", (
            _t("sum by (availability_zone) (openstack_nova_zone_memory_free_bytes)",
               "{{availability_zone}}"),), unit="bytes"),
        Panel("Servers by status", (
            _t("sum by (status) (openstack_nova_servers)", "{{status}}"),)),
        Panel("Fullest hypervisors (vCPU)", (
            _t("topk(10, openstack_nova_vcpus_used / openstack_nova_vcpus_capacity)",
               "{{hostname}}"),), unit="percentunit"),
    )),
    Row("Agents", (
        Panel("neutron agents alive", (
            _t("sum by (service) (openstack_neutron_agent_state)", "{{service}}"),)),
        Panel("Routers per L3 agent", (
            _t("openstack_neutron_l3_agent_routers", "{{agent_host}}"),)),
        Panel("Agent heartbeat age", (
            _t("openstack_neutron_agent_heartbeat_age_seconds", "{{service}} {{hostname}}"),),
              unit="s"),
        Panel("nova service heartbeat age", (
            _t("openstack_nova_service_heartbeat_age_seconds", "{{service}} {{hostname}}"),),
              unit="s"),
    )),
    Row("Sources", (
        Panel("Sources up", (_t("stackwatch_source_up", "{{source}}"),)),
        Panel("Since last success", (
            _t("time() - stackwatch_source_last_success_timestamp_seconds", "{{source}}"),),
              unit="s"),
        Panel("Run duration", (_t("stackwatch_source_duration_seconds", "{{source}}"),),
              unit="s"),
        Panel("Resources not read", (
            _t("count by (source) (stackwatch_resource_up == 0)", "{{source}}"),)),
    )),
)


def exprs(rows: tuple[Row, ...] = ROWS) -> Iterator[str]:
    """Every PromQL expression of the dashboard."""
    for row in rows:
        for panel in row.panels:
            for target in panel.targets:
                yield target.expr


_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')
_MATCHERS = re.compile(r"\{[^}]*\}|\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_WORD = re.compile(r"(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                       "offset", "and", "or", "unless", "inf", "nan", "e"})


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (histogram series as their family's name)."""
    text = _GROUPING.sub(" ", _MATCHERS.sub(" ", _STRINGS.sub(" ", expr)))
    names = {m.group() for m in _WORD.finditer(text)
             if m.group().lower() not in _KEYWORDS
             and not text[m.end():].lstrip().startswith("(")}  # a function
    return {next((n.removesuffix(s) for s in HISTOGRAM_SUFFIXES if n.endswith(s)), n)
            for n in names}


def dashboard(title: str = "stackwatch: OpenStack", uid: str = "stackwatch-openstack"
              ) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (import it, or provision it as a file)."""
    panels: list[dict[str, Any]] = []
    next_id = 1
    y = 0
    for row in ROWS:
        panels.append({"type": "row", "id": next_id, "title": row.title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id += 1
        y += 1
        for index, panel in enumerate(row.panels):
            x = (index % 3) * 8
            if index and index % 3 == 0:
                y += 8
            panels.append({
                "type": panel.kind, "id": next_id, "title": panel.title,
                "description": panel.description, "datasource": DATASOURCE,
                "gridPos": {"h": 8, "w": 8, "x": x, "y": y},
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "options": {},
                "targets": [{"refId": chr(ord("A") + i), "datasource": DATASOURCE,
                             "expr": t.expr, "legendFormat": t.legend, "range": True}
                            for i, t in enumerate(panel.targets)],
            })
            next_id += 1
        y += 8
    return {
        "title": title, "uid": uid, "schemaVersion": SCHEMA_VERSION, "version": 1,
        "editable": True, "tags": ["openstack", "stackwatch"], "timezone": "utc",
        "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{
            "name": "datasource", "label": "Prometheus", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0, "refresh": 1}]},
        "annotations": {"list": []},
        "panels": panels,
    }
