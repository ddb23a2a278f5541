"""Shared pytest configuration: markers are declared in pyproject.toml."""

pytest_plugins = ("servers",)  # real MariaDB / RabbitMQ fixtures (tests/servers.py)
