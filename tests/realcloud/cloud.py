"""The real OpenStack control plane of ``shared/realcloud``, driven from the tests.

``shared/realcloud`` (beside the repository: ``<repo>/../shared/realcloud``, or
``$STACKWATCH_REALCLOUD_DIR``) brings up keystone, placement, nova (fake driver, two
computes), glance, neutron-server + neutron-rpc-server and cinder (fake driver) on
MariaDB and RabbitMQ, all on 127.0.0.1. This module only *calls* its scripts
(``install.sh``, ``up.sh``, ``down.sh``): it never copies them. :class:`RealCloud`
holds the connection facts the tests need and a few helpers to break and mend the
cloud the way ``up.sh``/``down.sh`` do (stop a process group by its pid file, re-run
an ``up.sh`` stage, run lib.sh's helpers).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[2]
CLOUD_NAME = "realcloud"
PASSWORD_ENV = "RC_PASSWORD"

# The services' own ports (lib.sh / up.sh); MariaDB and RabbitMQ use the standard ones.
PORTS: Mapping[str, int] = {
    "mariadb": 3306, "rabbitmq": 5672, "keystone": 5000, "placement-api": 8778,
    "nova-api": 8774, "glance-api": 9292, "neutron-server": 9696, "cinder-api": 8776,
}
# SQLAlchemy database name per service database the monitor account can read.
DATABASES = ("keystone", "nova_api", "nova", "nova_cell0", "placement", "glance",
             "cinder", "neutron")
# The databases stackwatch's SQL sources read.
WATCHED_DATABASES = ("nova", "nova_cell0", "nova_api", "cinder", "keystone", "neutron",
                     "glance")
# realcloud writes every log flat into one directory (``nova-api.log``,
# ``keystone-access.log``, ``nova-compute-1.stdout``...), not /var/log/<service>/.
LOG_GLOBS: Mapping[str, tuple[str, ...]] = {
    "keystone": ("keystone*.log", "keystone*.stdout"),
    "nova": ("nova-*.log", "nova-*.stdout"),
    "placement": ("placement-*.log", "placement-*.stdout"),
    "neutron": ("neutron-*.log", "neutron-*.stdout"),
    "glance": ("glance-*.log", "glance-*.stdout"),
    "cinder": ("cinder-*.log", "cinder-*.stdout"),
    "rabbitmq": ("rabbitmq/*.log", "rabbitmq.stdout"),
    "mariadb": ("mariadb*.err", "mariadb*.log", "mariadb.stdout"),
}


def scripts_dir() -> Path:
    """Where ``install.sh``/``up.sh``/``down.sh`` live (CI: ``<repo>/../shared/realcloud``)."""
    return Path(os.environ.get("STACKWATCH_REALCLOUD_DIR", REPO.parent / "shared" / "realcloud"))


def rc_root() -> Path:
    """``$RC_ROOT`` as ``lib.sh`` computes it (default: ``realcloud`` in the temp dir)."""
    default = Path(os.environ.get("TMPDIR", "/tmp")) / "realcloud"
    return Path(os.environ.get("RC_ROOT", str(default)))


def port_open(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:``port``."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])



def wait_for(what: str, done: Callable[[], object], timeout: float, every: float = 1.0
             ) -> float:
    """Poll ``done()`` every ``every`` s until it is true; the seconds that took (an
    AssertionError naming ``what`` after ``timeout``)."""
    started = time.monotonic()
    while not done():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout:.0f} s"
        time.sleep(every)
    return time.monotonic() - started

#: the catalog services the real control plane runs on its one machine, and what runs
#: them ("": the service's own master process)
RUNS = {"keystone": "gunicorn", "nova-api": "gunicorn", "placement": "gunicorn",
        "glance-api": "gunicorn", "neutron-server": "gunicorn", "cinder-api": "gunicorn",
        "nova-conductor": "", "nova-scheduler": "", "nova-compute": "",
        "cinder-scheduler": "", "cinder-volume": "", "rabbitmq": "", "mysql": ""}

@dataclass(frozen=True)
class RealCloud:
    """Connection facts of the running real cloud, and helpers to break and mend it."""

    scripts: Path
    root: Path
    workdir: Path
    password: str = "secret"
    region: str = "RegionOne"
    auth_url: str = "http://127.0.0.1:5000/v3"
    username: str = "admin"
    project_name: str = "admin"
    domain: str = "Default"
    script_log: Path = field(default=Path("/dev/null"))

    # ------------------------------------------------------------------ facts
    @property
    def log_dir(self) -> Path:
        """The services' log files (flat: ``nova-api.log``, ``keystone-access.log``...)."""
        return self.root / "logs"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def openstack_cli(self) -> Path:
        """The stock ``openstack`` CLI of the realcloud venv (with osc-placement)."""
        return self.root / "venv" / "bin" / "openstack"

    @property
    def amqp_url(self) -> str:
        return f"amqp://openstack:{self.password}@127.0.0.1:5672//"

    @property
    def rabbit_mgmt_url(self) -> str:
        return "http://127.0.0.1:15672/api"

    def db_url(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` for the read-only ``monitor`` account."""
        return f"mysql+pymysql://monitor:{self.password}@127.0.0.1:3306/{database}?charset=utf8mb4"

    @property
    def db_urls(self) -> dict[str, str]:
        return {db: self.db_url(db) for db in DATABASES}

    @property
    def clouds_yaml(self) -> Path:
        """A clouds.yaml (cloud ``realcloud``, admin on project admin) in the work dir."""
        path = self.workdir / "clouds.yaml"
        if not path.exists():
            auth = {"auth_url": self.auth_url, "username": self.username,
                    "password": self.password, "project_name": self.project_name,
                    "user_domain_name": self.domain, "project_domain_name": self.domain}
            cloud = {"auth": auth, "region_name": self.region, "interface": "public",
                     "identity_api_version": 3}
            path.write_text(yaml.safe_dump({"clouds": {CLOUD_NAME: cloud}}))
        return path

    def stackwatch_config(self, *, logs: bool = False, store: Path | None = None,
                          databases: tuple[str, ...] = WATCHED_DATABASES) -> dict[str, object]:
        """A ``stackwatch.yaml`` (as data) watching this cloud: API, SQL, optionally logs."""
        cloud: dict[str, object] = {
            "name": CLOUD_NAME, "clouds_yaml": str(self.clouds_yaml), "region": self.region,
            "databases": {db: self.db_url(db) for db in databases},
            "agent_down_time": 30,  # up.sh's neutron.conf agent_down_time
        }
        if logs:
            cloud["logs"] = {"root": str(self.log_dir),
                             "globs": {k: list(v) for k, v in LOG_GLOBS.items()},
                             "checkpoint_dir": str(self.workdir / "checkpoints")}
        return {"clouds": [cloud],
                "store": {"path": str(store or self.workdir / "stackwatch.sqlite")}}

    def write_stackwatch_yaml(self, name: str = "stackwatch.yaml", **options: object) -> Path:
        """Write :meth:`stackwatch_config` into the work dir; its path."""
        path = self.workdir / name
        path.write_text(yaml.safe_dump(self.stackwatch_config(**options)))  # type: ignore[arg-type]
        return path

    def admin_env(self) -> dict[str, str]:
        """The ``OS_*`` environment of lib.sh's ``admin_env``, over the current one."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("OS_") and k not in ("OS_CLOUD", "OS_CLIENT_CONFIG_FILE")}
        env.update(OS_AUTH_URL=self.auth_url, OS_USERNAME=self.username,
                   OS_PASSWORD=self.password, OS_PROJECT_NAME=self.project_name,
                   OS_USER_DOMAIN_NAME=self.domain, OS_PROJECT_DOMAIN_NAME=self.domain,
                   OS_IDENTITY_API_VERSION="3", OS_REGION_NAME=self.region,
                   OS_INTERFACE="public")
        return env

    def connect(self) -> object:
        """An openstacksdk connection as admin (the tests' own hands, not ground truth)."""
        import openstack.config
        import openstack.connection
        from openstack.warnings import OpenStackDeprecationWarning

        config = openstack.config.OpenStackConfig(config_files=[str(self.clouds_yaml)],
                                                  load_envvars=False)
        with warnings.catch_warnings():
            # openstacksdk 4.x warns about its own deprecated InfluxDB support on every
            # CloudRegion; nothing here uses InfluxDB.
            warnings.simplefilter("ignore", OpenStackDeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)  # RemovedInSDK*Warning
            region = config.get_one(cloud=CLOUD_NAME)
        return openstack.connection.Connection(config=region)

    # ------------------------------------------------------------------ processes
    def pid(self, name: str) -> int | None:
        """Leader pid of a service's process group (``run/<name>.pid``) if it is alive."""
        return _live_pid(self.run_dir / f"{name}.pid")

    def forget_stale_pid_files(self) -> list[str]:
        """Delete the pid files that name somebody else's process now; their names.

        A pid file outlives its service when the machine's processes are ended without
        ``down.sh`` (a session's end, a reboot): CI runs on such a machine, and the pid can
        then belong to a new process, this test run's own included. ``down.sh`` signals
        every pid in ``run/``, so it would stop pytest itself (SIGTERM, CI exit 143). A file
        is stale when its process started after it was written, or is this run or a parent.
        """
        ours = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
        stale = []
        for path in sorted(self.run_dir.glob("*.pid")):
            pid = _pid_in(path)
            if pid is not None and (pid in ours or _started_after(pid, path)):
                path.unlink(missing_ok=True)
                stale.append(path.stem)
        return stale

    def command_line(self, name: str) -> list[str]:
        """The argv of a running service's leader process (to start it again the same way)."""
        pid = self.pid(name)
        if pid is None:
            raise RuntimeError(f"{name} is not running")
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [part.decode() for part in raw.split(b"\0") if part]

    def start_bg(self, name: str, argv: list[str]) -> None:
        """Start a daemon as up.sh does, with lib.sh's ``start_bg`` (own session, pid file)."""
        script = f'. "{self.scripts}/lib.sh"; start_bg {shlex.quote(name)} ' + " ".join(
            shlex.quote(a) for a in argv)
        with self.script_log.open("ab") as log:
            subprocess.run(["bash", "-c", script], check=True, stdout=log,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=60,
                           env=dict(os.environ, RC_ROOT=str(self.root)))

    def run_lib(self, commands: str, timeout: float = 120.0) -> None:
        """Bash ``commands`` after sourcing lib.sh (its helpers and paths); output to the
        script log (RuntimeError with its tail on a failure)."""
        with self.script_log.open("ab") as log:
            done = subprocess.run(["bash", "-c", f'. "{self.scripts}/lib.sh"; {commands}'],
                                  stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=timeout, check=False,
                                  env=dict(os.environ, RC_ROOT=str(self.root)))
        if done.returncode != 0:
            raise RuntimeError(f"lib.sh: {commands!r} exited with {done.returncode}; tail of "
                               f"{self.script_log}:\n{tail(self.script_log)}")

    def stop(self, name: str, timeout: float = 25.0) -> None:
        """Stop one service as down.sh does and wait until all its processes are gone.

        A ``start_bg`` daemon leads its own process group: the group gets SIGTERM. A
        gunicorn ``--daemon`` master is not a group leader (its group is the session of
        gunicorn's daemonising parent, which exited): the master gets SIGTERM and stops
        its workers. Either way the group is SIGKILLed after ``timeout``.
        """
        pid = self.pid(name)
        if pid is None:
            return
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            return
        with contextlib.suppress(ProcessLookupError):
            if pgid == pid:
                os.killpg(pgid, signal.SIGTERM)
            else:
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.3)
        if _group_alive(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            while _group_alive(pgid):
                time.sleep(0.2)

    def run_script(self, script: str, *args: str, timeout: float,
                   env: Mapping[str, str] | None = None) -> None:
        """Run ``scripts/<script> args`` with output appended to :attr:`script_log`.

        Raises :class:`RuntimeError` with the log's tail on failure or timeout.
        """
        full_env = dict(os.environ, RC_ROOT=str(self.root), RC_PASSWORD=self.password)
        full_env.update(env or {})
        started = time.monotonic()
        with self.script_log.open("ab") as log:
            log.write(f"\n===== {script} {' '.join(args)} =====\n".encode())
            log.flush()
            proc = subprocess.Popen([str(self.scripts / script), *args], cwd=self.scripts,
                                    stdout=log, stderr=subprocess.STDOUT, env=full_env,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise RuntimeError(
                    f"{script} {' '.join(args)} did not finish in {timeout:.0f}s; "
                    f"tail of {self.script_log}:\n{tail(self.script_log)}") from None
            log.write(f"===== {script} exit {code} after "
                      f"{time.monotonic() - started:.1f}s =====\n".encode())
        if code != 0:
            raise RuntimeError(f"{script} {' '.join(args)} exited with {code}; "
                               f"tail of {self.script_log}:\n{tail(self.script_log)}")

    def up(self, *stages: str, timeout: float = 600.0) -> None:
        """Re-run ``up.sh`` stages: starts what is stopped, leaves running services alone."""
        self.run_script("up.sh", *stages, timeout=timeout)


#: a pid file's process that started this much later than the file was written is a
#: later process that was given the same pid
PID_REUSE_SLACK_S = 2.0


def _pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _started_after(pid: int, path: Path) -> bool:
    """Whether process ``pid`` started after ``path`` was written (False when it is gone)."""
    try:
        return psutil.Process(pid).create_time() > path.stat().st_mtime + PID_REUSE_SLACK_S
    except (psutil.Error, OSError):
        return False


def _live_pid(path: Path) -> int | None:
    """The live process a pid file names, unless the pid was given to a later process."""
    pid = _pid_in(path)
    if pid is None or not psutil.pid_exists(pid) or _started_after(pid, path):
        return None
    return pid


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
