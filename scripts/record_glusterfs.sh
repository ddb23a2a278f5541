#!/usr/bin/env bash
# Record what the gluster CLI prints for a real GlusterFS server in each state stackwatch
# judges. Needs Debian's glusterfs-server (and /dev/fuse for the client mount), as root.
#
# glusterd refuses bricks on localhost/127.x, so it runs in a network namespace of its
# own ("swrec-gl": only a loopback, with 10.11.0.1 named gl1 in /etc/netns/swrec-gl/hosts),
# its working directory and bricks under $BASE. Two volumes on gl1:
#   nova-instances  replica 3 (bricks nova1..nova3)
#   cinder-volumes  replica 2 (bricks cinder1, cinder2), quorum off so it can split its brain
# Client-side self-heal is off on both; the self-heal daemon runs for nova-instances
# (healthy, brick-down, shd-down) and is off while entries to heal are to stay recorded.
#
# Writes into <out>/glusterfs/<state>/ (default tests/data/infra/glusterfs/), unedited:
#   volume-status.xml         gluster --mode=script volume status all --xml
#   volume-status-detail.xml  gluster --mode=script volume status all detail --xml
#   volume-info.xml           gluster --mode=script volume info --xml
#   heal-<volume>.xml         gluster --mode=script volume heal <volume> info summary --xml
#   heal-info-<volume>.xml    gluster --mode=script volume heal <volume> info --xml
# and <out>/glusterfs/VERSION (gluster --version). States, in this order:
#   healthy        both volumes started, all bricks up, 10 files written through a mount
#   brick-down     nova2's brick process killed (-9), 20 files written while it is down
#   heal-pending   nova2 started again (volume start force): all up, the entries still to heal
#   split-brain    cinder-volumes: cinder2 stopped (TERM), f written; cinder2 back, cinder1 killed,
#                  f written again otherwise; cinder1 back: f in split-brain
#   shd-down       the self-heal daemon killed (-9)
#   volume-stopped nova-instances stopped (gluster volume stop)
#   all-stopped    cinder-volumes stopped too
# Everything is stopped and removed at the end.
#
# Usage: scripts/record_glusterfs.sh [out-dir]
set -euo pipefail
self="$(realpath "$0")"
target="$(realpath -m "${1:-$(dirname "$self")/../tests/data/infra}")"
out="$target/glusterfs"
NS=swrec-gl
BASE=/tmp/stackwatch-gluster
g() { gluster --mode=script "$@"; }

cleanup() {
    set +e
    for m in "$BASE"/mnt-*; do [ -d "$m" ] && umount -l "$m" 2>/dev/null; done
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid"; done
    sleep 1
    ip netns del "$NS" 2>/dev/null
    rm -rf "/etc/netns/$NS" "$BASE"
}
if [ "${2:-}" != --inside ]; then
    trap cleanup EXIT
    cleanup
    ip netns add "$NS"
    ip netns exec "$NS" ip link set lo up
    ip netns exec "$NS" ip addr add 10.11.0.1/32 dev lo
    mkdir -p "/etc/netns/$NS"
    printf '127.0.0.1 localhost\n10.11.0.1 gl1\n' > "/etc/netns/$NS/hosts"
    # the rest runs in the namespace (one mount namespace: the mounts stay until the end)
    ip netns exec "$NS" "$self" "$target" --inside
    exit
fi
trap 'umount -l "$BASE"/mnt-* 2>/dev/null || true' EXIT

mkdir -p "$BASE/wd" "$BASE/log" "$BASE/bricks" "$BASE/mnt-nova-instances" "$BASE/mnt-cinder-volumes"
cat > "$BASE/glusterd.vol" <<VOL
volume management
    type mgmt/glusterd
    option working-directory $BASE/wd
    option transport-type socket
    option transport.socket.bind-address 10.11.0.1
    option transport.socket.listen-port 24007
    option ping-timeout 0
    option event-threads 1
end-volume
VOL
glusterd -f "$BASE/glusterd.vol" -l "$BASE/log/glusterd.log" -p "$BASE/glusterd.pid"
for _ in $(seq 50); do g peer status >/dev/null 2>&1 && break; sleep 0.2; done

b="gl1:$BASE/bricks"
g volume create nova-instances replica 3 "$b/nova1" "$b/nova2" "$b/nova3" force >/dev/null
g volume create cinder-volumes replica 2 "$b/cinder1" "$b/cinder2" force >/dev/null
for v in nova-instances cinder-volumes; do
    for option in cluster.self-heal-daemon cluster.data-self-heal cluster.metadata-self-heal \
                  cluster.entry-self-heal; do
        g volume set "$v" "$option" off >/dev/null
    done
    g volume start "$v" >/dev/null
done
g volume set cinder-volumes cluster.quorum-type none >/dev/null

mount_volume() {  # mount_volume <volume>: a fuse mount at $BASE/mnt-<volume>
    glusterfs --volfile-server=gl1 --volfile-id="$1" "$BASE/mnt-$1"
    for _ in $(seq 50); do [ -d "$BASE/mnt-$1/.meta" ] && return; sleep 0.2; done
    echo "cannot mount $1" >&2; exit 1
}
put() {  # put <volume> <file> <text>: written through the mount, retried while the
    # client reconnects to the bricks (ENOTCONN)
    for _ in $(seq 50); do
        echo "$3" 2>/dev/null > "$BASE/mnt-$1/$2" && return
        sleep 0.2
    done
    echo "cannot write $2 on $1" >&2; exit 1
}
brick_pid() {  # brick_pid <volume> <brick dir name>
    g volume status "$1" "gl1:$BASE/bricks/$2" --xml |
        sed -n 's:.*<pid>\([0-9-]*\)</pid>.*:\1:p' | head -1
}
wait_bricks() {  # wait_bricks <volume> <number up>
    for _ in $(seq 50); do
        [ "$(g volume status "$1" --xml | grep -c '<status>1</status>')" -ge "$2" ] && return
        sleep 0.2
    done
}
record() {  # record <state>
    local dir="$out/$1"
    mkdir -p "$dir"
    g volume status all --xml > "$dir/volume-status.xml" || true
    g volume status all detail --xml > "$dir/volume-status-detail.xml" || true
    g volume info --xml > "$dir/volume-info.xml" || true
    for v in nova-instances cinder-volumes; do
        g volume heal "$v" info summary --xml > "$dir/heal-$v.xml" || true
        g volume heal "$v" info --xml > "$dir/heal-info-$v.xml" || true
    done
    echo "recorded $1"
}
rm -rf "$out"
mkdir -p "$out"
gluster --version | head -1 > "$out/VERSION"

g volume set nova-instances cluster.self-heal-daemon on >/dev/null
mount_volume nova-instances
mount_volume cinder-volumes
for i in $(seq 10); do put nova-instances "disk-$i" "instance $i"; done
put cinder-volumes volume-1 "written with both bricks up"
record healthy

kill -9 "$(brick_pid nova-instances nova2)"
sleep 1
for i in $(seq 20); do put nova-instances "new-$i" "changed $i"; done
record brick-down

g volume set nova-instances cluster.self-heal-daemon off >/dev/null   # or it heals at once
g volume start nova-instances force >/dev/null
wait_bricks nova-instances 3
record heal-pending

kill "$(brick_pid cinder-volumes cinder2)"   # TERM: a brick killed -9 leaves a stale
# port that the client keeps asking for after the restart
sleep 1
put cinder-volumes volume-1 "written while cinder2 was down"
g volume start cinder-volumes force >/dev/null
wait_bricks cinder-volumes 2
sleep 5   # the client reconnects every 3 s
kill "$(brick_pid cinder-volumes cinder1)"
sleep 1
put cinder-volumes volume-1 "written while cinder1 was down, otherwise"
g volume start cinder-volumes force >/dev/null
wait_bricks cinder-volumes 2
record split-brain

g volume set nova-instances cluster.self-heal-daemon on >/dev/null
sleep 2
shd="$(g volume status nova-instances shd --xml | sed -n 's:.*<pid>\([0-9-]*\)</pid>.*:\1:p' | head -1)"
kill -9 "$shd"
# glusterd sees a daemon as running while its pid exists: wait until the process is reaped
for _ in $(seq 150); do [ -e "/proc/$shd" ] || break; sleep 0.2; done
sleep 1
record shd-down

g volume stop nova-instances >/dev/null
record volume-stopped

g volume stop cinder-volumes >/dev/null
record all-stopped
