"""The model's semantics: labels, statuses, Nagios rendering."""

from __future__ import annotations

import pytest

from stackwatch.model import CheckResult, PerfDatum, Sample, Status, make_labels

pytestmark = pytest.mark.unit


def test_labels_are_order_independent() -> None:
    assert make_labels({"b": 1, "a": "x"}) == make_labels(a="x", b="1")
    assert Sample.of("m", 1, timestamp=0, a=1, b=2) == Sample.of("m", 1.0, timestamp=0, b=2, a=1)


def test_sample_label_lookup() -> None:
    s = Sample.of("openstack_nova_instances", 3, state="error")
    assert s.label("state") == "error"
    assert s.label("missing", "-") == "-"


def test_worst_status_prefers_known_problems_over_blind_spots() -> None:
    assert Status.worst([Status.OK, Status.UNKNOWN]) is Status.UNKNOWN
    assert Status.worst([Status.UNKNOWN, Status.WARNING]) is Status.WARNING
    assert Status.worst([Status.WARNING, Status.CRITICAL, Status.OK]) is Status.CRITICAL
    assert Status.worst([]) is Status.OK


def test_nagios_line_and_perfdata() -> None:
    check = CheckResult(
        "nova-compute", Status.WARNING, "1 of 10 compute services down",
        perfdata=(PerfDatum("down", 1, warn=1, crit=3, minimum=0, maximum=10),
                  PerfDatum("response time", 0.25, "s")),
    )
    assert check.nagios_line() == (
        "WARNING - 1 of 10 compute services down | down=1;1;3;0;10 'response time'=0.25s"
    )
