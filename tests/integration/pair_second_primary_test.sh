#!/usr/bin/env bash
# Mistaken starts never take a generation (docs/pair.md "Start"). In the netns testbed, with a
# file arbiter, in one round:
# 1. a primary started before its backup listens fails (no backup within --peer-wait-s 2,
#    exit 70) and the arbiter stays empty; the pair then comes up protected at generation 1;
# 2. a second `ftd --role primary` for the VM on host A, with the real primary's flags (its own
#    files), is refused at once (exit 75, "held by a live ftd on this node"); a primary started
#    on host B is refused too (generation 1 is A's); a second backup on B's address cannot
#    listen (exits non-zero at once); the arbiter still holds generation 1 only, and the pair
#    is still protected and serving;
# 3. SIGKILL of the real primary, and at once a new primary on A (as Restart=on-failure would
#    start it): the backup goes live at generation 2 and serves the client (the key written
#    before, new writes); the restarted primary is refused (by the backup, which follows the
#    dead primary's log, or by the arbiter, where generation 2 is B's) and exits; the arbiter
#    holds generations 1 and 2, 2 won by B.
# Before the fix, each mistaken start of 1 and 2 took a generation, and the backup could then
# not win the next one (it halted with 75 and nobody served the VM).
#
#   pair_second_primary_test.sh BUILD_DIR SOURCE_DIR
# Exit 0 pass, 1 fail, 77 skip (no /dev/kvm or not root) unless FTD_REQUIRE_KVM=1.
set -uo pipefail
TESTBED_PREFIX_BASE=psp
# shellcheck source=pair_lib.sh
source "$(dirname "$0")/pair_lib.sh"

# want_generations GENS WHEN: the arbiter holds exactly GENS (e.g. "1 2"; "" for none).
want_generations() {
  local g
  g=$(arbiter_generations)
  [ "$g" = "$1" ] || pfail "$2: arbiter generations '$g', want '$1' ($(find "$arb" -printf '%P ' 2>/dev/null))"
}
# exits_within SECONDS PID: waits for PID to exit (SECONDS at most); sets rc to its exit code.
exits_within() {
  exit_pid=$2
  poll "$1" eval '! running "$exit_pid"' || pfail "pid $exit_pid still runs $1 s after it started"
  wait "$exit_pid" 2>/dev/null
  rc=$?
}
# start_as NAME FUNC ARGS...: FUNC ARGS (start_primary or start_backup) with NAME's own files;
# sets started_pid and leaves primary_pid / backup_pid as they were.
start_as() {
  local name=$1 fn=$2 p=$primary_pid b=$backup_pid
  shift 2
  PAIR_AS=$name "$fn" "$@"
  started_pid=$!
  primary_pid=$p backup_pid=$b
}

# 1. A start that fails before any backup listens.
early_start() {
  PAIR_PEER_WAIT_S=2 start_as early start_primary a b
  exits_within 30 "$started_pid"
  [ "$rc" = 70 ] || pfail "a primary without a backup exited $rc, want 70: $(tail -3 "$work/$round-early.err")"
  want_generations "" "after a primary that found no backup"
  echo "a primary that found no backup exited $rc and took no generation"
}
pair_up r1 early_start
want_generations "1" "the pair is up"
[ "$(status_field primary generation)" = 1 ] || pfail "the primary's status generation is not 1"
expect "OK" 0 set before r1

# 2. A second primary on A (the real one's flags), a primary on B, a second backup on B.
start_as second start_primary a b
exits_within 20 "$started_pid"
[ "$rc" = 75 ] || pfail "the second primary on A exited $rc, want 75: $(tail -3 "$work/$round-second.err")"
grep -qF "held by a live ftd on this node" "$work/$round-second.err" ||
  pfail "the second primary did not say why: $(tail -3 "$work/$round-second.err")"
want_generations "1" "after a second primary on A"
echo "a second primary on A was refused (exit $rc): $(grep -m1 -o 'generation 1 of this VM is held by a live ftd on this node' "$work/$round-second.err")"

start_as onb start_primary b b
exits_within 20 "$started_pid"
[ "$rc" = 75 ] || pfail "a primary on B exited $rc, want 75: $(tail -3 "$work/$round-onb.err")"
want_generations "1" "after a primary on B"

start_as backup2 start_backup b
exits_within 20 "$started_pid"
[ "$rc" != 0 ] || pfail "a second backup on B's address exited 0"
grep -qF "cannot listen" "$work/$round-backup2.err" ||
  pfail "the second backup did not say it cannot listen: $(tail -3 "$work/$round-backup2.err")"
want_generations "1" "after a second backup on B"
echo "a primary on B was refused (exit 75); a second backup on B's address could not listen (exit $rc)"

running "$primary_pid" || pfail "the real primary exited after the mistaken starts"
running "$backup_pid" || pfail "the backup exited after the mistaken starts"
wait_state primary 2 protected
wait_state backup 2 replaying
expect "OK r1" 0 get before
expect "OK" 0 set during r1

# 3. The real primary dies and is restarted at once; the backup must take over.
t_kill=$(date +%s.%N)
kill -KILL "$primary_pid"
wait "$primary_pid" 2>/dev/null
start_as restarted start_primary a b
restarted_pid=$started_pid
wait_for "$work/$round-backup.err" "live at generation 2" 15 "$backup_pid"
echo "the primary killed and restarted at once: the backup was live at generation 2 after $(ms_since "$t_kill") ms"
wait_state backup 5 live
[ "$(status_field backup generation)" = 2 ] || pfail "the backup's status generation is not 2"
exits_within 90 "$restarted_pid"
[ "$rc" = 70 ] || [ "$rc" = 75 ] || pfail "the restarted primary exited $rc, want 70 or 75"
echo "the restarted primary was refused (exit $rc): $(grep -m1 -oE 'refused: [^;(]*|held by [a-z]+' "$work/$round-restarted.err")"
expect "OK r1" 0 get before
expect "OK r1" 0 get during
expect "OK" 0 set after r1
expect "OK r1" 0 get after
check_arbiter
grep -qx "node=b" "$arb/generation-00000000000000000002" || pfail "generation 2 is not B's: $(cat "$arb/generation-00000000000000000002")"
running "$backup_pid" || pfail "the new primary (the old backup) exited"
pair_down
echo "PASS"
