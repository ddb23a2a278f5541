"""Cross-checks: where the API and the databases measure the same thing, do they agree?

``crosscheck`` (a source that reads nothing itself) compares what the API and
SQL sources of one cloud saw last:

* ``error_vms``: API ``openstack_nova_servers{status="ERROR"}`` against SQL
  ``openstack_nova_db_instances_error`` (nova + nova_cell0);
* ``nova_services_down``: API ``openstack_nova_agent_state == 0`` against SQL
  ``openstack_nova_db_service_up == 0``, per (host, binary);
* ``cinder_services_down``: the same with ``openstack_cinder_agent_state`` and
  ``openstack_cinder_db_service_up``;
* ``vcpus``: the sum of API ``openstack_nova_vcpus_available`` against SQL
  ``openstack_nova_db_vcpus``.

OK when they agree, WARNING with both figures when they do not (the two
reads are seconds apart, so a disagreement that lasts is the signal), UNKNOWN
when either side has not been read. Services are compared on the
(host, binary) pairs both sides know (the database also lists
``nova-osapi_compute``, which the API does not).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels
from stackwatch.sources.base import Source
from stackwatch.sources.resources import ResourceSource

CHECK = "crosscheck"


def _samples(collection: Collection, name: str) -> list[Sample]:
    return [s for s in collection.samples if s.name == name]


def _total(collection: Collection, name: str, **labels: str) -> float | None:
    found = [s.value for s in _samples(collection, name)
             if all(s.label(k) == v for k, v in labels.items())]
    return sum(found) if found else None


@dataclass(frozen=True, slots=True)
class Comparison:
    """One thing both sides measure: how to read it from each, and how to say it."""

    what: str
    noun: str
    api: Callable[[Collection], object | None]
    sql: Callable[[Collection], object | None]


def _error_vms_api(c: Collection) -> float | None:
    if not _samples(c, "openstack_nova_total_vms"):
        return None  # servers not read
    return _total(c, "openstack_nova_servers", status="ERROR") or 0.0


def _down(service_metric: str, host_label: str, binary_label: str
          ) -> Callable[[Collection], object | None]:
    def read(c: Collection) -> dict[tuple[str, str], bool] | None:
        rows = _samples(c, service_metric)
        if not rows:
            return None
        return {(s.label(host_label), s.label(binary_label)): s.value == 0 for s in rows}
    return read


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("error_vms", "VMs in error", _error_vms_api,
               lambda c: _total(c, "openstack_nova_db_instances_error")),
    Comparison("nova_services_down", "nova services down",
               _down("openstack_nova_agent_state", "hostname", "service"),
               _down("openstack_nova_db_service_up", "host", "binary")),
    Comparison("cinder_services_down", "cinder services down",
               _down("openstack_cinder_agent_state", "hostname", "service"),
               _down("openstack_cinder_db_service_up", "host", "binary")),
    Comparison("vcpus", "vCPUs", lambda c: _total(c, "openstack_nova_vcpus_available"),
               lambda c: _total(c, "openstack_nova_db_vcpus")),
)


def compare(api: Collection, sql: Collection, region: str = "") -> tuple[CheckResult, ...]:
    """One check per comparison, from what the API and the SQL sources saw."""
    checks = []
    for cmp in COMPARISONS:
        labels = make_labels(what=cmp.what, region=region)
        a, b = cmp.api(api), cmp.sql(sql)
        if a is None or b is None:
            side = "API" if a is None else "database"
            checks.append(CheckResult(CHECK, Status.UNKNOWN,
                                      f"{cmp.noun}: cannot compare, the {side} was not read",
                                      labels))
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            common = sorted(set(a) & set(b))
            api_down = [k for k in common if a[k]]
            sql_down = [k for k in common if b[k]]
            if api_down == sql_down:
                checks.append(CheckResult(CHECK, Status.OK, f"{cmp.noun}: API and database "
                                          f"agree ({len(api_down)} of {len(common)})", labels))
            else:
                differ = sorted(set(api_down) ^ set(sql_down))
                names = ", ".join(f"{b_} on {h}" for h, b_ in differ[:5])
                checks.append(CheckResult(
                    CHECK, Status.WARNING,
                    f"{cmp.noun}: API says {len(api_down)}, database {len(sql_down)} "
                    f"(disagree on {names})", labels))
            continue
        if a == b:
            checks.append(CheckResult(CHECK, Status.OK,
                                      f"{cmp.noun}: API and database agree ({a:g})", labels))
        else:
            checks.append(CheckResult(CHECK, Status.WARNING,
                                      f"{cmp.noun}: API says {a:g}, database {b:g}", labels))
    return tuple(checks)


class CrossCheckSource:
    """Compares the latest data of a cloud's API and SQL sources; reads nothing itself."""

    def __init__(self, sources: Sequence[ResourceSource], name: str = "crosscheck",
                 region: str = "") -> None:
        self._name = name
        self._sources = list(sources)
        self._region = region

    @property
    def name(self) -> str:
        return self._name

    @property
    def after(self) -> tuple[str, ...]:
        """The sources it reads: the runner starts it once they have finished."""
        return tuple(s.name for s in self._sources)

    def collect(self) -> Collection:
        api = Collection()
        sql = Collection()
        for source in self._sources:
            if source.name.startswith("api."):
                api = api + source.latest()
            elif source.name.startswith("sql."):
                sql = sql + source.latest()
        return Collection(checks=compare(api, sql, self._region))


def crosscheck_sources(sources: Sequence[Source]) -> list[Source]:
    """A cross-check source for one cloud's sources, when both API and SQL ones are there."""
    mine = [s for s in sources if isinstance(s, ResourceSource)]
    if not any(s.name.startswith("api.") for s in mine) or not any(
            s.name.startswith("sql.") for s in mine):
        return []
    return [CrossCheckSource(mine, region=mine[0].region_label)]
