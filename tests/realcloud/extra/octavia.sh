#!/usr/bin/env bash
# Real octavia with its no-op drivers beside the realcloud control plane
# (../shared/realcloud), on 127.0.0.1, with that cloud's venv, MariaDB, RabbitMQ and
# keystone. Idempotent: what is installed, configured or running is left alone.
#   octavia.sh              -> install octavia resources
#   octavia.sh STAGE...     -> only those stages, in the order given
# Stages:
#   install    pip: octavia 18.x (series 2026.1) with the realcloud's upper-constraints,
#              python-octaviaclient (the CLI's `loadbalancer` commands)
#   octavia    database octavia (octavia-db-manage upgrade head, once), a signing CA
#              (python's cryptography), octavia-worker and octavia-api :9876 (gunicorn) with the
#              no-op amphora, compute, network, image and volume drivers (the amphora
#              provider's flows run for real; no VM, port or image is made), plain taskflow
#              (no jobboard); user octavia, service load-balancer at http://127.0.0.1:9876
#   resources  in project admin: lb-ok (ACTIVE) with listener ls-http and pool pool-http,
#              and lb-error (ERROR: made while the worker's client CA file is missing,
#              so the amphora's build fails and the flow reverts)
# No health manager or housekeeping: with no-op amphorae there are no heartbeats to
# receive and nothing to rotate; the worker alone takes load balancers to ACTIVE.
# Processes are started with lib.sh's start_bg/gunicorn_up (pid files in run/), so the
# realcloud's down.sh stops them too, and its --wipe removes their data.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
RC_SCRIPTS="${STACKWATCH_REALCLOUD_DIR:-$HERE/../../../../shared/realcloud}"
. "$RC_SCRIPTS/lib.sh"
UC="$RC_SCRIPTS/upper-constraints-2026.1.txt"
OC_ETC="$ETC/octavia"
OC_STATE="$STATE/octavia"

running() { local n; for n in "$@"; do is_running "$n" || return 1; done; }

up_install() {
  if [ -x "$BIN/octavia-worker" ] && "$BIN/python" -c 'import octaviaclient' 2>/dev/null; then
    log "octavia already installed"; return 0
  fi
  "$BIN/pip" install -q -c "$UC" "octavia>=18,<19" python-octaviaclient
  log "installed $("$BIN/pip" list 2>/dev/null | grep -E '^(octavia|python-octaviaclient) ' | tr -s ' ' | paste -sd,)"
}

authtoken() {  # authtoken -> the octavia user's keystoneauth options (as up.sh's services)
  cat <<CONF
auth_url = http://127.0.0.1:5000/
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = octavia
password = $PW
region_name = RegionOne
CONF
}

ca() {  # the CA the worker signs amphora certificates with, and the client CA it ships
  local d="$OC_ETC/certs"
  [ -f "$d/ca.key" ] && [ -f "$d/ca.pem" ] && return 0
  mkdir -p "$d"
  "$BIN/python" "$HERE/octavia_setup.py" ca "$d"   # no openssl binary needed
}

up_octavia() {
  mkdir -p "$OC_ETC" "$OC_STATE/lock" "$OC_STATE/certs"
  ca
  mysql_ -e "CREATE DATABASE IF NOT EXISTS octavia CHARACTER SET utf8;
    CREATE USER IF NOT EXISTS 'octavia'@'127.0.0.1' IDENTIFIED BY '$PW';
    GRANT ALL ON octavia.* TO 'octavia'@'127.0.0.1'; FLUSH PRIVILEGES;"
  cat >"$OC_ETC/octavia.conf" <<CONF
[DEFAULT]
transport_url = rabbit://openstack:$PW@127.0.0.1:5672/
graceful_shutdown_timeout = 5
[database]
connection = mysql+pymysql://octavia:$PW@$DBHOST/octavia?charset=utf8
[api_settings]
bind_host = 127.0.0.1
bind_port = 9876
default_provider_driver = amphora
[controller_worker]
workers = 1
amphora_driver = amphora_noop_driver
compute_driver = compute_noop_driver
network_driver = network_noop_driver
image_driver = image_noop_driver
volume_driver = volume_noop_driver
loadbalancer_topology = SINGLE
client_ca = $OC_ETC/certs/client_ca.pem
[task_flow]
jobboard_enabled = False
[certificates]
cert_generator = local_cert_generator
ca_certificate = $OC_ETC/certs/ca.pem
ca_private_key = $OC_ETC/certs/ca.key
cert_manager = local_cert_manager
storage_path = $OC_STATE/certs
[health_manager]
heartbeat_key = realcloud
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:5000/
$(authtoken)
[service_auth]
$(authtoken)
[oslo_concurrency]
lock_path = $OC_STATE/lock
CONF
  if running octavia-worker octavia-api; then log "octavia already running"; return 0; fi
  # the schema once: its ~100 migrations take most of this stage's time
  if [ "$(mysql_ -N -e "SELECT COUNT(*) FROM information_schema.tables
        WHERE table_schema='octavia' AND table_name='alembic_version'")" = 0 ]; then
    "$BIN/octavia-db-manage" --config-file "$OC_ETC/octavia.conf" upgrade head \
      >"$LOG/octavia-db-manage.log" 2>&1
  fi
  admin_env
  "$BIN/python" "$HERE/octavia_setup.py" keystone
  start_bg octavia-worker "$BIN/octavia-worker" --config-file "$OC_ETC/octavia.conf" \
    --log-file "$LOG/octavia-worker.log"
  printf '[DEFAULT]\nlog_file = %s\n' "$LOG/octavia-api.log" >"$OC_ETC/octavia-api.conf"
  # octavia.wsgi.api reads its config files from argv (the shim puts RC_WSGI_ARGS there)
  gunicorn_up octavia-api 9876 1 octavia.wsgi.api:application \
    RC_WSGI_ARGS="--config-file $OC_ETC/octavia.conf --config-file $OC_ETC/octavia-api.conf"
  wait_http http://127.0.0.1:9876/ 60
  log "octavia ready on http://127.0.0.1:9876"
}

up_resources() {
  admin_env
  OCTAVIA_CLIENT_CA="$OC_ETC/certs/client_ca.pem" "$BIN/python" "$HERE/octavia_setup.py" resources
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(install octavia resources)
T0=$(date +%s)
for s in "${stages[@]}"; do
  t=$(date +%s); log "== $s"
  "up_$s"
  log "== $s done in $(( $(date +%s) - t ))s"
done
log "octavia: all stages done in $(( $(date +%s) - T0 ))s"
