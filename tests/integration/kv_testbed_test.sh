#!/usr/bin/env bash
# The kv guest on ftd's virtio devices, end to end, in the network-namespace testbed:
# ping from the client namespace, every ftkv operation, garbage frames and datagrams,
# a bounded ftkv load checked by `ftkv check`, then SIGKILL ftd and boot again on the same
# disk: the state is recovered from the guest's log.
#
#   kv_testbed_test.sh BUILD_DIR SOURCE_DIR
# Exit 0 pass, 1 fail, 77 skip (no /dev/kvm or not root) unless FTD_REQUIRE_KVM=1.
set -uo pipefail
TESTBED_PREFIX_BASE=kvt
# shellcheck source=kv_testbed_lib.sh
source "$(dirname "$0")/kv_testbed_lib.sh"

"$tb" up >/dev/null || fail "testbed up"
truncate -s 8M "$work/disk.img"

boot() {  # boot N: start ftd with the kv guest, wait for its ready line
  local out="$work/ftd$1.out"
  # `ip netns exec` execs ftd itself, so $! is ftd's pid (a shell function would add a subshell).
  ip netns exec "$FTD_TESTBED_PREFIX-a" "$build/ftd" run --guest "$build/guest/kv.elf" --disk "$work/disk.img" --net tap:ftdtap0 \
    --cmdline "ip=$guest/15" --no-stdin >"$out" 2>&1 &
  ftd_pid=$!
  for _ in $(seq 1 120); do
    grep -q "kv ready" "$out" && return 0
    kill -0 "$ftd_pid" 2>/dev/null || fail "ftd exited during boot"
    sleep 0.5
  done
  fail "no 'kv ready' within 60 s"
}

boot 1
grep -q "kv ready ip=$guest port=7000 keys=0" "$work/ftd1.out" || fail "unexpected ready line"
in_client ping -c 3 -i 0.2 -W 2 "$guest" >"$work/ping.txt" || fail "ping: $(cat "$work/ping.txt")"
echo "ping ok: $(grep -o 'rtt.*' "$work/ping.txt")"

expect "OK" 0 set color blue
expect "OK blue" 0 get color
expect "OK 1" 0 incr hits
expect "OK 2" 0 incr hits
expect "OK" 0 set doomed x
expect "OK" 0 del doomed
expect "NOTFOUND" 1 get doomed
expect "ERR not-an-integer" 2 incr color
echo "ftkv operations ok"

# Garbage: random frames at the guest's MAC from host A's bridge, random datagrams at port 7000.
in_a "$build/tests/netgarbage" frames br0 52:54:00:12:34:56 2000 7 || fail "netgarbage frames"
in_client "$build/tests/netgarbage" udp "$guest" 7000 500 8 || fail "netgarbage udp"
expect "OK blue" 0 get color
kill -0 "$ftd_pid" || fail "ftd died from garbage"
echo "garbage survived"

in_client timeout 60 "$build/ftkv" "$guest" load --clients 4 --duration 3 --history "$work/h1.txt" \
  >"$work/load1.txt" || fail "load: $(cat "$work/load1.txt")"
"$build/ftkv" check "$work/h1.txt" || fail "history check after load"
echo "load + check ok: $(grep -m1 -i 'throughput\|req/s' "$work/load1.txt")"

# Crash: SIGKILL ftd mid-flight, boot again on the same disk.
kill -9 "$ftd_pid"; wait "$ftd_pid" 2>/dev/null; ftd_pid=
boot 2
keys=$(grep -o "keys=[0-9]*" "$work/ftd2.out" | head -1)
[ "$keys" != "keys=0" ] || fail "no keys recovered after restart"
expect "OK blue" 0 get color
expect "OK 3" 0 incr hits
expect "NOTFOUND" 1 get doomed
echo "recovered after SIGKILL: $keys"
kill "$ftd_pid"; wait "$ftd_pid" 2>/dev/null; ftd_pid=
echo "PASS"
