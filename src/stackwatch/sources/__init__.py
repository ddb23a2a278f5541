"""Sources: one module per kind of place data comes from."""
