"""Pure parsers for OpenStack, web-server and infrastructure log formats."""
