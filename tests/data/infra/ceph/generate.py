# ruff: noqa: E501 - a data generator: health messages are kept whole, as Ceph prints them
"""Writes the ceph/<state>/{status,df,osd-tree}.json outputs of a 3-host, 12-OSD Reef cluster
(and a Jewel-era status) in the shapes documented in ../README.md: python3 generate.py."""

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent
TIB = 1024**4
FSID = "5e2a1a7c-9d4e-4b8e-a3a7-0f1c2d3e4f50"
hosts = {"st1": [0, 1, 2, 3], "st2": [4, 5, 6, 7], "st3": [8, 9, 10, 11]}
POOLS = [(".mgr", 1, 1), ("volumes", 2, 256), ("images", 3, 64), ("vms", 4, 128), ("backups", 5, 32)]
NUM_PGS = sum(p[2] for p in POOLS)

def status(health="HEALTH_OK", checks=None, quorum=("st1", "st2", "st3"), up=12, inn=12,
           pgs=None, used_ratio=0.31, degraded=None, remapped=0, misplaced=0):
    total = 12 * 2 * TIB
    used = int(total * used_ratio)
    pgmap = {"pgs_by_state": pgs or [{"state_name": "active+clean", "count": NUM_PGS}],
             "num_pgs": NUM_PGS, "num_pools": len(POOLS), "num_objects": 1184213,
             "data_bytes": used // 3, "bytes_used": used, "bytes_avail": total - used,
             "bytes_total": total, "read_bytes_sec": 3481233, "write_bytes_sec": 9120344,
             "read_op_per_sec": 212, "write_op_per_sec": 689}
    if degraded:
        pgmap.update({"degraded_objects": degraded[0], "degraded_total": 3552639,
                      "degraded_ratio": degraded[0] / 3552639})
    if misplaced:
        pgmap.update({"misplaced_objects": misplaced, "misplaced_total": 3552639,
                      "misplaced_ratio": misplaced / 3552639})
    return {
        "fsid": FSID,
        "health": {"status": health, "checks": checks or {}, "mutes": []},
        "election_epoch": 46, "quorum": [i for i, n in enumerate(("st1", "st2", "st3")) if n in quorum],
        "quorum_names": list(quorum), "quorum_age": 1862411,
        "monmap": {"epoch": 3, "min_mon_release_name": "reef", "num_mons": 3},
        "osdmap": {"epoch": 2184, "num_osds": 12, "num_up_osds": up, "osd_up_since": 1796380211,
                   "num_in_osds": inn, "osd_in_since": 1796380211, "num_remapped_pgs": remapped},
        "pgmap": pgmap,
        "fsmap": {"epoch": 1, "by_rank": [], "up:standby": 0},
        "mgrmap": {"available": True, "num_standbys": 2, "modules": ["iostat", "nfs", "prometheus", "restful"],
                   "services": {"prometheus": "http://192.168.24.31:9283/"}},
        "servicemap": {"epoch": 412, "modified": "2026-12-03T09:58:12.118243+0000", "services": {}},
        "progress_events": {},
    }

def check(code, sev, message, count):
    return {code: {"severity": sev, "summary": {"message": message, "count": count}, "muted": False}}

def tree(down=(), out=()):
    nodes = [{"id": -1, "name": "default", "type": "root", "type_id": 11, "children": [-7, -5, -3]}]
    hid = -3
    for h, osds in hosts.items():
        nodes.append({"id": hid, "name": h, "type": "host", "type_id": 1, "pool_weights": {},
                      "children": list(reversed(osds))})
        for o in osds:
            nodes.append({"id": o, "device_class": "ssd", "name": f"osd.{o}", "type": "osd", "type_id": 0,
                          "crush_weight": 1.7465972900390625, "depth": 2, "pool_weights": {}, "exists": 1,
                          "status": "down" if o in down else "up", "reweight": 0 if o in out else 1,
                          "primary_affinity": 1})
        hid -= 2
    return {"nodes": nodes, "stray": []}

def df(used_ratio=0.31, pool_used=None):
    total = 12 * 2 * TIB
    used = int(total * used_ratio)
    pools = []
    for name, pid, _ in POOLS:
        share = {".mgr": 0.0001, "volumes": 0.55, "images": 0.1, "vms": 0.3, "backups": 0.05}[name]
        stored = int(used / 3 * share)
        pct = (pool_used or {}).get(name, used_ratio * 1.02 * (0.2 + share))
        max_avail = int(stored * (1 - pct) / pct) if pct else 0
        pools.append({"name": name, "id": pid, "stats": {
            "stored": stored, "stored_data": stored, "stored_omap": 0, "objects": int(stored / 4194304),
            "kb_used": stored * 3 // 1024, "bytes_used": stored * 3, "data_bytes_used": stored * 3,
            "omap_bytes_used": 0, "percent_used": round(pct, 6), "max_avail": max_avail,
            "quota_objects": 0, "quota_bytes": 0, "dirty": 0, "rd": 8812, "rd_bytes": 1348812,
            "wr": 92012, "wr_bytes": 3218812, "compress_bytes_used": 0, "compress_under_bytes": 0,
            "stored_raw": stored * 3, "avail_raw": max_avail * 3}})
    return {"stats": {"total_bytes": total, "total_avail_bytes": total - used, "total_used_bytes": used,
                      "total_used_raw_bytes": used, "total_used_raw_ratio": used_ratio,
                      "num_osds": 12, "num_per_pool_osds": 12, "num_per_pool_omap_osds": 12},
            "stats_by_class": {"ssd": {"total_bytes": total, "total_avail_bytes": total - used,
                                       "total_used_bytes": used, "total_used_raw_bytes": used,
                                       "total_used_raw_ratio": used_ratio}},
            "pools": pools}

def write(state, st, d, t):
    (OUT / state).mkdir(parents=True, exist_ok=True)
    for name, doc in (("status", st), ("df", d), ("osd-tree", t)):
        (OUT / state / f"{name}.json").write_text(json.dumps(doc, indent=4) + "\n")

write("healthy", status(), df(), tree())
pgs = [{"state_name": "active+clean", "count": NUM_PGS - 123},
       {"state_name": "active+undersized+degraded", "count": 123}]
write("osd-down", status("HEALTH_WARN", {**check("OSD_DOWN", "HEALTH_WARN", "1 osds down", 1),
      **check("PG_DEGRADED", "HEALTH_WARN", "Degraded data redundancy: 98712/3552639 objects degraded (2.779%), 123 pgs degraded, 123 pgs undersized", 246)},
      up=11, pgs=pgs, degraded=(98712,)), df(), tree(down=(6,)))
pgs = [{"state_name": "active+clean", "count": NUM_PGS - 131},
       {"state_name": "active+remapped+backfilling", "count": 9},
       {"state_name": "active+remapped+backfill_wait", "count": 122}]
write("osd-out", status("HEALTH_WARN", check("PG_DEGRADED", "HEALTH_WARN", "Degraded data redundancy: 21004/3552639 objects degraded (0.591%), 9 pgs degraded", 9),
      up=11, inn=11, pgs=pgs, degraded=(21004,), remapped=131, misplaced=271833), df(),
      tree(down=(6,), out=(6,)))
pgs = [{"state_name": "active+clean", "count": NUM_PGS - 193},
       {"state_name": "stale+active+clean", "count": 37}, {"state_name": "peering", "count": 114},
       {"state_name": "undersized+degraded+peered", "count": 42}]
write("host-down", status("HEALTH_ERR", {**check("MON_DOWN", "HEALTH_WARN", "1/3 mons down, quorum st1,st3", 1),
      **check("OSD_DOWN", "HEALTH_WARN", "4 osds down", 4), **check("OSD_HOST_DOWN", "HEALTH_WARN", "1 host (4 osds) down", 1),
      **check("PG_AVAILABILITY", "HEALTH_ERR", "Reduced data availability: 193 pgs inactive, 114 pgs peering, 37 pgs stale", 193)},
      quorum=("st1", "st3"), up=8, pgs=pgs, degraded=(394121,)), df(), tree(down=(4, 5, 6, 7)))
write("near-full", status("HEALTH_WARN", {**check("OSD_NEARFULL", "HEALTH_WARN", "2 nearfull osd(s)", 2),
      **check("POOL_NEARFULL", "HEALTH_WARN", "1 pool(s) nearfull", 1)}, used_ratio=0.87),
      df(used_ratio=0.87, pool_used={"volumes": 0.934}), tree())

legacy = {
    "health": {"health": {"health_services": [{"mons": [
        {"name": n, "kb_total": 51474912, "kb_used": 4398112, "kb_avail": 44438252, "avail_percent": 86,
         "last_updated": "2017-03-14 10:12:41.502932", "store_stats": {"bytes_total": 41219431,
         "bytes_sst": 0, "bytes_log": 1213451, "bytes_misc": 40005980, "last_updated": "0.000000"},
         "health": "HEALTH_OK"} for n in ("st1", "st3")]}]},
        "timechecks": {"epoch": 18, "round": 212, "round_status": "finished", "mons": [
            {"name": "st1", "skew": 0.0, "latency": 0.0, "health": "HEALTH_OK"},
            {"name": "st3", "skew": -0.000112, "latency": 0.000811, "health": "HEALTH_OK"}]},
        "summary": [{"severity": "HEALTH_WARN", "summary": "1 mons down, quorum 0,2 st1,st3"}],
        "overall_status": "HEALTH_WARN", "detail": []},
    "fsid": FSID, "election_epoch": 18, "quorum": [0, 2], "quorum_names": ["st1", "st3"],
    "monmap": {"epoch": 1, "fsid": FSID, "modified": "2017-01-09 15:20:11.818012",
               "created": "2017-01-09 15:20:11.818012",
               "mons": [{"rank": i, "name": n, "addr": f"192.168.24.{31 + i}:6789/0"}
                        for i, n in enumerate(("st1", "st2", "st3"))]},
    "osdmap": {"osdmap": {"epoch": 612, "num_osds": 12, "num_up_osds": 12, "num_in_osds": 12,
                          "full": False, "nearfull": False, "num_remapped_pgs": 0}},
    "pgmap": {"pgs_by_state": [{"state_name": "active+clean", "count": NUM_PGS}], "version": 2231871,
              "num_pgs": NUM_PGS, "data_bytes": 2893318212812, "bytes_used": 8715220029440,
              "bytes_avail": 17671245045760, "bytes_total": 26386465075200},
    "fsmap": {"epoch": 1, "by_rank": []},
}
write("legacy-jewel", legacy, df(), tree())
