# ruff: noqa: E501 - a data generator
"""Writes glusterfs/<state>/volume-status.xml and heal-<volume>.xml (gluster --xml outputs of
two replica-3 volumes on gl1..gl3) in the shapes documented in ../README.md."""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).resolve().parent
HOSTS = ("gl1", "gl2", "gl3")
PEERS = {"gl1": "2f6c1a77-4d0e-4a8b-9c1e-0b5d6e7f8a90", "gl2": "8a1e3b55-12c4-4f0d-b7aa-3c2d1e0f9b81",
         "gl3": "c37d9e10-5b2a-4c61-8e4f-6a7b8c9d0e12"}
VOLUMES = {"nova-instances": ("/bricks/nova/brick", 49152), "cinder-volumes": ("/bricks/cinder/brick", 49153)}
HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<cliOutput>\n  <opRet>0</opRet>\n  <opErrno>0</opErrno>\n  <opErrstr/>\n'


def node(hostname: str, path: str, peer: str, up: bool, port: int | None, pid: int) -> str:
    shown = str(port) if up and port else "N/A"
    return (f"        <node>\n          <hostname>{hostname}</hostname>\n          <path>{path}</path>\n"
            f"          <peerid>{peer}</peerid>\n          <status>{1 if up else 0}</status>\n"
            f"          <port>{shown}</port>\n          <ports>\n            <tcp>{shown}</tcp>\n"
            f"            <rdma>N/A</rdma>\n          </ports>\n          <pid>{pid if up else -1}</pid>\n"
            "        </node>\n")


def status(down: tuple[tuple[str, str], ...] = (), shd_down: tuple[str, ...] = ()) -> str:
    body = "  <volStatus>\n    <volumes>\n"
    pid = 2311
    for volume, (path, port) in VOLUMES.items():
        body += f"      <volume>\n        <volName>{volume}</volName>\n        <nodeCount>6</nodeCount>\n"
        for host in HOSTS:
            body += node(host, path, PEERS[host], (volume, host) not in down, port, pid)
            pid += 7
        for host in HOSTS:
            body += node("Self-heal Daemon", "localhost" if host == "gl1" else host, PEERS[host],
                         host not in shd_down, None, pid)
            pid += 3
        body += "        <tasks/>\n      </volume>\n"
    return HEAD + body + "    </volumes>\n  </volStatus>\n</cliOutput>\n"


def heal(volume: str, entries: dict[str, tuple[int, int, int]], down: tuple[str, ...] = ()) -> str:
    path = VOLUMES[volume][0]
    body = "  <healInfo>\n    <bricks>\n"
    for host in HOSTS:
        body += f'      <brick hostUuid="{PEERS[host]}">\n        <name>{host}:{path}</name>\n'
        if host in down:
            body += ("        <status>Transport endpoint is not connected</status>\n"
                     "        <totalNumberOfEntries>-</totalNumberOfEntries>\n"
                     "        <numberOfEntriesInHealPending>-</numberOfEntriesInHealPending>\n"
                     "        <numberOfEntriesInSplitBrain>-</numberOfEntriesInSplitBrain>\n"
                     "        <numberOfEntriesPossiblyHealing>-</numberOfEntriesPossiblyHealing>\n")
        else:
            pending, split, possibly = entries.get(host, (0, 0, 0))
            body += ("        <status>Connected</status>\n"
                     f"        <totalNumberOfEntries>{pending + split + possibly}</totalNumberOfEntries>\n"
                     f"        <numberOfEntriesInHealPending>{pending}</numberOfEntriesInHealPending>\n"
                     f"        <numberOfEntriesInSplitBrain>{split}</numberOfEntriesInSplitBrain>\n"
                     f"        <numberOfEntriesPossiblyHealing>{possibly}</numberOfEntriesPossiblyHealing>\n")
        body += "      </brick>\n"
    return HEAD + body + "    </bricks>\n  </healInfo>\n</cliOutput>\n"


def write(state: str, status_xml: str, heals: dict[str, str]) -> None:
    folder = OUT / state
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "volume-status.xml").write_text(status_xml)
    for volume, text in heals.items():
        (folder / f"heal-{volume}.xml").write_text(text)


clean = {v: heal(v, {}) for v in VOLUMES}
write("healthy", status(), clean)
write("brick-down", status(down=(("nova-instances", "gl2"),)),
      {"nova-instances": heal("nova-instances", {"gl1": (214, 0, 0), "gl3": (214, 0, 0)},
                              down=("gl2",)), "cinder-volumes": clean["cinder-volumes"]})
write("heal-pending", status(), {"nova-instances": heal("nova-instances", {"gl1": (37, 0, 2), "gl3": (35, 0, 0)}),
                                 "cinder-volumes": clean["cinder-volumes"]})
write("split-brain", status(shd_down=("gl3",)),
      {"nova-instances": clean["nova-instances"],
       "cinder-volumes": heal("cinder-volumes", {"gl1": (0, 2, 0), "gl2": (0, 2, 0)})})
