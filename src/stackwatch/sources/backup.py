"""The ``backup`` source: the age of each database's last good backup, from the backup
directory (whoever made them: the server's schedule or ``stackwatch backup run`` in cron).

A good backup is complete (it has its manifest) and not proven bad (no verification, or
one that passed). ``backup.age`` per database: OK, WARNING past ``warning_age``,
CRITICAL past ``critical_age`` or with no good backup at all.
"""

from __future__ import annotations

import time

from stackwatch.backup import archive
from stackwatch.backup.dump import targets
from stackwatch.config import Config
from stackwatch.model import CheckResult, Collection, PerfDatum, Sample, Status, make_labels


def _good(b: archive.Backup) -> bool:
    return b.manifest is not None and (b.verification is None or b.verification.ok)


class BackupSource:
    """Looks at the backups of every database ``backups`` covers."""

    name = "backup"

    def __init__(self, config: Config) -> None:
        assert config.backups is not None
        self.settings = config.backups
        self.targets, self.problems = targets(config)

    def collect(self) -> Collection:
        now = time.time()
        samples: list[Sample] = []
        checks: list[CheckResult] = []
        found = archive.groups(archive.backups(self.settings.directory))
        warn, crit = self.settings.warning_age, self.settings.critical_age
        for target in self.targets:
            labels = {"cloud": target.cloud, "database": target.database}
            members = found.get((target.cloud, target.database), [])
            good = [b for b in members if _good(b)]
            verified = [b.verification.at for b in members
                        if b.verification is not None and b.verification.ok]
            last = good[-1] if good else None
            finished = last.finished if last is not None else 0.0
            age = now - finished if last is not None else float("inf")
            samples += [
                Sample.of("stackwatch_backup_last_success_timestamp_seconds", finished, now,
                          **labels),
                Sample.of("stackwatch_backup_last_verified_timestamp_seconds",
                          max(verified, default=0.0), now, **labels),
                Sample.of("stackwatch_backup_backups", sum(1 for b in members
                                                           if b.manifest), now, **labels),
            ]
            if last is not None:
                assert last.manifest is not None
                samples += [Sample.of("stackwatch_backup_age_seconds", age, now, **labels),
                            Sample.of("stackwatch_backup_size_bytes", last.manifest.bytes,
                                      now, **labels)]
                status = (Status.CRITICAL if age > crit else
                          Status.WARNING if age > warn else Status.OK)
                message = (f"{target.key}: last good backup {age / 3600:.1f} h old "
                           f"({last.path.name})")
                perf: tuple[PerfDatum, ...] = (PerfDatum("age", round(age), "s", warn, crit,
                                                         0),)
            else:
                status, perf = Status.CRITICAL, ()
                message = f"{target.key}: no good backup in {self.settings.directory}"
            checks.append(CheckResult("backup.age", status, message, make_labels(labels),
                                      perf, now))
        checks += [CheckResult("backup.age", Status.UNKNOWN, problem, make_labels(),
                               (), now) for problem in self.problems]
        return Collection(samples=tuple(samples), checks=tuple(checks))
