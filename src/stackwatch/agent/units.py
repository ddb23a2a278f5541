"""The systemd units of ``stackwatch agent`` and ``stackwatch server``.

:func:`render` writes them; the package ships them rendered with the defaults under
``stackwatch/data/systemd/`` (:func:`shipped`), and ``stackwatch install-units`` writes
them for this machine (the ``stackwatch`` it finds, a user of your choice).

Both are hardened: a dynamic (or given) user, the file system read-only but for their
state directory (``ProtectSystem=strict``, ``StateDirectory``), no new privileges,
restarted on failure. The agent keeps two capabilities, to read which process holds each
port and other users' process details (``node.ports``, ``node.processes``), and stays
off ``ProtectKernelLogs``/``PrivateDevices`` because the host check reads ``/dev/kmsg``.
Neither sets ``MemoryDenyWriteExecute``: compiled log parsing (numba) writes and then
runs machine code.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

DEFAULT_EXEC = "/usr/local/bin/stackwatch"
UNITS = ("stackwatch-agent.service", "stackwatch-server.service")


@dataclass(frozen=True, slots=True)
class UnitSpec:
    description: str
    command: str
    state: str
    extra: tuple[str, ...]


_SPECS = {
    "stackwatch-agent.service": UnitSpec(
        "stackwatch agent: this node's checks, pushed to the stackwatch server",
        "agent --config /etc/stackwatch/agent.yaml", "stackwatch-agent",
        ("# which process holds each port, other users' process details (node checks)",
         "AmbientCapabilities=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE",
         "CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE",
         "# the services' logs under /var/log are group adm on Debian and Ubuntu",
         "SupplementaryGroups=adm",
         "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK")),
    "stackwatch-server.service": UnitSpec(
        "stackwatch server: collects, keeps and serves the cloud's health",
        "server --config /etc/stackwatch/stackwatch.yaml", "stackwatch",
        ("CapabilityBoundingSet=",
         "PrivateDevices=yes",
         "ProtectKernelLogs=yes",
         "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6")),
}


def render(name: str, executable: str = DEFAULT_EXEC, user: str | None = None) -> str:
    """The unit file ``name`` (one of :data:`UNITS`) running ``executable`` as ``user``
    (default: a dynamic user systemd makes for the service)."""
    spec = _SPECS[name]
    who = [f"User={user}", f"Group={user}"] if user else ["DynamicUser=yes"]
    lines = [
        f"# {name}: written by `stackwatch install-units` (docs/agent.md)",
        "[Unit]",
        f"Description={spec.description}",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=exec",
        f"ExecStart={executable} {spec.command}",
        "Restart=on-failure",
        "RestartSec=5s",
        "TimeoutStopSec=30s",
        "Environment=PYTHONUNBUFFERED=1",
        *who,
        f"# /var/lib/{spec.state}: made by systemd, writable by the service, kept across "
        "restarts",
        f"StateDirectory={spec.state}",
        "StateDirectoryMode=0700",
        f"WorkingDirectory=/var/lib/{spec.state}",
        "ConfigurationDirectory=stackwatch",
        "UMask=0077",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "PrivateMounts=yes",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallErrorNumber=EPERM",
        *spec.extra,
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def shipped(name: str) -> str:
    """The unit as the package ships it (rendered with the defaults)."""
    return resources.files("stackwatch").joinpath("data", "systemd", name).read_text("utf-8")


def install(directory: Path, executable: str, user: str | None) -> list[Path]:
    """Write both units into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in UNITS:
        path = directory / name
        path.write_text(render(name, executable, user), encoding="utf-8")
        written.append(path)
    return written
