"""The node checks stay light: nothing on their path imports numba or llvmlite (an agent
runs them on every node; the compiled log kernels cost about 150 MB)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

CODE = """
import sys
from stackwatch.cli import main
for args in (["check", "disk"], ["check", "process", "nova-compute"], ["check", "port", "22"],
             ["check", "load"], ["check", "disk-io"], ["nrpe-config", "--role", "compute"]):
    try:
        main(args)
    except SystemExit:
        pass
from stackwatch.catalog.loader import default_catalog
from stackwatch.config import parse_config
from stackwatch.sources.registry import build_sources
config = parse_config({"clouds": [{"name": "c"}], "node": {"roles": ["compute"]}})
for source in build_sources(config):
    if source.name.startswith("node."):
        source.collect()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("numba", "llvmlite"))
print("HEAVY", heavy, file=sys.stderr)
"""


def test_no_numba_on_the_node_path() -> None:
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                          timeout=300, check=True)
    assert done.stderr.strip().splitlines()[-1] == "HEAVY []", done.stderr
