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

# nova: the life of instances (sources/sql/nova_life.py)
instance_actions = table("instance_actions", column("id"), column("action"),
                         column("instance_uuid"), column("request_id"), column("user_id"),
                         column("project_id"), column("start_time", DateTime),
                         column("updated_at", DateTime), column("message"))
instance_actions_events = table("instance_actions_events", column("action_id"),
                                column("event"), column("start_time", DateTime),
                                column("finish_time", DateTime), column("result"),
                                column("host"), column("details"))
instance_faults = table("instance_faults", column("id"), column("instance_uuid"),
                        column("code"), column("message"), column("details"), column("host"),
                        column("created_at", DateTime), column("deleted"))
migrations = table("migrations", column("uuid"), column("id"), column("instance_uuid"),
                   column("migration_type"), column("status"), column("source_compute"),
                   column("dest_compute"), column("created_at", DateTime),
                   column("updated_at", DateTime), column("deleted"))
