#!/usr/bin/env bash
# Real ironic (fake hardware) beside the realcloud control plane (../shared/realcloud), on
# 127.0.0.1, with that cloud's venv, MariaDB, RabbitMQ and keystone. Idempotent: what is
# installed, configured or running is left alone.
#   ironic.sh              -> install ironic nodes
#   ironic.sh STAGE...     -> only those stages, in the order given
# Stages:
#   install  pip: ironic 35.x (series 2026.1) with the realcloud's upper-constraints
#            (python-ironicclient is already there, with the openstack CLI)
#   ironic   database ironic (schema created once), ironic-conductor with the fake-hardware
#            type and fake interfaces only (noop network and storage, no DHCP, no
#            automated cleaning), JSON-RPC :8089, ironic-api :6385 (gunicorn), keystone
#            user, service baremetal and endpoints; a policy that lets admin list every
#            node (ironic's own lets only system-scoped readers)
#   nodes    five nodes in enroll / manageable / available / available + maintenance /
#            active (ironic_setup.py)
# Processes are started with lib.sh's start_bg/gunicorn_up (pid files in run/), so the
# realcloud's down.sh stops them too, and its --wipe removes their data.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
RC_SCRIPTS="${STACKWATCH_REALCLOUD_DIR:-$HERE/../../../../shared/realcloud}"
. "$RC_SCRIPTS/lib.sh"
UC="$RC_SCRIPTS/upper-constraints-2026.1.txt"
IR_ETC="$ETC/ironic"

up_install() {
  if [ -x "$BIN/ironic-conductor" ] && [ -x "$BIN/baremetal" ]; then
    log "ironic already installed"; return 0
  fi
  "$BIN/pip" install -q -c "$UC" "ironic>=35,<36" python-ironicclient
  log "installed $("$BIN/pip" list 2>/dev/null | grep -E '^ironic ' | tr -s ' ')"
}

running() { local n; for n in "$@"; do is_running "$n" || return 1; done; }

up_ironic() {
  mkdir -p "$IR_ETC" "$STATE/ironic/lock"
  mysql_ -e "CREATE DATABASE IF NOT EXISTS ironic CHARACTER SET utf8mb4;
    CREATE USER IF NOT EXISTS 'ironic'@'127.0.0.1' IDENTIFIED BY '$PW';
    GRANT ALL ON ironic.* TO 'ironic'@'127.0.0.1'; FLUSH PRIVILEGES;"
  local iface fake=""
  for iface in bios boot console deploy firmware inspect management power raid rescue vendor; do
    fake+="enabled_${iface}_interfaces = fake"$'\n'
  done
  cat >"$IR_ETC/ironic.conf" <<CONF
[DEFAULT]
auth_strategy = keystone
# JSON-RPC over HTTP from ironic-api to the conductor: each call ~20 ms, where RabbitMQ's
# took 0.5 s here; the API reaches the conductor at its host name, so that is an address
host = 127.0.0.1
rpc_transport = json-rpc
enabled_hardware_types = fake-hardware
${fake}enabled_network_interfaces = noop
enabled_storage_interfaces = noop
default_resource_class = baremetal
# the machine has less free memory than ironic's 1 GiB guard (only image work uses it)
minimum_memory_warning_only = true
graceful_shutdown_timeout = 5
[json_rpc]
auth_strategy = noauth
host_ip = 127.0.0.1
port = 8089
[conductor]
automated_clean = false
[dhcp]
dhcp_provider = none
[database]
connection = mysql+pymysql://ironic:$PW@$DBHOST/ironic?charset=utf8mb4
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:5000/
auth_url = http://127.0.0.1:5000/
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = ironic
password = $PW
region_name = RegionOne
[oslo_policy]
policy_file = $IR_ETC/policy.yaml
[oslo_concurrency]
lock_path = $STATE/ironic/lock
CONF
  # A stock ironic shows a project-scoped admin only the nodes its project owns or leases
  # (baremetal:node:list_all is for system-scoped readers and the service role); an
  # operator who wants every node monitored grants it to admin. oslo.policy re-reads this
  # file when it changes (test_real_ironic empties it).
  echo '"baremetal:node:list_all": "role:admin"' >"$IR_ETC/policy.yaml"
  if running ironic-conductor ironic-api; then log "ironic already running"; return 0; fi
  # keystone's entries while the schema is made (each takes seconds, neither needs the other)
  admin_env
  "$BIN/python" "$HERE/ironic_setup.py" keystone & local ks=$!
  if [ -z "$(mysql_ -N -e "SHOW TABLES FROM ironic LIKE 'nodes'")" ]; then
    # create_schema: the current models in one go and alembic stamped (upgrade would run
    # every migration since 2014)
    "$BIN/ironic-dbsync" --config-file "$IR_ETC/ironic.conf" create_schema \
      >"$LOG/ironic-dbsync.log" 2>&1
  fi
  start_bg ironic-conductor "$BIN/ironic-conductor" --config-file "$IR_ETC/ironic.conf" \
    --log-file "$LOG/ironic-conductor.log"
  printf '[DEFAULT]\nlog_file = %s\n' "$LOG/ironic-api.log" >"$IR_ETC/ironic-api.conf"
  # ironic's WSGI app reads its config files from argv (the shim puts RC_WSGI_ARGS there)
  gunicorn_up ironic-api 6385 1 ironic.wsgi:application \
    RC_WSGI_ARGS="--config-file $IR_ETC/ironic.conf --config-file $IR_ETC/ironic-api.conf"
  wait "$ks"
  wait_http http://127.0.0.1:6385/ 60
  # the API hands work to a conductor it finds registered in the database
  local _
  for _ in $(seq 60); do
    [ -n "$(mysql_ -N -e "SELECT hostname FROM ironic.conductors WHERE online = 1")" ] && break
    sleep 1
  done
  log "ironic ready on http://127.0.0.1:6385"
}

up_nodes() {
  admin_env
  "$BIN/python" "$HERE/ironic_setup.py" nodes
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(install ironic nodes)
T0=$(date +%s)
for s in "${stages[@]}"; do
  t=$(date +%s); log "== $s"
  "up_$s"
  log "== $s done in $(( $(date +%s) - t ))s"
done
log "ironic: all stages done in $(( $(date +%s) - T0 ))s"
