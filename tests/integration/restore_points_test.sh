#!/usr/bin/env bash
# The restore path is exact: record the kv guest under load (ftkv load, pings, an epoch hash
# every 20 ms of guest time), replay it once saving the state at 60 random points
# (`ftd replay --checkpoint-at`), then restore each state in a new process (`ftd replay
# --from`) and replay the rest of the log with every epoch verified. Every one must reach the
# recording's end with no divergence and print exactly the tail of the recording's console.
#
#   restore_points_test.sh BUILD_DIR SOURCE_DIR
# FTD_RESTORE_POINTS (default 60) and FTD_RESTORE_SEED (default: random, printed) choose the
# points. Exit 0 pass, 1 fail, 77 skip (no /dev/kvm or not root) unless FTD_REQUIRE_KVM=1.
set -uo pipefail
TESTBED_PREFIX_BASE=rsp
# shellcheck source=kv_testbed_lib.sh
source "$(dirname "$0")/kv_testbed_lib.sh"
kv="$build/guest/kv.elf"
points=${FTD_RESTORE_POINTS:-60}
seed=${FTD_RESTORE_SEED:-$((RANDOM * 32768 + RANDOM))}

"$tb" up >/dev/null || fail "testbed up"
truncate -s 8M "$work/disk.img"

# --- Record under load --------------------------------------------------------------------
record_kv "$work/kv.log" "$work/disk.img" rec --epoch-ms 20
expect "OK" 0 set x 1
in_client ping -c 30 -i 0.1 -W 1 "$guest" >"$work/ping.txt" 2>&1 &
ping_pid=$!
in_client timeout 60 "$build/ftkv" "$guest" load --clients 4 --duration 3 --history "$work/h.txt" \
  >"$work/load.txt" 2>&1 || fail "load: $(cat "$work/load.txt")"
wait "$ping_pid"
expect "OK" 0 set x 2
kill -TERM "$ftd_pid"; wait "$ftd_pid"; rc=$?; ftd_pid=
[ "$rc" = 0 ] || fail "ftd record exited $rc after SIGTERM"
rec_line=$(grep "ftd: recorded" "$work/rec.err") || fail "no 'recorded' summary from ftd record"
rec_exit=$(sed -n 's/.* to exit \([0-9]*\) in .*/\1/p' <<<"$rec_line")
[ -n "$rec_exit" ] && [ "$rec_exit" -gt $((points * 4)) ] || fail "cannot use: $rec_line"
echo "recorded: $rec_line"

# --- One replay saving the state at the random points --------------------------------------
list=$(python3 -c "import random; r=random.Random($seed); print(','.join(str(x) for x in sorted(r.sample(range(1, $rec_exit - 1), $points))))")
echo "seed $seed: $points points in 1..$((rec_exit - 2))"
mkdir -p "$work/ck"
"$build/ftd" replay --log "$work/kv.log" --guest "$kv" --no-stdin --checkpoint-at "$list" \
  --checkpoint-dir "$work/ck" >"$work/full.out" 2>"$work/full.err"
rc=$?
[ "$rc" = 0 ] || fail "the checkpointing replay exited $rc: $(tail -3 "$work/full.err")"
grep -q "at exit $rec_exit:" "$work/full.err" || fail "the checkpointing replay ended elsewhere: $(tail -1 "$work/full.err")"
cmp -s "$work/rec.out" "$work/full.out" || fail "the checkpointing replay's console differs"
saved=$(find "$work/ck" -name 'exit-*.snap' | wc -l)
[ "$saved" -ge $((points * 5 / 6)) ] || fail "only $saved checkpoints written (points that were never quiet?)"
echo "saved $saved checkpoints ($(du -sh "$work/ck" | cut -f1))"

# --- Each restored in a new process, the rest of the log replayed --------------------------
bad=0 epochs=0 n=0
for snap in $(find "$work/ck" -name 'exit-*.snap' | sort -V); do
  at=$(basename "$snap" .snap); at=${at#exit-}
  "$build/ftd" replay --log "$work/kv.log" --guest "$kv" --no-stdin --from "$snap" \
    >"$work/r.out" 2>"$work/r.err"
  rc=$?
  line=$(grep -E "ftd: replay " "$work/r.err" | tail -1)
  n=$((n + 1))
  if [ "$rc" != 0 ] || ! grep -q "reached the end of the log at exit $rec_exit:" <<<"$line"; then
    bad=$((bad + 1))
    echo "DIVERGED from exit $at (exit $rc): $(grep -v '^ftd: replay from' "$work/r.err" | head -5)"
    continue
  fi
  # The console from here on is exactly the end of the recording's.
  size=$(stat -c %s "$work/r.out")
  tail -c "$size" "$work/rec.out" >"$work/tail.out"
  if ! cmp -s "$work/tail.out" "$work/r.out"; then
    bad=$((bad + 1))
    echo "DIVERGED from exit $at: its console is not the tail of the recording's"
    continue
  fi
  v=$(sed -n 's/.*entries, \([0-9]*\) epoch hashes verified.*/\1/p' <<<"$line")
  epochs=$((epochs + ${v:-0}))
done
echo "restored $n states in new processes: $bad diverged, $epochs epoch hashes verified after them"
[ "$bad" = 0 ] || fail "$bad of $n restores diverged (seed $seed)"
[ "$epochs" -gt "$n" ] || fail "too few epochs verified after the restores ($epochs)"
echo "PASS"
