"""The runbooks, one module each (``RUNBOOK`` in each; see :mod:`..registry`)."""
