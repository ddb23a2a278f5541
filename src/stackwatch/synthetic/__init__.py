"""Synthetic transactions: the cloud used as a user would, timed step by step.

``steps.py`` the steps as data and a run's result; ``api.py`` the connection (one
token per run) and its errors; ``run.py`` the run itself; ``cleanup.py`` the sweeps of
what runs made (by name prefix); ``source.py`` the run as a source of the server and
its checks and samples; ``cli.py`` ``stackwatch synthetic run``. docs/synthetic.md.
"""
