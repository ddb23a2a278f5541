"""openstack-exporter's metric names and label names, as ``openstack_exporter.yaml`` keeps
them (one tagged release, with its source address): what stackwatch exports alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from stackwatch.catalog.loader import catalog_dir
from stackwatch.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ExporterMetric:
    """One metric of openstack-exporter: full name, label names, the service's codename;
    ``commit`` when its labels are those of a later commit than the release's."""

    name: str
    labels: tuple[str, ...]
    service: str
    slow: bool = False
    commit: str = ""


@dataclass(frozen=True, slots=True)
class ExporterReference:
    """The release the names come from, and its metrics."""

    release: str
    commit: str
    source: str
    extra_labels: tuple[str, ...]
    needs_extension: Mapping[str, str]
    metrics: tuple[ExporterMetric, ...]
    differences: Mapping[str, str]   # name -> how stackwatch's differs
    optional: frozenset[str] = frozenset()  # codenames of the services a cloud may not run

    def of_services(self, *, optional: bool) -> tuple[ExporterMetric, ...]:
        """The metrics of the six core services, or of the optional ones."""
        return tuple(m for m in self.metrics if (m.service in self.optional) == optional)


def load_openstack_exporter(path: Path | None = None) -> ExporterReference:
    """Read ``catalog/openstack_exporter.yaml`` (or ``path``); ConfigError naming the flaw."""
    path = path or catalog_dir() / "openstack_exporter.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        metrics = tuple(
            ExporterMetric(str(m["name"]), tuple(map(str, m["labels"])), str(service),
                           bool(m.get("slow", False)), str(m.get("commit", "")))
            for service, rows in data["services"].items() for m in rows)
        return ExporterReference(str(data["release"]), str(data["commit"]), str(data["source"]),
                                 tuple(data["extra_labels"]), dict(data["needs_extension"]),
                                 metrics, dict(data.get("differences") or {}),
                                 frozenset(map(str, data.get("optional") or ())))
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: not a valid openstack-exporter reference: {exc!r}") from exc
