#!/usr/bin/env bash
# A Docker Swarm of N engines on ONE machine, each in its own network namespace, for
# tests/swarm. Nothing is added to the host's engine, iptables or docker0.
#
#   cluster.sh up [N]        network + N engines (default 3) + a Swarm (node1 manages)
#   cluster.sh load IMAGE..  docker save on the host engine | docker load on every node
#   cluster.sh down          remove everything `up` made (idempotent, also after a crash)
#
# Topology: the host gets veth llmosw-host 10.78.0.1/24; a bridge llmosw0 lives in netns
# llmosw-br (its own empty iptables, so bridged frames never meet the host's FORWARD
# DROP even with br_netfilter); node K is netns llmosw-nK with eth0 10.78.0.(10+K) and
# no default route (a registry lookup or a DNS forward fails at once, and nothing
# leaves the machine). Each dockerd runs `nsenter --net` in its node's namespace and
# `unshare`s a UTS namespace (its own hostname, llmosw-nodeK) and a mount namespace
# (its overlay, shm and netns mounts vanish with it), with its own --data-root (tmpfs),
# --exec-root (and managed containerd), socket, pidfile and cgroup parent.
#
# Needs root, iproute2, util-linux. Env: NODE_TMPFS_SIZE (6g), DOCKERD_LOG_LEVEL (warn).
set -euo pipefail

RUN=/run/llmo-swarm-test
DATA=/tmp/llmo-swarm-test
NET=10.78.0
HOST_IP=$NET.1

dk() { local k=$1; shift; docker -H "unix://$RUN/node$k.sock" "$@"; }
node_ip() { echo "$NET.$((10 + $1))"; }
nodes() { ls "$RUN"/node*.pid 2>/dev/null | sed -E 's#.*/node([0-9]+)\.pid#\1#' | sort -n; }
log() { printf '%s cluster: %s\n' "$(date +%T)" "$*" >&2; }

net_up() {
  local n=$1 k
  ip netns add llmosw-br
  ip -n llmosw-br link set lo up
  ip -n llmosw-br link add llmosw0 type bridge
  ip -n llmosw-br link set llmosw0 up
  ip link add llmosw-host type veth peer name up0 netns llmosw-br
  ip -n llmosw-br link set up0 master llmosw0 up
  ip addr add "$HOST_IP/24" dev llmosw-host
  ip link set llmosw-host up
  for k in $(seq 1 "$n"); do
    ip netns add "llmosw-n$k"
    ip -n "llmosw-n$k" link set lo up
    ip link add "n$k" netns llmosw-br type veth peer name eth0 netns "llmosw-n$k"
    ip -n llmosw-br link set "n$k" master llmosw0 up
    ip -n "llmosw-n$k" addr add "$(node_ip "$k")/24" dev eth0
    ip -n "llmosw-n$k" link set eth0 up
  done
}

engine_up() {
  local k=$1 d="$DATA/node$k"
  mkdir -p "$d/data" "$RUN/node$k/exec"
  # tmpfs: image loads skip the disk and teardown is one umount, not an rm -rf of
  # three extracted image sets (~100 s on disk)
  mount -t tmpfs -o "size=${NODE_TMPFS_SIZE:-6g},mode=0711" "llmosw-node$k" "$d/data"
  echo '{}' >"$d/daemon.json" # not the host's /etc/docker/daemon.json
  setsid nsenter --net="/run/netns/llmosw-n$k" -- \
    unshare --uts --mount --propagation slave -- bash -c '
      set -e
      hostname "$1"
      # a sysfs of this netns (ip netns exec would hide /sys/fs/cgroup, dockerd needs it)
      mkdir -p "/run/llmo-swarm-test/cg-$2"
      mount --rbind /sys/fs/cgroup "/run/llmo-swarm-test/cg-$2"
      mount -t sysfs sysfs /sys
      mount --move "/run/llmo-swarm-test/cg-$2" /sys/fs/cgroup
      shift 2; exec dockerd "$@"' _ "llmosw-node$k" "$k" \
      --config-file "$d/daemon.json" \
      --data-root "$d/data" \
      --exec-root "$RUN/node$k/exec" \
      -H "unix://$RUN/node$k.sock" \
      --pidfile "$RUN/node$k.pid" \
      --cgroup-parent "/llmo-swarm-test-node$k" \
      --bip "172.28.$k.1/24" \
      --default-address-pool "base=172.29.0.0/16,size=24" \
      --storage-driver overlay2 \
      --ip6tables=false \
      --shutdown-timeout 3 \
      --log-level "${DOCKERD_LOG_LEVEL:-warn}" \
      >"$d/dockerd.log" 2>&1 </dev/null &
}

wait_engine() {
  local k=$1
  for _ in $(seq 1 120); do
    dk "$k" info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "node$k engine did not come up:" >&2
  tail -30 "$DATA/node$k/dockerd.log" >&2
  return 1
}

cmd_up() {
  local n=${1:-3} k token
  [[ ! -e $RUN ]] || { echo "$RUN exists: run \`$0 down\` first" >&2; exit 1; }
  mkdir -p "$RUN" "$DATA"
  net_up "$n"
  for k in $(seq 1 "$n"); do engine_up "$k"; done
  for k in $(seq 1 "$n"); do wait_engine "$k"; done
  log "$n engines up"
  dk 1 swarm init --advertise-addr "$(node_ip 1)" --listen-addr "$(node_ip 1):2377" >/dev/null
  token=$(dk 1 swarm join-token -q worker)
  for k in $(seq 2 "$n"); do
    dk "$k" swarm join --token "$token" --advertise-addr "$(node_ip "$k")" \
      --listen-addr "$(node_ip "$k"):2377" "$(node_ip 1):2377" >/dev/null
  done
  log "swarm of $n nodes"
}

cmd_load() {
  local k tar="$DATA/images.tar"
  docker save "$@" >"$tar" # one tar: shared layers once
  for k in $(nodes); do dk "$k" load -q <"$tar" >/dev/null & done
  wait
  rm -f "$tar"
  log "loaded $# images into nodes $(nodes | tr '\n' ' ')"
}

cmd_down() {
  local k pid m d
  # Containers first, SIGKILL, only ours (under our cgroup parent): otherwise each
  # engine waits out every task's stop grace period before it exits.
  for pid in $(cat /sys/fs/cgroup/*/llmo-swarm-test-node*/*/cgroup.procs \
    /sys/fs/cgroup/llmo-swarm-test-node*/*/cgroup.procs 2>/dev/null || true); do
    kill -9 "$pid" 2>/dev/null || true
  done
  for k in $(nodes); do
    pid=$(cat "$RUN/node$k.pid" 2>/dev/null || true)
    [[ -z $pid ]] || kill "$pid" 2>/dev/null || true
  done
  for k in $(nodes); do
    pid=$(cat "$RUN/node$k.pid" 2>/dev/null || true)
    for _ in $(seq 1 40); do [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    [[ -z $pid ]] || kill -9 "$pid" 2>/dev/null || true
  done
  # shims and containerds left behind: only those whose address or config is ours
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $RUN/" || true); do kill -9 "$pid" 2>/dev/null || true; done
  for pid in $(pgrep -f "containerd --config $RUN/" || true); do kill -9 "$pid" 2>/dev/null || true; done
  # our mounts, deepest first (the tmpfs data roots; anything an engine left)
  for m in $(awk -v a="$DATA/" -v b="$RUN/" 'index($2,a)==1||index($2,b)==1{print $2}' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  for k in $(ip netns list | awk '/^llmosw-/{print $1}'); do ip netns del "$k"; done
  ip link del llmosw-host 2>/dev/null || true
  for d in /sys/fs/cgroup/*/llmo-swarm-test-node* /sys/fs/cgroup/llmo-swarm-test-node*; do
    [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  rm -rf "$DATA" "$RUN"
  log "down"
}

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  load) shift; cmd_load "$@" ;;
  down) cmd_down ;;
  *) echo "usage: $0 up [N] | load IMAGE... | down" >&2; exit 2 ;;
esac
