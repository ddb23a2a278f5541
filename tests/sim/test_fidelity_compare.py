"""The fidelity comparison itself, on pairs of real recordings (no simulator needed)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from fidelity import API_RECORDINGS, recorded_roots
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.sim.fidelity import (
    Answer,
    Bases,
    compare,
    compare_recording,
    load_recording,
    load_recordings,
    pagination_problems,
    service_root,
    string_format,
)

pytestmark = pytest.mark.unit

NETWORK = API_RECORDINGS / "network"
VOLUME = API_RECORDINGS / "block-storage"
NEUTRON = "http://127.0.0.1:9696"


def rec(folder: Path, name: str) -> Answer:
    return load_recording(folder / name).answer


def kinds(report: object) -> set[tuple[str, str]]:
    return {(d.path, d.kind) for d in report.differences}  # type: ignore[attr-defined]


def test_every_recording_loads_and_matches_itself() -> None:
    count = 0
    for folder in sorted(API_RECORDINGS.iterdir()):
        for name, recording in load_recordings(folder).items():
            count += 1
            report = compare_recording(recording, recording.answer)
            assert report, report.explain()
            assert recording.url_for(recording.recorded_ids()) == recording.request_url, name
    info = json.loads((API_RECORDINGS / "INFO.json").read_text())
    assert count == info["files"] > 200


@pytest.mark.parametrize(
    ("folder", "name", "method", "template", "microversion", "variant"),
    [
        ("network", "GET___v2.0.json", "GET", "/v2.0", None, None),
        ("network", "GET___v2.0.authenticated.json", "GET", "/v2.0", None, "authenticated"),
        ("network", "GET___v2.0__networks~limit=1&marker={network_id}.page2.json", "GET",
         "/v2.0/networks?limit=1&marker={network_id}", None, "page2"),
        ("block-storage", "GET___v3__{project_id}__volumes@9.99.406-bad-microversion.json",
         "GET", "/v3/{project_id}/volumes", "9.99", "406-bad-microversion"),
        ("block-storage",
         "GET___v3__{project_id}__os-quota-sets__{project_id}~usage=True@latest.json", "GET",
         "/v3/{project_id}/os-quota-sets/{project_id}?usage=True", "latest", None),
        ("image", "GET___.json", "GET", "/", None, None),
    ],
)
def test_file_names_give_template_microversion_and_variant(
    folder: str, name: str, method: str, template: str, microversion: str | None,
    variant: str | None,
) -> None:
    recording = load_recording(API_RECORDINGS / folder / name)
    assert (recording.method, recording.template) == (method, template)
    assert (recording.microversion, recording.variant) == (microversion, variant)


def test_placeholders_are_filled_and_missing_ones_keep_the_recorded_value() -> None:
    page2 = load_recording(NETWORK / "GET___v2.0__networks~limit=1&marker={network_id}.page2.json")
    assert page2.placeholders == ("network_id",)
    assert page2.url_for({"network_id": "abc"}) == "/v2.0/networks?limit=1&marker=abc"
    missing = load_recording(NETWORK / "GET___v2.0__networks__{network_id}.404.json")
    assert missing.url_for({}) == "/v2.0/networks/00000000-0000-0000-0000-000000000000"


def test_a_different_list_variant_is_reported_key_by_key() -> None:
    # one page holds the external flat network, the other the internal vlan one
    pages = [rec(NETWORK, "GET___v2.0__networks~limit=1.json"),
             rec(NETWORK, "GET___v2.0__networks~limit=1&marker={network_id}.page2.json")]
    external, internal = sorted(pages, key=lambda a: not a.body["networks"][0][
        "router:external"])
    assert internal.body["networks"][0]["provider:network_type"] == "vlan"
    found = kinds(compare(external, internal, bases=Bases((NEUTRON,), (NEUTRON,))))
    assert found == {
        ("body/networks/*/is_default", "missing-key"),
        ("body/networks/*/provider:segmentation_id", "null"),
    }


def test_a_list_element_is_compared_with_its_closest_recorded_variant() -> None:
    # the full listing has both variants, so either page matches it
    full = rec(NETWORK, "GET___v2.0__networks.json")
    for name in ("GET___v2.0__networks~limit=1.json",
                 "GET___v2.0__networks~limit=1&marker={network_id}.page2.json"):
        page = copy.deepcopy(rec(NETWORK, name))
        page.body.pop("networks_links")
        assert compare(full, page), name


def test_microversion_fields_show_up_as_extra_keys() -> None:
    old = rec(VOLUME, "GET___v3__{project_id}__volumes__detail~all_tenants=1@3.0.json")
    new = rec(VOLUME, "GET___v3__{project_id}__volumes__detail~all_tenants=1@latest.json")
    report = compare(old, new)
    extra = {p.rsplit("/", 1)[1] for p, k in kinds(report) if k == "extra-key"}
    assert extra == {"group_id", "provider_id", "shared_targets", "service_uuid",
                     "cluster_name", "volume_type_id", "consumes_quota"}
    assert ("header/openstack-api-version", "header") in kinds(report)


def test_status_and_error_body_differences() -> None:
    ok = rec(NETWORK, "GET___v2.0__networks.json")
    denied = rec(NETWORK, "GET___v2.0__networks.401-no-token.json")
    found = kinds(compare(ok, denied))
    assert ("status", "status") in found
    assert ("header/www-authenticate", "header") in found
    assert ("body/networks", "missing-key") in found and ("body/error", "extra-key") in found


def test_content_type_of_empty_answers_is_compared_exactly() -> None:
    neutron_delete = rec(NETWORK, "DELETE___v2.0__ports__{port_id}.json")
    glance_delete = rec(API_RECORDINGS / "image", "DELETE___v2__images__{image_id}.json")
    assert ("header/content-type", "header") in kinds(compare(neutron_delete, glance_delete))


def test_string_formats_are_told_apart() -> None:
    assert string_format("2026-11-21T06:12:23Z") == "datetime-Z"
    assert string_format("2026-11-21T06:12:28.000000") == "datetime-usec"
    assert string_format("2017-09-12 19:40:08") == "datetime-space"
    assert string_format("de912f432d76441d9a692064394cb3d4") == "hex32"
    assert string_format("6619507c-0807-4b23-b737-201cbfc8a046") == "uuid"
    assert string_format("fa:16:3e:90:25:75") == "mac"
    assert string_format("public") is None
    networks = rec(NETWORK, "GET___v2.0__networks.json")
    wrong = copy.deepcopy(networks)
    for net in wrong.body["networks"]:
        net["created_at"] = "2026-11-21T06:12:23.000000"  # cinder's format, not neutron's
        net["project_id"] = "6619507c-0807-4b23-b737-201cbfc8a046"  # a uuid, not keystone's
    found = kinds(compare(networks, wrong))
    assert ("body/networks/*/created_at", "format") in found
    assert ("body/networks/*/project_id", "format") in found


def test_links_are_compared_by_shape_across_roots() -> None:
    page = rec(NETWORK, "GET___v2.0__networks~limit=1.json")
    moved = copy.deepcopy(page)
    for link in moved.body["networks_links"]:
        link["href"] = link["href"].replace(NEUTRON, "http://127.0.0.1:4242/network")
    bases = Bases((NEUTRON,), ("http://127.0.0.1:4242/network",))
    assert compare(page, moved, bases=bases)
    reordered = copy.deepcopy(moved)
    nxt = reordered.body["networks_links"][0]
    root, _, query = nxt["href"].partition("?")
    nxt["href"] = root + "?" + "&".join(reversed(query.split("&")))
    found = kinds(compare(page, reordered, bases=bases))
    assert found == {("body/networks_links/*/href", "link")}


def test_allowed_differences_carry_their_reason_and_maps_ignore_keys() -> None:
    volumes = rec(VOLUME, "GET___v3__{project_id}__volumes__detail~all_tenants=1@latest.json")
    changed = copy.deepcopy(volumes)
    for vol in changed.body["volumes"]:
        vol["metadata"] = {"purpose": "db"}
        vol["description"] = "data"
    report = compare(volumes, changed, maps=["body/volumes/*/metadata"],
                     allow={"body/volumes/*/description": "volumes may have descriptions"})
    assert report
    assert [d.allowed for d in report.allowed] == ["volumes may have descriptions"]


def test_roots_come_from_the_recorded_catalog() -> None:
    roots = recorded_roots()
    assert roots["network"] == NEUTRON
    assert roots["block-storage"] == "http://127.0.0.1:8776"
    assert roots["identity"] == "http://127.0.0.1:5000"
    assert service_root("http://h/volume/v3/abc") == "http://h/volume"
    assert service_root("http://h/placement") == "http://h/placement"


@pytest.mark.parametrize(
    ("folder", "name", "key"),
    [
        ("network", "GET___v2.0__networks~limit=1.json", "networks"),
        ("network", "GET___v2.0__networks~limit=1&marker={network_id}.page2.json", "networks"),
        ("network", "GET___v2.0__ports~limit=1.json", "ports"),
        ("image", "GET___v2__images~limit=1.json", "images"),
        ("image", "GET___v2__images~limit=1&marker={image_id}.page2.json", "images"),
        ("block-storage",
         "GET___v3__{project_id}__volumes__detail~all_tenants=1&limit=1@latest.json", "volumes"),
    ],
)
def test_recorded_pages_have_consistent_links(folder: str, name: str, key: str) -> None:
    assert pagination_problems(rec(API_RECORDINGS / folder, name).body, key) == []


def test_inconsistent_links_are_found() -> None:
    page = copy.deepcopy(rec(NETWORK, "GET___v2.0__networks~limit=1.json").body)
    page["networks_links"][0]["href"] = page["networks_links"][0]["href"].replace(
        "marker=", "marker=x")
    page["networks_links"][1]["href"] = page["networks_links"][1]["href"].replace(
        "&page_reverse=True", "")
    problems = pagination_problems(page, "networks")
    assert len(problems) == 2
    assert problems[0].startswith("next link marker 'x") and "page_reverse" in problems[1]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(JSON_VALUES)
def test_any_json_matches_itself(value: object) -> None:
    answer = Answer(200, {"Content-Type": "application/json"}, value)
    assert compare(answer, answer).differences == ()


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), JSON_VALUES, min_size=1, max_size=5),
       st.data())
def test_a_dropped_key_is_always_reported(body: dict[str, object], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(body)))
    smaller = {k: v for k, v in body.items() if k != key}
    report = compare(Answer(200, {}, body), Answer(200, {}, smaller))
    assert (f"body/{key}", "missing-key") in kinds(report)
    assert not report
