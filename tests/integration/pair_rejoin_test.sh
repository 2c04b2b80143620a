#!/usr/bin/env bash
# Redundancy restored: a fresh pair under ping and `ftkv load`; SIGKILL the backup, so the
# primary continues unprotected at generation 2; start a new backup on B (the same replica
# path, as systemd's Restart= would): the running primary must take it at the next point
# ("protected again", status protected, still generation 2: a join takes no generation) while
# the load runs. Then SIGKILL the primary: the joined backup must go live at generation 3 and
# serve. `ftkv check` over the whole history (nothing acknowledged lost, nothing applied twice),
# the values written in every phase, and the arbiter's generations 1 2 3.
#
#   pair_rejoin_test.sh BUILD_DIR SOURCE_DIR
# Exit 0 pass, 1 fail, 77 skip (no /dev/kvm or not root) unless FTD_REQUIRE_KVM=1.
set -uo pipefail
TESTBED_PREFIX_BASE=prj
# shellcheck source=pair_lib.sh
source "$(dirname "$0")/pair_lib.sh"

pair_up j1
expect "OK" 0 set before j1
traffic_start 25 --clients 4
random_sleep 1000 2000
kill_and_take_over backup primary "continuing unprotected at generation 2" unprotected
expect "OK" 0 set alone j1
echo "backup killed; the primary continues unprotected after ${took_ms} ms"

t_join=$(date +%s.%N)
PAIR_AS=backup2 start_backup b
backup2_pid=$backup_pid
wait_for "$work/$round-primary.err" "protected again" 60 "$primary_pid" "$backup_pid"
join_ms=$(ms_since "$t_join")
wait_state primary 10 protected
n=$(status_field primary generation)
[ "$n" = 2 ] || pfail "the primary is at generation '$n' after the join, want 2"
line=$(grep "protected again" "$work/$round-primary.err")
echo "a new backup joined ${join_ms} ms after it started: $line"
expect "OK" 0 set joined j1
# The joined backup replays the log from the join's point.
wait_state backup2 10 replaying
grep -q "replaying generation 2 from exit [1-9]" "$work/$round-backup2.err" ||
  pfail "the joined backup did not start from a later point: $(grep replaying "$work/$round-backup2.err")"
random_sleep 1000 2000

t_kill=$(date +%s.%N)
kill -KILL "$primary_pid"; wait "$primary_pid" 2>/dev/null
wait_for "$work/$round-backup2.err" "live at generation 3" 15 "$backup_pid"
echo "primary killed; the joined backup live after $(ms_since "$t_kill") ms"
traffic_wait
for k in before alone joined; do expect "OK j1" 0 get "$k"; done
expect "OK" 0 set after j1
expect "OK j1" 0 get after
g=$(arbiter_generations)
[ "$g" = "1 2 3" ] || pfail "arbiter generations '$g', want '1 2 3'"
echo "ping gap $(ping_gap_ms "$work/$round-ping.out") ms; kv gap $(kv_gap_ms "$work/$round-h.txt") ms; history clean; generations $g"
pair_down
echo "PASS"
