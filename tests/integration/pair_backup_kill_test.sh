#!/usr/bin/env bash
# Loss of the backup: a fresh pair in the netns testbed (as in pair_failover_test.sh) under
# ping and `ftkv load`; SIGKILL the backup after a random 1-3 s. The primary must print
# "continuing unprotected at generation 2" within 10 s, with status state "unprotected" and
# generation 2, and keep serving: ftkv set/get succeed while the load still runs (the outputs
# it held for the backup's acknowledgement were released), ping replies continue, `ftkv check`
# finds the history clean, nothing stays held, and the arbiter holds generations 1 and 2.
#
#   pair_backup_kill_test.sh BUILD_DIR SOURCE_DIR
# Exit 0 pass, 1 fail, 77 skip (no /dev/kvm or not root) unless FTD_REQUIRE_KVM=1.
set -uo pipefail
TESTBED_PREFIX_BASE=pbk
# shellcheck source=pair_lib.sh
source "$(dirname "$0")/pair_lib.sh"

held_none() { [ "$(status_field primary held_outputs)" = 0 ]; }

pair_up b1
expect "OK" 0 set before b1
traffic_start 8 --clients 4
random_sleep 1000 3000
running "$backup_pid" || pfail "the backup exited before the kill"
t_kill=$(date +%s.%N)
kill -KILL "$backup_pid"
wait "$backup_pid" 2>/dev/null  # reaped at once: no "Killed" notice from bash
wait_for "$work/$round-primary.err" "continuing unprotected at generation 2" 10 "$primary_pid"
unprotected_ms=$(ms_since "$t_kill")
wait_state primary 2 unprotected
gen=$(status_field primary generation)
[ "$gen" = 2 ] || pfail "primary status generation '$gen', want 2"
expect "OK" 0 set during b1
expect "OK b1" 0 get during
echo "backup killed ${slept_ms} ms into the load; 'continuing unprotected' after ${unprotected_ms} ms;" \
  "set/get served during the load"
traffic_wait
n=$(ping_replies_after "$work/$round-ping.out" "$t_kill")
[ "$n" -gt 0 ] || pfail "no ping reply after the kill"
expect "OK b1" 0 get before
expect "OK" 0 set after b1
expect "OK b1" 0 get after
poll 5 held_none || pfail "the unprotected primary still holds outputs: $(status_json primary)"
running "$primary_pid" || pfail "the primary exited"
check_arbiter
echo "ping gap $(ping_gap_ms "$work/$round-ping.out") ms; kv gap $(kv_gap_ms "$work/$round-h.txt") ms; history clean"
pair_down
echo "PASS"
