"""The node agent: runs this node's sources and pushes their runs to the server.

::

    sources ─► Runner/Loop ─► identity.with_host ─► buffer (disk) ─► sender thread ─► server
                (threads)       (host label)         (one file a run,   (HTTP(S), Bearer,
                                                      bounded in bytes)   retries, in order)

* :mod:`.config` — the ``agent:`` section of ``stackwatch.yaml``.
* :mod:`.wire` — what travels: a *batch* is one run of one source (samples, checks,
  events, source name, partial flag) with the agent's id and a sequence number; a *push*
  is one HTTP request carrying up to ``batch_size`` batches, oldest first.
* :mod:`.buffer` — batches on disk until the server acknowledges them.
* :mod:`.sender` — the thread that pushes, backs off and replays.
* :mod:`.daemon` — :class:`~.daemon.Agent`, tying them together; :mod:`.cli` the commands.
* :mod:`.ingest` — the server's side: validation, deduplication, the store write.
* :mod:`.units` — the systemd units.

Nothing here imports numba: the agent stays light unless its config asks for compiled
log parsing (``logs.compiled``).
"""
