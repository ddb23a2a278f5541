"""The columns the SQL sources read, by their real names (reference: 2026.1 schemas).

Lightweight ``table()``/``column()`` declarations: nothing is reflected or
created, and a table or column a release lacks surfaces as an error of the
one query that reads it.
"""

from __future__ import annotations

from sqlalchemy import Boolean, DateTime, column, table

# nova (and nova_cell0, same schema)
instances = table("instances", column("vm_state"), column("deleted"), column("vcpus"),
                  column("memory_mb"), column("host"))
nova_services = table("services", column("host"), column("binary"), column("disabled"),
                      column("deleted"), column("forced_down"), column("last_seen_up", DateTime),
                      column("updated_at", DateTime), column("created_at", DateTime))
compute_nodes = table("compute_nodes", column("hypervisor_hostname"), column("vcpus"),
                      column("vcpus_used"), column("memory_mb"), column("memory_mb_used"),
                      column("deleted"), column("host"), column("updated_at", DateTime),
                      column("created_at", DateTime))

# cinder
volumes = table("volumes", column("status"), column("size"), column("deleted", Boolean))
snapshots = table("snapshots", column("status"), column("volume_size"), column("progress"),
                  column("deleted", Boolean))
cinder_services = table("services", column("host"), column("binary"), column("disabled"),
                        column("deleted", Boolean), column("updated_at", DateTime),
                        column("created_at", DateTime))

# keystone
token = table("token", column("id"), column("expires", DateTime), column("user_id"))
revocation_event = table("revocation_event", column("id"))

# neutron
agents = table("agents", column("id"), column("agent_type"), column("binary"), column("host"),
               column("admin_state_up"), column("heartbeat_timestamp", DateTime))
router_bindings = table("routerl3agentbindings", column("router_id"), column("l3_agent_id"))

# nova_api
flavors = table("flavors", column("id"), column("disabled", Boolean), column("is_public", Boolean))
api_quotas = table("quotas", column("project_id"), column("resource"), column("hard_limit"))
cell_mappings = table("cell_mappings", column("id"), column("name"), column("disabled", Boolean))
host_mappings = table("host_mappings", column("cell_id"), column("host"))
instance_mappings = table("instance_mappings", column("cell_id"),
                          column("queued_for_delete", Boolean))
build_requests = table("build_requests", column("id"), column("created_at", DateTime))

# glance
images = table("images", column("status"), column("visibility"), column("size"),
               column("deleted", Boolean))
image_members = table("image_members", column("status"), column("deleted", Boolean))
