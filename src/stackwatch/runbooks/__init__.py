"""Runbooks: diagnose a recurring problem, and fix it safely.

* :mod:`.model` — what a runbook answers: a :class:`~.model.Diagnosis` (verdict,
  evidence, advice) and, for a fix, a :class:`~.model.Plan` (the exact changes, and a
  fingerprint of the targets' state when it was made).
* :mod:`.base` — the :class:`~.base.Runbook` protocol; :mod:`.context` what a runbook
  may use (the cloud's API, its databases, the store, the catalog, who is acting).
* :mod:`.registry` — every runbook is one module of :mod:`.books` exposing ``RUNBOOK``.
* :mod:`.fixer` — the one place every fix goes through: enabled in config, the dry run
  by default, an operator to apply, the targets re-read and compared with the dry run,
  everything in the store's audit log.
* :mod:`.cli` (``stackwatch diagnose``, ``stackwatch fix``) and :mod:`.api` (REST).
"""
