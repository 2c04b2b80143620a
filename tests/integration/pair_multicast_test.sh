#!/usr/bin/env bash
# Multicast and broadcast frames from boot on, as every real network has them (IGMP and MLD
# reports, ARP requests), reach the guest's virtio-net before its driver is up and all along;
# record/replay and the pair must stay exact under them, every epoch verified.
#
# Each round starts `netgarbage multicast` in the client namespace (a frame every 2 ms, flooded
# by the switch to both hosts' taps) BEFORE the guest boots:
#  - record/replay rounds: `ftd record` the kv guest on A, a few ftkv writes, SIGTERM; the log
#    must hold received frames; `ftd replay` must finish at the recorded exit with no divergence.
#  - pair rounds: backup on B, primary on A (the initial state is taken while frames arrive);
#    after a few seconds of writes the backup must still be replaying (a divergence halts it)
#    with its replayed seq past the start, the primary still protected; then SIGKILL of the
#    primary: the backup replays everything it holds and goes live at generation 2 with the
#    data written before the kill.
#
#   pair_multicast_test.sh BUILD_DIR SOURCE_DIR [RR_ROUNDS] [PAIR_ROUNDS]
# Exit 0 pass, 1 fail, 77 skip (no /dev/kvm or not root) unless FTD_REQUIRE_KVM=1.
set -uo pipefail
TESTBED_PREFIX_BASE=pmc
# shellcheck source=pair_lib.sh
source "$(dirname "$0")/pair_lib.sh"
rr_rounds=${3:-3}
pair_rounds=${4:-3}
burst_pid=''

burst_start() {  # burst_start SEED: multicast frames from the client every 2 ms (bounded: 60 s)
  in_client timeout -k 2 60 "$build/tests/netgarbage" multicast eth0 2000 30000 "$1" >"$work/burst.out" 2>&1 &
  burst_pid=$!
}
burst_stop() { stop_bg burst_pid; }

# --- record/replay ------------------------------------------------------------------------------
for r in $(seq 1 "$rr_rounds"); do
  "$tb" up >/dev/null || fail "rr$r: testbed up"
  burst_start "$r"
  sleep 0.2
  truncate -s 8M "$work/rr.disk"
  record_kv "$work/rr.log" "$work/rr.disk" rr
  for i in 1 2 3; do expect "OK" 0 set "k$i" "$r$i"; done
  sleep 1
  kill -TERM "$ftd_pid"; wait "$ftd_pid"; rc=$?; ftd_pid=
  burst_stop
  [ "$rc" = 0 ] || fail "rr$r: ftd record exited $rc after SIGTERM"
  rec_exit=$(sed -n 's/.*ftd: recorded .* to exit \([0-9]*\) in .*/\1/p' "$work/rr.err")
  [ -n "$rec_exit" ] || fail "rr$r: no 'recorded ... to exit N' line"
  "$build/ftd" log info "$work/rr.log" >"$work/rr.info" || fail "rr$r: ftd log info"
  nets=$(awk '$1 == "net" { print $2 }' "$work/rr.info")
  [ "${nets:-0}" -gt 10 ] || fail "rr$r: only '${nets:-0}' received frames in the log: the burst did not reach the guest"
  "$build/ftd" replay --log "$work/rr.log" --guest "$kv" --no-stdin >"$work/rp.out" 2>"$work/rp.err"
  rc=$?
  [ "$rc" = 0 ] || fail "rr$r: replay exited $rc: $(grep -A4 error "$work/rp.err" | head -8)"
  grep -q "at exit $rec_exit:" "$work/rp.err" || fail "rr$r: replay ended elsewhere than exit $rec_exit"
  epochs=$(sed -n 's/.* \([0-9]*\) epoch hashes verified.*/\1/p' "$work/rp.err")
  echo "rr$r: $nets frames received in the log, replay to exit $rec_exit with ${epochs:-?} epochs verified"
  [ "${epochs:-0}" -gt 0 ] || fail "rr$r: no epoch verified"
  "$tb" down >/dev/null 2>&1
  rm -f "$work"/rr.* "$work"/rp.*
done

# --- the pair -----------------------------------------------------------------------------------
for r in $(seq 1 "$pair_rounds"); do
  pair_down
  round="p$r"
  arb="$work/$round.arbiter"
  mkdir -p "$arb"
  "$tb" up >/dev/null || pfail "testbed up"
  burst_start "$((100 + r))"
  start_backup b
  wait_state backup 30 waiting receiving-state replaying
  start_primary a b
  wait_for "$work/$round-primary.con.out" "kv ready" 120 "$primary_pid" "$backup_pid"
  wait_state primary 60 protected
  wait_state backup 30 replaying
  start_seq=$(status_field backup replayed_seq)
  for i in 1 2 3 4 5; do
    expect "OK" 0 set "k$i" "$r$i"
    sleep 0.5
  done
  grep -q "divergence" "$work/$round-backup.err" && pfail "the backup diverged: $(grep -A4 divergence "$work/$round-backup.err")"
  state_in backup replaying || pfail "backup not replaying (state '$last_state')"
  state_in primary protected || pfail "primary not protected (state '$last_state')"
  now_seq=$(status_field backup replayed_seq)
  [ "${now_seq:-0}" -gt "${start_seq:-0}" ] || pfail "the backup's replayed seq did not move (${start_seq:-?} -> ${now_seq:-?})"
  kill_and_take_over primary backup "live at generation 2" live
  grep -q "divergence" "$work/$round-backup.err" && pfail "the backup diverged: $(grep -A4 divergence "$work/$round-backup.err")"
  burst_stop
  for i in 1 2 3 4 5; do expect "OK $r$i" 0 get "k$i"; done
  echo "p$r: protected under the burst, backup replayed seq ${start_seq} -> ${now_seq}, live after the kill with every write"
done
pair_down
echo "PASS"
