"""Node, service and cloud health, aware of each service's HA mode."""
