"""Synthetic transactions against the real control plane, as a member of their own project.

A ``stackwatch synthetic run`` is SIGKILLed once its boot has been asked for: its
server and image stay behind. The next run deletes them at its start, then: token,
image upload (glance's file store) and active, a boot from that image on the fake
driver (no NIC: ML2 here binds no port), ACTIVE and deleted, the image deleted, a volume
on cinder's fake backend (type ``fake``) available and deleted, a floating IP on
``rc-public`` allocated and released: every step succeeds and is timed, and nothing
named with the prefix is left in the project. One test, to pay for one full run. The
project ``stackwatch-synthetic`` and its member are made once (found by name later)
and kept.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openstack.warnings import OpenStackDeprecationWarning

from realcloud.cloud import RealCloud
from realcloud.resources import Resources
from stackwatch.config import SyntheticConfig
from stackwatch.model import Status
from stackwatch.synthetic.run import run_synthetic
from stackwatch.synthetic.source import to_collection
from stackwatch.synthetic.steps import STEPS

pytestmark = [
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning"),
]

PROJECT = USER = "stackwatch-synthetic"
PREFIX = "rc-synthetic"
KILL_WAIT_S = 60.0


@pytest.fixture(scope="module")
def admin(realcloud: RealCloud) -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OpenStackDeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        conn: Any = realcloud.connect()
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def project(realcloud: RealCloud, resources: Resources, admin: Any) -> str:
    """The synthetic project with its member (made once), its clouds.yaml entry written."""
    identity = admin.identity
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OpenStackDeprecationWarning)
        found = identity.find_project(PROJECT, domain_id="default") or \
            identity.create_project(name=PROJECT, domain_id="default")
        user = identity.find_user(USER, domain_id="default") or identity.create_user(
            name=USER, domain_id="default", password=realcloud.password)
        member = identity.find_role("member")
        identity.assign_project_role_to_user(found, user, member)
    entry = {"auth": {"auth_url": realcloud.auth_url, "username": USER,
                      "password": realcloud.password, "project_name": PROJECT,
                      "user_domain_name": "Default", "project_domain_name": "Default"},
             "region_name": realcloud.region, "interface": "public",
             "identity_api_version": 3}
    (realcloud.workdir / "clouds-synthetic.yaml").write_text(
        yaml.safe_dump({"clouds": {"synthetic": entry}}))
    return str(found.id)


def settings(realcloud: RealCloud, **changes: Any) -> SyntheticConfig:
    return SyntheticConfig(
        cloud="synthetic", clouds_yaml=realcloud.workdir / "clouds-synthetic.yaml",
        prefix=PREFIX, flavor="m1.fake", network="none", floating_network="rc-public",
        volume_type="fake", poll=0.5, wait_timeout=60.0, **changes)


def leftovers(admin: Any, project: str) -> list[str]:
    """Everything of the project named (a floating IP: described) with the prefix."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OpenStackDeprecationWarning)
        named = [s.name for s in admin.compute.servers(all_projects=True, project_id=project)]
        named += [i.name for i in admin.image.images(owner=project)]
        named += [v.name for v in admin.block_storage.volumes(all_projects=True,
                                                              project_id=project)]
        named += [f.description for f in admin.network.ips(project_id=project)]
    return [n for n in named if (n or "").startswith(PREFIX + "-")]


def test_a_run_killed_mid_boot_then_every_transaction_timed_and_nothing_left(
    realcloud: RealCloud, project: str, admin: Any, tmp_path: Path,
) -> None:
    # one run SIGKILLed once its boot was accepted: its image and server stay behind
    path = tmp_path / "stackwatch.yaml"
    path.write_text(yaml.safe_dump({
        "clouds": [{"name": "realcloud", "clouds_yaml": str(realcloud.clouds_yaml)}],
        "synthetic": {**settings(realcloud, transactions=["image", "server"]).model_dump(
            mode="json"), "clouds_yaml": str(realcloud.workdir / "clouds-synthetic.yaml")}}))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    seen: list[str] = []
    deadline = time.monotonic() + KILL_WAIT_S
    with subprocess.Popen([sys.executable, "-m", "stackwatch", "synthetic", "run",
                           "--config", str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env) as child:
        try:
            assert child.stdout is not None and child.stderr is not None
            for line in child.stdout:
                seen.append(line)
                if line.startswith("synthetic.server_boot:") or time.monotonic() > deadline:
                    break
        finally:
            child.send_signal(signal.SIGKILL)
            errors = child.communicate(timeout=30)[1]
    # succeeded (OK, or WARNING / CRITICAL by its time on a loaded machine)
    assert seen and " - a server asked for" in seen[-1], "".join(seen) + errors
    left = leftovers(admin, project)
    assert sorted(n.rsplit("-", 1)[1] for n in left) == ["image", "server"], left

    # the next run deletes them at its start, then every step succeeds, timed
    config = settings(realcloud)
    result = run_synthetic(config)
    assert sorted(e.split()[1] for e in result.earlier) == sorted(left), result.earlier
    assert [s.step for s in result.steps] == list(STEPS)
    assert all(s.ok for s in result.steps), result.steps  # whatever their times
    found = {c.name: c for c in to_collection(config, result).checks}
    assert all(found[f"synthetic.{s}"].perfdata[0].value > 0 for s in STEPS)
    assert found["synthetic.cleanup"].status is Status.OK
    seconds = {s.step: s.seconds for s in result.steps}
    assert seconds["server_active"] > 0 and seconds["volume_available"] > 0
    print("realcloud synthetic steps:", ", ".join(f"{k} {v:.2f}s" for k, v in seconds.items()),
          f"run {result.seconds:.1f}s")
    assert not result.left
    assert leftovers(admin, project) == []
