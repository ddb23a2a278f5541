"""The node's name on what its sources produce, where they leave it out.

The server keeps every node's runs side by side, so what one node says must not be
mistaken for another's. What gets ``host``:

* **samples** without a ``host`` label: a series is its name and labels, and two nodes'
  ``stackwatch_source_up{source="node.host"}`` would otherwise be one series written by
  both;
* **checks named** ``stackwatch*`` (the runner's ``stackwatch_source``, a source's
  ``stackwatch.partial``...): health reads them by ``source``, never as a member, so the
  label only tells the nodes apart;
* **events** with an empty ``host`` field.

What keeps its labels as the source made them: every label a source set (a ``host`` it
gave is its own judgement of where a member runs), and the other checks. On a check,
``host`` *means* something to health: with a service label it makes the check a
member's, "this service on this node" (:func:`stackwatch.health.evaluate.member_key`).
A check a source left without one is about a service as a whole (brute force in its
logs) or about an endpoint; adding the agent's name would turn it into a claim the
source did not make. The node checks set ``host`` on their member checks themselves.
"""

from __future__ import annotations

from dataclasses import replace

from stackwatch.model import CheckResult, Collection, Labels, Sample


def _labelled(labels: Labels, host: str) -> Labels:
    if any(key == "host" for key, _ in labels):
        return labels
    return tuple(sorted((*labels, ("host", host))))


def with_host(collection: Collection, host: str) -> Collection:
    """``collection`` with ``host`` where its sources left the node's name out."""
    samples = tuple(s if s.label("host") else Sample(s.name, s.value, _labelled(s.labels, host),
                                                     s.timestamp)
                    for s in collection.samples)
    checks = tuple(_check(c, host) for c in collection.checks)
    events = tuple(e if e.host else replace(e, host=host) for e in collection.events)
    return Collection(samples, checks, events)


def _check(check: CheckResult, host: str) -> CheckResult:
    if not check.name.startswith("stackwatch"):
        return check
    return replace(check, labels=_labelled(check.labels, host))
