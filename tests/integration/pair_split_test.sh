#!/usr/bin/env bash
# Split brain: a fresh pair in the netns testbed (as in pair_failover_test.sh) under light ftkv
# traffic; `deploy/testbed.sh cut` takes the replication link down while both hosts stay
# reachable from the client. Each side then sees its peer dead and races for generation 2 at
# the arbiter. Within 10 s exactly one side must serve: one ftd exited with 75 after printing
# "halted: lost the arbiter", the other runs with state "live" or "unprotected" at generation 2
# (having printed "live at generation 2" or "continuing unprotected at generation 2"). Then
# ftkv set/get work, `ftkv check` finds the history clean (both sides serving at once would
# show), and the arbiter holds exactly the files of generations 1 and 2.
# Then a frozen primary (SIGSTOP past the peer timeout, SIGCONT after the backup went live):
# it must halt (75) without releasing what it held.
#
#   pair_split_test.sh BUILD_DIR SOURCE_DIR
# Exit 0 pass, 1 fail, 77 skip (no /dev/kvm or not root) unless FTD_REQUIRE_KVM=1.
set -uo pipefail
TESTBED_PREFIX_BASE=psp
# shellcheck source=pair_lib.sh
source "$(dirname "$0")/pair_lib.sh"

win_primary="continuing unprotected at generation 2"
win_backup="live at generation 2"
# settled: at most one ftd runs, and a running one has announced it serves at generation 2.
settled() {
  if running "$primary_pid"; then
    running "$backup_pid" && return 1
    grep -qF "$win_primary" "$work/$round-primary.err"
  elif running "$backup_pid"; then
    grep -qF "$win_backup" "$work/$round-backup.err"
  fi
}

pair_up s1
expect "OK" 0 set before s1
traffic_start 10 --clients 2 --rate 50
sleep 2
"$tb" cut >/dev/null || pfail "testbed.sh cut"
t_cut=$(date +%s.%N)
poll 10 settled || pfail "not settled 10 s after the cut (primary running: $(running "$primary_pid" && echo yes || echo no), backup running: $(running "$backup_pid" && echo yes || echo no))"
settle_ms=$(ms_since "$t_cut")
if running "$primary_pid"; then
  winner=primary loser=backup
elif running "$backup_pid"; then
  winner=backup loser=primary
else
  pfail "both sides stopped after the cut"
fi
loser_pid=${loser}_pid
wait "${!loser_pid}" 2>/dev/null
rc=$?
[ "$rc" = 75 ] || pfail "the $loser exited $rc, want 75 (lost the arbiter)"
grep -qF "halted: lost the arbiter" "$work/$round-$loser.err" || pfail "the $loser did not print 'halted: lost the arbiter'"
wait_state "$winner" 2 live unprotected
gen=$(status_field "$winner" generation)
[ "$gen" = 2 ] || pfail "the $winner's status generation is '$gen', want 2"
echo "cut: the $winner serves ($(status_field "$winner" state), generation 2), the $loser halted with 75;" \
  "settled ${settle_ms} ms after the cut"
sleep 1
winner_pid=${winner}_pid
running "${!winner_pid}" || pfail "the $winner exited after winning"
traffic_wait
expect "OK s1" 0 get before
expect "OK" 0 set after s1
expect "OK s1" 0 get after
check_arbiter
echo "ping gap $(ping_gap_ms "$work/$round-ping.out") ms; kv gap $(kv_gap_ms "$work/$round-h.txt") ms; history clean"
pair_down

# --- freeze: a primary silent past the peer timeout (SIGSTOP), then resumed ------------------
# The backup goes live at generation 2 and announces the MAC; the old primary, resumed after the
# announcements, must release nothing it still held (docs/pair.md "A primary that was silent"):
# it halts with 75, and no ping reply arrives twice after the resume (a duplicate then can only
# be the old primary's: the new one answered every acknowledged request at go-live).
pair_up s2
expect "OK" 0 set before s2
traffic_start 10 --clients 2 --rate 50
sleep 2
kill -STOP "$primary_pid"
t_stop=$(date +%s.%N)
wait_for "$work/$round-backup.err" "$win_backup" 10 "$backup_pid"
live_ms=$(ms_since "$t_stop")
sleep 1.5  # the announcements end 800 ms after go-live
t_cont=$(date +%s.%N)
kill -CONT "$primary_pid"
poll 10 eval '! running "$primary_pid"' || pfail "freeze: the resumed primary still runs 10 s after SIGCONT"
wait "$primary_pid" 2>/dev/null
rc=$?
[ "$rc" = 75 ] || pfail "freeze: the resumed primary exited $rc, want 75"
grep -qF "halted:" "$work/$round-primary.err" || pfail "freeze: the resumed primary did not print 'halted:'"
if grep -qF "releasing outputs again" "$work/$round-primary.err"; then
  pfail "freeze: the resumed primary confirmed a generation it no longer holds"
fi
wait_state backup 2 live
traffic_wait
dups=$(awk -v t="$t_cont" '/DUP!/ { ts = substr($1, 2, length($1) - 2); if (ts + 0 > t + 0) n++ } END { print n + 0 }' \
  "$work/$round-ping.out")
[ "$dups" = 0 ] || pfail "freeze: $dups ping replies arrived twice after the old primary resumed"
expect "OK s2" 0 get before
check_arbiter
echo "freeze: the backup was live ${live_ms} ms after SIGSTOP; the old primary, resumed, halted (75) and" \
  "released nothing; history clean"
pair_down
echo "PASS"
