"""How fast the simulator starts at a size, and how fast it serves paginated listings.

    python3 bench/sim_scale.py [--size big] [--pages 40] [--limit 100] [--latency-ms 20]

Prints: start-up time (total, generation, service databases), then for each listing
(servers/detail all tenants, hypervisors/detail, ports, volumes/detail, images) the
median and p99 time of one page walked with markers, without and with the injected
latency (the same running cloud, latency switched on), and the time of 20 concurrent
requests with the latency (they must overlap: about one latency, not twenty).
Goals (issue #2): start-up at big < 60 s; a page < 50 ms beyond the injected latency.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from stackwatch.sim.cloud import SimulatedCloud

LISTINGS = (
    # name, service root key, path, items key, links key
    ("servers/detail", "compute", "/v2.1/servers/detail?all_tenants=1", "servers",
     "servers_links"),
    ("hypervisors/detail", "compute", "/v2.1/os-hypervisors/detail", "hypervisors",
     "hypervisors_links"),
    ("ports", "network", "/v2.0/ports", "ports", "ports_links"),
    ("volumes/detail", "block-storage", "/volumes/detail?all_tenants=1", "volumes",
     "volumes_links"),
    ("images", "image", "/v2/images", "images", "next"),
)


def login(cloud: SimulatedCloud) -> tuple[requests.Session, dict[str, str]]:
    session = requests.Session()
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": cloud.admin_password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    answer = session.post(f"{cloud.auth_url}/auth/tokens", json=body, timeout=30)
    answer.raise_for_status()
    session.headers.update({"X-Auth-Token": answer.headers["X-Subject-Token"],
                            "OpenStack-API-Version": "compute latest, volume 3.71"})
    roots = {}
    for entry in answer.json()["token"]["catalog"]:
        for endpoint in entry["endpoints"]:
            if endpoint["interface"] == "public":
                roots[entry["type"]] = endpoint["url"]
    roots["compute"] = roots["compute"].removesuffix("/v2.1")
    return session, roots


def walk(session: requests.Session, first_url: str, items: str, links: str, pages: int,
         base: str) -> list[float]:
    """Times of up to ``pages`` consecutive pages, following next links."""
    times: list[float] = []
    url: str | None = first_url
    while url is not None and len(times) < pages:
        started = time.perf_counter()
        answer = session.get(url, timeout=60)
        body = answer.json()
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200, (url, answer.status_code)
        url = None
        if not body[items]:
            break  # glance links a next page whenever a page is full; it may be empty
        if links == "next":
            nxt = body.get("next")
            url = base + nxt if nxt else None
        else:
            for link in body.get(links, ()):
                if link["rel"] == "next":
                    url = link["href"]
    return times


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="big")
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sim-scale-") as tmp:
        started = time.perf_counter()
        cloud = SimulatedCloud(workdir=Path(tmp), size=args.size, life=True).start()
        total = time.perf_counter() - started
        try:
            split = cloud.startup_seconds
            counts = {k: len(t) for k, t in cloud.state.tables().items()}
            print(f"size {args.size}: {counts['hypervisor']} hypervisors, {counts['server']} "
                  f"servers, {counts['project']} projects, {counts['port']} ports, "
                  f"{counts['volume']} volumes, {counts['resource_provider']} providers")
            print(f"start-up: {total:.1f} s total (generate {split.get('generate', 0):.1f} s, "
                  f"service databases {split.get('databases', 0):.1f} s) — goal < 60 s")
            session, roots = login(cloud)
            latency = args.latency_ms / 1000.0
            print(f"\npage of {args.limit}, {args.pages} pages walked with markers "
                  f"(median / p99, ms; the first walk meets cold caches):")
            print(f"{'listing':22} {'no latency':>20} {f'+{args.latency_ms:g} ms':>20} "
                  f"{'beyond latency':>16}")
            for name, service, path, items, links in LISTINGS:
                root = roots[service]
                sep = "&" if "?" in path else "?"
                url = f"{root}{path}{sep}limit={args.limit}"
                base = root
                cloud.server.latency = 0.0
                plain = walk(session, url, items, links, args.pages, base)
                cloud.server.latency = latency
                slow = walk(session, url, items, links, args.pages, base)
                cloud.server.latency = 0.0
                beyond = statistics.median(slow) - latency
                print(f"{name:22} {statistics.median(plain) * 1000:9.1f} / "
                      f"{p99(plain) * 1000:7.1f}  {statistics.median(slow) * 1000:9.1f} / "
                      f"{p99(slow) * 1000:7.1f}  {beyond * 1000:13.1f}"
                      f"{'' if beyond < 0.05 else '  (over the 50 ms goal)'}")
            cloud.server.latency = latency
            # a cheap call (5 flavors), so the figure is about waiting, not CPU
            url = f"{roots['compute']}/v2.1/flavors"
            with ThreadPoolExecutor(20) as pool:
                session.get(url, timeout=30)
                began = time.perf_counter()
                list(pool.map(lambda _: requests.get(url, headers=dict(session.headers),
                                                     timeout=30).status_code, range(20)))
                together = time.perf_counter() - began
            print(f"\n20 concurrent requests with +{args.latency_ms:g} ms: "
                  f"{together * 1000:.0f} ms (serial would be >= {20 * args.latency_ms:.0f} ms)")
        finally:
            cloud.stop()


if __name__ == "__main__":
    main()
