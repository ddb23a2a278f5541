#!/usr/bin/env bash
# Record what Pacemaker's crm_mon prints for a 3-controller OpenStack cluster in each
# state stackwatch judges, from CIB files (no cluster needed: crm_mon reads a CIB from
# $CIB_file, crm_simulate runs the real scheduler on it and simulates the actions).
#
# Needs Debian's pacemaker + pacemaker-cli-utils. Writes into <out>/pacemaker/ (default
# tests/data/infra/pacemaker/):
#   <state>.xml      crm_mon --one-shot --output-as=xml (unedited)
#   legacy.xml       crm_mon --one-shot --as-xml (the deprecated pre-2.0 format) of failed-action
#   cib/<state>.xml  the CIB each was printed from (tests run the real crm_mon on them)
#   VERSION          crm_mon --version
#
# States, each from the configuration below brought up with crm_simulate:
#   healthy           ctl1..ctl3 online, everything started, galera promoted on all three
#   resource-stopped  healthy, then crm_resource --ban haproxy-clone on ctl2, simulated
#   failed-action     healthy with rabbitmq's 10 s monitor on ctl3 injected "not running" (7)
#                     and cinder-volume's start on ctl1 injected "error" (1), before the
#                     cluster reacts
#   recovered         failed-action after the cluster's reaction is simulated (restarted;
#                     the failed actions stay until crm_resource --cleanup)
#   no-quorum         healthy with ctl3 as DC, ctl1 and ctl2 failed, quorum false, simulated
#   node-unclean      healthy with ctl1 failed, before it is fenced
#   node-offline      node-unclean after the simulated fencing and recovery
#   node-standby      healthy, then crm_attribute --node ctl2 --name standby --update on, simulated
#
# Usage: scripts/record_pacemaker.sh [out-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-tests/data/infra}/pacemaker"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/cib"

cat > "$work/config.xml" <<'CIB'
<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="2">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="opt-stonith-enabled" name="stonith-enabled" value="true"/>
        <nvpair id="opt-no-quorum-policy" name="no-quorum-policy" value="stop"/>
        <nvpair id="opt-cluster-name" name="cluster-name" value="overcloud"/>
        <nvpair id="opt-dc-version" name="dc-version" value="2.1.5-a3f44794f94"/>
        <nvpair id="opt-cluster-infrastructure" name="cluster-infrastructure" value="corosync"/>
      </cluster_property_set>
    </crm_config>
    <nodes>
      <node id="1" uname="ctl1"/>
      <node id="2" uname="ctl2"/>
      <node id="3" uname="ctl3"/>
    </nodes>
    <resources>
      <primitive id="stonith-fence_ipmilan-ctl1" class="stonith" type="fence_ipmilan">
        <instance_attributes id="fence-ctl1-ia"><nvpair id="fence-ctl1-host" name="pcmk_host_list" value="ctl1"/></instance_attributes>
      </primitive>
      <primitive id="stonith-fence_ipmilan-ctl2" class="stonith" type="fence_ipmilan">
        <instance_attributes id="fence-ctl2-ia"><nvpair id="fence-ctl2-host" name="pcmk_host_list" value="ctl2"/></instance_attributes>
      </primitive>
      <primitive id="stonith-fence_ipmilan-ctl3" class="stonith" type="fence_ipmilan">
        <instance_attributes id="fence-ctl3-ia"><nvpair id="fence-ctl3-host" name="pcmk_host_list" value="ctl3"/></instance_attributes>
      </primitive>
      <primitive id="ip-192.168.24.10" class="ocf" provider="heartbeat" type="IPaddr2">
        <instance_attributes id="vip-ia"><nvpair id="vip-ip" name="ip" value="192.168.24.10"/><nvpair id="vip-mask" name="cidr_netmask" value="32"/></instance_attributes>
        <operations><op id="vip-monitor" name="monitor" interval="10s" timeout="20s"/></operations>
      </primitive>
      <clone id="haproxy-clone">
        <primitive id="haproxy" class="systemd" type="haproxy">
          <operations><op id="haproxy-monitor" name="monitor" interval="60s"/></operations>
        </primitive>
      </clone>
      <clone id="galera-master">
        <meta_attributes id="galera-master-meta">
          <nvpair id="galera-promotable" name="promotable" value="true"/>
          <nvpair id="galera-promoted-max" name="promoted-max" value="3"/>
        </meta_attributes>
        <primitive id="galera" class="ocf" provider="heartbeat" type="galera">
          <instance_attributes id="galera-ia"><nvpair id="galera-wsrep" name="wsrep_cluster_address" value="gcomm://ctl1,ctl2,ctl3"/></instance_attributes>
          <operations>
            <op id="galera-monitor-promoted" name="monitor" interval="10s" role="Promoted" timeout="30s"/>
            <op id="galera-monitor" name="monitor" interval="20s" timeout="30s"/>
          </operations>
        </primitive>
      </clone>
      <clone id="rabbitmq-clone">
        <primitive id="rabbitmq" class="ocf" provider="heartbeat" type="rabbitmq-cluster">
          <instance_attributes id="rabbitmq-ia"><nvpair id="rabbitmq-policy" name="set_policy" value="ha-all ^(?!amq\.).* {&quot;ha-mode&quot;:&quot;exactly&quot;,&quot;ha-params&quot;:2}"/></instance_attributes>
          <operations><op id="rabbitmq-monitor" name="monitor" interval="10s" timeout="40s"/></operations>
        </primitive>
      </clone>
      <primitive id="openstack-cinder-volume" class="systemd" type="openstack-cinder-volume">
        <operations><op id="cinder-volume-monitor" name="monitor" interval="60s"/></operations>
      </primitive>
      <primitive id="openstack-manila-share" class="systemd" type="openstack-manila-share">
        <meta_attributes id="manila-share-meta"><nvpair id="manila-share-target-role" name="target-role" value="Stopped"/></meta_attributes>
      </primitive>
    </resources>
    <constraints>
      <rsc_location id="fence-ctl1-avoids-ctl1" rsc="stonith-fence_ipmilan-ctl1" node="ctl1" score="-INFINITY"/>
      <rsc_location id="fence-ctl2-avoids-ctl2" rsc="stonith-fence_ipmilan-ctl2" node="ctl2" score="-INFINITY"/>
      <rsc_location id="fence-ctl3-avoids-ctl3" rsc="stonith-fence_ipmilan-ctl3" node="ctl3" score="-INFINITY"/>
      <rsc_location id="galera-promoted-ctl1" rsc="galera-master" role="Promoted" node="ctl1" score="100"/>
      <rsc_location id="galera-promoted-ctl2" rsc="galera-master" role="Promoted" node="ctl2" score="100"/>
      <rsc_location id="galera-promoted-ctl3" rsc="galera-master" role="Promoted" node="ctl3" score="100"/>
      <rsc_colocation id="vip-with-haproxy" rsc="ip-192.168.24.10" with-rsc="haproxy-clone" score="INFINITY"/>
      <rsc_order id="vip-then-haproxy" first="ip-192.168.24.10" then="haproxy-clone" kind="Optional"/>
    </constraints>
  </configuration>
  <status/>
</cib>
CIB

sim() {  # sim <input> <output> <crm_simulate options...>: simulate, save the result
    local input="$1" output="$2"; shift 2
    crm_simulate --xml-file "$input" --simulate --save-output "$output" "$@" >/dev/null
}
inject() {  # inject <input> <output> <options...>: apply the events, no reaction yet
    local input="$1" output="$2"; shift 2
    crm_simulate --xml-file "$input" --run --save-input "$output" "$@" >/dev/null
}
record() {  # record <state> <cib>
    cp "$2" "$out/cib/$1.xml"
    CIB_file="$2" crm_mon --one-shot --output-as=xml > "$out/$1.xml"
    echo "recorded $1"
}

w="$work"
sim "$w/config.xml" "$w/healthy.xml" --node-up ctl1 --node-up ctl2 --node-up ctl3
record healthy "$w/healthy.xml"

cp "$w/healthy.xml" "$w/banned.xml"
CIB_file="$w/banned.xml" crm_resource --ban --resource haproxy-clone --node ctl2 --quiet
sim "$w/banned.xml" "$w/resource-stopped.xml"
record resource-stopped "$w/resource-stopped.xml"

inject "$w/healthy.xml" "$w/failed-action.xml" \
    --op-inject rabbitmq_monitor_10000@ctl3=7 --op-inject openstack-cinder-volume_start_0@ctl1=1
record failed-action "$w/failed-action.xml"
CIB_file="$w/failed-action.xml" crm_mon --one-shot --as-xml > "$out/legacy.xml"
sim "$w/failed-action.xml" "$w/recovered.xml"
record recovered "$w/recovered.xml"

cp "$w/healthy.xml" "$w/dc3.xml"
CIB_file="$w/dc3.xml" cibadmin --modify --xml-text '<cib dc-uuid="3"/>'
sim "$w/dc3.xml" "$w/no-quorum.xml" --node-fail ctl1 --node-fail ctl2 --quorum false
record no-quorum "$w/no-quorum.xml"

inject "$w/healthy.xml" "$w/node-unclean.xml" --node-fail ctl1
record node-unclean "$w/node-unclean.xml"
sim "$w/node-unclean.xml" "$w/node-offline.xml"
record node-offline "$w/node-offline.xml"

cp "$w/healthy.xml" "$w/standby.xml"
CIB_file="$w/standby.xml" crm_attribute --node ctl2 --name standby --update on
sim "$w/standby.xml" "$w/node-standby.xml"
record node-standby "$w/node-standby.xml"

crm_mon --version | head -1 > "$out/VERSION"
