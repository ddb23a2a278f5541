"""The simulated OpenStack cloud: APIs, databases, logs, bus and processes."""
