#!/usr/bin/env bash
# The pair over a delayed, lossy replication link: `deploy/testbed.sh impair 20 5` (20 ms and 5 %
# loss each way: tc netem where the kernel has sch_netem, deploy/linkem.py where it has not),
# applied once the pair is protected. Round n1: 10 s of ping + ftkv load; the pair must stay
# protected, or fail over cleanly (exactly one side serves at generation 2, the other exited 75).
# Round n2: the same, then SIGKILL of the primary 3 s in: the backup goes live. In every round
# `ftkv check` must find the whole history clean (nothing acknowledged lost, nothing applied
# twice) and the state from before must be readable afterwards.
#
#   pair_netem_test.sh BUILD_DIR SOURCE_DIR
# Exit 0 pass, 1 fail, 77 skip (no /dev/kvm or not root) unless FTD_REQUIRE_KVM=1.
set -uo pipefail
TESTBED_PREFIX_BASE=pnm
# shellcheck source=pair_lib.sh
source "$(dirname "$0")/pair_lib.sh"

# impaired_pair NAME: a protected pair whose replication link is then impaired.
impaired_pair() {
  pair_up "$1"
  "$tb" impair 20 5 >"$work/$round-impair.out" 2>&1 || pfail "testbed.sh impair: $(cat "$work/$round-impair.out")"
  echo "$1: $(sed 's/^testbed ([^)]*): //' "$work/$round-impair.out")"
  expect "OK" 0 set before "$1"
}
# serving_at: sets state: "protected" while both run and the primary is protected; else the
# survivor's word after a clean split (the other exited 75 after losing the arbiter); fails
# otherwise.
serving_at() {
  local rc p
  if running "$primary_pid" && running "$backup_pid"; then
    [ "$(status_field primary state)" = protected ] || pfail "both run, primary state '$(status_field primary state)'"
    state=protected
    return
  fi
  poll 10 settled || pfail "one side stopped, the other does not serve at generation 2"
  for p in primary backup; do
    local v="${p}_pid"
    running "${!v}" && continue
    wait "${!v}" 2>/dev/null
    rc=$?
    [ "$rc" = 75 ] || pfail "the $p exited $rc, want 75 (lost the arbiter)"
  done
  if running "$primary_pid"; then state="failed over: the primary continues unprotected"; else state="failed over: the backup is live"; fi
}

impaired_pair n1
traffic_start 10 --clients 2 --rate 50
sleep 10
serving_at
traffic_wait
expect "OK n1" 0 get before
echo "n1: $state after 10 s of load; ping gap $(ping_gap_ms "$work/$round-ping.out") ms;" \
  "kv gap $(kv_gap_ms "$work/$round-h.txt") ms; history clean"

impaired_pair n2
traffic_start 8 --clients 2 --rate 50
sleep 3
serving_at
if [ "$state" = protected ]; then
  silence_primary kill
  state="killed: the backup went live ${took_ms} ms after the SIGKILL"
fi
traffic_wait
expect "OK n2" 0 get before
expect "OK" 0 set after n2
expect "OK n2" 0 get after
check_arbiter
echo "n2: $state; ping gap $(ping_gap_ms "$work/$round-ping.out") ms; kv gap $(kv_gap_ms "$work/$round-h.txt") ms;" \
  "history clean"
pair_down
echo "PASS"
