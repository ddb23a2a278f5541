"""Back up the real control plane's nova and keystone databases and prove the dumps by
restoring them into scratch databases on the same MariaDB.

The dumps are made by the read-only ``monitor`` account (SELECT is all a consistent
``--single-transaction`` dump needs); the restores by an account of the test's own that
may only create ``stackwatch_verify_*`` databases (made as root over the server's socket,
dropped afterwards: the cloud is left as it was).
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from realcloud.cloud import RealCloud
from stackwatch.backup import archive
from stackwatch.cli import main

DATABASES = ("nova", "keystone")
USER = "stackwatch_restore"


def root_sql(cloud: RealCloud, sql: str) -> str:
    """Run ``sql`` as MariaDB's root over the realcloud socket (the tests' own hands)."""
    done = subprocess.run(["mariadb", f"--socket={cloud.root / 'mysql-run' / 'mysqld.sock'}",
                           "-uroot", "--batch", "--skip-column-names", "-e", sql],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def restorer(realcloud: RealCloud) -> Iterator[str]:
    """A URL of an account that may create and drop ``stackwatch_verify_*`` only."""
    password = secrets.token_urlsafe(16)
    root_sql(realcloud, f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{password}'; "
                        f"GRANT ALL ON `stackwatch\\_verify\\_%`.* TO '{USER}'@'127.0.0.1'")
    try:
        yield f"mysql+pymysql://{USER}:{password}@127.0.0.1:3306/"
    finally:
        root_sql(realcloud, f"DROP USER IF EXISTS '{USER}'@'127.0.0.1'")


def test_backup_and_restore_nova_and_keystone(realcloud: RealCloud, restorer: str,
                                              tmp_path: Path) -> None:
    config = realcloud.stackwatch_config(store=tmp_path / "store.sqlite",
                                         databases=DATABASES)
    config["backups"] = {"directory": str(tmp_path / "backups"), "scratch_url": restorer}
    path = tmp_path / "stackwatch.yaml"
    path.write_text(yaml.safe_dump(config))
    started = time.monotonic()
    done = CliRunner().invoke(main, ["backup", "run", "--config", str(path), "--verify"])
    took = time.monotonic() - started
    assert done.exit_code == 0, done.output
    found = archive.groups(archive.backups(tmp_path / "backups"))
    assert sorted(found) == [("realcloud", d) for d in sorted(DATABASES)]
    for (_, database), [made] in found.items():
        assert made.manifest is not None and made.verification is not None
        assert made.verification.ok, made.verification.message
        assert made.verification.tables.keys() == made.manifest.tables.keys()
        assert sum(made.verification.tables.values()) > 0, database
    assert "instances" in found[("realcloud", "nova")][0].verification.tables  # type: ignore[union-attr]
    assert "project" in found[("realcloud", "keystone")][0].verification.tables  # type: ignore[union-attr]
    assert root_sql(realcloud, "SHOW DATABASES LIKE 'stackwatch\\_verify\\_%'").strip() == ""
    assert realcloud.password not in done.output
    print(f"backup and verify of {', '.join(DATABASES)}: {took:.1f} s")
