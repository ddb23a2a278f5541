"""infra.libvirt against real libvirt clients (Debian's libvirt-clients): the test driver
answering with domains in every state, through virsh and through libvirt-python when it is
importable; a daemon that does not answer (no socket, refused) CRITICAL; and virsh stand-ins
that hang, are refused or print garbage."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.faulty import fake_program
from servers import free_port
from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.errors import InvalidResponse, SourceAuthError, SourceTimeout
from stackwatch.health.evaluate import evaluate
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sources.infra.libvirt import LibvirtSource, parse_list

pytestmark = pytest.mark.integration

NODE = Path(__file__).resolve().parents[1] / "data" / "infra" / "libvirt" / "node.xml"
VIRSH = shutil.which("virsh") or "virsh"
# libvirt's test driver with four guests: running, paused, crashed, shut off
TEST_URI = f"test://{NODE}"


def only(out: Collection, name: str) -> CheckResult:
    [found] = [c for c in out.checks if c.name == name]
    return found


def states(out: Collection) -> dict[str, float]:
    return {s.label("state"): s.value for s in out.samples if s.name == "libvirt_domains"}


@pytest.mark.parametrize("use_python", [False, True], ids=["virsh", "libvirt-python"])
def test_the_test_driver_answers_with_every_state(use_python: bool) -> None:
    if use_python:
        pytest.importorskip("libvirt")
    out = LibvirtSource([VIRSH], "cmp1", 10, TEST_URI, use_python=use_python).collect()
    assert_declared(out, source="infra")
    assert_covered(out, "infra.libvirt")
    assert states(out) == {"running": 1, "paused": 1, "crashed": 1, "shut off": 1}
    daemon = only(out, "libvirt.daemon")
    assert daemon.status is Status.OK and dict(daemon.labels) == {"service": "libvirtd",
                                                                  "host": "cmp1"}
    assert "4 domains (1 crashed, 1 paused, 1 running, 1 shut off)" in daemon.message
    domains = only(out, "libvirt.domains")
    assert domains.status is Status.WARNING and "crashed: instance-00000004" in domains.message
    health = evaluate(default_catalog(), out.checks)
    libvirtd = health.service("libvirtd")
    assert libvirtd is not None and libvirtd.status is Status.OK   # a crashed guest is not
    assert any(c.name == "libvirt.domains" for c in health.others)  # the daemon's fault


@pytest.mark.parametrize("use_python", [False, True], ids=["virsh", "libvirt-python"])
@pytest.mark.parametrize("uri", [
    "qemu:///system?socket=/nonexistent/libvirt-sock",
    f"qemu+tcp://127.0.0.1:{free_port()}/system",
], ids=["no-socket", "refused"])
def test_a_daemon_that_does_not_answer_is_critical(uri: str, use_python: bool) -> None:
    if use_python:
        pytest.importorskip("libvirt")
    out = LibvirtSource([VIRSH], "cmp1", 10, uri, use_python=use_python).collect()
    daemon = only(out, "libvirt.daemon")
    assert daemon.status is Status.CRITICAL and "not answering" in daemon.message
    assert [s.value for s in out.samples if s.name == "libvirt_up"] == [0]
    libvirtd = evaluate(default_catalog(), out.checks).service("libvirtd")
    assert libvirtd is not None and libvirtd.status is Status.CRITICAL


@pytest.mark.parametrize(("script", "error", "words"), [
    ("echo \"error: authentication unavailable: no polkit agent available to authenticate "
     "action 'org.libvirt.unix.manage'\" >&2; exit 1", SourceAuthError,
     "authentication unavailable"),
    ("echo 'Segmentation fault' >&2; exit 139", InvalidResponse, "exit status 139"),
    ("echo 'Welcome to virsh, the virtualization interactive terminal.'", InvalidResponse,
     "not the domain table"),
])
def test_refused_and_garbage(tmp_path: Path, script: str, error: type[Exception],
                             words: str) -> None:
    program = fake_program(tmp_path, "virsh", script)
    with pytest.raises(error, match=words):
        LibvirtSource([str(program)], "cmp1", 5, "qemu:///system", use_python=False).collect()


def test_a_hanging_virsh_is_unknown(tmp_path: Path) -> None:
    program = fake_program(tmp_path, "virsh", "sleep 30")
    with pytest.raises(SourceTimeout, match="virsh list: no answer within 1s"):
        LibvirtSource([str(program)], "cmp1", 1, "qemu:///system", use_python=False).collect()


@pytest.mark.unit
def test_names_with_spaces_and_a_long_name() -> None:
    table = (" Id   Name                       State\n"
             "-------------------------------------------\n"
             " 12   instance-0000a1b2          running\n"
             " -    my guest with spaces       shut off\n"
             " 14   a-rather-long-domain-name  in shutdown\n\n")
    assert [(d.name, d.state) for d in parse_list(table)] == [
        ("instance-0000a1b2", "running"), ("my guest with spaces", "shut off"),
        ("a-rather-long-domain-name", "in shutdown")]
