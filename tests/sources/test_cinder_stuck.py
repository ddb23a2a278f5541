"""``cinder.volumes_stuck``: volumes held in a transitional status, from cinder's volume
rows as ``volumes/detail`` gives them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from stackwatch.errors import InvalidResponse
from stackwatch.model import Status
from stackwatch.sources.openstack_api.block_storage import STUCK_CHECK, Sized, stuck_check

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
HOUR = 3600.0


def volume(ident: str, status: str, updated: str | None,
           created: str | None = "2026-01-01T00:00:00.000000") -> dict[str, Any]:
    """A row of ``volumes/detail`` with the fields the check reads (as cinder writes them:
    UTC without an offset, from its database)."""
    return {"id": ident, "status": status, "size": 1, "updated_at": updated,
            "created_at": created}


def ago(seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(NOW - seconds, dt.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


@pytest.mark.parametrize(("rows", "status", "named"), [
    ([], Status.OK, []),
    ([volume("a", "available", ago(30 * 24 * HOUR))], Status.OK, []),      # settled
    ([volume("a", "error", ago(30 * 24 * HOUR))], Status.OK, []),          # not moving
    ([volume("a", "reserved", ago(30 * 24 * HOUR))], Status.OK, []),       # shelved server
    ([volume("a", "deleting", ago(HOUR - 60))], Status.OK, []),             # still going
    ([volume("a", "deleting", ago(HOUR + 60))], Status.WARNING, ["a"]),
    ([volume("a", "creating", None, ago(2 * HOUR))], Status.WARNING, ["a"]),  # created_at
    ([volume("a", "attaching", None, None)], Status.OK, []),               # no time: unjudged
    ([volume("old", "detaching", ago(5 * HOUR)), volume("new", "extending", ago(2 * HOUR)),
      volume("ok", "in-use", ago(9 * HOUR))], Status.WARNING, ["old", "new"]),
])
def test_volumes_in_a_transitional_status_for_over_an_hour_are_named_oldest_first(
        rows: list[dict[str, Any]], status: Status, named: list[str]) -> None:
    check = stuck_check([Sized.from_api(r, "cinder volumes/detail", "volumes") for r in rows],
                        NOW, "RegionOne")
    assert (check.name, check.status) == (STUCK_CHECK, status)
    assert dict(check.labels) == {"service": "cinder-volume", "region": "RegionOne"}
    assert [p.value for p in check.perfdata if p.label == "stuck"] == [len(named)]
    if named:
        listed = check.message.split(": ", 1)[1]
        assert [part.split(" (")[0] for part in listed.split(", ")] == named
        assert check.message.startswith(f"{len(named)} volume(s) stuck in a transitional "
                                        "status for over 1 h: ")
    else:
        assert check.message == "no volume in a transitional status for over 1 h"


def test_ten_are_named_and_the_count_says_the_rest() -> None:
    rows = [Sized("deleting", 1, f"v{i:02d}", since=NOW - 2 * HOUR - i) for i in range(13)]
    check = stuck_check(rows, NOW, "r")
    assert check.message.startswith("13 volume(s) stuck")
    assert check.message.endswith("v03 (deleting 2.0 h) and 3 more")
    assert "v12 (deleting 2.0 h)" in check.message  # the oldest first


@pytest.mark.parametrize(("text", "seconds"), [
    ("2027-01-15T08:00:00.000000", NOW),      # cinder, from its database
    ("2027-01-15T08:00:00.250000", NOW + 0.25),
    ("2027-01-15 08:00:00", NOW),             # neutron
    ("2027-01-15T08:00:00Z", NOW),
    ("2027-01-15T09:00:00+01:00", NOW),
])
def test_times_without_an_offset_are_utc(text: str, seconds: float) -> None:
    assert Sized.from_api(volume("a", "deleting", text), "v", "volumes").since == seconds


@pytest.mark.parametrize("bad", ["yesterday", 1_700_000_000])
def test_a_time_that_is_not_one_is_an_invalid_response(bad: object) -> None:
    with pytest.raises(InvalidResponse, match="cinder volumes/detail: field 'updated_at'"):
        Sized.from_api({"id": "a", "status": "deleting", "updated_at": bad},
                       "cinder volumes/detail", "volumes")
