"""Fixtures of the agent tests: the web tests' non-loopback address and certificate."""

from tests.web.conftest import certificate, public_address

__all__ = ["certificate", "public_address"]
