"""Alarm files: bad input is one clear error naming file, alarm and field, and the
other alarms still load; defaults merge with the operator's file; every default watches
something a source emits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from stackwatch.alarms.definitions import load_alarms
from stackwatch.catalog.loader import default_catalog

pytestmark = pytest.mark.unit

GOOD = {"name": "good", "metric": "openstack_nova_up", "threshold": 1,
        "comparison_operator": "lt"}


def write(tmp_path: Path, *alarms: object) -> Path:
    path = tmp_path / "alarms.yaml"
    path.write_text(yaml.safe_dump({"alarms": list(alarms)}))
    return path


@pytest.mark.parametrize(("bad", "expected"), [
    ({"name": "typo", "metric": "openstack_nova_up", "thresold": 1},
     "alarms.yaml: typo.thresold: unknown field (a typo?)"),
    ({"name": "unknown", "metric": "openstack_nova_upp", "threshold": 1},
     "alarms.yaml: unknown.metric: 'openstack_nova_upp' is not a metric of the catalog"),
    ({"name": "nan", "metric": "openstack_nova_up", "threshold": "eighty"},
     "alarms.yaml: nan.threshold: Input should be a valid number"),
    ({"name": "stat", "metric": "openstack_nova_up", "threshold": 1, "statistic": "mean"},
     "alarms.yaml: stat.statistic: 'mean' is not a statistic"),
    ({"name": "two", "metric": "openstack_nova_up", "check": "api.endpoint", "threshold": 1},
     "alarms.yaml: two: an alarm watches exactly one of metric, check or composite"),
    ({"name": "act", "metric": "openstack_nova_up", "threshold": 1,
      "alarm_actions": ["mailto:ops"]}, "act.alarm_actions: 'mailto:ops' is not an action"),
    ({"name": "re", "check": "api.endpoint", "match": ['host=~"("']},
     "re.match: '(' is not a regular expression"),
    ({"name": "tz", "check": "api.endpoint",
      "time_constraints": [{"start": "0 9 * * *", "duration": 60, "timezone": "Mars/Base"}]},
     "tz.time_constraints.0.timezone: 'Mars/Base' is not a time zone"),
    ({"name": "cron", "check": "api.endpoint",
      "time_constraints": [{"start": "at nine", "duration": 60}]},
     "cron.time_constraints.0.start: 'at nine' is not a cron expression"),
    ({"name": "lonely", "composite": {"and": ["good", "nobody"]}},
     "lonely.composite: 'nobody' is not a loaded alarm"),
])
def test_one_bad_alarm_is_one_error_and_the_others_load(tmp_path: Path, bad: dict[str, object],
                                                         expected: str) -> None:
    path = write(tmp_path, GOOD, bad)
    loaded = load_alarms([path], defaults=False, catalog=default_catalog())
    assert [a.name for a in loaded.alarms] == ["good"]
    assert len(loaded.problems) == 1, loaded.problems
    assert expected in str(loaded.problems[0])
    assert str(loaded.problems[0]).startswith(str(path))


def test_a_cycle_of_composites_is_one_error(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, {"name": "a", "composite": {"or": ["good", "b"]}},
                 {"name": "b", "composite": {"and": ["c"]}},
                 {"name": "c", "composite": {"and": ["a"]}},
                 {"name": "fine", "composite": {"and": ["good"]}})
    loaded = load_alarms([path], defaults=False, catalog=default_catalog())
    assert [a.name for a in loaded.alarms] == ["good", "fine"]
    assert [str(p) for p in loaded.problems] == [
        f"{path}: a.composite: a cycle of composite alarms: a -> b -> c -> a"]


def test_unreadable_and_shapeless_files(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("- not under alarms\n")
    (tmp_path / "broken.yaml").write_text("alarms: [unclosed\n")
    loaded = load_alarms([tmp_path / "list.yaml", tmp_path / "broken.yaml",
                          tmp_path / "missing.yaml"], defaults=False)
    messages = [str(p) for p in loaded.problems]
    assert "expected a list of alarms under 'alarms:'" in messages[0]
    assert "cannot read" in messages[1] and "cannot read" in messages[2]


def test_the_operator_file_merges_over_the_defaults_by_name(tmp_path: Path) -> None:
    defaults = load_alarms(catalog=default_catalog())
    path = write(tmp_path, {"name": "api-endpoint-slow", "threshold": 0.5},
                 {"name": "disk-80", "enabled": False}, GOOD)
    merged = load_alarms([path], catalog=default_catalog())
    by_name = merged.by_name()
    assert merged.problems == ()
    assert by_name["api-endpoint-slow"].threshold == 0.5
    assert by_name["api-endpoint-slow"].statistic == "avg"  # the default's other fields
    assert "disk-80" not in by_name and "good" in by_name
    assert len(merged.alarms) == len(defaults.alarms)


SOURCES = Path(__file__).parents[2] / "src" / "stackwatch" / "sources"


def emitted_check_names() -> set[str]:
    """Check names written as literals in the sources (each check a source can give)."""
    names: set[str] = set()
    for path in SOURCES.rglob("*.py"):
        names |= set(re.findall(r'"([a-z_]+\.[a-z_]+(?:\.[a-z_]+)?)"', path.read_text()))
    return names


def test_every_default_watches_what_a_source_emits() -> None:
    catalog = default_catalog()
    loaded = load_alarms(catalog=catalog)
    assert loaded.problems == ()
    checks = emitted_check_names()
    orphans = []
    for alarm in loaded.alarms:
        for metric in (alarm.metric, alarm.divide_by):
            if metric is not None:
                spec = catalog.metric_for_sample(metric)
                if spec is None or not spec.source:
                    orphans.append(f"{alarm.name}: metric {metric}")
        if alarm.check is not None and alarm.check not in checks:
            orphans.append(f"{alarm.name}: check {alarm.check}")
    assert orphans == []


def test_the_defaults_cover_the_guides() -> None:
    names = set(load_alarms(catalog=default_catalog()).by_name())
    assert {"api-endpoint-down", "api-endpoint-slow", "api-5xx-rate", "auth-failure-rate",
            "auth-brute-force", "nova-service-down", "neutron-agent-down",
            "cinder-service-down", "compute-nodes-not-reporting", "servers-in-error",
            "volumes-in-error", "volumes-stuck", "snapshots-stuck", "vcpus-free-low",
            "memory-free-low", "quota-vcpus-near-limit", "expired-tokens-piling-up",
            "revocation-events-growing", "source-failing", "process-missing",
            "port-not-listening", "disk-80", "disk-90", "rabbitmq-queues-without-consumers",
            "galera-not-ready"} <= names
