#!/usr/bin/env bash
# deploy/testbed.sh: a network testbed for ftd in network namespaces (needs root).
#
#   deploy/testbed.sh up        create it (prints how to use it)
#   deploy/testbed.sh down      remove it (also stops processes still inside its namespaces)
#   deploy/testbed.sh status    show it; exit 0 if it is up, 1 if not (or only partly)
#   deploy/testbed.sh check     ping between A, B and the client (and A-B over repl); exit 0 if all answer
#   deploy/testbed.sh exec NS CMD...   run CMD in a namespace: a, b, client, sw (or its full name)
#   deploy/testbed.sh cut       cut the replication link A-B (both hosts stay reachable from the client)
#   deploy/testbed.sh heal      restore the replication link
#   deploy/testbed.sh impair DELAY_MS LOSS_PCT   delay and drop on the replication link, each way
#   deploy/testbed.sh unimpair  remove the impairment
#
# Layout (PREFIX = $FTD_TESTBED_PREFIX, default "ftd"; use distinct prefixes for parallel runs):
#
#   PREFIX-a       host A   br0 198.18.0.1/15   bridges eth0 (to the switch) and tap ftdtap0
#   PREFIX-b       host B   br0 198.18.0.2/15   bridges eth0 (to the switch) and tap ftdtap0
#   PREFIX-client  client   eth0 198.18.0.100/15
#   PREFIX-sw      switch   bridge sw0 joining veths to-a, to-b, to-client (no address)
#   repl           A-B      a dedicated replication link (like FT's logging network): veth `repl`
#                           in PREFIX-a 198.19.0.1/24 <-> `repl` in PREFIX-b 198.19.0.2/24.
#                           `cut` sets both ends down (the pair loses each other, the client still
#                           reaches both hosts); `heal` sets them up again.
#                           `impair D L` delays every packet D ms and drops L % in each direction
#                           (so the round trip grows by 2 D): `tc netem` on both ends where the
#                           kernel has sch_netem; elsewhere (the PVM hosts' kernels have none) a
#                           tun device `replem` in A and B, host routes to the peer's repl address
#                           through it and deploy/linkem.py carrying packets between them.
#
# The guest NIC is the tap: `ip netns exec PREFIX-a ftd ... --net tap:ftdtap0`; the guest uses
# 198.18.0.10. Addresses come only from 198.18.0.0/15 (RFC 2544 benchmarking) and exist only
# inside the namespaces: nothing here creates links, addresses, routes or sysctls in the root
# namespace (every link is created inside a namespace with `ip -n`; veth peers are created
# directly in their target namespace). Kernel modules tun, veth and bridge are loaded with
# modprobe if missing (e.g. in a QEMU VM running Debian's kernel).
set -euo pipefail

PREFIX="${FTD_TESTBED_PREFIX:-ftd}"
if [[ ! "$PREFIX" =~ ^[a-z0-9][a-z0-9-]{0,19}$ ]]; then
  echo "testbed: FTD_TESTBED_PREFIX must be 1-20 of [a-z0-9-], starting alphanumeric: '$PREFIX'" >&2
  exit 64
fi
NS_A="$PREFIX-a"
NS_B="$PREFIX-b"
NS_C="$PREFIX-client"
NS_SW="$PREFIX-sw"
ALL_NS=("$NS_A" "$NS_B" "$NS_C" "$NS_SW")
ADDR_A=198.18.0.1
ADDR_B=198.18.0.2
ADDR_C=198.18.0.100
ADDR_GUEST=198.18.0.10
PLEN=15
TAP=ftdtap0
REPL=repl
REPL_A=198.19.0.1
REPL_B=198.19.0.2
REPL_PLEN=24

die() {
  echo "testbed: $*" >&2
  exit 1
}

ns_exists() { ip netns list 2>/dev/null | awk -v n="$1" '$1 == n { f = 1 } END { exit !f }'; }

need_root() {
  [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces)"
  command -v ip >/dev/null || die "needs iproute2 (ip)"
}

load_modules() {
  local m
  for m in tun veth bridge; do
    if [[ ! -d /sys/module/$m ]]; then
      modprobe "$m" 2>/dev/null || true  # built in, or truly missing: the ip commands will tell
    fi
  done
  if [[ ! -c /dev/net/tun ]]; then
    mkdir -p /dev/net
    mknod /dev/net/tun c 10 200 2>/dev/null || true
    chmod 0666 /dev/net/tun 2>/dev/null || true
  fi
}

# Stops what still runs inside our namespaces (so they and their taps really go away), then
# deletes them. Only the namespaces named by this prefix are touched.
remove_ns() {
  local ns pids
  for ns in "$@"; do
    ns_exists "$ns" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    if [[ -n "$pids" ]]; then
      # shellcheck disable=SC2086
      kill -TERM $pids 2>/dev/null || true
      for _ in $(seq 1 20); do  # up to 2 s
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [[ -z "$pids" ]] && break
        sleep 0.1
      done
      if [[ -n "$pids" ]]; then
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
      fi
    fi
    ip netns delete "$ns" 2>/dev/null || true
  done
}

CREATED=()
cleanup_failed_up() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ $rc -ne 0 ]]; then
    echo "testbed: up failed (status $rc); removing what it created" >&2
    remove_ns "${CREATED[@]}"
  fi
  exit "$rc"
}

add_ns() {
  CREATED+=("$1")  # first: a signal right after the add must still remove it
  ip netns add "$1"
  ip -n "$1" link set lo up
  # No IPv6 in the testbed: no DAD delays, no router solicitations (this sysctl is per netns).
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 >/dev/null 2>&1 || true
  ip netns exec "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
}

# A host: veth eth0 (peer NAME on the switch) and tap ftdtap0 in bridge br0, address on br0.
add_host() {
  local ns=$1 swport=$2 addr=$3
  add_ns "$ns"
  ip -n "$NS_SW" link add name "$swport" type veth peer name eth0 netns "$ns"
  ip -n "$NS_SW" link set "$swport" master sw0 up
  ip -n "$ns" link add name br0 type bridge forward_delay 0 stp_state 0
  ip -n "$ns" link set eth0 master br0 up
  ip -n "$ns" tuntap add dev "$TAP" mode tap
  ip -n "$ns" link set "$TAP" master br0 up
  ip -n "$ns" addr add "$addr/$PLEN" dev br0
  ip -n "$ns" link set br0 up
}

# The replication link: one veth, its ends in A and B. The /24 is more specific than br0's /15,
# so 198.19.0.x goes over it; the unreachable route (a higher metric, not tied to a link) takes
# over when the link is down, so a cut link is not bypassed through br0 and the switch.
add_repl() {
  ip -n "$NS_A" link add name "$REPL" type veth peer name "$REPL" netns "$NS_B"
  local end
  for end in "$NS_A:$REPL_A" "$NS_B:$REPL_B"; do
    ip -n "${end%%:*}" addr add "${end##*:}/$REPL_PLEN" dev "$REPL"
    ip -n "${end%%:*}" route add unreachable "${REPL_A%.*}.0/$REPL_PLEN" metric 4000
    ip -n "${end%%:*}" link set "$REPL" up
  done
}

cmd_up() {
  need_root
  local ns
  for ns in "${ALL_NS[@]}"; do
    ns_exists "$ns" && die "namespace $ns exists already: the testbed is up (or left over); run '$0 down' first"
  done
  trap cleanup_failed_up EXIT
  trap 'exit 130' INT TERM
  load_modules
  add_ns "$NS_SW"
  ip -n "$NS_SW" link add name sw0 type bridge forward_delay 0 stp_state 0
  ip -n "$NS_SW" link set sw0 up
  add_host "$NS_A" to-a "$ADDR_A"
  add_host "$NS_B" to-b "$ADDR_B"
  add_repl
  add_ns "$NS_C"
  ip -n "$NS_SW" link add name to-client type veth peer name eth0 netns "$NS_C"
  ip -n "$NS_SW" link set to-client master sw0 up
  ip -n "$NS_C" addr add "$ADDR_C/$PLEN" dev eth0
  ip -n "$NS_C" link set eth0 up
  trap - EXIT INT TERM
  cat <<EOF
testbed up (prefix $PREFIX):
  host A   $NS_A	br0 $ADDR_A/$PLEN = eth0 + tap $TAP (guest NIC)
  host B   $NS_B	br0 $ADDR_B/$PLEN = eth0 + tap $TAP (guest NIC)
  client   $NS_C	eth0 $ADDR_C/$PLEN
  switch   $NS_SW	bridge sw0 (ports to-a, to-b, to-client)
  repl     $NS_A repl $REPL_A/$REPL_PLEN <-> $NS_B repl $REPL_B/$REPL_PLEN (replication link)
run the guest on a host (it uses $ADDR_GUEST):
  ip netns exec $NS_A build/ftd run ... --net tap:$TAP
drive it from the client:
  $0 exec client build/ftkv $ADDR_GUEST get k
  $0 exec client build/ftkv $ADDR_GUEST load --clients 8 --duration 10 --history h.txt
replicate over the repl link: backup --listen $REPL_B:7411, primary --peer $REPL_B:7411
  $0 check     # ping A, B, client from each other, and A <-> B over repl
  $0 cut       # cut the replication link (both ends down); '$0 heal' restores it
  $0 down      # remove everything (stops processes left in the namespaces)
EOF
}

cmd_down() {
  need_root
  rm -f "$(linkem_pidfile)"
  remove_ns "$NS_C" "$NS_A" "$NS_B" "$NS_SW"
  local ns left=0
  for ns in "${ALL_NS[@]}"; do
    if ns_exists "$ns"; then
      echo "testbed: could not remove namespace $ns" >&2
      left=1
    fi
  done
  [[ $left -eq 0 ]] && echo "testbed down (prefix $PREFIX)"
  return $left
}

cmd_status() {
  need_root
  local ns up=0
  for ns in "${ALL_NS[@]}"; do
    if ns_exists "$ns"; then
      up=$((up + 1))
      echo "== $ns"
      ip -n "$ns" -br addr show 2>/dev/null | sed 's/^/  /'
    else
      echo "== $ns: absent"
    fi
  done
  if [[ $up -eq ${#ALL_NS[@]} ]]; then
    if repl_is_cut; then echo "replication link: cut"; else echo "replication link: up"; fi
    echo "testbed (prefix $PREFIX): up"
    return 0
  fi
  if [[ $up -eq 0 ]]; then echo "testbed (prefix $PREFIX): down"; else echo "testbed (prefix $PREFIX): partly up ($up of ${#ALL_NS[@]} namespaces)"; fi
  return 1
}

# reaches NS ADDR: NS can ping ADDR. The first packet may wait for ARP: 3 tries, 1 s each at most.
reaches() {
  ip netns exec "$1" ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1 ||
    ip netns exec "$1" ping -n -q -c 2 -W 1 "$2" >/dev/null 2>&1
}

cmd_check() {
  need_root
  local ns
  for ns in "$NS_A" "$NS_B" "$NS_C"; do ns_exists "$ns" || die "namespace $ns is missing: run '$0 up'"; done
  local fails=0 from to addr
  for from in "$NS_A:$ADDR_A" "$NS_B:$ADDR_B" "$NS_C:$ADDR_C"; do
    for to in "$ADDR_A" "$ADDR_B" "$ADDR_C"; do
      ns=${from%%:*}
      addr=${from##*:}
      [[ "$addr" == "$to" ]] && continue
      if reaches "$ns" "$to"; then
        echo "ok   $ns -> $to"
      else
        echo "FAIL $ns -> $to"
        fails=$((fails + 1))
      fi
    done
  done
  for from in "$NS_A:$REPL_B" "$NS_B:$REPL_A"; do
    ns=${from%%:*}
    to=${from##*:}
    if reaches "$ns" "$to"; then
      echo "ok   $ns -> $to (repl)"
    else
      echo "FAIL $ns -> $to (repl$(repl_is_cut && echo ', cut'))"
      fails=$((fails + 1))
    fi
  done
  [[ $fails -eq 0 ]]
}

# cut | heal: both ends of the replication link down or up. Idempotent.
cmd_repl() {
  need_root
  local ns state=down
  [[ "$1" == heal ]] && state=up
  for ns in "$NS_A" "$NS_B"; do
    ns_exists "$ns" || die "namespace $ns is missing: run '$0 up'"
    ip -n "$ns" link show "$REPL" >/dev/null 2>&1 || die "$ns has no $REPL link (made by an older testbed.sh?)"
  done
  for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set "$REPL" "$state"; done
  if [[ "$state" == down ]]; then
    echo "testbed (prefix $PREFIX): replication link cut ($REPL down in $NS_A and $NS_B)"
  else
    echo "testbed (prefix $PREFIX): replication link healed ($REPL up in $NS_A and $NS_B)"
  fi
}

# impair DELAY_MS LOSS_PCT | unimpair: see the header. Idempotent (impair replaces).
LINKEM_DEV=replem
linkem_pidfile() { echo "/tmp/ftd-testbed-$PREFIX-linkem.pid"; }
cmd_unimpair() {
  need_root
  local ns pf
  pf=$(linkem_pidfile)
  if [[ -f "$pf" ]]; then
    kill -TERM "$(cat "$pf")" 2>/dev/null || true
    rm -f "$pf"
  fi
  for ns in "$NS_A" "$NS_B"; do
    ns_exists "$ns" || continue
    ip -n "$ns" link del "$LINKEM_DEV" 2>/dev/null || true  # its routes go with it
    tc -n "$ns" qdisc del dev "$REPL" root 2>/dev/null || true
  done
}
cmd_impair() {
  need_root
  [[ $# -eq 2 && "$1" =~ ^[0-9]{1,4}$ && "$2" =~ ^[0-9]{1,2}(\.[0-9]+)?$ ]] ||
    die "usage: $0 impair DELAY_MS LOSS_PCT   (e.g. impair 20 5)"
  local ns delay=$1 loss=$2
  for ns in "$NS_A" "$NS_B"; do ns_exists "$ns" || die "namespace $ns is missing: run '$0 up'"; done
  cmd_unimpair
  modprobe sch_netem 2>/dev/null || true
  if tc -n "$NS_A" qdisc add dev "$REPL" root netem delay "${delay}ms" loss "${loss}%" 2>/dev/null; then
    tc -n "$NS_B" qdisc add dev "$REPL" root netem delay "${delay}ms" loss "${loss}%"
    echo "testbed (prefix $PREFIX): replication link impaired with tc netem: delay ${delay} ms, loss ${loss} % each way"
    return 0
  fi
  command -v python3 >/dev/null || die "impair: no sch_netem in this kernel and no python3 for deploy/linkem.py"
  local end
  for end in "$NS_A:$REPL_B:$REPL_A" "$NS_B:$REPL_A:$REPL_B"; do
    IFS=: read -r ns to from <<<"$end"
    ip -n "$ns" tuntap add dev "$LINKEM_DEV" mode tun
    ip -n "$ns" link set "$LINKEM_DEV" up
    ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$LINKEM_DEV.rp_filter=0" >/dev/null 2>&1 || true
    ip -n "$ns" route add "$to/32" dev "$LINKEM_DEV" src "$from"
  done
  ip netns exec "$NS_A" python3 "$(dirname "$0")/linkem.py" --ns-a "/run/netns/$NS_A" --ns-b "/run/netns/$NS_B" \
    --dev "$LINKEM_DEV" --delay-ms "$delay" --loss-pct "$loss" </dev/null >/dev/null 2>&1 &
  echo $! >"$(linkem_pidfile)"
  echo "testbed (prefix $PREFIX): replication link impaired by deploy/linkem.py (this kernel has no sch_netem):" \
    "delay ${delay} ms, loss ${loss} % each way"
}

# True if the repl link is administratively down at either end.
repl_is_cut() {
  local ns
  for ns in "$NS_A" "$NS_B"; do
    ip -n "$ns" -o link show "$REPL" 2>/dev/null | grep -q '[<,]UP[,>]' || return 0
  done
  return 1
}

cmd_exec() {
  need_root
  [[ $# -ge 2 ]] || die "usage: $0 exec NS CMD...   (NS: a, b, client, sw or a full name)"
  local ns=$1
  shift
  case "$ns" in
    a | b | client | sw) ns="$PREFIX-$ns" ;;
  esac
  local known=0 n
  for n in "${ALL_NS[@]}"; do [[ "$n" == "$ns" ]] && known=1; done
  [[ $known -eq 1 ]] || die "unknown namespace '$ns' (want a, b, client, sw or ${ALL_NS[*]})"
  ns_exists "$ns" || die "namespace $ns is missing: run '$0 up'"
  exec ip netns exec "$ns" "$@"
}

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 64
}

[[ $# -ge 1 ]] || usage
cmd=$1
shift
case "$cmd" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  check) cmd_check ;;
  exec) cmd_exec "$@" ;;
  cut | heal) cmd_repl "$cmd" ;;
  impair) cmd_impair "$@" ;;
  unimpair) cmd_unimpair ;;
  -h | --help | help) usage ;;
  *) echo "testbed: unknown command '$cmd'" >&2; usage ;;
esac
