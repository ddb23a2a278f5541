"""Run Canonical's prometheus-openstack-exporter itself against a cloud and time it.

The exporter is not copied into this repository, and it is not on PyPI: point the bench
at a checkout of https://github.com/canonical/prometheus-openstack-exporter (or at its
``prometheus-openstack-exporter`` script) with ``--exporter PATH`` or the environment
variable ``STACKWATCH_BENCH_EXPORTER``::

    git clone https://github.com/canonical/prometheus-openstack-exporter /tmp/poe

Its dependencies are installed with pip into a virtual environment of their own
(``--exporter-venv``, by default ``~/.cache/stackwatch/bench-exporter-venv``), once.
Its config (``prometheus-openstack-exporter.yaml``) is written for the run: the
``cinder``, ``neutron`` and ``nova`` collectors (no swift: the simulator has none),
one cache refresh, and the credentials of ``clouds.yaml`` in the ``OS_*`` variables
it reads (keystone v3).

Timed end to end as a user sees it: from the start of the process until ``/metrics``
answers with the figures (its data gatherer has written its cache), plus that scrape.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from subprocs import free_port, process_cpu, stop

ENV_VAR = "STACKWATCH_BENCH_EXPORTER"
SCRIPT = "prometheus-openstack-exporter"
UPSTREAM = "https://github.com/canonical/prometheus-openstack-exporter"
#: What its script imports (its requirements.txt, without the test tools, plus eventlet).
REQUIREMENTS = ("eventlet", "swift", "netaddr", "python-novaclient", "python-neutronclient",
                "python-cinderclient", "python-keystoneclient", "prometheus-client", "pyyaml",
                "requests")


@dataclass(frozen=True, slots=True)
class PeerRun:
    """One run of the exporter: how long until its figures could be scraped, and what."""

    ready: float            # seconds from start until its cache was written
    scrape: float           # seconds the first full /metrics took
    series: int             # series in that /metrics
    refresh: float          # its own openstack_exporter_cache_refresh_duration_seconds
    cpu: float              # CPU seconds of the exporter process
    version: str            # where the script came from


def find_script(given: str | None) -> Path:
    """The upstream script from ``--exporter`` or $STACKWATCH_BENCH_EXPORTER (file or checkout)."""
    where = given or os.environ.get(ENV_VAR)
    if not where:
        raise SystemExit(
            f"Canonical's exporter is needed: clone {UPSTREAM} and pass its path with "
            f"--exporter PATH or ${ENV_VAR} (it is not on PyPI), or use --no-exporter")
    path = Path(where).expanduser()
    script = path / SCRIPT if path.is_dir() else path
    if not script.is_file():
        raise SystemExit(f"{script}: not found (expected the {SCRIPT} script of {UPSTREAM})")
    return script


def ensure_venv(venv: Path) -> Path:
    """A virtual environment with the exporter's dependencies; its python."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import eventlet, swift, novaclient, neutronclient, "
             "cinderclient, keystoneclient, prometheus_client, netaddr, yaml"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"installing the exporter's dependencies into {venv} (once)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)
    subprocess.run(probe, check=True)
    return python



def _cloud_env(clouds_yaml: Path, cloud: str) -> dict[str, str]:
    entry = yaml.safe_load(clouds_yaml.read_text())["clouds"][cloud]
    auth = entry["auth"]
    return {
        "OS_IDENTITY_API_VERSION": "3",
        "OS_AUTH_URL": auth["auth_url"],
        "OS_USERNAME": auth["username"],
        "OS_PASSWORD": auth["password"],
        "OS_PROJECT_NAME": auth["project_name"],
        "OS_USER_DOMAIN_NAME": auth.get("user_domain_name", "Default"),
        "OS_PROJECT_DOMAIN_NAME": auth.get("project_domain_name", "Default"),
        "OS_REGION_NAME": entry.get("region_name", "RegionOne"),
        "OS_INTERFACE": entry.get("interface", "public"),
    }



def run_exporter(script: Path, python: Path, clouds_yaml: Path, cloud: str,
                 limit: float = 1800.0) -> PeerRun:
    """Start the exporter, wait for its first cache, scrape /metrics once, stop it."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="poe-") as tmp:
        cache = Path(tmp) / "cache"
        config = Path(tmp) / "prometheus-openstack-exporter.yaml"
        config.write_text(yaml.safe_dump({
            "listen_port": port,
            "cache_refresh_interval": 86400,    # one refresh for the bench
            "cache_file": str(cache),
            "cloud": cloud,
            "openstack_allocation_ratio_vcpu": 1.0,
            "openstack_allocation_ratio_ram": 1.0,
            "openstack_allocation_ratio_disk": 1.0,
            "log_level": "INFO",
            "enabled_collectors": ["cinder", "neutron", "nova"],
            "schedulable_instance_size": {"ram_mbs": 4096, "vcpu": 2, "disk_gbs": 20},
            "use_nova_volumes": True,
        }))
        log = open(Path(tmp) / "exporter.log", "w")  # noqa: SIM115 - closed below
        env = {**os.environ, **_cloud_env(clouds_yaml, cloud), "PYTHONWARNINGS": "ignore"}
        env.pop("OS_CLOUD", None)
        env.pop("OS_CLIENT_CONFIG_FILE", None)
        started = time.monotonic()
        proc = subprocess.Popen([str(python), str(script), str(config)], env=env,
                                stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
        try:
            while not cache.exists():
                if proc.poll() is not None or time.monotonic() - started > limit:
                    log.flush()
                    tail = (Path(tmp) / "exporter.log").read_text()[-2000:]
                    raise SystemExit(f"the exporter stopped or took over {limit:.0f} s:\n{tail}")
                time.sleep(0.5)
            ready = time.monotonic() - started
            clock = time.monotonic()
            answer = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=600)
            scrape = time.monotonic() - clock
            cpu = process_cpu(proc.pid)
            if answer.status_code != 200:
                raise SystemExit(f"the exporter's /metrics answered {answer.status_code}:\n"
                                 f"{answer.text[-2000:]}")
            lines = [line for line in answer.text.splitlines()
                     if line and not line.startswith("#")]
            refresh = next((float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(
                "openstack_exporter_cache_refresh_duration_seconds")), float("nan"))
            return PeerRun(ready, scrape, len(lines), refresh, cpu, _describe(script))
        finally:
            stop(proc)
            log.close()


def _describe(script: Path) -> str:
    """The upstream commit of a checkout, else the script's path."""
    git = shutil.which("git")
    if git:
        found = subprocess.run([git, "-C", str(script.parent), "log", "-1", "--format=%h %cs"],
                               capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip():
            return f"{UPSTREAM} {found.stdout.strip()}"
    return str(script)
