"""What a listing page of the simulated neutron, glance and cinder costs.

Starts a ``SimulatedCloud`` of the size asked (default ``big``: 50,000 ports, 20,000
volumes, 200 images), then for ports, routers, volumes/detail, snapshots/detail and
images asks pages of ``--limit`` items (100 and 1000 by default) from the middle of
each listing, and prints the median and p99 of the time the server took (from the
``on_request`` hook) and of the whole round trip as a client sees it (``requests``,
JSON decoded). The first page of each kind is left out: it fills the payload cache.

The client runs in the simulator's process: its allocations trigger the cyclic GC,
whose full collections walk the whole state (seconds at ``big``); ``--freeze`` moves
the state out of the collector's reach first (``gc.freeze()``), as a long-running
simulator should.

Usage: ``python bench/sim_services.py [--size big] [--limit 100 --limit 1000]
[--repeat 30] [--freeze]``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.events import ServedRequest

LATEST = {"OpenStack-API-Version": "volume latest"}


def login(clouds_yaml: Path) -> tuple[str, str, dict[str, str]]:
    """Token, project id and service type -> endpoint URL (public)."""
    auth = yaml.safe_load(clouds_yaml.read_text())["clouds"]["stackwatch-sim"]["auth"]
    body: dict[str, Any] = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "password": auth["password"],
            "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}},
    }}
    answer = requests.post(auth["auth_url"] + "/auth/tokens", json=body, timeout=30)
    answer.raise_for_status()
    token = answer.json()["token"]
    urls = {
        s["type"]: e["url"] for s in token["catalog"] for e in s["endpoints"]
        if e["interface"] == "public"
    }
    return answer.headers["X-Subject-Token"], token["project"]["id"], urls


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def figures(seconds: list[float]) -> str:
    median, p99 = statistics.median(seconds) * 1000, percentile(seconds, 0.99) * 1000
    return f"median {median:6.1f} p99 {p99:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--size", default="big", choices=("small", "medium", "big"))
    parser.add_argument("--limit", type=int, action="append")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--freeze", action="store_true",
                        help="gc.freeze() once the cloud is up (the state leaves the GC's scans)")
    args = parser.parse_args()
    limits: list[int] = args.limit or [100, 1000]
    hooked: list[ServedRequest] = []
    with tempfile.TemporaryDirectory() as tmp, \
            SimulatedCloud(workdir=Path(tmp), size=args.size) as cloud:
        print(f"[{args.size}] started in {cloud.startup_seconds.get('total', 0.0):.1f} s: "
              f"{len(cloud.state.ports)} ports, {len(cloud.state.volumes)} volumes, "
              f"{len(cloud.state.images)} images")
        if args.freeze:
            gc.collect()
            gc.freeze()
        def record(served: ServedRequest) -> None:
            hooked.append(served)

        cloud.on_request(record)
        token, _, urls = login(Path(cloud.clouds_yaml))
        state = cloud.state
        port = state.ports.ids()[len(state.ports) // 2]
        router = state.routers.ids()[len(state.routers) // 2]
        volumes = sorted(state.volumes, key=lambda v: (v.created_at, v.id), reverse=True)
        volume = volumes[len(volumes) // 2].id
        cases: list[tuple[str, str, dict[str, str]]] = [
            ("ports", f"{urls['network']}/v2.0/ports?limit={{n}}&marker={port}", {}),
            ("routers", f"{urls['network']}/v2.0/routers?limit={{n}}&marker={router}", {}),
            ("volumes/detail", f"{urls['block-storage']}/volumes/detail?all_tenants=1"
                               f"&limit={{n}}&marker={volume}", LATEST),
            ("snapshots/detail", f"{urls['block-storage']}/snapshots/detail?all_tenants=1"
                                 "&limit={n}", LATEST),
            ("images", f"{urls['image']}/v2/images?limit={{n}}", {}),
        ]
        session = requests.Session()
        session.headers["X-Auth-Token"] = token
        for limit in limits:
            for name, url, headers in cases:
                server: list[float] = []
                client: list[float] = []
                for i in range(args.repeat + 1):
                    hooked.clear()
                    start = time.perf_counter()
                    answer = session.get(url.format(n=limit), headers=headers, timeout=60)
                    body: Any = answer.json()
                    elapsed = time.perf_counter() - start
                    assert answer.status_code == 200, (url, answer.status_code)
                    assert isinstance(body, dict)
                    for _ in range(100):  # the hook runs after the answer is sent
                        if hooked:
                            break
                        time.sleep(0.001)
                    if i and hooked:
                        server.append(hooked[-1].duration)
                        client.append(elapsed)
                print(f"{name:17s} limit {limit:5d}: server {figures(server)}; "
                      f"client {figures(client)}")


if __name__ == "__main__":
    main()
