"""A SQLAlchemy URL as a login for the MariaDB client tools, through a defaults file.

``mariadb-dump`` and ``mariadb`` read the password from ``--defaults-file``: a file only
the current user can read, in a directory of its own, removed when the command is done.
The password is never on a command line (``ps`` shows those) nor in a log line.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stackwatch.errors import ConfigError

#: the URL schemes whose databases the client tools can dump
MYSQL_SCHEMES = ("mysql", "mariadb")


@dataclass(frozen=True)
class Login:
    """Where and as whom to connect; ``database`` may be empty (the server)."""

    host: str
    port: int
    user: str
    password: str
    database: str
    socket: str = ""

    def __repr__(self) -> str:  # never the password
        return f"Login({self.user}@{self.host}:{self.port}/{self.database})"

    def with_database(self, database: str) -> Login:
        return Login(self.host, self.port, self.user, self.password, database, self.socket)

    def sqlalchemy_url(self) -> str:
        """The same login as a SQLAlchemy URL (PyMySQL), for counting rows."""
        from sqlalchemy.engine import URL

        query = {"charset": "utf8mb4", **({"unix_socket": self.socket} if self.socket else {})}
        return URL.create("mysql+pymysql", username=self.user, password=self.password or None,
                          host=self.host, port=self.port, database=self.database or None,
                          query=query).render_as_string(hide_password=False)


def login_of(url: str, what: str) -> Login:
    """The login of a ``mysql+pymysql://user:password@host:port/db`` URL; ConfigError
    naming ``what`` (never the URL: it holds a password) for anything else."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{what}: not a SQLAlchemy URL") from None
    if parsed.get_backend_name() not in MYSQL_SCHEMES:
        raise ConfigError(f"{what}: a {parsed.get_backend_name()} database; only MariaDB "
                          "and MySQL databases are backed up")
    socket = parsed.query.get("unix_socket", "")
    return Login(host=parsed.host or "localhost", port=parsed.port or 3306,
                 user=parsed.username or "", password=parsed.password or "",
                 database=parsed.database or "",
                 socket=socket if isinstance(socket, str) else socket[0])


def _quoted(value: str) -> str:
    """An option value for a MariaDB option file (quoted, backslashes and quotes escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextlib.contextmanager
def defaults_file(login: Login) -> Iterator[Path]:
    """A ``[client]`` option file with the login, readable by this user only, removed
    afterwards: pass it as the client's first argument, ``--defaults-file=PATH``."""
    directory = Path(tempfile.mkdtemp(prefix="stackwatch-login-"))  # mode 0700
    path = directory / "client.cnf"
    lines = ["[client]", f"user={_quoted(login.user)}", f"password={_quoted(login.password)}",
             f"host={_quoted(login.host)}", f"port={login.port}"]
    if login.socket:
        lines.append(f"socket={_quoted(login.socket)}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        with contextlib.suppress(OSError):
            directory.rmdir()
