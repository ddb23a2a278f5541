"""``brute-force``: addresses hammering keystone with bad passwords, and the block list.

Reads keystone's access logs and HAProxy's (behind HAProxy keystone sees the balancer;
HAProxy's log has the client) under the cloud's ``logs.root``, as ``stackwatch logs
blocklist`` does (the same reader and detector, :mod:`stackwatch.sources.logs.bruteforce`):
an address with ``logs.bruteforce_threshold`` failed authentications within
``logs.bruteforce_window`` seconds up to now is an offender. The evidence gives each
offender's failures, first and last seen and the logs; the advice carries the block
list (ipset, as ``logs blocklist`` prints it). WARNING with offenders, CRITICAL when
one has five times the threshold (as the ``logs.auth_bruteforce`` check).
"""

from __future__ import annotations

import time

from stackwatch.runbooks.context import RunbookContext
from stackwatch.runbooks.model import Diagnosis, Evidence
from stackwatch.sources.logs.bruteforce import blocklist, offender_evidence, read_failures
from stackwatch.sources.logs.globs import DEFAULT_ROOT, expand, service_globs

SHOWN = 20


def _clock(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


class BruteForce:
    """Who is guessing passwords, with the evidence and the rules to block them."""

    name = "brute-force"
    summary = "addresses with too many failed keystone logins, and the block list"

    def diagnose(self, ctx: RunbookContext) -> Diagnosis:
        logs = ctx.cloud.logs
        root = logs.root or DEFAULT_ROOT
        globs = service_globs(logs.globs)
        window, threshold = logs.bruteforce_window, logs.bruteforce_threshold
        files = [p for p in expand(root, globs["keystone"] + globs["haproxy"])
                 if p.stat().st_mtime >= ctx.now - window]  # older ones hold no failure now
        if not files and not expand(root, globs["keystone"] + globs["haproxy"]):
            return Diagnosis(runbook=self.name, verdict="UNKNOWN",
                             summary=f"no keystone or HAProxy log under {root}",
                             advice=["set logs.root (and logs.globs) of the cloud in "
                                     "stackwatch.yaml to where keystone's logs are"])
        offenders = offender_evidence(read_failures(files), window, threshold, ctx.now)
        evidence = [Evidence(label="logs read", value=f"{len(files)} written in the last "
                             f"{window:g} s", source=str(root))]
        evidence += [Evidence(label=o.address,
                              value=f"{o.failures} failed logins in {window:g} s, first "
                                    f"{_clock(o.first)}, last {_clock(o.last)}",
                              source=", ".join(o.logs))
                     for o in offenders[:SHOWN]]
        if not offenders:
            return Diagnosis(runbook=self.name, verdict="OK",
                             summary=f"no address with {threshold}+ failed logins in the "
                                     f"last {window:g} s", evidence=evidence)
        if len(offenders) > SHOWN:
            evidence.append(Evidence(label="more", value=f"{len(offenders) - SHOWN} more "
                                     "addresses (all are in the block list)"))
        worst = offenders[0]
        verdict = "CRITICAL" if worst.failures >= 5 * threshold else "WARNING"
        rules = blocklist((o.address for o in offenders), "ipset").splitlines()
        return Diagnosis(
            runbook=self.name, verdict=verdict,
            summary=f"{len(offenders)} address(es) with {threshold}+ failed logins in "
                    f"{window:g} s; worst {worst.address} ({worst.failures})",
            evidence=evidence,
            advice=["block them (ipset; other formats: stackwatch logs blocklist --format "
                    "iptables|nftables|nginx|apache):", *rules,
                    "check keystone's lockout ([security_compliance] "
                    "lockout_failure_attempts) and the accounts they try"])


RUNBOOK = BruteForce()
