"""``logs.compiled: false`` keeps the tail mode on the pure-Python path: numba is never
imported, and the counts are those of the compiled path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.logs.conftest import REFERENCE

pytestmark = pytest.mark.unit

# a fresh interpreter: whether numba gets imported is the point
SCRIPT = """
import json, sys
from pathlib import Path
from stackwatch.config import CloudConfig, LogsConfig
from stackwatch.sources.logs import build_log_sources

root, checkpoints, compiled = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"
cloud = CloudConfig(name="c", logs=LogsConfig(root=root, compiled=compiled))
sources = build_log_sources(cloud, checkpoints, host="ctl1")
for source in sources:
    source.collect()
print(json.dumps({
    "numba": "numba" in sys.modules,
    "lines": {s.service: s.total.line_total() for s in sources},
    "requests": sorted([list(k), v] for s in sources for k, v in s.total.requests.items()),
    "records": sorted([list(k), v] for s in sources for k, v in s.total.records.items()),
}))
"""


def _collect(root: Path, workdir: Path, compiled: bool) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root), str(workdir / f"cp-{compiled}"),
         "1" if compiled else "0"], capture_output=True, text=True, timeout=300, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_compiled_false_never_imports_numba_and_counts_the_same(tmp_path: Path) -> None:
    root = tmp_path / "log"
    # reads of 1 MB and more: the size at which the compiled path is taken
    for source, target in (("nova-api.log", "nova/nova-api.log"),
                           ("keystone-access.log", "apache2/keystone_access.log")):
        data = (REFERENCE / source).read_bytes()
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        (root / target).write_bytes(data * (-(-(1 << 20) // len(data))))
    plain = _collect(root, tmp_path, compiled=False)
    fast = _collect(root, tmp_path, compiled=True)
    assert plain["numba"] is False
    assert fast["numba"] is True
    assert plain["lines"] == fast["lines"]
    assert sum(plain["lines"].values()) > 10_000  # type: ignore[attr-defined]
    assert plain["requests"] == fast["requests"] and plain["requests"]
    assert plain["records"] == fast["records"] and plain["records"]
