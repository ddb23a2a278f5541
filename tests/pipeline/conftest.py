"""Fixtures of the pipeline tests: small real sources, catalogs written to tmp dirs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from stackwatch.errors import SourceUnavailable
from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels


class ConstantSource:
    """Answers the same samples and checks every time."""

    def __init__(self, name: str, samples: int = 3, checks: tuple[CheckResult, ...] = ()):
        self._name = name
        self._samples = samples
        self._checks = checks
        self.calls = 0

    @property
    def name(self) -> str:
        return self._name

    def collect(self) -> Collection:
        self.calls += 1
        samples = tuple(Sample.of("stackwatch_test_value", i, source=self._name, index=i)
                        for i in range(self._samples))
        return Collection(samples, self._checks)


class SlowSource(ConstantSource):
    """Sleeps before answering (until ``release`` is set, at most ``seconds``)."""

    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(name)
        self.seconds = seconds
        self.release = threading.Event()

    def collect(self) -> Collection:
        self.release.wait(self.seconds)
        return super().collect()


class DownSource(ConstantSource):
    """Raises SourceUnavailable, as a source whose API refuses connections."""

    def collect(self) -> Collection:
        self.calls += 1
        raise SourceUnavailable("connection refused by 127.0.0.1:9")


class BuggySource(ConstantSource):
    """Raises an unexpected exception, as a source with a bug."""

    def collect(self) -> Collection:
        self.calls += 1
        values: dict[str, float] = {}
        return Collection(samples=(Sample.of("x", values["missing"]),))  # KeyError


def member_check(service: str, host: str, status: Status, label: str = "binary") -> CheckResult:
    """A check as the API source gives for a nova service or neutron agent."""
    return CheckResult("service_state", status, f"{service} on {host}: {status.name}",
                       make_labels({label: service, "host": host}), timestamp=time.time())


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    """A catalog folder with one valid service and an empty metrics folder."""
    root = tmp_path / "catalog"
    (root / "metrics").mkdir(parents=True)
    (root / "services.yaml").write_text(
        "services:\n"
        "  - {name: keystone, project: keystone, description: Identity, roles: [controller],\n"
        "     ha: active/active, ports: [{port: 5000}], service_type: identity}\n"
    )
    return root
