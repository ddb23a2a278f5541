"""Synthetic transactions against the simulated cloud: a failure at each step is reported
with the step that failed and why, and nothing named with the prefix is left behind.

The runs are the real thing (openstacksdk over HTTP to the simulator, as the ``demo``
member of project ``demo``); each fault is one of the simulator's scenarios: an image
stuck ``saving`` (HAProxy's 502) or ``queued`` (the store full, 413), boots to ERROR, a
volume in ``error``, an API answering 500 to one kind of request.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from stackwatch.catalog.loader import default_catalog
from stackwatch.cli import main
from stackwatch.config import SyntheticConfig, parse_config
from stackwatch.errors import SourceUnavailable
from stackwatch.model import Status
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.synthetic.run import run_lock, run_synthetic
from stackwatch.synthetic.source import SyntheticSource, to_collection
from stackwatch.synthetic.steps import STEPS, RunResult

pytestmark = [
    pytest.mark.integration,
    # openstacksdk warns about its own deprecated internals: not ours to fix
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning"),
]

PREFIX = "swtest"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("synthetic"), size="small",
                        seed=5) as sim:
        clouds = yaml.safe_load(Path(sim.clouds_yaml).read_text())
        member = dict(clouds["clouds"]["stackwatch-sim"])
        member["auth"] = {**member["auth"], "username": "demo", "project_name": "demo"}
        clouds["clouds"]["synthetic"] = member
        (sim.workdir / "clouds-synthetic.yaml").write_text(yaml.safe_dump(clouds))
        yield sim


def settings(cloud: SimulatedCloud, **changes: Any) -> SyntheticConfig:
    return SyntheticConfig(cloud="synthetic", clouds_yaml=cloud.workdir / "clouds-synthetic.yaml",
                           prefix=PREFIX, poll=0.1, wait_timeout=5.0, **changes)


def prefixed(cloud: SimulatedCloud) -> list[str]:
    """Everything in the simulator named (a floating IP: described) with the prefix."""
    state = cloud.state
    named = [*(s.name for s in state.servers), *(i.name for i in state.images),
             *(v.name for v in state.volumes), *(f.description for f in state.floating_ips)]
    return [name for name in named if name.startswith(PREFIX + "-")]


def outcome(result: RunResult) -> dict[str, bool | None]:
    return {s.step: s.ok for s in result.steps}


def test_every_step_succeeds_timed_and_leaves_nothing(cloud: SimulatedCloud) -> None:
    config = settings(cloud)
    result = run_synthetic(config)
    assert all(s.ok for s in result.steps), result.steps
    found = to_collection(config, result)
    checks = {c.name: c for c in found.checks}
    assert set(checks) == {f"synthetic.{s}" for s in STEPS} | {"synthetic.cleanup"}
    # OK, unless a loaded machine made a step slower than its WARNING threshold
    assert all(c.status in (Status.OK, Status.WARNING) for c in checks.values()), \
        [c.nagios_line() for c in checks.values() if c.status is not Status.OK]
    assert checks["synthetic.cleanup"].status is Status.OK
    assert checks["synthetic.server_active"].perfdata[0].value > 0
    assert dict(checks["synthetic.volume_available"].labels) == {
        "step": "volume_available", "transaction": "volume"}
    seconds = {s.label("step"): s.value for s in found.samples
               if s.name == "stackwatch_synthetic_step_seconds"}
    assert set(seconds) == set(STEPS) and seconds["server_active"] > 0
    catalog = {m.name for m in default_catalog().metrics_of("synthetic")}
    assert {s.name for s in found.samples} == catalog
    assert prefixed(cloud) == []


# (scenario, params, transactions, the step that fails, words its message has)
FAULTS = [
    ("image-stuck", {"status": "saving"}, ["image"], "image_upload", "HTTP 502"),
    ("image-stuck", {"status": "queued"}, ["image"], "image_upload", "storage media is full"),
    ("boot-error", {"reason": "novalidhost"}, ["image", "server"], "server_active",
     "the server is ERROR: No valid host was found"),
    ("volume-error", {}, ["volume"], "volume_available", "the volume is error"),
    ("api-500", {"service": "network", "path": "/floatingips", "method": "POST"},
     ["floating_ip"], "floating_ip_create", "HTTP 500"),
    ("api-500", {"service": "compute", "path": "/servers", "method": "POST"},
     ["image", "server"], "server_boot", "HTTP 500"),
]


@pytest.mark.parametrize(("scenario", "params", "transactions", "step", "words"), FAULTS,
                         ids=[f"{f[0]}-{f[3]}" for f in FAULTS])
def test_a_failure_names_its_step_and_leaves_nothing(
    cloud: SimulatedCloud, scenario: str, params: dict[str, str], transactions: list[str],
    step: str, words: str,
) -> None:
    config = settings(cloud, transactions=transactions)
    cloud.inject(scenario, **params)
    try:
        result = run_synthetic(config)
    finally:
        cloud.clear(scenario)
    steps = outcome(result)
    assert [s for s, ok in steps.items() if ok is False] == [step], steps
    found = {c.name: c for c in to_collection(config, result).checks}
    failed = found[f"synthetic.{step}"]
    assert failed.status is Status.CRITICAL
    assert failed.message.startswith(f"{step} failed after") and words in failed.message, \
        failed.message
    transaction = STEPS[step].transaction
    later = [s for s in list(STEPS)[list(STEPS).index(step) + 1:]
             if STEPS[s].transaction == transaction and not s.endswith("_delete")]
    for name in later:  # the rest of its transaction did not run, and says why
        assert steps[name] is None
        assert found[f"synthetic.{name}"].status is Status.UNKNOWN
        assert f"{step} failed" in found[f"synthetic.{name}"].message
    assert found["synthetic.cleanup"].status is Status.OK, found["synthetic.cleanup"].message
    assert prefixed(cloud) == []


def test_leftovers_of_a_killed_run_are_deleted_at_the_start(cloud: SimulatedCloud) -> None:
    # a run killed mid-way: its volume stuck in error and its floating IP still allocated
    config = settings(cloud, transactions=["volume", "floating_ip"])
    cloud.inject("volume-error")
    try:
        with pytest.MonkeyPatch.context() as patch:
            # a "kill" after the creations: the deletes never come
            patch.setattr("stackwatch.synthetic.run.Transactions._volume_delete",
                          lambda self: None)
            patch.setattr("stackwatch.synthetic.run.Transactions._floating_ip_delete",
                          lambda self: None)
            patch.setattr("stackwatch.synthetic.run.sweep", _no_final_sweep())
            first = run_synthetic(config)
    finally:
        cloud.clear("volume-error")
    assert len(prefixed(cloud)) == 2, prefixed(cloud)
    again = run_synthetic(config)
    assert len(again.earlier) == 2 and all(PREFIX + "-" + first.run_id in e
                                           for e in again.earlier), again.earlier
    assert all(ok for ok in outcome(again).values())
    assert prefixed(cloud) == []


def _no_final_sweep() -> Any:
    from stackwatch.synthetic import cleanup

    calls = {"n": 0}

    def sweep(*args: Any, **kwargs: Any) -> cleanup.Sweep:
        calls["n"] += 1
        if calls["n"] == 1:
            return cleanup.sweep(*args, **kwargs)
        return cleanup.Sweep((), ())

    return sweep


def test_one_run_at_a_time(cloud: SimulatedCloud) -> None:
    config = settings(cloud)
    with run_lock(config), pytest.raises(SourceUnavailable, match="another synthetic run"):
        SyntheticSource(config).collect()


def test_token_refused_stops_the_run(cloud: SimulatedCloud) -> None:
    config = settings(cloud, transactions=["volume"])
    cloud.inject("api-500", service="identity", path="/auth/tokens", method="POST")
    try:
        result = run_synthetic(config)
    finally:
        cloud.clear("api-500")
    assert outcome(result) == {"token": False, "volume_create": None,
                               "volume_available": None, "volume_delete": None}
    assert "HTTP 500" in result.steps[0].message or "500" in result.steps[0].message


def test_cli_run_prints_each_step_and_exits_with_the_worst(
    cloud: SimulatedCloud, tmp_path: Path,
) -> None:
    path = tmp_path / "stackwatch.yaml"
    path.write_text(yaml.safe_dump({
        "clouds": [{"name": "stackwatch-sim", "clouds_yaml": str(cloud.clouds_yaml)}],
        "synthetic": {"cloud": "synthetic", "prefix": PREFIX, "poll": 0.1, "wait_timeout": 5,
                      "clouds_yaml": str(cloud.workdir / "clouds-synthetic.yaml"),
                      "transactions": ["volume"],
                      "thresholds": {"volume_available": {"warning": 0, "critical": 60}}}}))
    done = CliRunner().invoke(main, ["synthetic", "run", "--config", str(path)])
    assert done.exit_code == 1, done.output  # volume_available: WARNING at 0 s
    lines = done.output.splitlines()
    assert lines[0].startswith("synthetic.token: OK - a token issued")
    assert any(line.startswith("synthetic.volume_available: WARNING") for line in lines)
    assert any(line.startswith("synthetic.cleanup: OK - nothing left behind") for line in lines)
    cloud.inject("volume-error")
    try:
        done = CliRunner().invoke(main, ["synthetic", "run", "--config", str(path),
                                         "--format", "json"])
    finally:
        cloud.clear("volume-error")
    assert done.exit_code == 2, done.output
    assert '"step": "volume_available"' in done.output and "the volume is error" in done.output
    assert prefixed(cloud) == []


def test_config_synthetic_section() -> None:
    base = {"clouds": [{"name": "c"}]}
    config = parse_config({**base, "synthetic": {"enabled": True, "interval": 1200}})
    # collected (the last run reported again) at the usual interval; runs every 1200 s
    assert config.interval("synthetic") == 60.0 and config.synthetic.interval == 1200.0
    assert config.timeout("synthetic") > config.synthetic.wait_timeout
    with pytest.raises(Exception, match="'server_up' is not a step"):
        parse_config({**base, "synthetic": {"thresholds": {
            "server_up": {"warning": 1, "critical": 2}}}})
    assert parse_config(base).synthetic.enabled is False


def test_the_server_runs_it_on_its_schedule(cloud: SimulatedCloud) -> None:
    from stackwatch.runner import collect_once
    from stackwatch.sources.registry import build_sources

    config = parse_config({"clouds": [{"name": "stackwatch-sim",
                                       "clouds_yaml": str(cloud.clouds_yaml)}],
                           "synthetic": {"enabled": True, "cloud": "synthetic",
                                         "clouds_yaml": str(cloud.workdir /
                                                            "clouds-synthetic.yaml"),
                                         "prefix": PREFIX, "transactions": ["floating_ip"]}})
    source = next(s for s in build_sources(config) if s.name == "synthetic")
    run = collect_once([source], config.timeout, default_catalog())[0]
    assert run.ok, run.reason
    names = {c.name: c.status for c in run.collection.checks}
    assert names["synthetic.floating_ip_create"] in (Status.OK, Status.WARNING)
    assert names["stackwatch_source"] is Status.OK  # every series declared, none twice
    assert prefixed(cloud) == []
    off = parse_config({"clouds": [{"name": "stackwatch-sim"}]})
    assert "synthetic" not in [s.name for s in build_sources(off)]
