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

pair_up s1
expect "OK" 0 set before s1
traffic_start 10 --clients 2 --rate 50
sleep 2
silence_primary cut
echo "cut: the $winner serves ($(status_field "$winner" state), generation 2), the $loser halted with 75;" \
  "settled ${took_ms} ms after the cut"
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
# it halts with 75 (silence_primary stop checks that), and no ping reply arrives twice after the
# resume (a duplicate then can only be the old primary's: the new one answered each request once).
pair_up s2
expect "OK" 0 set before s2
traffic_start 10 --clients 2 --rate 50
sleep 2
silence_primary stop
traffic_wait
dups=$(dup_pings_after "$t_cont")
[ "$dups" = 0 ] || pfail "freeze: $dups ping replies arrived twice after the old primary resumed"
expect "OK s2" 0 get before
check_arbiter
echo "freeze: the backup was live ${took_ms} ms after SIGSTOP; the old primary, resumed, halted (75) and" \
  "released nothing; history clean"
pair_down
echo "PASS"
