"""The catalog: services, processes, ports and metrics, as data files with a validating loader."""
