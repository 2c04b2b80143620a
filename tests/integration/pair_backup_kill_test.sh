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

# A primary whose certificate comes from another CA is refused by the backup, which goes on
# waiting for its real primary.
round=rogue
arb="$work/$round.arbiter"
mkdir -p "$arb"
"$tb" up >/dev/null || pfail "testbed up"
start_backup b
wait_state backup 30 waiting
"$src/deploy/make-certs.sh" "$work/rogue-ca" 198.19.0.1 >/dev/null 2>&1 || pfail "make-certs.sh (rogue CA)"
ip netns exec "$FTD_TESTBED_PREFIX-a" timeout 60 "$build/ftd" --role primary --peer "198.19.0.2:$port" \
  --guest "$kv" --vm-id "$vm_id" --ca "$work/rogue-ca/ca.crt" --cert "$work/rogue-ca/198.19.0.1.crt" \
  --key "$work/rogue-ca/198.19.0.1.key" --peer-wait-s 2 --status-file "$work/rogue.status" --no-stdin \
  >"$work/rogue.err" 2>&1
rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || pfail "a primary with a foreign certificate was not refused (exit $rc)"
grep -q "TLS handshake failed" "$work/rogue.err" || pfail "no TLS refusal reported: $(cat "$work/rogue.err")"
running "$backup_pid" || pfail "the backup died of a foreign primary"
wait_state backup 2 waiting
echo "a primary with a foreign certificate was refused (exit $rc); the backup kept waiting"

pair_up b1
expect "OK" 0 set before b1
traffic_start 8 --clients 4
random_sleep 1000 3000
kill_and_take_over backup primary "continuing unprotected at generation 2" unprotected
unprotected_ms=$took_ms
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
