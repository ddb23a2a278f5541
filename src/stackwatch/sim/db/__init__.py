"""The simulated cloud's service databases: real OpenStack tables, kept equal to the state.

:class:`~stackwatch.sim.db.sync.ServiceDatabases` is the entry point; the tables are in
:mod:`~stackwatch.sim.db.schema`, the record-to-row rules in :mod:`~stackwatch.sim.db.rows`,
the DB-side fault scenarios in :mod:`~stackwatch.sim.db.scenarios`.
"""
