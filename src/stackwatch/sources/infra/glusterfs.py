"""``infra.glusterfs``: GlusterFS bricks and self-heal from the ``gluster`` CLI's XML.

``gluster --mode=script volume status all --xml`` lists every started volume's
bricks (a ``node`` whose ``path`` is a directory) and daemons (``Self-heal Daemon``,
``NFS Server``...: their ``path`` is a host name) with ``status`` 1 or 0;
``gluster --mode=script volume info --xml`` every volume, started or not, and its
type; then, per started replicated or dispersed volume, ``gluster --mode=script
volume heal <volume> info summary --xml`` counts the entries each brick has to heal
(a brick not connected has no counts, its error as status). Checks:

* ``glusterfs.brick`` {service=glusterfs, host} per server: CRITICAL when all its
  bricks are down, WARNING when some are or its self-heal daemon is down.
* ``glusterfs.volume`` {service=glusterfs, volume}: CRITICAL when the volume is
  stopped (or a configured one does not exist), no brick is up or entries are in
  split-brain (an operator must choose a copy); WARNING with bricks down or entries
  to heal (copies differ until healed).

Every brick holding a good copy lists the same entries to heal (two of three when
one was down), so a volume's count is the most one brick lists, not their sum.
A volume whose type has no self-heal (distribute only) is judged on its bricks alone.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stackwatch.errors import InvalidResponse, SourceUnavailable
from stackwatch.infra_config import GlusterConfig
from stackwatch.model import CheckResult, Collection, Sample, Status
from stackwatch.sources.infra.base import CommandSource, Context, check, named, sample
from stackwatch.sources.infra.command import first_line
from stackwatch.sources.infra.http import excerpt

SCRIPT = "--mode=script"   # no interactive questions


@dataclass(frozen=True, slots=True)
class Brick:
    """One brick of a volume."""

    volume: str
    host: str
    path: str
    up: bool

    @property
    def name(self) -> str:
        return f"{self.host}:{self.path}"


@dataclass(frozen=True, slots=True)
class Volume:
    """A volume as ``volume info`` lists it."""

    name: str
    started: bool
    kind: str           # Replicate, Distributed-Replicate, Disperse, Distribute...
    bricks: int

    @property
    def heals(self) -> bool:
        """Whether it has copies to heal (replicated or dispersed)."""
        return "replicate" in self.kind.lower() or "disperse" in self.kind.lower()


@dataclass(frozen=True, slots=True)
class Heal:
    """A brick's entries to heal (None: the brick could not say, e.g. not connected)."""

    brick: str
    status: str
    total: float | None         # all it lists, split-brain included
    split_brain: float | None
    pending: float | None = None  # to heal, split-brain excluded (``summary`` says)

    @property
    def to_heal(self) -> float:
        """Entries self-heal can still heal."""
        if self.pending is not None:
            return self.pending
        return max((self.total or 0) - (self.split_brain or 0), 0)


def _document(text: str, what: str) -> ET.Element:
    """The ``cliOutput`` root; an error the CLI reported (``opRet`` not 0) raised."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise InvalidResponse(f"{what}: not XML ({exc}): {excerpt(text)}") from None
    if root.tag != "cliOutput":
        raise InvalidResponse(f"{what}: unexpected document <{root.tag}>")
    if (root.findtext("opRet") or "0").strip() != "0":
        raise SourceUnavailable(f"{what}: {root.findtext('opErrstr') or 'failed'}")
    return root


def parse_status(text: str) -> tuple[list[Brick], dict[str, bool]]:
    """``volume status all --xml`` -> bricks, and each host's self-heal daemon (up or not)."""
    root = _document(text, "gluster volume status")
    volumes = root.findall("volStatus/volumes/volume") or root.findall("volStatus")
    if root.find("volStatus") is None:
        raise InvalidResponse("gluster volume status: no volStatus")
    bricks: list[Brick] = []
    daemons: dict[str, bool] = {}
    for volume in volumes:
        name = volume.findtext("volName") or "?"
        for node in volume.findall("node"):
            host = (node.findtext("hostname") or "").strip()
            path = (node.findtext("path") or "").strip()
            up = (node.findtext("status") or "0").strip() == "1"
            if path.startswith("/"):
                bricks.append(Brick(name, host, path, up))
            elif host == "Self-heal Daemon":
                daemons[path] = daemons.get(path, True) and up
    return bricks, daemons


def parse_info(text: str) -> dict[str, Volume]:
    """``volume info --xml`` -> volumes by name."""
    root = _document(text, "gluster volume info")
    if root.find("volInfo") is None:
        raise InvalidResponse("gluster volume info: no volInfo")
    volumes = {}
    for volume in root.findall("volInfo/volumes/volume"):
        name = (volume.findtext("name") or "?").strip()
        volumes[name] = Volume(name, (volume.findtext("statusStr") or "").strip() == "Started",
                               (volume.findtext("typeStr") or "").strip(),
                               len(volume.findall("bricks/brick")))
    return volumes


def _count(text: str | None) -> float | None:
    try:
        return float((text or "").strip())
    except ValueError:
        return None


def parse_heal(text: str, volume: str) -> list[Heal]:
    """``volume heal <volume> info summary --xml`` (or plain ``info``) -> per brick counts."""
    root = _document(text, f"gluster volume heal {volume} info")
    heals = []
    for brick in root.findall("healInfo/bricks/brick"):
        total = _count(brick.findtext("totalNumberOfEntries") or brick.findtext(
            "numberOfEntries"))
        split = _count(brick.findtext("numberOfEntriesInSplitBrain"))
        pending = _count(brick.findtext("numberOfEntriesInHealPending"))
        if pending is not None:
            pending += _count(brick.findtext("numberOfEntriesPossiblyHealing")) or 0
        heals.append(Heal(brick.findtext("name") or "?", brick.findtext("status") or "",
                          total, split, pending))
    return heals


def _entries(count: float) -> str:
    return f"{count:.0f} {'entry' if count == 1 else 'entries'}"


def judge_volume(volume: str, bricks: Sequence[Brick], heals: Sequence[Heal] | None,
                 info: Volume | None = None) -> tuple[Status, str]:
    """A volume from its state, its bricks and their entries to heal."""
    if info is not None and not info.started:
        return Status.CRITICAL, f"{volume}: volume stopped (gluster volume start {volume})"
    down = [b.name for b in bricks if not b.up]
    judged: list[tuple[Status, str]] = []
    if bricks and len(down) == len(bricks):
        judged.append((Status.CRITICAL, f"no brick up ({len(bricks)} down)"))
    elif down:
        judged.append((Status.WARNING, f"{len(down)} of {len(bricks)} bricks down: "
                       + named(down, 5)))
    if heals:
        pending = max(h.to_heal for h in heals)
        split = max(h.split_brain or 0 for h in heals)
        if split:
            judged.append((Status.CRITICAL, f"{_entries(split)} in split-brain (choose a "
                           "copy: gluster volume heal ... split-brain)"))
        if pending:
            on = [f"{h.brick} {h.to_heal:.0f}" for h in heals if h.to_heal]
            judged.append((Status.WARNING, f"{_entries(pending)} to heal "
                           f"(listed by {named(on, 5)})"))
    if not judged:
        return Status.OK, f"{volume}: {len(bricks)} bricks up, nothing to heal"
    status = Status.worst(s for s, _ in judged)
    return status, f"{volume}: " + "; ".join(text for _, text in judged)


def volume_results(bricks: Sequence[Brick], daemons: Mapping[str, bool],
                   heals: Mapping[str, list[Heal] | None],
                   info: Mapping[str, Volume] | None = None,
                   missing: Sequence[str] = ()) -> Collection:
    """Samples and checks of every volume and server (``missing``: configured volumes
    ``volume info`` does not list)."""
    samples: list[Sample] = []
    checks: list[CheckResult] = []
    info = info or {}
    for volume in missing:
        checks.append(check("glusterfs.volume", Status.CRITICAL, f"{volume}: no such volume "
                            "(not in gluster volume info)", service="glusterfs",
                            volume=volume))
    volumes = sorted(({b.volume for b in bricks} | set(heals) | set(info)) - set(missing))
    for volume in volumes:
        mine = [b for b in bricks if b.volume == volume]
        about = info.get(volume)
        if about is not None and not about.started:
            samples += [sample("glusterfs_bricks", about.bricks, {"volume": volume}),
                        sample("glusterfs_bricks_up", 0, {"volume": volume})]
            status, message = judge_volume(volume, mine, None, about)
            checks.append(check("glusterfs.volume", status, message, service="glusterfs",
                                volume=volume))
            continue
        samples += [sample("glusterfs_brick_up", 1 if b.up else 0,
                           {"volume": volume, "brick": b.name}) for b in mine]
        samples += [sample("glusterfs_bricks", len(mine), {"volume": volume}),
                    sample("glusterfs_bricks_up", len([b for b in mine if b.up]),
                           {"volume": volume})]
        for heal in heals.get(volume) or []:
            labels = {"volume": volume, "brick": heal.brick}
            if heal.total is not None:
                samples.append(sample("glusterfs_heal_entries", heal.total, labels))
            if heal.split_brain is not None:
                samples.append(sample("glusterfs_split_brain_entries", heal.split_brain, labels))
        status, message = judge_volume(volume, mine, heals.get(volume))
        checks.append(check("glusterfs.volume", status, message, service="glusterfs",
                            volume=volume))
    for host in sorted({b.host for b in bricks}):
        mine = [b for b in bricks if b.host == host]
        down = [b for b in mine if not b.up]
        shd = daemons.get(host)
        if len(down) == len(mine):
            status, message = Status.CRITICAL, f"{host}: all {len(mine)} bricks down"
        elif down:
            status, message = Status.WARNING, f"{host}: bricks down: " + named(
                [f"{b.volume} {b.path}" for b in down], 5)
        else:
            status, message = Status.OK, f"{host}: {len(mine)} bricks up"
        if shd is False:
            status = Status.worst((status, Status.WARNING))
            message += "; self-heal daemon down"
        checks.append(check("glusterfs.brick", status, message, service="glusterfs",
                            host=host))
    samples += [sample("glusterfs_self_heal_daemon_up", 1 if up else 0, {"host": host})
                for host, up in sorted(daemons.items())]
    return Collection(tuple(samples), tuple(checks))


class GlusterSource(CommandSource):
    """``gluster`` on one server of the trusted pool."""

    piece = "glusterfs"

    def __init__(self, command: Sequence[str], host: str, timeout: float,
                 volumes: Sequence[str] = ()) -> None:
        super().__init__(command, host, timeout)
        self.volumes = tuple(volumes)

    def read(self, target: str) -> Collection:
        bricks, daemons = parse_status(self.run(SCRIPT, "volume", "status", "all", "--xml"))
        info = parse_info(self.run(SCRIPT, "volume", "info", "--xml"))
        # the daemon of the server the command runs on is listed as localhost
        daemons = {self.host if h == "localhost" else h: up for h, up in daemons.items()}
        wanted = self.volumes or sorted(info)
        if self.volumes:   # a stopped volume counts when asked for
            info = {name: v for name, v in info.items() if v.started or name in self.volumes}
        heals: dict[str, list[Heal] | None] = {}
        for volume in wanted:
            about = info.get(volume)
            if about is not None and about.started:
                heals[volume] = self._heal(volume) if about.heals else None
        missing = [v for v in wanted if v not in info]
        return volume_results(bricks, daemons, heals, info, missing)

    def _heal(self, volume: str) -> list[Heal] | None:
        """The volume's heal counts; None for a volume without self-heal."""
        output = self.output(SCRIPT, "volume", "heal", volume, "info", "summary", "--xml")
        if output.returncode != 0 and not output.stdout.lstrip().startswith("<"):
            said = first_line(output.stderr) or first_line(output.stdout) or "no message"
            raise SourceUnavailable(f"gluster volume heal {volume} info: exit status "
                                    f"{output.returncode}: {said}")
        try:
            return parse_heal(output.stdout, volume)
        except SourceUnavailable as exc:
            if "not of type" in str(exc) or "replicate/disperse" in str(exc):
                return None   # distribute only: nothing to heal
            raise


def build(config: GlusterConfig, context: Context) -> GlusterSource:
    """``infra.glusterfs`` for the section ``config``."""
    return GlusterSource(config.command, config.host or context.host, context.command_timeout,
                         config.volumes)
