"""Pid files that outlived their services must not make ``down.sh`` stop somebody else.

CI runs on the machine a session leaves behind: the session's processes are ended, its
``run/*.pid`` files are not, and a pid named there can belong to the CI run's own pytest.
``down.sh --wipe`` signals every pid in ``run/`` (a CI run died of it: SIGTERM, exit 143).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from realcloud.cloud import RealCloud, scripts_dir


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process in its own session, as lib.sh's ``start_bg`` starts a service; reaped as
    soon as it ends (a zombie would keep its group alive for ``down.sh``)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                            start_new_session=True)
    reaper = threading.Thread(target=proc.wait, daemon=True)
    reaper.start()
    yield proc
    proc.kill()
    reaper.join(timeout=10)


def _cloud(root: Path) -> RealCloud:
    (root / "run").mkdir(parents=True)
    return RealCloud(scripts=scripts_dir(), root=root, workdir=root)


def _pid_file(cloud: RealCloud, name: str, pid: int, age_s: float = 0.0) -> Path:
    path = cloud.run_dir / f"{name}.pid"
    path.write_text(f"{pid}\n")
    written = time.time() - age_s
    os.utime(path, (written, written))
    return path


def test_stale_pid_files_are_forgotten(tmp_path: Path,
                                       sleeper: subprocess.Popen[bytes]) -> None:
    cloud = _cloud(tmp_path)
    _pid_file(cloud, "own", os.getpid())                      # this test run itself
    _pid_file(cloud, "parent", os.getppid(), age_s=0)         # a parent of it
    _pid_file(cloud, "reused", sleeper.pid, age_s=3600)       # written long before it began
    kept = _pid_file(cloud, "service", sleeper.pid)           # written when it began
    gone = _pid_file(cloud, "gone", 2**22 + 1)                # no such process: down.sh skips

    assert sorted(cloud.forget_stale_pid_files()) == ["own", "parent", "reused"]
    assert sorted(p.name for p in cloud.run_dir.iterdir()) == [gone.name, kept.name]
    assert cloud.pid("service") == sleeper.pid
    assert cloud.pid("gone") is None


def test_down_sh_stops_the_service_and_not_this_run(tmp_path: Path,
                                                     sleeper: subprocess.Popen[bytes]) -> None:
    """The real ``down.sh --wipe`` on a run/ with a stale file naming pytest's own pid."""
    cloud = _cloud(tmp_path)
    _pid_file(cloud, "nova-api", os.getpid(), age_s=3600)
    _pid_file(cloud, "keystone", sleeper.pid)
    assert cloud.forget_stale_pid_files() == ["nova-api"]

    done = subprocess.run([str(cloud.scripts / "down.sh"), "--wipe"], capture_output=True,
                          text=True, timeout=60, check=False,
                          env=dict(os.environ, RC_ROOT=str(tmp_path)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert sleeper.wait(timeout=30) == -signal.SIGTERM   # stopped by its group, no SIGKILL
    assert "stopped keystone" in done.stdout
    assert not cloud.run_dir.exists()          # wiped; and this test is still running
