#!/usr/bin/env bash
# Record and replay of the kv guest on ftd's virtio devices, end to end, in the network-namespace
# testbed: `ftd record` the kv guest on host A (disk + tap) while the client namespace sets x=1,
# runs a short `ftkv load` and sets x=2; stop the recorder with SIGTERM. Then replay the log
# three times without the disk (same console output, no divergence, same end point), and go
# live just before the exit where the `SET x 2` datagram arrived, on a fresh copy of the disk as
# it was when recording began: the live guest must answer x=1 (the state as of that point) and
# take new writes. In between, gdb watches svc.kv.nkeys on a replay and reverse-continues to the
# write that set it.
#
#   kv_record_replay_test.sh BUILD_DIR SOURCE_DIR
# Exit 0 pass, 1 fail, 77 skip (no /dev/kvm or not root) unless FTD_REQUIRE_KVM=1.
set -uo pipefail
TESTBED_PREFIX_BASE=kvrr
# shellcheck source=kv_testbed_lib.sh
source "$(dirname "$0")/kv_testbed_lib.sh"
kv="$build/guest/kv.elf"

"$tb" up >/dev/null || fail "testbed up"
truncate -s 8M "$work/disk.img"
cp "$work/disk.img" "$work/disk0.img"  # the disk as it is when recording begins

# --- Record ------------------------------------------------------------------------------------
# Console (rec.out) and ftd's messages (rec.err) go to separate files: the console is compared
# with the replays'.
record_kv "$work/kv.log" "$work/disk.img" rec
grep -q "kv ready ip=$guest port=7000 keys=0" "$work/rec.out" || fail "no 'kv ready ... keys=0' within 60 s"

expect "OK" 0 set x 1
in_client timeout 60 "$build/ftkv" "$guest" load --clients 4 --duration 2 --history "$work/h.txt" \
  >"$work/load.txt" 2>&1 || fail "load: $(cat "$work/load.txt")"
"$build/ftkv" check "$work/h.txt" >"$work/check.txt" 2>&1 || fail "history check: $(cat "$work/check.txt")"
expect "OK" 0 set x 2
expect "OK 2" 0 get x

kill -TERM "$ftd_pid"; wait "$ftd_pid"; rc=$?; ftd_pid=
[ "$rc" = 0 ] || fail "ftd record exited $rc after SIGTERM"
rec_line=$(grep "ftd: recorded" "$work/rec.err") || fail "no 'recorded' summary from ftd record"
rec_exit=$(sed -n 's/.* to exit \([0-9]*\) in .*/\1/p' <<<"$rec_line")
[ -n "$rec_exit" ] || fail "cannot parse: $rec_line"
"$build/ftd" log info "$work/kv.log" >"$work/info.txt" || fail "ftd log info"
grep -q "recording stopped" "$work/info.txt" || fail "the log has no end marker: $(cat "$work/info.txt")"
echo "recorded: $rec_line"

# --- Replay three times, no disk ----------------------------------------------------------------
for i in 1 2 3; do
  "$build/ftd" replay --log "$work/kv.log" --guest "$kv" --no-stdin >"$work/rp$i.out" 2>"$work/rp$i.err"
  rc=$?
  [ "$rc" = 0 ] || fail "replay $i exited $rc"
  grep -q "diverge" "$work/rp$i.err" && fail "replay $i diverged"
  line=$(grep -E "ftd: replay (reached the end of the log|finished)" "$work/rp$i.err") ||
    fail "replay $i: no 'reached the end of the log' summary"
  grep -q "at exit $rec_exit:" <<<"$line" || fail "replay $i ended elsewhere than exit $rec_exit: $line"
  cmp -s "$work/rec.out" "$work/rp$i.out" || fail "replay $i console differs: $(diff "$work/rec.out" "$work/rp$i.out" | head)"
done
echo "replayed 3 times: $line"

# --- A watchpoint on a kv variable under gdb: reverse-continue stops at the write ---------------
# svc.kv.nkeys goes 0 -> 1 (SET x 1) -> 2 (the load's first key); back from the second change,
# reverse-continue must stop where the first was written: in put() with instruction
# granularity; at the first point after it where the KVM traps at points only (PVM's ring 3).
"$build/ftd" replay --log "$work/kv.log" --guest "$kv" --no-stdin --gdb 127.0.0.1:0 \
  >"$work/gdb-srv.out" 2>"$work/gdb-srv.err" &
dbg_pid=$!
port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's/.*gdb server on 127.0.0.1:\([0-9]*\) .*/\1/p' "$work/gdb-srv.err")
  [ -n "$port" ] && break
  kill -0 "$dbg_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || fail "no gdb server: $(cat "$work/gdb-srv.err")"
timeout 300 gdb -nx -batch -ex "file $kv" -ex "target remote 127.0.0.1:$port" \
  -ex 'watch svc.kv.nkeys' -ex continue -ex continue -ex 'echo === fwd\n' -ex 'print svc.kv.nkeys' \
  -ex 'echo === end fwd\n' -ex reverse-continue -ex 'echo === rev\n' -ex 'print svc.kv.nkeys' \
  -ex 'info symbol $pc' -ex 'echo === end rev\n' -ex 'monitor info' -ex detach >"$work/gdb.out" 2>&1
for _ in $(seq 1 100); do kill -0 "$dbg_pid" 2>/dev/null || break; sleep 0.1; done
kill "$dbg_pid" 2>/dev/null; wait "$dbg_pid"; dbg_rc=$?
[ "$dbg_rc" = 0 ] || fail "ftd replay --gdb exited $dbg_rc: $(cat "$work/gdb-srv.err")"
grep -qi "diverge" "$work/gdb-srv.err" && fail "the replay under gdb diverged: $(cat "$work/gdb-srv.err")"
fwd=$(sed -n '/=== fwd/,/=== end fwd/p' "$work/gdb.out" | sed -n 's/^\$[0-9]* = //p')
rev=$(sed -n '/=== rev/,/=== end rev/p' "$work/gdb.out" | sed -n 's/^\$[0-9]* = //p' | head -1)
[ "$rev" = 1 ] || fail "gdb: reverse-continue: svc.kv.nkeys '$rev', expected 1: $(cat "$work/gdb.out")"
if grep -q "^granularity: instructions" "$work/gdb.out"; then
  [ "$fwd" = 2 ] || fail "gdb: after two watchpoint stops svc.kv.nkeys is '$fwd', expected 2: $(cat "$work/gdb.out")"
  sed -n '/=== rev/,/=== end rev/p' "$work/gdb.out" | grep -q "^put " ||
    fail "gdb: reverse-continue did not stop in put() (the writer): $(cat "$work/gdb.out")"
else
  # Checked at points: a batch of SETs between two points may add several keys at once.
  [ -n "$fwd" ] && [ "$fwd" -ge 2 ] ||
    fail "gdb (points): after two watchpoint stops svc.kv.nkeys is '$fwd', expected 2 or more: $(cat "$work/gdb.out")"
fi
echo "gdb: watch svc.kv.nkeys, continue x2 = $fwd, reverse-continue = $rev"

# --- Go live just before `SET x 2` arrived ----------------------------------------------------
"$build/ftd" log info "$work/kv.log" --entries >"$work/entries.txt" || fail "ftd log info --entries"
set2=$(grep -m1 "net .*SET x 2" "$work/entries.txt" | awk '{print $2}')
[ -n "$set2" ] && [ "$set2" -gt 0 ] || fail "no entry with 'SET x 2' in the log"
live_at=$((set2 - 1))
cp "$work/disk0.img" "$work/live.img"
ip netns exec "$FTD_TESTBED_PREFIX-a" "$build/ftd" replay --log "$work/kv.log" --guest "$kv" \
  --disk "$work/live.img" --go-live-at "$live_at" --net tap:ftdtap0 --no-stdin \
  >"$work/live.out" 2>"$work/live.err" &
ftd_pid=$!
answered=
for _ in $(seq 1 60); do
  kill -0 "$ftd_pid" 2>/dev/null || fail "ftd replay --go-live-at $live_at exited"
  if grep -q "ftd: live at exit" "$work/live.err" &&
     in_client timeout 5 "$build/ftkv" "$guest" get x >/dev/null 2>&1; then answered=1; break; fi
  sleep 0.5
done
[ -n "$answered" ] || fail "the live guest did not answer 'get x' within 30 s"
grep -q "ftd: live at exit $live_at " "$work/live.err" || fail "went live elsewhere than exit $live_at"
expect "OK 1" 0 get x
expect "OK" 0 set y 3
expect "OK 3" 0 get y
echo "live at exit $live_at (SET x 2 arrived at exit $set2): x=1, new writes work"
kill -TERM "$ftd_pid"; wait "$ftd_pid" 2>/dev/null; ftd_pid=
echo "PASS"
