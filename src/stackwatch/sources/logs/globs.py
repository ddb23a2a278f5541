"""Where each service writes its logs in the standard layout (Debian/Ubuntu/RDO packages,
kolla puts the same names under ``/var/log/kolla/<service>/``).

Globs are relative to the cloud's ``logs.root`` (``/var/log`` by default);
``stackwatch.yaml`` ``logs.globs`` replaces the globs of the services it names.
Globs name the *active* files; rotated siblings (``.1``, ``.2.gz``, dateext) are
found by the tailer and read by ``stackwatch logs backfill``.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

DEFAULT_ROOT = Path("/var/log")

DEFAULT_GLOBS: dict[str, tuple[str, ...]] = {
    "keystone": ("keystone/*.log", "apache2/keystone*.log", "httpd/keystone*.log",
                 "kolla/keystone/*.log"),
    "nova": ("nova/nova-*.log", "apache2/nova*.log", "httpd/nova*.log", "kolla/nova/*.log"),
    "placement": ("placement/*.log", "nova/placement*.log", "apache2/placement*.log",
                  "kolla/placement/*.log"),
    "neutron": ("neutron/*.log", "kolla/neutron/*.log"),
    "glance": ("glance/*.log", "kolla/glance/*.log"),
    "cinder": ("cinder/*.log", "apache2/cinder*.log", "kolla/cinder/*.log"),
    "haproxy": ("haproxy.log", "haproxy/*.log", "kolla/haproxy/*.log"),
    "libvirt": ("libvirt/libvirtd.log", "kolla/libvirt/libvirtd.log"),
    "kernel": ("kern.log", "messages"),  # Debian/Ubuntu, RHEL
    "rabbitmq": ("rabbitmq/*.log",),
    "mariadb": ("mysql/error.log", "mysql/*.err", "mariadb/*.log"),
    # swift logs through syslog; its packages' rsyslog rules and kolla write these
    "swift": ("swift/proxy*.log", "kolla/swift/swift-proxy-server.log"),
}

_ROTATED = re.compile(r"(?:\.\d+|-\d{8,10}|\.gz|\.bz2|\.xz)$")


def service_globs(overrides: Mapping[str, Sequence[str]] | None = None
                  ) -> dict[str, tuple[str, ...]]:
    """Default globs with the configured ones replacing a service's defaults."""
    merged = dict(DEFAULT_GLOBS)
    for service, patterns in (overrides or {}).items():
        merged[service] = tuple(patterns)
    return merged


def expand(root: Path, patterns: Sequence[str]) -> list[Path]:
    """Active files matching the patterns (relative to ``root``), rotated copies left out."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        full = pattern if Path(pattern).is_absolute() else str(root / pattern)
        for name in sorted(glob.glob(full)):
            path = Path(name)
            if path.is_file() and not _ROTATED.search(path.name):
                found[path] = None
    return list(found)
