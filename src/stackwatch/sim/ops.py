"""What the cloud does, as operations on the ground truth: boot, fail, stop, delete.

The compute API, the background churn (:mod:`stackwatch.sim.life`) and the fault
scenarios (:mod:`stackwatch.sim.faults`) all change servers through these functions,
so a server always moves through the same states and leaves the same traces
(instance actions with events, faults, ports, volume detachments) as nova would.
Each function is synchronous and makes its changes at once; the time a build takes
is the caller's business (``life`` and the API schedule ``finish_build`` later).
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import uuid
from datetime import timedelta

from stackwatch.sim import records as r
from stackwatch.sim.generate import BUILD_FAILED_TRACE, NO_VALID_HOST, NO_VALID_HOST_TRACE
from stackwatch.sim.state import CloudState


def new_request_id() -> str:
    return "req-" + str(uuid.uuid4())


def host_id(project_id: str, host: str | None) -> str:
    """nova's ``hostId``: sha224 of project id + host, empty without a host."""
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode()).hexdigest()


def zone_of(state: CloudState, host: str) -> str:
    """The availability zone of a host: its aggregate's, else nova's default ``nova``."""
    for aggregate in state.aggregates:
        if aggregate.availability_zone and host in aggregate.hosts:
            return aggregate.availability_zone
    return "nova"


def schedule(state: CloudState, flavor: r.Flavor, rng: random.Random) -> r.Hypervisor | None:
    """A hypervisor with room whose nova-compute is up and enabled (filter + weigh)."""
    now = state.now()
    best: list[r.Hypervisor] = []
    best_free = -1
    for hyp in state.hypervisors:
        svc = state.compute_services.get(hyp.service_id)
        if svc is None or svc.disabled or not svc.is_up(now):
            continue
        if svc.id in state.silent_services:
            continue
        cpu_room = hyp.vcpus * hyp.cpu_allocation_ratio - hyp.vcpus_used
        ram_room = hyp.memory_mb - hyp.reserved_host_memory_mb - hyp.memory_mb_used
        disk_room = hyp.local_gb - hyp.local_gb_used
        if cpu_room < flavor.vcpus or ram_room < flavor.ram or disk_room < flavor.disk:
            continue
        # RAM weigher: most free RAM first; ties broken randomly (host_subset_size)
        if ram_room > best_free + 1024:
            best, best_free = [hyp], ram_room
        elif ram_room >= best_free - 1024:
            best.append(hyp)
    return rng.choice(best) if best else None


def create_server(
    state: CloudState, *, name: str, project_id: str, user_id: str, flavor: r.Flavor,
    image_id: str, request_id: str, rng: random.Random, key_name: str | None = None,
    metadata: dict[str, str] | None = None,
) -> r.Server:
    """A new server in BUILD (``building``/``scheduling``), with its ``create`` action."""
    now = state.now()
    # above the generated instance-000NNNNN names, so they never collide
    legacy = 0x10000000 | rng.getrandbits(28)
    server = r.Server(
        id=str(uuid.uuid4()), name=name, project_id=project_id, user_id=user_id,
        flavor=flavor, image_id=image_id, created_at=now, updated_at=now,
        instance_name=f"instance-{legacy:08x}", vm_state="building", task_state="scheduling",
        power_state=0, reservation_id=f"r-{rng.getrandbits(32):08x}", key_name=key_name,
        metadata=metadata or {},
    )
    state.add(server)
    state.add(r.InstanceAction(
        id=request_id, server_id=server.id, action="create", user_id=user_id,
        project_id=project_id, start_time=now, updated_at=now))
    return server


def _finish_action(
    state: CloudState, server_id: str, action: str, event: r.ActionEvent,
    message: str | None = None,
) -> None:
    for act in reversed(state.instance_actions.by("server_id", server_id)):
        if act.action == action:
            state.update("instance_action", act.id, events=(*act.events, event),
                         updated_at=event.finish_time or state.now(),
                         message=message if message is not None else act.message)
            return


def finish_build(state: CloudState, server_id: str, rng: random.Random) -> r.Server | None:
    """Schedule and spawn: ACTIVE on a host with a port, or ERROR with NoValidHost."""
    server = state.servers.get(server_id)
    if server is None or server.vm_state != "building":
        return server
    now = state.now()
    hyp = schedule(state, server.flavor, rng)
    if hyp is None:
        return fail_build(state, server_id, no_valid_host=True)
    addresses: list[r.ServerAddress] = []
    nets = [n for n in state.networks.by("project_id", server.project_id)
            if not n.router_external and n.subnets]
    if nets:
        net = nets[0]
        subnet = state.subnets.get(net.subnets[0])
        if subnet is not None:
            ip = _free_ip(state, subnet, rng)
            b = rng.getrandbits(24)
            mac = f"fa:16:3e:{b >> 16:02x}:{(b >> 8) & 255:02x}:{b & 255:02x}"
            groups = tuple(g.id for g in state.security_groups.by("project_id", server.project_id)
                           if g.name == "default")
            state.add(r.Port(
                id=str(uuid.uuid4()), name="", network_id=net.id, project_id=server.project_id,
                mac_address=mac, created_at=now, updated_at=now,
                fixed_ips=(r.FixedIP(subnet.id, ip),), device_id=server.id,
                device_owner=f"compute:{zone_of(state, hyp.host)}",
                binding_host_id=hyp.host, security_groups=groups, revision_number=4))
            addresses.append(r.ServerAddress(net.name, ip, mac))
    server = _update_server(
        state, server_id, availability_zone=zone_of(state, hyp.host), host=hyp.host,
        node=hyp.hypervisor_hostname, vm_state="active", task_state=None, power_state=1,
        launched_at=now, updated_at=now, addresses=tuple(addresses), cell="cell1")
    _finish_action(state, server_id, "create", r.ActionEvent(
        "compute__do_build_and_run_instance", now, now, "Success", None, hyp.host))
    return server


def fail_build(
    state: CloudState, server_id: str, *, no_valid_host: bool = False,
    message: str | None = None,
) -> r.Server | None:
    """ERROR with a fault and a failed ``create`` action (as nova records them)."""
    server = state.servers.get(server_id)
    if server is None:
        return None
    now = state.now()
    if no_valid_host:
        fault = r.ServerFault(500, NO_VALID_HOST, NO_VALID_HOST_TRACE, now)
        conductor = next((c.host for c in state.compute_services
                          if c.binary == "nova-conductor"), None)
        event = r.ActionEvent("conductor_schedule_and_build_instances", now, now, "Error",
                              NO_VALID_HOST_TRACE, conductor, NO_VALID_HOST)
        changes: dict[str, object] = {"host": None, "node": None, "cell": "cell0"}
    else:
        text = message or ("Build of instance aborted: Failed to allocate the network(s), "
                           "not rescheduling.")
        fault = r.ServerFault(500, text, BUILD_FAILED_TRACE, now)
        event = r.ActionEvent("compute__do_build_and_run_instance", now, now, "Error",
                              BUILD_FAILED_TRACE, server.host)
        changes = {}
    server = _update_server(state, server_id, vm_state="error", task_state=None,
                          power_state=0, fault=fault, updated_at=now, **changes)
    if not any(a.action == "create" for a in state.instance_actions.by("server_id", server_id)):
        state.add(r.InstanceAction(
            id=new_request_id(), server_id=server_id, action="create",
            user_id=server.user_id, project_id=server.project_id, start_time=server.created_at))
    _finish_action(state, server_id, "create", event, message="Error")
    return server


def set_error(state: CloudState, server_id: str, message: str, action: str = "reboot"
              ) -> r.Server | None:
    """An existing server goes to ERROR during ``action`` (fault + failed action)."""
    server = state.servers.get(server_id)
    if server is None:
        return None
    now = state.now()
    trace = (f'Traceback (most recent call last):\n  File "/usr/lib/python3/dist-packages/'
             f'nova/compute/manager.py", line 4152, in {action}_instance\n'
             f"libvirt.libvirtError: {message}\n")
    state.add(r.InstanceAction(
        id=new_request_id(), server_id=server_id, action=action, user_id=server.user_id,
        project_id=server.project_id, start_time=now, updated_at=now, message="Error",
        events=(r.ActionEvent(f"compute_{action}_instance", now, now, "Error", trace,
                              server.host),)))
    return _update_server(state, server_id, vm_state="error", task_state=None,
                        power_state=0 if server.power_state != 1 else 1, updated_at=now,
                        fault=r.ServerFault(500, message, trace, now))


def power(state: CloudState, server_id: str, on: bool, request_id: str) -> r.Server:
    """os-start / os-stop (done at once: the fake driver answers immediately)."""
    server = state.servers.get(server_id)
    assert server is not None
    now = state.now()
    action = "start" if on else "stop"
    state.add(r.InstanceAction(
        id=request_id, server_id=server_id, action=action, user_id=server.user_id,
        project_id=server.project_id, start_time=now, updated_at=now,
        events=(r.ActionEvent(f"compute_{action}_instance", now, now, "Success", None,
                              server.host),)))
    return _update_server(state, server_id, vm_state="active" if on else "stopped",
                        power_state=1 if on else 4, task_state=None, updated_at=now)


def delete_server(state: CloudState, server_id: str, request_id: str) -> r.Server | None:
    """Delete: detach volumes, delete its ports and release floating IPs, drop the server."""
    server = state.servers.get(server_id)
    if server is None:
        return None
    now = state.now()
    state.add(r.InstanceAction(
        id=request_id, server_id=server_id, action="delete", user_id=server.user_id,
        project_id=server.project_id, start_time=now, updated_at=now,
        events=(r.ActionEvent("compute_terminate_instance", now, now, "Success", None,
                              server.host),)))
    for vid in server.volumes_attached:
        vol = state.volumes.get(vid)
        if vol is not None:
            left = tuple(a for a in vol.attachments if a.server_id != server_id)
            state.update("volume", vid, attachments=left,
                         status="in-use" if left else "available", updated_at=now)
    for port in state.ports.by("device_id", server_id):
        for fip in state.floating_ips.by("port_id", port.id):
            state.update("floating_ip", fip.id, port_id=None, fixed_ip_address=None,
                         router_id=None, status="DOWN", updated_at=now)
        state.delete("port", port.id)
    state.update("server", server_id, vm_state="deleted", task_state=None, power_state=0,
                 terminated_at=now, updated_at=now)
    gone: r.Server = state.delete("server", server_id)
    return gone


def _free_ip(state: CloudState, subnet: r.Subnet, rng: random.Random) -> str:
    used = {ip.ip_address for p in state.ports.by("network_id", subnet.network_id)
            for ip in p.fixed_ips}
    net = ipaddress.ip_network(subnet.cidr)
    for _ in range(64):
        candidate = str(net.network_address + rng.randint(2, net.num_addresses - 2))
        if candidate not in used:
            return candidate
    for addr in net.hosts():
        if str(addr) not in used:
            return str(addr)
    return str(net.network_address + 2)


def _update_server(state: CloudState, server_id: str, **changes: object) -> r.Server:
    updated: r.Server = state.update("server", server_id, **changes)
    return updated


def migrate(state: CloudState, server_id: str, request_id: str, rng: random.Random,
            user_id: str | None = None) -> r.Server | None:
    """Cold migration to another host: VERIFY_RESIZE there, a ``finished`` migration.

    The claim moves to the destination at once (nova keeps a second allocation for the
    source under the migration's uuid until the resize is confirmed; the simulator
    keeps only the server's, so usages stay equal to where servers run).
    """
    server = state.servers.get(server_id)
    if server is None or server.host is None:
        return None
    source = server.host
    hyp = None
    for _ in range(8):
        hyp = schedule(state, server.flavor, rng)
        if hyp is None or hyp.host != source:
            break
    if hyp is None or hyp.host == source:
        return None
    now = state.now()
    src_hyp = state.hypervisor_by_hostname(server.node or "")
    state.add(r.InstanceAction(
        id=request_id, server_id=server_id, action="migrate", user_id=user_id or server.user_id,
        project_id=server.project_id, start_time=now, updated_at=now, events=(
            r.ActionEvent("compute_prep_resize", now, now, "Success", None, hyp.host),
            r.ActionEvent("compute_resize_instance", now, now, "Success", None, source),
            r.ActionEvent("compute_finish_resize", now, now, "Success", None, hyp.host),
        )))
    legacy = state.next_legacy_id("migration")
    state.add(r.Migration(
        id=str(legacy), legacy_id=legacy, uuid=str(uuid.uuid4()), server_id=server_id,
        source_compute=source, dest_compute=hyp.host,
        source_node=src_hyp.hypervisor_hostname if src_hyp else source,
        dest_node=hyp.hypervisor_hostname, status="finished", migration_type="migration",
        project_id=server.project_id, user_id=user_id or server.user_id, created_at=now,
        updated_at=now, old_flavor_id=server.flavor.legacy_id,
        new_flavor_id=server.flavor.legacy_id, dest_host=hyp.host_ip))
    for port in state.ports.by("device_id", server_id):
        state.update("port", port.id, binding_host_id=hyp.host, updated_at=now)
    return _update_server(state, server_id, host=hyp.host, node=hyp.hypervisor_hostname,
                          availability_zone=zone_of(state, hyp.host), vm_state="resized",
                          task_state=None, updated_at=now)


def confirm_resize(state: CloudState, server_id: str, request_id: str,
                   user_id: str | None = None) -> r.Server | None:
    """confirmResize: ACTIVE again, the migration ``confirmed``."""
    server = state.servers.get(server_id)
    if server is None:
        return None
    now = state.now()
    state.add(r.InstanceAction(
        id=request_id, server_id=server_id, action="confirmResize",
        user_id=user_id or server.user_id, project_id=server.project_id, start_time=now,
        updated_at=now, events=(r.ActionEvent("compute_confirm_resize", now, now, "Success",
                                              None, server.host),)))
    for mig in state.migrations.by("server_id", server_id):
        if mig.status == "finished":
            state.update("migration", mig.id, status="confirmed", updated_at=now)
    return _update_server(state, server_id, vm_state="active", task_state=None, updated_at=now)


#: the statuses a migration goes through in nova, by ``migration_type``, before its last
#: (nova/compute/manager.py, conductor/tasks/{migrate,live_migrate}.py)
MIGRATION_STEPS: dict[str, tuple[str, ...]] = {
    "migration": ("pre-migrating", "migrating", "post-migrating", "finished"),
    "resize": ("pre-migrating", "migrating", "post-migrating", "finished"),
    "live-migration": ("queued", "preparing", "running", "completed"),
    "evacuation": ("accepted", "pre-migrating", "done"),
}
#: the instance action each migration type is recorded under
MIGRATION_ACTIONS = {"migration": "migrate", "resize": "resize",
                     "live-migration": "live-migration", "evacuation": "evacuate"}


def begin_migration(state: CloudState, server_id: str, request_id: str, rng: random.Random,
                    migration_type: str = "live-migration", started: float = 0.0
                    ) -> r.Migration | None:
    """A migration that takes time: in its first moving status (``running`` for a live
    migration, ``migrating`` for a cold one) from ``started`` seconds ago, the server in
    MIGRATING / RESIZE, the action's first event under way. :func:`end_migration` ends
    it; until then it is in progress (stuck, when nobody ends it)."""
    server = state.servers.get(server_id)
    if server is None or server.host is None or migration_type not in MIGRATION_STEPS:
        return None
    hyp = None
    for _ in range(8):
        hyp = schedule(state, server.flavor, rng)
        if hyp is None or hyp.host != server.host:
            break
    if hyp is None or hyp.host == server.host:
        return None
    now = state.now()
    since = now - timedelta(seconds=started)
    steps = MIGRATION_STEPS[migration_type]
    action = MIGRATION_ACTIONS[migration_type]
    first = ("compute_live_migration" if migration_type == "live-migration"
             else "compute_prep_resize")
    state.add(r.InstanceAction(
        id=request_id, server_id=server_id, action=action, user_id=server.user_id,
        project_id=server.project_id, start_time=since, updated_at=since,
        events=(r.ActionEvent(first, since, None, None, None, server.host),)))
    src_hyp = state.hypervisor_by_hostname(server.node or "")
    legacy = state.next_legacy_id("migration")
    migration = r.Migration(
        id=str(legacy), legacy_id=legacy, uuid=str(uuid.uuid4()), server_id=server_id,
        source_compute=server.host, dest_compute=hyp.host,
        source_node=src_hyp.hypervisor_hostname if src_hyp else server.host,
        dest_node=hyp.hypervisor_hostname,
        status="migrating" if "migrating" in steps else steps[-2],
        migration_type=migration_type,
        project_id=server.project_id, user_id=server.user_id, created_at=since,
        updated_at=since, old_flavor_id=server.flavor.legacy_id,
        new_flavor_id=server.flavor.legacy_id, dest_host=hyp.host_ip)
    state.add(migration)
    _update_server(state, server_id, task_state="migrating" if migration_type ==
                   "live-migration" else "resize_migrating", updated_at=since)
    return migration


def end_migration(state: CloudState, migration_id: str, ok: bool = True) -> r.Migration | None:
    """The migration reaches its last status (``completed``, ``finished``, ``done``) and
    the server its destination, or ``error`` (the server stays, ERROR with a fault)."""
    mig = state.migrations.get(migration_id)
    if mig is None or mig.status not in MIGRATION_STEPS.get(mig.migration_type, ())[:-1]:
        return mig
    now = state.now()
    action = MIGRATION_ACTIONS.get(mig.migration_type, "migrate")
    host = mig.dest_compute if ok else mig.source_compute
    event = r.ActionEvent("compute_post_live_migration_at_destination" if
                          mig.migration_type == "live-migration" else "compute_finish_resize",
                          now, now, "Success" if ok else "Error",
                          None if ok else "libvirt.libvirtError: migration failed", host)
    for act in reversed(state.instance_actions.by("server_id", mig.server_id)):
        if act.action == action:
            events = tuple(e if e.finish_time is not None else
                           r.ActionEvent(e.event, e.start_time, now, "Success" if ok
                                         else "Error", e.traceback, e.host)
                           for e in act.events)
            state.update("instance_action", act.id, events=(*events, event), updated_at=now,
                         message=None if ok else "Error")
            break
    status = MIGRATION_STEPS[mig.migration_type][-1] if ok else "error"
    updated: r.Migration = state.update("migration", mig.id, status=status, updated_at=now)
    if mig.server_id in state.servers:
        if ok:
            for port in state.ports.by("device_id", mig.server_id):
                state.update("port", port.id, binding_host_id=mig.dest_compute, updated_at=now)
            _update_server(state, mig.server_id, host=mig.dest_compute, node=mig.dest_node,
                           availability_zone=zone_of(state, mig.dest_compute),
                           vm_state="active" if mig.migration_type == "live-migration"
                           else "resized", task_state=None, updated_at=now)
        else:
            _update_server(state, mig.server_id, vm_state="error", task_state=None,
                           updated_at=now, fault=r.ServerFault(
                               500, "Migration error: migration failed", "", now))
    return updated
