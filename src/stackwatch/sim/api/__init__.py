"""One module per simulated OpenStack service; each defines ``register(api)`` (see routing)."""
