"""Make the resources the realcloud tests look at (idempotent: found by name, else made).

Made with openstacksdk as admin (the tests' own hands; ground truth is read back with
the stock CLI and SQL): flavor ``m1.fake``; servers ``fake-vm-1`` (ACTIVE) and
``rc-vm-stopped`` (SHUTOFF) in project ``admin`` and ``rc-vm-demo`` (ACTIVE) in
project ``demo``; images ``fake-cirros`` (active, made by up.sh) and ``rc-image-queued``
(no data: ``queued``); networks ``net1`` (vlan, subnet ``rc-subnet1``) and
``rc-public`` (flat, external, subnet ``rc-public-subnet``); router ``rc-router1``
(gateway on rc-public, interface on rc-subnet1); one floating IP; volume ``vol1``
(1 GiB, available), volume ``rc-vol-demo`` (2 GiB, project demo), snapshot
``rc-snap1`` of vol1; host aggregate ``rc-agg1`` (fake-compute-1, ``ssd=true``); a fake
L3 agent on host ``rc-net-1`` (``fake_l3_agent.py``, reporting state over RPC like a real
one) hosting rc-router1.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openstack.warnings import OpenStackDeprecationWarning

from realcloud.cloud import RealCloud

WAIT_S = 120.0
RESOURCE_TRACKER_S = 60.0  # nova-compute's update_available_resource period (default)
L3_AGENT_HOST = "rc-net-1"
L3_AGENT_PROCESS = "rc-fake-l3-agent"  # run/<name>.pid: down.sh stops it too
SERVERS = ("fake-vm-1", "rc-vm-stopped")
DEMO_SERVER = "rc-vm-demo"


@dataclass(frozen=True)
class Resources:
    """Ids of what the tests made."""

    admin_project_id: str
    demo_project_id: str
    flavor_id: str
    image_id: str
    server_ids: tuple[str, ...]
    network_id: str
    public_network_id: str
    router_id: str
    volume_id: str
    snapshot_id: str


def _wait(what: str, probe: Any, want: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = probe()
        if status == want:
            return
        if status in ("ERROR", "error"):
            break
        time.sleep(1.0)
    raise RuntimeError(f"{what}: status {status!r}, wanted {want!r} within {timeout:.0f}s")


def _server(conn: Any, name: str, flavor: Any, image: Any) -> Any:
    server = conn.compute.find_server(name)
    if server is None:
        server = conn.compute.create_server(name=name, flavor_id=flavor.id, image_id=image.id,
                                            networks="none")
        _wait(f"server {name}", lambda: conn.compute.get_server(server.id).status, "ACTIVE")
    return conn.compute.get_server(server.id)


def _workload(conn: Any) -> str:
    """``settled`` once no hypervisor counts a task in progress (``current_workload``,
    read at 2.87 as openstack-exporter reads it). nova-compute updates it with its
    resource tracker, up to a minute after a boot or stop has ended: a value read before
    that and one read after it differ, and the tests compare two reads."""
    body = conn.compute.get("/os-hypervisors/detail", microversion="2.87").json()
    busy = [h["hypervisor_hostname"] for h in body["hypervisors"] if h["current_workload"]]
    return "settled" if not busy else f"busy on {', '.join(busy)}"


def _l3_agent_hosting(cloud: RealCloud, network: Any, router: Any) -> None:
    """A (fake) L3 agent that reports state, with rc-router1 scheduled to it."""
    if cloud.pid(L3_AGENT_PROCESS) is None:
        cloud.start_bg(L3_AGENT_PROCESS, [
            str(cloud.root / "venv" / "bin" / "python"),
            str(Path(__file__).with_name("fake_l3_agent.py")), L3_AGENT_HOST,
            str(cloud.root / "etc" / "neutron" / "neutron.conf")])

    def agent() -> Any:
        found = [a for a in network.agents(host=L3_AGENT_HOST) if a.is_alive]
        return found[0] if found else None

    _wait("fake L3 agent alive", lambda: "up" if agent() else "absent", "up")
    hosting = agent()
    if not any(r.id == router.id for r in network.agent_hosted_routers(hosting)):
        network.add_router_to_agent(hosting, router)


def ensure_resources(cloud: RealCloud) -> Resources:
    """Create what is missing and wait until it is usable; return the ids."""
    with warnings.catch_warnings():
        # openstacksdk 4.x deprecates find_*(ignore_missing=True), the idiom used here
        # to find-or-create; the warning is about its 6.0 default, not our use.
        warnings.simplefilter("ignore", OpenStackDeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # RemovedInSDK*Warning
        return _ensure(cloud)


def _ensure(cloud: RealCloud) -> Resources:
    conn: Any = cloud.connect()
    identity = conn.identity
    admin_project = identity.find_project("admin", domain_id="default")
    demo_project = identity.find_project("demo", domain_id="default")

    flavor = conn.compute.find_flavor("m1.fake") or conn.compute.create_flavor(
        name="m1.fake", vcpus=1, ram=512, disk=1)
    image = conn.image.find_image("fake-cirros")
    if conn.image.find_image("rc-image-queued") is None:
        conn.image.create_image(name="rc-image-queued", disk_format="raw",
                                container_format="bare", visibility="private")

    aggregate = next((a for a in conn.compute.aggregates() if a.name == "rc-agg1"), None)
    if aggregate is None:
        aggregate = conn.compute.create_aggregate(name="rc-agg1")
        conn.compute.add_host_to_aggregate(aggregate, "fake-compute-1")
        conn.compute.set_aggregate_metadata(aggregate, {"ssd": "true"})

    servers = [_server(conn, name, flavor, image) for name in SERVERS]
    stopped = servers[1]
    if stopped.status == "ACTIVE":
        conn.compute.stop_server(stopped)
        _wait("server rc-vm-stopped", lambda: conn.compute.get_server(stopped.id).status,
              "SHUTOFF")
    demo_conn: Any = conn.connect_as_project("demo")
    servers.append(_server(demo_conn, DEMO_SERVER, flavor, image))

    network = conn.network
    net1 = network.find_network("net1") or network.create_network(
        name="net1", provider_network_type="vlan")
    subnet1 = network.find_subnet("rc-subnet1") or network.create_subnet(
        name="rc-subnet1", network_id=net1.id, ip_version=4, cidr="10.10.0.0/24")
    public = network.find_network("rc-public") or network.create_network(
        name="rc-public", provider_network_type="flat", provider_physical_network="public",
        is_router_external=True)
    if network.find_subnet("rc-public-subnet") is None:
        network.create_subnet(name="rc-public-subnet", network_id=public.id, ip_version=4,
                              cidr="172.24.40.0/24", is_dhcp_enabled=False)
    router = network.find_router("rc-router1")
    if router is None:
        router = network.create_router(name="rc-router1",
                                       external_gateway_info={"network_id": public.id})
        network.add_interface_to_router(router, subnet_id=subnet1.id)
    _l3_agent_hosting(cloud, network, router)
    if not list(network.ips(floating_network_id=public.id)):
        network.create_ip(floating_network_id=public.id)

    volumes = conn.block_storage
    # cinder-volume reports its pool to the scheduler some seconds after up.sh is done;
    # a volume asked for before that goes to error ("No weighed backend found").
    _wait("cinder scheduler knows a pool",
          lambda: "yes" if list(volumes.backend_pools()) else "no", "yes", timeout=240)
    for name in ("vol1", "rc-vol-demo"):
        failed = volumes.find_volume(name, all_projects=True)
        if failed is not None and failed.status == "error":
            volumes.delete_volume(failed, force=True)
            volumes.wait_for_delete(failed)
    vol1 = volumes.find_volume("vol1", all_projects=True)
    if vol1 is None:
        vol1 = volumes.create_volume(name="vol1", size=1, volume_type="fake")
    _wait("volume vol1", lambda: volumes.get_volume(vol1.id).status, "available")
    demo_volumes = demo_conn.block_storage
    if demo_volumes.find_volume("rc-vol-demo") is None:
        made = demo_volumes.create_volume(name="rc-vol-demo", size=2, volume_type="fake")
        _wait("volume rc-vol-demo", lambda: demo_volumes.get_volume(made.id).status,
              "available")
    snap = volumes.find_snapshot("rc-snap1", all_projects=True)
    if snap is None:
        snap = volumes.create_snapshot(name="rc-snap1", volume_id=vol1.id)
    _wait("snapshot rc-snap1", lambda: volumes.get_snapshot(snap.id).status, "available")
    _wait("every hypervisor's workload counted", lambda: _workload(conn), "settled",
          timeout=RESOURCE_TRACKER_S + WAIT_S)

    return Resources(
        admin_project_id=admin_project.id, demo_project_id=demo_project.id,
        flavor_id=flavor.id, image_id=image.id,
        server_ids=tuple(s.id for s in servers), network_id=net1.id,
        public_network_id=public.id, router_id=router.id, volume_id=vol1.id,
        snapshot_id=snap.id)
