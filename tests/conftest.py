"""Shared pytest configuration: markers are declared in pyproject.toml."""

# real MariaDB / RabbitMQ / PostgreSQL fixtures (tests/servers.py), and each test of the
# store's contract run on SQLite and on PostgreSQL (tests/stores.py)
pytest_plugins = ("servers", "stores")
