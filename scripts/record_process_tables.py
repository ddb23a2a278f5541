#!/usr/bin/env python3
"""Record what psutil sees of OpenStack APIs run by uWSGI and by Apache mod_wsgi.

The realcloud control plane runs its APIs under gunicorn (``tests/data/recorded/infra``);
devstack runs them under uWSGI and the distributions' packages under Apache mod_wsgi.
This script starts both for real (Debian ``uwsgi-core``, ``uwsgi-plugin-python3``,
``apache2``, ``libapache2-mod-wsgi-py3``), configured as those deployments do, with a
one-line WSGI application in place of the service's, and records their process tables
and listening sockets as the node checks read them (``sources/node/table.py``):

* ``uwsgi-devstack.json``: ``uwsgi --procname-prefix keystone --ini
  /etc/keystone/keystone-uwsgi-public.ini`` (devstack's ``lib/keystone``: the master
  and workers retitle themselves ``keystoneuWSGI master`` / ``worker N``) and
  ``uwsgi --ini /etc/placement/placement-uwsgi.ini`` (no prefix: the command line stays);
* ``apache-mod-wsgi.json``: Apache with ``WSGIDaemonProcess keystone-public ...
  display-name=%{GROUP}`` (Ubuntu's ``keystone.conf``): the daemons show as
  ``(wsgi:keystone-pu``, the title cut to the length of ``/usr/sbin/apache2``, and the
  port is held by Apache's own processes, not by the daemons.

Run as root (Apache drops to www-data; the sockets of every user must be visible).
Ports are the real ones (5000, 8778); the script stops with a clear error if one is in
use. Paths of the temporary tree are rewritten to the conventional ones::

    python scripts/record_process_tables.py [--out tests/data/node/tables]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

APP = '''def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\\n"]
'''

UWSGI_INI = """[uwsgi]
wsgi-file = {root}/usr/bin/{script}
http-socket = 127.0.0.1:{port}
processes = 2
master = true
die-on-term = true
exit-on-reload = false
enable-threads = true
plugins = http,python3
thunder-lock = true
lazy-apps = true
"""

APACHE_CONF = """ServerRoot /etc/apache2
ServerName localhost
PidFile {root}/run/apache2.pid
Mutex file:{root}/run default
ErrorLog {root}/log/apache-error.log
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule wsgi_module /usr/lib/apache2/modules/mod_wsgi.so
User www-data
Group www-data
Listen 127.0.0.1:{port}
<VirtualHost 127.0.0.1:{port}>
    WSGIDaemonProcess keystone-public processes=2 threads=1 user=www-data group=www-data \
        display-name=%{{GROUP}}
    WSGIProcessGroup keystone-public
    WSGIScriptAlias / {root}/usr/bin/keystone-wsgi-public
    WSGIApplicationGroup %{{GLOBAL}}
    WSGIPassAuthorization On
    <Directory {root}/usr/bin>
        Require all granted
    </Directory>
</VirtualHost>
"""


def _free(port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            sys.exit(f"port {port} is in use: stop what holds it and run again")


def _wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                time.sleep(1.0)  # let the workers and daemons start too
                return
        time.sleep(0.1)
    sys.exit(f"nothing listens on {port} after {timeout:g} s")


def _tree(pid: int) -> list[psutil.Process]:
    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def _rows(pids: set[int], root: Path) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    def scrub(text: str) -> str:
        return text.replace(str(root), "")

    processes = []
    for pid in sorted(pids):
        proc = psutil.Process(pid)
        with proc.oneshot():
            times = proc.cpu_times()
            processes.append({
                "pid": pid, "ppid": proc.ppid(), "name": proc.name(),
                "cmdline": [scrub(arg) for arg in proc.cmdline()], "status": proc.status(),
                "create_time": proc.create_time(), "cpu_seconds": times.user + times.system,
                "rss_bytes": proc.memory_info().rss})
    listening = [{"port": c.laddr.port, "address": c.laddr.ip, "protocol": "tcp", "pid": c.pid}
                 for c in psutil.net_connections(kind="tcp")
                 if c.status == psutil.CONN_LISTEN and c.pid in pids]
    return processes, sorted(listening, key=lambda r: (r["port"], r["pid"]))


@contextmanager
def _started(argv: list[str], port: int, env: dict[str, str] | None = None,
             pidfile: Path | None = None) -> Iterator[int]:
    _free(port)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    try:
        _wait_listening(port)
        pid = int(pidfile.read_text()) if pidfile is not None else proc.pid
        yield pid
    finally:
        if pidfile is not None and pidfile.exists():
            os.kill(int(pidfile.read_text()), 15)
        proc.terminate()
        proc.wait(timeout=20)
        time.sleep(1.0)


def _write(out: Path, name: str, how: str, pids: set[int], root: Path) -> None:
    processes, listening = _rows(pids, root)
    data = {"recorded_with": how, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                               time.gmtime()),
            "processes": processes, "listening": listening}
    (out / name).write_text(json.dumps(data, indent=1) + "\n")
    print(f"{name}: {len(processes)} processes, {len(listening)} listening", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("tests/data/node/tables"))
    args = parser.parse_args(argv)
    for tool in ("uwsgi", "apache2"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is not installed (Debian: uwsgi-core uwsgi-plugin-python3 "
                     "apache2 libapache2-mod-wsgi-py3)")
    args.out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="stackwatch-wsgi-"))
    try:
        root.chmod(0o755)  # Apache's daemons run as www-data
        for folder in ("usr/bin", "etc/keystone", "etc/placement", "run", "log"):
            (root / folder).mkdir(parents=True)
            (root / folder).chmod(0o755)
        for script in ("keystone-wsgi-public", "placement-api"):
            (root / "usr/bin" / script).write_text(APP)
            (root / "usr/bin" / script).chmod(0o644)
        keystone_ini = root / "etc/keystone/keystone-uwsgi-public.ini"
        keystone_ini.write_text(UWSGI_INI.format(root=root, script="keystone-wsgi-public",
                                                 port=5000))
        placement_ini = root / "etc/placement/placement-uwsgi.ini"
        placement_ini.write_text(UWSGI_INI.format(root=root, script="placement-api", port=8778))
        with _started(["uwsgi", "--procname-prefix", "keystone", "--ini", str(keystone_ini)],
                      5000) as keystone, \
                _started(["uwsgi", "--ini", str(placement_ini)], 8778) as placement:
            pids = {p.pid for p in _tree(keystone) + _tree(placement)}
            _write(args.out, "uwsgi-devstack.json",
                   "uwsgi 2.0 (Debian 12) as devstack starts keystone and placement", pids, root)
        conf = root / "etc/apache2.conf"
        conf.write_text(APACHE_CONF.format(root=root, port=5000))
        with _started(["/usr/sbin/apache2", "-f", str(conf), "-k", "start"], 5000,
                      pidfile=root / "run/apache2.pid") as apache:
            pids = {p.pid for p in _tree(apache)}
            _write(args.out, "apache-mod-wsgi.json",
                   "Apache 2.4 with mod_wsgi 4.9 (Debian 12), keystone as Ubuntu configures "
                   "it", pids, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
