"""Bring the real control plane of ``shared/realcloud`` up for the ``realcloud`` tests.

* Every test under ``tests/realcloud/`` is marked ``realcloud``, gets a long timeout
  (the first one pays for the bring-up) and runs *after* all other tests of the
  session (reordered at collection), so a failure here never hides another area's.
* The session fixture ``realcloud`` first deletes the pid files that outlived their
  services (their pids may be other processes now, pytest's own included, and
  ``down.sh`` signals every one), then runs the shared ``down.sh --wipe`` (empty
  databases, as on a fresh CI machine), ``install.sh`` then ``up.sh`` (output to
  ``<tmp>/realcloud-scripts.log``, whose tail is shown on failure), yields a
  :class:`~realcloud.cloud.RealCloud` and always runs ``down.sh`` at the end.
  It is only set up when a realcloud test is selected (``-m 'not realcloud'`` skips
  all of it). Without the realcloud scripts (a plain clone has no ``../shared``) every
  realcloud test is skipped with that reason, unless ``STACKWATCH_REALCLOUD_REQUIRED=1``.
  ``STACKWATCH_REALCLOUD_KEEP=1`` is for development against a long-lived cloud: a
  cloud already running is used as it is (no install/up) and left running.
* Timings of each phase are printed in the terminal summary.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from realcloud.cloud import (
    CLOUD_NAME,
    PORTS,
    REPO,
    RealCloud,
    port_open,
    rc_root,
    scripts_dir,
)
from realcloud.resources import Resources, ensure_resources
from realcloud.truth import Truth

HERE = os.path.dirname(__file__)
INSTALL_TIMEOUT_S = 1200.0
UP_TIMEOUT_S = 900.0
DOWN_TIMEOUT_S = 180.0
TEST_TIMEOUT_S = 2400.0  # per test, covers the bring-up paid by the first one

TIMINGS: dict[str, float] = {}


# Module order inside the realcloud run: the test bed first, faults (which change the
# cloud, then mend it) last.
ORDER = ("test_real_pid_files", "test_real_ground_truth", "test_real_api_metrics",
         "test_real_heat_swift", "test_real_swift_recon", "test_real_octavia",
         "test_real_ironic", "test_real_shortcuts",
         "test_real_sql_metrics",
         "test_real_logs", "test_real_recordings", "test_real_fidelity", "test_real_health",
         "test_real_auth", "test_real_truth", "test_real_node", "test_real_lifecycle",
         "test_real_notifications", "test_real_fix", "test_real_maintenance",
         "test_real_synthetic", "test_real_alarms", "test_real_backup", "test_real_faults")


def _is_realcloud(item: pytest.Item) -> bool:
    return str(item.path).startswith(HERE + os.sep)


def _rank(item: pytest.Item) -> int:
    stem = item.path.stem
    return ORDER.index(stem) if stem in ORDER else ORDER.index("test_real_fidelity")


REQUIRED_ENV = "STACKWATCH_REALCLOUD_REQUIRED"


def _missing_reason() -> str:
    """Why the realcloud tests cannot run here ('' when they can): a plain clone has no
    ``../shared/realcloud``. With ``$STACKWATCH_REALCLOUD_REQUIRED=1`` (CI) they run and
    fail instead, so a CI machine without the scripts does not pass quietly."""
    scripts = scripts_dir()
    if (scripts / "up.sh").is_file() or os.environ.get(REQUIRED_ENV) == "1":
        return ""
    return (f"no realcloud scripts at {scripts} (../shared/realcloud beside the repository, "
            f"or $STACKWATCH_REALCLOUD_DIR); set {REQUIRED_ENV}=1 to fail instead")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the realcloud tests, give them a long timeout and move them to the end."""
    mine = [item for item in items if _is_realcloud(item)]
    if not mine:
        return
    missing = _missing_reason()
    for item in mine:
        item.add_marker(pytest.mark.realcloud)
        if missing:
            item.add_marker(pytest.mark.skip(reason=missing))
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT_S))
    others = [item for item in items if not _is_realcloud(item)]
    items[:] = others + sorted(mine, key=_rank)  # stable: file order kept within a module


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        parts = ", ".join(f"{name} {seconds:.0f}s" for name, seconds in TIMINGS.items())
        terminalreporter.write_line(f"realcloud timings: {parts}")


def _check_ports_free(cloud: RealCloud) -> None:
    """Fail clearly when another server (a system MariaDB/RabbitMQ) holds our ports."""
    for name, port in PORTS.items():
        if port_open(port) and cloud.pid(name) is None:
            pytest.fail(f"port {port} ({name}) is held by a process realcloud did not start "
                        f"(a system service? e.g. `service {name} stop`); cannot bring up "
                        f"the real cloud", pytrace=False)


@pytest.fixture(scope="session")
def realcloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCloud]:
    """The running real cloud: install + up at first use, down.sh at session end."""
    scripts = scripts_dir()
    if not (scripts / "up.sh").is_file():
        pytest.fail(f"shared/realcloud not found at {scripts} (set STACKWATCH_REALCLOUD_DIR)",
                    pytrace=False)
    workdir = tmp_path_factory.mktemp("realcloud")
    cloud = RealCloud(scripts=scripts, root=rc_root(), workdir=workdir,
                      password=os.environ.get("RC_PASSWORD", "secret"),
                      script_log=workdir / "realcloud-scripts.log")
    keep = os.environ.get("STACKWATCH_REALCLOUD_KEEP") == "1"
    stale = cloud.forget_stale_pid_files()  # before down.sh signals what they name
    if stale:
        with cloud.script_log.open("a") as log:
            log.write(f"stale pid files deleted (their pids are other processes now): "
                      f"{', '.join(stale)}\n")
    running = all(cloud.pid(name) is not None for name in PORTS)
    _check_ports_free(cloud)
    session_started = time.monotonic()
    # from empty databases every time, as on a fresh CI machine: up.sh over the data of
    # an earlier run is not what CI does (and its nova stage fails there now and then)
    steps: tuple[tuple[str, tuple[str, ...], float], ...] = () if keep and running else (
        ("down.sh", ("--wipe",), DOWN_TIMEOUT_S), ("install.sh", (), INSTALL_TIMEOUT_S),
        ("up.sh", (), UP_TIMEOUT_S))
    try:
        for script, args, timeout in steps:
            started = time.monotonic()
            try:
                cloud.run_script(script, *args, timeout=timeout)
            except RuntimeError as exc:
                pytest.fail(str(exc), pytrace=False)
            TIMINGS[" ".join((script.removesuffix(".sh"), *args))] = time.monotonic() - started
        started = time.monotonic()
        yield cloud
        TIMINGS["tests"] = time.monotonic() - started
    finally:
        if not keep:
            started = time.monotonic()
            try:
                cloud.run_script("down.sh", timeout=DOWN_TIMEOUT_S)
            finally:
                TIMINGS["down"] = time.monotonic() - started
        TIMINGS["total"] = time.monotonic() - session_started


@pytest.fixture(scope="session")
def resources(realcloud: RealCloud) -> Resources:
    """Servers, images, networks, a router, volumes and a snapshot (made once)."""
    started = time.monotonic()
    made = ensure_resources(realcloud)
    TIMINGS["resources"] = time.monotonic() - started
    return made


@pytest.fixture(scope="session")
def fresh_recordings(realcloud: RealCloud, resources: Resources) -> Path:
    """``scripts/record_fixtures.py`` run against the real cloud now; its ``api`` folder."""
    out = realcloud.workdir / "recorded"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "record_fixtures.py"), "--cloud", CLOUD_NAME,
         "--clouds-yaml", str(realcloud.clouds_yaml), "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "api"


@pytest.fixture(scope="session")
def truth(realcloud: RealCloud) -> Iterator[Truth]:
    """Ground truth from the stock ``openstack`` CLI and the ``monitor`` SQL account."""
    found = Truth(realcloud)
    yield found
    found.close()


#: how up.sh's neutron stage starts neutron-server (lib.sh's gunicorn_up), to start it
#: again alone: the whole stage also syncs its database and the catalog (20-60 s more)
NEUTRON_SERVER_UP = ('gunicorn_up neutron-server 9696 1 neutron.wsgi.api:application '
                     'OS_NEUTRON_CONFIG_DIR="$ETC/neutron" '
                     'OS_NEUTRON_CONFIG_FILES="neutron.conf;ml2_conf.ini" '
                     '&& wait_http http://127.0.0.1:9696/ 90')


@pytest.fixture
def stopped_neutron(realcloud: RealCloud) -> Iterator[None]:
    """neutron-server stopped for the test, started again after it (as up.sh's neutron
    stage does, the stage itself when that fails)."""
    realcloud.stop("neutron-server")
    try:
        yield
    finally:
        try:
            realcloud.run_lib(NEUTRON_SERVER_UP)
        except RuntimeError:
            realcloud.up("neutron")
