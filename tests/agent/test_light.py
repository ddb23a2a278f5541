"""An agent stays light: ``stackwatch agent`` reading a megabyte of logs loads neither
numba nor llvmlite (nor the server's web stack, nor numpy) unless its config asks for
compiled log parsing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.logs.conftest import REFERENCE

pytestmark = pytest.mark.unit

HEAVY = ("numba", "llvmlite", "numpy", "aiohttp", "sqlalchemy", "openstack", "jinja2",
         "prometheus_client", "kombu")

# a fresh interpreter: what gets imported is the point
# (stopped by SIGTERM, as systemd stops it, once the logs source's first run is buffered)
SCRIPT = """
import json, os, signal, sys, threading, time
from pathlib import Path
from stackwatch.cli import main

read = []

def stop_once_read():
    while not any(b'"source":"logs.nova"' in p.read_bytes()
                  for p in Path(sys.argv[2]).glob("batches/[0-9]*.json")):
        time.sleep(0.2)
    read.append(True)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=stop_once_read, daemon=True).start()
try:
    main(["agent", "--config", sys.argv[1], "--duration", "240"])
except SystemExit:
    pass
print(json.dumps({"read": bool(read), "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _agent_modules(tmp_path: Path, compiled: bool) -> set[str]:
    root = tmp_path / f"log-{compiled}"
    data = (REFERENCE / "nova-api.log").read_bytes()
    (root / "nova").mkdir(parents=True)
    # a read of 1 MB and more: the size at which the compiled path is taken when allowed
    (root / "nova" / "nova-api.log").write_bytes(data * (-(-(1 << 20) // len(data))))
    config = tmp_path / f"agent-{compiled}.yaml"
    config.write_text(yaml.safe_dump({
        "clouds": [{"name": "c", "disable": ["api"],
                    "logs": {"root": str(root), "compiled": compiled}}],
        "intervals": {"logs": 1},
        "store": {"path": str(tmp_path / f"agent-{compiled}.sqlite")},
        "agent": {"server": "http://127.0.0.1:9", "token": "sw_x",  # nobody there
                  "buffer_dir": str(tmp_path / f"buffer-{compiled}")}}))
    buffer = tmp_path / f"buffer-{compiled}"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(config), str(buffer)],
                          capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["read"]  # the logs source's run was buffered: the megabyte was read
    return set(result["modules"])


def test_the_agent_loads_no_compiler_unless_asked(tmp_path: Path) -> None:
    plain = _agent_modules(tmp_path, compiled=False)
    assert not plain & set(HEAVY), plain & set(HEAVY)
    asked = _agent_modules(tmp_path, compiled=True)
    assert {"numba", "llvmlite"} <= asked  # the same read, compiled parsing allowed
