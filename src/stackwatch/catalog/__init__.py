"""The catalog: services, processes, ports and metrics, as data files with a validating loader.

``load_catalog()`` / ``default_catalog()`` in :mod:`stackwatch.catalog.loader`;
test helpers in :mod:`stackwatch.catalog.testing`.
"""
