#!/usr/bin/env bash
# Real heat and swift beside the realcloud control plane (../shared/realcloud), on
# 127.0.0.1, with that cloud's venv, MariaDB, RabbitMQ and keystone. Idempotent: what
# is installed, configured or running is left alone.
#   heat_swift.sh              -> install swift heat resources
#   heat_swift.sh STAGE...     -> only those stages, in the order given
# Stages:
#   install    pip: openstack-heat 26.x and swift 2.37.x (series 2026.1) with the
#              realcloud's upper-constraints, python-heatclient (pyeclib's wheel bundles
#              liberasurecode: no Debian package needed)
#   swift      one-node SAIO on loopback: rings (part power 6, 1 replica, one "drive"
#              under $RC_ROOT/state/swift, mount_check off), account/container/object
#              servers with recon, proxy :8080 with authtoken + keystoneauth
#   heat       database heat, heat-engine, heat-api :8004 (gunicorn), stack domain
#   resources  containers/objects and stacks (CREATE_COMPLETE and CREATE_FAILED in
#              project admin, CREATE_COMPLETE in project demo)
#   passes     one pass of the account, container and object replicators and of
#              swift-recon-cron: what those periodic daemons write into the recon cache
#              (not among the default stages; the recon tests ask for it)
# Processes are started with lib.sh's start_bg/gunicorn_up (pid files in run/), so the
# realcloud's down.sh stops them too, and its --wipe removes their data.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
RC_SCRIPTS="${STACKWATCH_REALCLOUD_DIR:-$HERE/../../../../shared/realcloud}"
. "$RC_SCRIPTS/lib.sh"
UC="$RC_SCRIPTS/upper-constraints-2026.1.txt"
SW_ETC="$ETC/swift"
SW_DEV="$STATE/swift/node"
SW_CACHE="$STATE/swift/cache"

authtoken() {  # authtoken USER -> [keystone_authtoken] options (as up.sh's services have)
  cat <<CONF
www_authenticate_uri = http://127.0.0.1:5000/
auth_url = http://127.0.0.1:5000/
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $PW
region_name = RegionOne
CONF
}

notifications() {  # like the realcloud's services: to RabbitMQ unless RC_NOTIFICATIONS=0
  if [ "${RC_NOTIFICATIONS:-1}" = 1 ]; then
    printf '[oslo_messaging_notifications]\ndriver = messagingv2\ntransport_url = rabbit://openstack:%s@127.0.0.1:5672/\n' "$PW"
  else
    printf '[oslo_messaging_notifications]\ndriver = noop\n'
  fi
}

up_install() {
  if [ -x "$BIN/heat-engine" ] && [ -x "$BIN/swift-proxy-server" ] && [ -x "$BIN/heat" ]; then
    log "heat and swift already installed"; return 0
  fi
  "$BIN/pip" install -q -c "$UC" "openstack-heat>=26,<27" "swift>=2.37,<2.38" \
    python-heatclient python-swiftclient
  log "installed $("$BIN/pip" list 2>/dev/null | grep -E '^(openstack-heat|swift) ' | tr -s ' ' | paste -sd,)"
}

# ------------------------------------------------------------------ swift
swift_conf() {  # swift_conf KIND PORT -> $SW_ETC/KIND-server.conf (storage server with recon)
  cat >"$SW_ETC/$1-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $2
workers = 1
user = $(id -un)
devices = $SW_DEV
mount_check = false
swift_dir = $SW_ETC
log_name = swift-$1-server
# the replicators, auditors and updaters write their recon figures here too (their own
# default is /var/cache/swift)
recon_cache_path = $SW_CACHE
[pipeline:main]
pipeline = healthcheck recon $1-server
[app:$1-server]
use = egg:swift#$1
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:recon]
use = egg:swift#recon
recon_cache_path = $SW_CACHE
[$1-replicator]
[$1-auditor]
[$1-updater]
CONF
}

running() { local n; for n in "$@"; do is_running "$n" || return 1; done; }

up_swift() {
  mkdir -p "$SW_ETC" "$SW_DEV/sdb1" "$SW_CACHE"
  cat >"$SW_ETC/swift.conf" <<CONF
[swift-hash]
swift_hash_path_prefix = stackwatch
swift_hash_path_suffix = realcloud
[storage-policy:0]
name = Policy-0
default = yes
CONF
  local kind port
  for kind in account:6202 container:6201 object:6200; do
    port=${kind#*:}; kind=${kind%%:*}
    if [ ! -f "$SW_ETC/$kind.ring.gz" ]; then
      "$BIN/swift-ring-builder" "$SW_ETC/$kind.builder" create 6 1 1 >/dev/null
      "$BIN/swift-ring-builder" "$SW_ETC/$kind.builder" add \
        --region 1 --zone 1 --ip 127.0.0.1 --port "$port" --device sdb1 --weight 100 >/dev/null
      "$BIN/swift-ring-builder" "$SW_ETC/$kind.builder" rebalance >/dev/null || true
    fi
    swift_conf "$kind" "$port"
  done
  cat >"$SW_ETC/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = 8080
workers = 1
user = $(id -un)
swift_dir = $SW_ETC
log_name = swift-proxy-server
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging listing_formats authtoken keystoneauth proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = true
$(authtoken swift)
[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
reseller_admin_role = ResellerAdmin
CONF
  admin_env
  "$BIN/python" "$HERE/heat_swift_setup.py" keystone-swift
  for kind in account container object; do
    # -v: the log goes to stdout (logs/swift-KIND-server.stdout) as well as to syslog
    start_bg "swift-$kind-server" "$BIN/swift-$kind-server" "$SW_ETC/$kind-server.conf" -v
  done
  start_bg swift-proxy-server "$BIN/swift-proxy-server" "$SW_ETC/proxy-server.conf" -v
  wait_http http://127.0.0.1:6200/recon/diskusage 60
  wait_http http://127.0.0.1:8080/healthcheck 60
  log "swift ready on http://127.0.0.1:8080"
}

# ------------------------------------------------------------------ heat
up_heat() {
  local d="$ETC/heat"; mkdir -p "$d"
  cp "$VENV/etc/heat/api-paste.ini" "$d/api-paste.ini"
  mysql_ -e "CREATE DATABASE IF NOT EXISTS heat CHARACTER SET utf8mb4;
    CREATE USER IF NOT EXISTS 'heat'@'127.0.0.1' IDENTIFIED BY '$PW';
    GRANT ALL ON heat.* TO 'heat'@'127.0.0.1'; FLUSH PRIVILEGES;"
  cat >"$d/heat.conf" <<CONF
[DEFAULT]
transport_url = rabbit://openstack:$PW@127.0.0.1:5672/
region_name_for_services = RegionOne
num_engine_workers = 1
heat_metadata_server_url = http://127.0.0.1:8000
heat_waitcondition_server_url = http://127.0.0.1:8000/v1/waitcondition
stack_user_domain_name = heat
stack_domain_admin = heat_domain_admin
stack_domain_admin_password = $PW
graceful_shutdown_timeout = 5
[database]
connection = mysql+pymysql://heat:$PW@$DBHOST/heat?charset=utf8mb4
[paste_deploy]
api_paste_config = $d/api-paste.ini
[keystone_authtoken]
$(authtoken heat)
[trustee]
auth_type = password
auth_url = http://127.0.0.1:5000/
username = heat
password = $PW
user_domain_name = Default
[clients_keystone]
auth_uri = http://127.0.0.1:5000/
[oslo_policy]
policy_file = $d/policy.yaml
[heat_api]
workers = 1
[oslo_concurrency]
lock_path = $STATE/heat/lock
$(notifications)
CONF
  # A stock heat lets nobody list every project's stacks (stacks:global_index is
  # "deny_everybody"); an operator who wants them monitored grants it to admin.
  # oslo.policy re-reads this file when it changes (test_real_heat_swift empties it).
  echo '"stacks:global_index": "role:admin"' >"$d/policy.yaml"
  if running heat-engine heat-api; then log "heat already running"; return 0; fi
  mkdir -p "$STATE/heat/lock"
  "$BIN/heat-manage" --config-file "$d/heat.conf" db_sync >"$LOG/heat-manage.log" 2>&1
  admin_env
  "$BIN/python" "$HERE/heat_swift_setup.py" keystone-heat
  start_bg heat-engine "$BIN/heat-engine" --config-file "$d/heat.conf" --log-file "$LOG/heat-engine.log"
  printf '[DEFAULT]\nlog_file = %s\n' "$LOG/heat-api.log" >"$d/heat-api.conf"
  # heat-api reads its config files from argv only (the shim puts RC_WSGI_ARGS there)
  gunicorn_up heat-api 8004 1 heat.wsgi.api:application \
    RC_WSGI_ARGS="--config-file $d/heat.conf --config-file $d/heat-api.conf"
  wait_http http://127.0.0.1:8004/ 60
  log "heat ready on http://127.0.0.1:8004/v1"
}

up_resources() {
  admin_env
  "$BIN/python" "$HERE/heat_swift_setup.py" resources
  # the account's listing learns its containers' object counts from the container
  # updater (a periodic daemon on a real cluster): one pass now
  # (its command reads /etc/swift/swift.conf before its config's swift_dir: started here
  # with swift_dir set first)
  "$BIN/python" -c 'import sys
from swift.common.utils import set_swift_dir
from swift.container.updater import main
set_swift_dir(sys.argv[1])
sys.argv = ["swift-container-updater", sys.argv[2], "once"]
main()' "$SW_ETC" "$SW_ETC/container-server.conf" >>"$LOG/swift-container-updater.stdout" 2>&1
}

swift_once() {  # swift_once MODULE KIND -> one pass of a swift daemon (MODULE's main)
  # (the daemons read /etc/swift/swift.conf before their config's swift_dir: swift_dir
  # is set first, as for the container updater above)
  "$BIN/python" -c 'import importlib, sys
from swift.common.utils import set_swift_dir
set_swift_dir(sys.argv[1])
module = importlib.import_module(sys.argv[2])
sys.argv = [sys.argv[2], sys.argv[3], "once", "-v"]
module.main()' "$SW_ETC" "$1" "$SW_ETC/$2-server.conf" >>"$LOG/swift-passes.stdout" 2>&1
}

up_passes() {
  swift_once swift.account.replicator account
  swift_once swift.container.replicator container
  swift_once swift.obj.replicator object
  "$BIN/swift-recon-cron" "$SW_ETC/object-server.conf" >>"$LOG/swift-passes.stdout" 2>&1
  log "replicators and swift-recon-cron: one pass each"
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(install swift heat resources)
T0=$(date +%s)
for s in "${stages[@]}"; do
  t=$(date +%s); log "== $s"
  "up_$s"
  log "== $s done in $(( $(date +%s) - t ))s"
done
log "heat_swift: all stages done in $(( $(date +%s) - T0 ))s"
