"""The extra services' scripts (``tests/realcloud/extra/``), run beside the shared
realcloud and timed into the session's summary, and a service's stock policy for one
test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from realcloud.cloud import RealCloud
from realcloud.conftest import TIMINGS

EXTRA = Path(__file__).resolve().parent / "extra"


def bring_up(cloud: RealCloud, script: str, *stages: str, timeout: float,
             timing: str) -> RealCloud:
    """Run ``extra/<script> stages`` (every stage without), its time in the summary as
    ``timing``."""
    started = time.monotonic()
    cloud.run_script(str(EXTRA / script), *stages, timeout=timeout,
                     env={"STACKWATCH_REALCLOUD_DIR": str(cloud.scripts)})
    TIMINGS[timing] = time.monotonic() - started
    return cloud


@contextmanager
def stock_policy(cloud: RealCloud, service: str) -> Iterator[None]:
    """``service``'s own policy (an empty policy file) inside, the script's after (its API
    re-reads the file when it changes)."""
    path = cloud.root / "etc" / service / "policy.yaml"
    granted = path.read_text()
    path.write_text("{}\n")
    try:
        yield
    finally:
        path.write_text(granted)
