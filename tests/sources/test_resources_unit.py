"""Resource isolation and intervals, and the cross-check comparisons (no servers)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from stackwatch.errors import SourceAuthError, SourceError, SourceTimeout
from stackwatch.model import Collection, Sample, Status
from stackwatch.sources.crosscheck import compare
from stackwatch.sources.resources import Resource, ResourceSource

pytestmark = pytest.mark.unit


class Counting(ResourceSource):
    def __init__(self, name: str = "test.counting", region: str = "r1") -> None:
        super().__init__(name, region)
        self.runs = {"fast": 0, "slow": 0, "broken": 0, "buggy": 0}

    def resources(self) -> Sequence[Resource]:
        return (Resource("fast", lambda: self._one("fast")),
                Resource("slow", lambda: self._one("slow"), interval=3600),
                Resource("broken", self._broken), Resource("buggy", self._buggy))

    def _one(self, name: str) -> Collection:
        self.runs[name] += 1
        return Collection((Sample.of(f"x_{name}", self.runs[name]),))

    def _broken(self) -> Collection:
        self.runs["broken"] += 1
        raise SourceTimeout("GET /thing: no answer within 1s")

    def _buggy(self) -> Collection:
        self.runs["buggy"] += 1
        return Collection((Sample.of("x", 1 / 0),))


def test_resources_fail_alone_and_slow_ones_reemit_their_last_samples() -> None:
    source = Counting()
    first = source.collect()
    second = source.collect()
    assert source.runs == {"fast": 2, "slow": 1, "broken": 2, "buggy": 2}
    slow = [s for s in second.samples if s.name == "x_slow"]
    assert [s.value for s in slow] == [1] and slow[0].timestamp == next(
        s.timestamp for s in first.samples if s.name == "x_slow")
    status = {dict(c.labels)["resource"]: c for c in second.checks}
    assert status["fast"].status is Status.OK and status["slow"].status is Status.OK
    assert status["broken"].status is Status.UNKNOWN
    assert "SourceTimeout: GET /thing: no answer within 1s" in status["broken"].message
    assert status["buggy"].status is Status.UNKNOWN
    assert "internal error: ZeroDivisionError" in status["buggy"].message
    up = {s.label("resource"): s.value for s in second.samples
          if s.name == "stackwatch_resource_up"}
    assert up == {"fast": 1, "slow": 1, "broken": 0, "buggy": 0}
    assert {s.label("region") for s in second.samples
            if s.name.startswith("stackwatch_")} == {"r1"}


def _api(error_vms: int, down: dict[tuple[str, str], bool], vcpus: float) -> Collection:
    samples = [Sample.of("openstack_nova_total_vms", 10),
               Sample.of("openstack_nova_servers", error_vms, status="ERROR"),
               Sample.of("openstack_nova_vcpus_available", vcpus / 2, hostname="a"),
               Sample.of("openstack_nova_vcpus_available", vcpus / 2, hostname="b")]
    samples += [Sample.of("openstack_nova_agent_state", 0 if d else 1, hostname=h, service=b)
                for (h, b), d in down.items()]
    return Collection(tuple(samples))


def _sql(error_vms: int, down: dict[tuple[str, str], bool], vcpus: float) -> Collection:
    samples = [Sample.of("openstack_nova_db_instances_error", error_vms),
               Sample.of("openstack_nova_db_vcpus", vcpus)]
    samples += [Sample.of("openstack_nova_db_service_up", 0 if d else 1, host=h, binary=b)
                for (h, b), d in down.items()]
    return Collection(tuple(samples))


def test_crosscheck_agrees_disagrees_and_cannot_compare() -> None:
    api_down = {("c1", "nova-compute"): True, ("c2", "nova-compute"): False}
    sql_down = {**api_down, ("vm", "nova-osapi_compute"): True}  # API does not list it
    agree = {dict(c.labels)["what"]: c for c in compare(_api(2, api_down, 64),
                                                         _sql(2, sql_down, 64))}
    assert agree["error_vms"].status is Status.OK
    assert agree["nova_services_down"].status is Status.OK
    assert agree["vcpus"].status is Status.OK
    assert agree["cinder_services_down"].status is Status.UNKNOWN
    differ = {dict(c.labels)["what"]: c for c in compare(
        _api(3, api_down, 64), _sql(2, {("c1", "nova-compute"): False,
                                       ("c2", "nova-compute"): False}, 48))}
    assert differ["error_vms"].status is Status.WARNING
    assert differ["error_vms"].message == "VMs in error: API says 3, database 2"
    assert differ["nova_services_down"].status is Status.WARNING
    assert "nova-compute on c1" in differ["nova_services_down"].message
    assert differ["vcpus"].status is Status.WARNING


class Blind(ResourceSource):
    def resources(self) -> Sequence[Resource]:
        return (Resource("a", self._fail), Resource("b", self._fail))

    def _fail(self) -> Collection:
        raise SourceTimeout("GET /x: no answer within 1s")


def test_a_source_that_could_read_nothing_raises_for_the_runner() -> None:
    with pytest.raises(SourceTimeout, match=r"no resource of test.blind could be read \(2 tried\); "
                       r"first: GET /x: no answer within 1s"):
        Blind("test.blind").collect()


class Locked(Counting):
    """Counting whose credentials stop working (prepare raises, as on a 401)."""

    locked = False

    def prepare(self) -> tuple[Collection, SourceError | None]:
        if self.locked:
            raise SourceAuthError("POST /v3/auth/tokens: HTTP 401")
        return Collection(), None


def test_a_source_that_cannot_look_forgets_what_it_read_before() -> None:
    """The cross-check read the API's pre-fault figures as current while the API
    answered 401 (and said "API and database agree")."""
    source = Locked("test.locked", "r1")
    source.collect()
    assert {s.name for s in source.latest().samples} == {"x_fast", "x_slow"}
    source.locked = True
    with pytest.raises(SourceAuthError):
        source.collect()
    assert source.latest() == Collection()
    source.locked = False
    source.collect()  # every resource is read again, the slow one too
    assert source.runs["slow"] == 2


class Unusable(Counting):
    """Counting whose endpoint stops answering (prepare gives a reason to skip)."""

    down = False

    def prepare(self) -> tuple[Collection, SourceError | None]:
        if self.down:
            return Collection(), SourceTimeout("GET /: no answer within 1s")
        return Collection(), None


def test_no_resource_reemits_while_the_endpoint_is_down() -> None:
    """The slow resource (quotas, every 600 s) was re-emitted while neutron was stopped."""
    source = Unusable("test.unusable", "r1")
    source.collect()
    source.down = True
    during = source.collect()
    assert [s.name for s in during.samples if s.name.startswith("x_")] == []
    assert {dict(c.labels)["resource"] for c in during.checks
            if c.status is Status.UNKNOWN} == {"fast", "slow", "broken", "buggy"}
