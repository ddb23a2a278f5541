"""Prometheus text as the tests read it: series -> value, a series given twice a failure."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, tuple[tuple[str, str], ...]]


def exposition(text: str) -> dict[Key, float]:
    """Series -> value of a Prometheus text, failing on a series given twice."""
    seen: dict[Key, float] = {}
    twice: list[Key] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            if key in seen:
                twice.append(key)
            seen[key] = sample.value
    assert not twice, f"series given twice: {twice[:5]}"
    return seen
