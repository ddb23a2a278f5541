"""Backups of the service databases, proven by restoring them (docs/backups.md).

* :mod:`.login` — a database URL as a MariaDB client login, passed to the client tools in
  a private defaults file (never on a command line, never logged);
* :mod:`.archive` — the layout on disk: ``<dir>/<cloud>/<database>/<stamp>.sql.gz``, its
  ``.sha256`` and its manifest ``.json`` (row counts of the source), and listing them;
* :mod:`.dump` — ``mariadb-dump`` piped through gzip and sha256, the manifest last;
* :mod:`.verify` — the checksum, then a restore into a scratch database whose row counts
  are compared with the source's, the scratch database dropped;
* :mod:`.retention` — what to keep: the newest N of each database and all younger than
  an age;
* :mod:`stackwatch.sources.backup` — ``stackwatch_backup_*`` metrics and the ``backup.age``
  check.
"""
