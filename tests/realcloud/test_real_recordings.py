"""The committed recordings (``tests/data/recorded``) still describe the real services.

``scripts/record_fixtures.py`` is run against the real cloud now (``fresh_recordings``):
it must succeed, record the same requests, and every fresh answer must have the shape
(status, headers clients read, keys, JSON types, string formats) of the committed one.
When this fails after a change to the API sources, re-record and commit.
"""

from __future__ import annotations

import re
from pathlib import Path

from stackwatch.sim.fidelity import Bases, compare_recording, load_recording, load_recordings

COMMITTED = Path(__file__).resolve().parents[1] / "data" / "recorded" / "api"
ROOTS = ("http://127.0.0.1:5000", "http://127.0.0.1:8774", "http://127.0.0.1:8778",
         "http://127.0.0.1:9696", "http://127.0.0.1:9292", "http://127.0.0.1:8776")


# Values that change from one recording to the next by nature, not by shape.
ALLOW = {"body/tenant_usages_links/*/href": "the usage window (start/end) is the time of the "
                                            "request, and the link repeats it",
         "body/tenant_usages/*/server_usages/*/ended_at": "null for a server still there, a "
                                                          "time for one deleted in the window",
         # a provider's allocations are keyed by consumer: the instances of that moment
         "body/allocations/????????-????-????-????-????????????": "keyed by the consumers "
                                                                   "(instances) of the moment",
         "body/servers_links/*/href": "a listing of servers changed since a time repeats that "
                                      "time (the request's) in its next link",
         # which instance an .itemN recording is depends on the listing's order: a failed
         # action carries a message, details and traceback, a successful one nulls
         "body/instanceActions/*/message": "null on success, text on failure",
         "body/instanceAction/message": "null on success, text on failure",
         "body/instanceAction/events/*/details": "null on success, text on failure",
         "body/instanceAction/events/*/traceback": "null on success, text on failure",
         # test_real_heat_swift (before this module) adds heat's domain "heat" (an id of
         # 32 hex digits where "default" is a name) and heat's and swift's endpoints, for
         # which record_fixtures.py runs no recording proxy (their URLs stay the real ones)
         "body/domains/*/links/self": "heat's domain beside the default one",
         "body/token/catalog/*/endpoints/*/url": "heat's and swift's endpoints, not proxied",
         # nova shows progress for ACTIVE, BUILD, REBUILD, RESIZE, VERIFY_RESIZE and
         # MIGRATING servers only, and servers made within the same second sort by their
         # random ids: whether a one-item page holds the SHUTOFF one or an ACTIVE one may
         # differ from one cloud to the next
         "body/servers/*/progress": "present for an ACTIVE server, absent for a SHUTOFF one",
         "body/server/progress": "present for an ACTIVE server, absent for a SHUTOFF one"}

# A listing of servers changed since a time holds deleted servers too, and which server
# its page of one is depends on what the tests did before: a deleted server has no host,
# hypervisor or root device, a termination time and no progress; a live one the reverse.
CHANGED_SINCE = {**ALLOW, **{
    f"body/servers/*/{key}": "a deleted server in a changed-since listing nulls it, a "
                             "live one has it"
    for key in ("OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at", "progress",
                "OS-EXT-SRV-ATTR:root_device_name", "OS-EXT-SRV-ATTR:hypervisor_hostname",
                "OS-EXT-SRV-ATTR:host")}}


def _base(name: str) -> str:
    """A recording's name without its ``.itemN`` variant (one per object asked about)."""
    return re.sub(r"\.item\d+(?=\.json$)", "", name)


def test_fresh_recording_covers_the_same_requests(fresh_recordings: Path) -> None:
    for folder in sorted(p.name for p in COMMITTED.iterdir()):
        committed = {_base(n) for n in load_recordings(COMMITTED / folder)}
        fresh = {_base(n) for n in load_recordings(fresh_recordings / folder)}
        assert fresh == committed, (
            f"{folder}: stackwatch now reads other endpoints; re-record "
            f"(scripts/record_fixtures.py). new: {sorted(fresh - committed)}, "
            f"gone: {sorted(committed - fresh)}")


def test_fresh_answers_have_the_committed_shape(fresh_recordings: Path) -> None:
    failures = []
    for path in sorted(COMMITTED.glob("*/*.json")):
        fresh_path = fresh_recordings / path.parent.name / path.name
        if not fresh_path.exists():  # an .itemN the fresh run numbered differently
            fresh_path = fresh_recordings / path.parent.name / _base(path.name)
        report = compare_recording(load_recording(path), load_recording(fresh_path).answer,
                                   bases=Bases(ROOTS, ROOTS),
                                   allow=CHANGED_SINCE if "changes-since" in path.name else ALLOW)
        if not report:
            failures.append(report.explain())
    assert not failures, "\n".join(failures)
