#!/usr/bin/env bash
# The guest kit's TCP (guest/net/tcp*.c) against Linux's stack, without a VM: tcp_tap_host runs
# the kit's code on a TAP in a network namespace this test creates; Python's socket module in
# the same namespace is the client (tests/integration/tcp_client.py).  Needs root.
#
#   connect / transfer / close; RST on a closed port; half-close; 128 connections at once;
#   1 MiB echo byte-exact through loss 5 %, delay 10 ms, reorder 10 % (tc netem on the client
#   link where the kernel has sch_netem, the same impairment inside tcp_tap_host otherwise,
#   and always inside tcp_tap_host for the other direction); a SYN flood that must hold no more
#   than the backlog, with a real client still served during it.
#
#   tcp_linux_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
host_bin=$build/tests/tcp_tap_host
client=$src/tests/integration/tcp_client.py

if [ "$(id -u)" != 0 ]; then
  echo "SKIP: tcp_linux_test needs root (network namespaces, a TAP device)"
  exit 77
fi
[ -x "$host_bin" ] || { echo "FAIL: $host_bin is not built" >&2; exit 1; }
modprobe tun 2>/dev/null || true

ns=ftdtcp-$$
work=$(mktemp -d)
hpid=
cleanup() {
  [ -n "$hpid" ] && kill "$hpid" 2>/dev/null && wait "$hpid" 2>/dev/null
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" tuntap add dev tap0 mode tap
ip -n "$ns" addr add 198.18.0.100/15 dev tap0
ip -n "$ns" link set tap0 up
in_ns() { ip netns exec "$ns" "$@"; }

# start_host ARGS...: tcp_tap_host echoing on port 7, waits for its ready line
start_host() {
  if [ -n "$hpid" ]; then
    kill "$hpid" 2>/dev/null || true
    wait "$hpid" 2>/dev/null || true
  fi
  : >"$work/host.log"
  ip netns exec "$ns" "$host_bin" --tap tap0 --echo 7 --seconds 240 "$@" >"$work/host.log" 2>&1 &
  hpid=$!
  for _ in $(seq 100); do
    grep -q "ready" "$work/host.log" && return 0
    kill -0 "$hpid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$work/host.log" >&2
  echo "FAIL: tcp_tap_host did not start" >&2
  exit 1
}
# stat NAME: the last stats line's NAME=value (after asking for a fresh line)
stat() {
  kill -USR1 "$hpid"
  local n0 n
  n0=$(grep -c "stats" "$work/host.log" || true)
  for _ in $(seq 50); do
    n=$(grep -c "stats" "$work/host.log" || true)
    [ "$n" -gt "$n0" ] && break
    sleep 0.1
  done
  grep "stats" "$work/host.log" | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}
check() { # check NAME ARGS...: run one client check
  echo "--- $1"
  in_ns timeout 300 python3 "$client" 198.18.0.10 7 "$@"
}

start_host --backlog 32
check basic
in_ns timeout 60 python3 "$client" 198.18.0.10 9 refused
check halfclose
check many 128
check bulk 262144 1
[ "$(stat active)" -le 2 ] || { echo "FAIL: connections left over: $(stat active)" >&2; exit 1; }

echo "--- impaired link: loss 5% delay 10ms reorder 10%"
if in_ns tc qdisc add dev tap0 root netem loss 5% delay 10ms reorder 10% 2>/dev/null; then
  echo "client link: tc netem (Linux -> guest); tcp_tap_host impairs guest -> Linux"
  start_host --backlog 32 --loss 5 --delay 10 --reorder 10 --impair tx --seed 11
else
  echo "client link: no sch_netem in this kernel: tcp_tap_host impairs both directions"
  start_host --backlog 32 --loss 5 --delay 10 --reorder 10 --impair both --seed 11
fi
check bulk 1048576 2
check halfclose
rexmit=$(stat retransmits)
dropped=$(stat impaired_dropped)
echo "retransmits=$rexmit fast_retransmits=$(stat fast_retransmits) timeouts=$(stat timeouts) ooo=$(stat rx_ooo) dropped_by_host=$dropped"
[ "$rexmit" -gt 0 ] || { echo "FAIL: a lossy link without one retransmission: the impairment did not work" >&2; exit 1; }
in_ns tc qdisc del dev tap0 root 2>/dev/null || true

echo "--- SYN flood (backlog 16) with a real client during it"
start_host --backlog 16
in_ns timeout 120 python3 "$client" 198.18.0.10 7 synflood 3000 198.19 &
flood=$!
sleep 0.5
check basic
wait "$flood"
active=$(stat active)
evicted=$(stat syn_evicted)
echo "after the flood: active=$active syn_evicted=$evicted"
[ "$active" -le 16 ] || { echo "FAIL: the flood holds $active blocks (backlog 16)" >&2; exit 1; }
[ "$evicted" -gt 0 ] || { echo "FAIL: no half-open connection was evicted: did the flood arrive?" >&2; exit 1; }
check basic
check many 128
echo "PASS: tcp_linux_test"
