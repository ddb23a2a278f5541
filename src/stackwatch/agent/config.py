"""The ``agent:`` section of ``stackwatch.yaml``: where to push, as whom, how to buffer.

Example::

    agent:
      server: https://monitor.example.net:9550   # the server's base URL
      token_file: /etc/stackwatch/agent.token    # or token: sw_... (never logged)
      ca_file: /etc/stackwatch/ca.pem            # trust for the server's certificate
      host: cmp-017                              # default: this machine's host name
      buffer_dir: /var/lib/stackwatch-agent/buffer
      buffer_max_bytes: 67108864                 # 64 MiB; the oldest batches go past it
      batch_size: 20                             # batches (runs) per push at most
      push_interval: 5                           # seconds between pushes
      timeout: 10                                # seconds a push may take
      retry_max: 60                              # longest wait between retries (seconds)

Paths are taken from the config file's directory when relative. The token is a
:class:`~pydantic.SecretStr`: its repr and any error message show ``**********``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from stackwatch.errors import ConfigError

INGEST_PATH = "/api/v1/ingest"


class AgentConfig(BaseModel):
    """Where the agent pushes, with which token, and how it buffers while it cannot."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the server's base URL (``http://`` or ``https://``, a path prefix allowed)
    server: str
    token: SecretStr | None = None
    token_file: Path | None = None
    #: PEM certificates to trust for an ``https://`` server (default: the system's)
    ca_file: Path | None = None
    #: the node's name: the ``host`` label of what its sources leave unlabelled, and the
    #: server-side name of its sources (``host/source``); default: the host name
    host: str | None = Field(None, min_length=1, max_length=253)
    buffer_dir: Path = Path("agent-buffer")
    buffer_max_bytes: int = Field(64 * 1024 * 1024, ge=4096)
    batch_size: int = Field(20, ge=1, le=1000)
    push_interval: float = Field(5.0, gt=0, le=3600)
    timeout: float = Field(10.0, gt=0, le=600)
    retry_max: float = Field(60.0, gt=0, le=3600)

    @field_validator("server")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http:// or https:// URL with a host")
        if parts.username or parts.password:
            raise ValueError("no user or password in the URL: give token or token_file")
        if parts.query or parts.fragment:
            raise ValueError("the base URL takes no query or fragment")
        return value.rstrip("/")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and (value != value.strip() or "/" in value):
            raise ValueError("a host name has no '/' and no surrounding spaces")
        return value

    @model_validator(mode="after")
    def _one_token(self) -> AgentConfig:
        if (self.token is None) == (self.token_file is None):
            raise ValueError("give token or token_file (one of them)")
        if self.token is not None and not self.token.get_secret_value().strip():
            raise ValueError("token is empty")
        return self

    @property
    def node(self) -> str:
        """The node's name: ``host``, else this machine's host name."""
        return self.host or socket.gethostname()

    @property
    def ingest_url(self) -> str:
        return self.server + INGEST_PATH

    def resolved(self, base: Path) -> AgentConfig:
        """Relative paths taken from ``base`` (the config file's directory)."""
        def under(path: Path | None) -> Path | None:
            return path if path is None or path.is_absolute() else (base / path).resolve()

        return self.model_copy(update={"token_file": under(self.token_file),
                                       "ca_file": under(self.ca_file),
                                       "buffer_dir": under(self.buffer_dir)})

    def check_files(self, source: str) -> None:
        """The token and CA files are there to read (said at start, not at first push)."""
        for name in ("token_file", "ca_file"):
            path: Path | None = getattr(self, name)
            if path is not None and not path.is_file():
                what = "is not a file" if path.exists() else "does not exist"
                raise ConfigError(f"{source}: agent.{name}: {path} {what}")
        if urlsplit(self.server).scheme == "http" and self.ca_file is not None:
            raise ConfigError(f"{source}: agent.ca_file: given, but agent.server is http://")

    def read_token(self) -> str:
        """The token (from the file when ``token_file``): read at start and after a 401."""
        if self.token is not None:
            return self.token.get_secret_value().strip()
        assert self.token_file is not None
        try:
            text = self.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"agent.token_file: {self.token_file}: cannot read: "
                              f"{exc.strerror}") from None
        if not text:
            raise ConfigError(f"agent.token_file: {self.token_file} is empty")
        return text
