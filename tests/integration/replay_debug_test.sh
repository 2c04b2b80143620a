#!/usr/bin/env bash
# Debugging a recording, end to end with Debian's gdb (docs/debug.md). Records the replaydbg
# guest (a tick loop that writes dbg_counter / dbg_total in dbg_step and carries
# FTD_REPLAY_ASSERT(dbg_counter < 5)), then:
#   - gdb -batch against `ftd replay --gdb`: `break clock_ns`, continue x3, reverse-continue:
#     the registers are those of the second hit seen going forward; stepi, stepi,
#     reverse-stepi: back at the registers after the first stepi; a watchpoint on dbg_total,
#     continue x2, reverse-continue: stopped right after the write that set the first value,
#     and the stop shows that value; reverse-continue at the start: replaylog begin.
#   - `--assert 'dbg_total < 10'`: fails at a point P where dbg_total >= 10, and at P-1 it is
#     still < 10 (checked with --until --inspect mem).
#   - `--replay-asserts`: FTD_REPLAY_ASSERT(dbg_counter < 5) reported with its file and line;
#     the plain replay prints the same console as the recording and no assert.
# Every replay here verifies its epoch hashes; a divergence fails the test.
#
#   replay_debug_test.sh BUILD_DIR SOURCE_DIR
# Exit 0 pass, 1 fail, 77 skip (no /dev/kvm) unless FTD_REQUIRE_KVM=1.
set -uo pipefail
build=${1:?usage: replay_debug_test.sh BUILD_DIR SOURCE_DIR}
ftd="$build/ftd"
guest="$build/guest/replaydbg.elf"

skip() {
  if [ "${FTD_REQUIRE_KVM:-}" = 1 ]; then echo "FAIL: $* (FTD_REQUIRE_KVM=1)"; exit 1; fi
  echo "SKIP: $*"; exit 77
}
[ -e /dev/kvm ] || skip "needs /dev/kvm"
[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "needs read-write access to /dev/kvm"
command -v gdb >/dev/null || { echo "FAIL: needs gdb (Debian package gdb)"; exit 1; }
[ -x "$ftd" ] && [ -f "$guest" ] || { echo "FAIL: build ftd and guest_images first"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ftd-debug.XXXXXX")
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
bad() { echo "FAIL: $*"; failures=$((failures + 1)); }

# An epoch every 20 ms of guest time: the sessions below cross several of them.
timeout 120 "$ftd" record --guest "$guest" --cmdline "ticks=8 hz=100" --epoch-ms 20 --log "$work/r.log" \
  --no-stdin >"$work/rec.out" 2>"$work/rec.err" || { echo "FAIL: record: $(cat "$work/rec.err")"; exit 1; }
grep -q "replaydbg 8 total 36" "$work/rec.out" || { echo "FAIL: recording output: $(cat "$work/rec.out")"; exit 1; }

# Starts `ftd replay --gdb 127.0.0.1:0 EXTRA...` in the background and sets $port.
start_server() {
  "$ftd" replay --log "$work/r.log" --guest "$guest" --no-stdin --gdb 127.0.0.1:0 "$@" \
    >"$work/srv.out" 2>"$work/srv.err" &
  server=$!
  port=""
  for _ in $(seq 1 600); do
    port=$(sed -n 's/.*gdb server on 127.0.0.1:\([0-9]*\) .*/\1/p' "$work/srv.err")
    [ -n "$port" ] && return 0
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: no gdb server: $(cat "$work/srv.err")"
  exit 1
}
stop_server() {
  for _ in $(seq 1 300); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  kill "$server" 2>/dev/null
  wait "$server"
  local rc=$?
  server=""
  grep -qi "diverge" "$work/srv.err" && bad "the replay under gdb diverged: $(cat "$work/srv.err")"
  return $rc
}
# gdb's register dump of the general registers, one "name value" a line.
regs() { sed -n "/^=== $1/,/^=== end $1/p" "$work/gdb.out" | grep -E '^(r[a-z0-9]+|eflags) ' | awk '{print $1, $2}'; }

# What this KVM can trap: instructions (single steps, breakpoints) or only points (PVM's ring 3).
# The server says so; the point-granularity section below runs on every host (forced there).
start_server
timeout 120 gdb -nx -batch -ex "target remote 127.0.0.1:$port" -ex 'monitor info' -ex detach \
  >"$work/gdb.out" 2>&1
stop_server || bad "ftd replay --gdb (monitor info) exited $?: $(cat "$work/srv.err")"
granularity=$(sed -n 's/^granularity: \([a-z]*\).*/\1/p' "$work/gdb.out")
case $granularity in
  instructions|points) ;;
  *) echo "FAIL: monitor info names no granularity: $(cat "$work/gdb.out")"; exit 1 ;;
esac

if [ "$granularity" = instructions ]; then
# --- Breakpoints, reverse-continue, reverse-stepi -----------------------------------------------
start_server
timeout 600 gdb -nx -batch -ex "file $guest" -ex "target remote 127.0.0.1:$port" \
  -ex 'break clock_ns' -ex continue -ex continue \
  -ex 'echo === hit2\n' -ex 'info registers' -ex 'echo === end hit2\n' \
  -ex continue -ex 'echo === hit3\n' -ex 'info registers' -ex 'echo === end hit3\n' \
  -ex reverse-continue -ex 'echo === back2\n' -ex 'info registers' -ex 'echo === end back2\n' \
  -ex 'delete' -ex stepi -ex 'echo === step1\n' -ex 'info registers' -ex 'echo === end step1\n' \
  -ex stepi -ex 'echo === step2\n' -ex 'info registers' -ex 'echo === end step2\n' \
  -ex reverse-stepi -ex 'echo === rstep\n' -ex 'info registers' -ex 'echo === end rstep\n' \
  -ex continue -ex 'monitor info' -ex detach >"$work/gdb.out" 2>&1
stop_server || bad "ftd replay --gdb exited $?: $(cat "$work/srv.err")"
[ -n "$(regs hit2)" ] || bad "no registers at the second hit: $(cat "$work/gdb.out")"
[ "$(regs hit2)" = "$(regs back2)" ] ||
  bad "reverse-continue: registers differ from the second hit's: hit2: $(regs hit2 | tr '\n' ' ') back2: $(regs back2 | tr '\n' ' ')"
[ "$(regs hit2)" != "$(regs hit3)" ] || bad "the second and third hits have the same registers"
sed -n '/=== back2/,/=== end back2/p' "$work/gdb.out" | grep -q "^rip .*<clock_ns>" ||
  bad "reverse-continue did not stop at clock_ns: $(cat "$work/gdb.out")"
[ "$(regs step1)" = "$(regs rstep)" ] ||
  bad "reverse-stepi did not return to the first step's registers: step1: $(regs step1 | tr '\n' ' ') rstep: $(regs rstep | tr '\n' ' ')"
[ "$(regs step1)" != "$(regs step2)" ] || bad "stepi did not move"
grep -q "epoch hashes verified: [1-9]" "$work/gdb.out" || bad "no epoch verified under gdb: $(cat "$work/gdb.out")"

# --- Watchpoint under reverse-continue ----------------------------------------------------------
start_server
timeout 600 gdb -nx -batch -ex "file $guest" -ex "target remote 127.0.0.1:$port" \
  -ex 'watch dbg_total' -ex continue -ex continue -ex 'echo === fwd\n' -ex 'print dbg_total' \
  -ex 'echo === end fwd\n' -ex reverse-continue -ex 'echo === rev\n' -ex 'print dbg_total' \
  -ex 'print dbg_counter' -ex 'info registers rip' -ex 'echo === end rev\n' \
  -ex 'delete' -ex reverse-continue -ex 'echo === begin\n' -ex 'print dbg_total' -ex 'echo === end begin\n' \
  -ex detach >"$work/gdb.out" 2>&1
stop_server || bad "ftd replay --gdb (watch) exited $?: $(cat "$work/srv.err")"
fwd=$(sed -n '/=== fwd/,/=== end fwd/p' "$work/gdb.out" | sed -n 's/^\$[0-9]* = //p')
rev=$(sed -n '/=== rev/,/=== end rev/p' "$work/gdb.out" | sed -n 's/^\$[0-9]* = //p' | head -1)
[ "$fwd" = 3 ] || bad "after two watchpoint stops dbg_total is '$fwd', expected 3: $(cat "$work/gdb.out")"
[ "$rev" = 1 ] || bad "reverse-continue to the watchpoint: dbg_total '$rev', expected 1 (the first write): $(cat "$work/gdb.out")"
sed -n '/=== rev/,/=== end rev/p' "$work/gdb.out" | grep -q "dbg_step" ||
  bad "reverse-continue to the watchpoint did not stop in dbg_step (the writer)"
begin=$(sed -n '/=== begin/,/=== end begin/p' "$work/gdb.out" | sed -n 's/^\$[0-9]* = //p')
[ "$begin" = 0 ] || bad "reverse-continue without breakpoints: dbg_total '$begin' (expected 0 at the start)"
grep -qiE "beginning of the execution history|No more reverse-execution history" "$work/gdb.out" ||
  bad "gdb did not report the start of the recording: $(cat "$work/gdb.out")"

fi  # instructions

# --- Point granularity (PVM's ring 3; FTD_DEBUG_POINTS=1 forces it anywhere) ----------------------
# stepi goes from point to point, reverse-stepi back; a watchpoint is checked at points, so
# continue stops at the first point after a write and reverse-continue at the first point
# after the write that set the value before.
export FTD_DEBUG_POINTS=1
start_server
timeout 600 gdb -nx -batch -ex "file $guest" -ex "target remote 127.0.0.1:$port" \
  -ex stepi -ex stepi -ex 'echo === pstep1\n' -ex 'info registers' \
  -ex 'echo === end pstep1\n' -ex stepi -ex 'echo === pstep2\n' -ex 'info registers' \
  -ex 'echo === end pstep2\n' -ex reverse-stepi -ex 'echo === prstep\n' -ex 'info registers' \
  -ex 'echo === end prstep\n' \
  -ex 'watch dbg_total' -ex continue -ex continue -ex 'echo === pfwd\n' -ex 'print dbg_total' \
  -ex 'echo === end pfwd\n' -ex reverse-continue -ex 'echo === prev\n' -ex 'print dbg_total' \
  -ex 'echo === end prev\n' -ex delete -ex continue -ex 'monitor info' -ex detach >"$work/gdb.out" 2>&1
stop_server || bad "ftd replay --gdb (points) exited $?: $(cat "$work/srv.err")"
unset FTD_DEBUG_POINTS
grep -q "^granularity: points" "$work/gdb.out" || bad "FTD_DEBUG_POINTS=1: the server does not say it traps at points: $(cat "$work/gdb.out")"
[ -n "$(regs pstep1)" ] || bad "points: no registers after stepi: $(cat "$work/gdb.out")"
[ "$(regs pstep1)" = "$(regs prstep)" ] ||
  bad "points: reverse-stepi did not return to the previous point: $(regs pstep1 | tr '\n' ' ') / $(regs prstep | tr '\n' ' ')"
[ "$(regs pstep1)" != "$(regs pstep2)" ] || bad "points: stepi did not move"
pfwd=$(sed -n '/=== pfwd/,/=== end pfwd/p' "$work/gdb.out" | sed -n 's/^\$[0-9]* = //p')
prev=$(sed -n '/=== prev/,/=== end prev/p' "$work/gdb.out" | sed -n 's/^\$[0-9]* = //p' | head -1)
[ "$pfwd" = 3 ] || bad "points: after two watchpoint stops dbg_total is '$pfwd', expected 3: $(cat "$work/gdb.out")"
[ "$prev" = 1 ] || bad "points: reverse-continue to the watchpoint: dbg_total '$prev', expected 1: $(cat "$work/gdb.out")"
grep -q "epoch hashes verified: [1-9]" "$work/gdb.out" || bad "points: no epoch verified under gdb: $(cat "$work/gdb.out")"

# --- --assert: stops exactly where the expression becomes false -----------------------------------
timeout 300 "$ftd" replay --log "$work/r.log" --guest "$guest" --no-stdin \
  --assert 'dbg_total < 10' >"$work/a.out" 2>"$work/a.err"
rc=$?
[ "$rc" = 1 ] || bad "--assert exited $rc (expected 1): $(cat "$work/a.err")"
p=$(sed -n "s/.*assert 'dbg_total < 10' failed at point \([0-9]*\).*/\1/p" "$work/a.err")
if [ -z "$p" ]; then
  bad "--assert report: $(cat "$work/a.err")"
else
  addr=$(nm "$guest" | awk '$3 == "dbg_total" {print $1}')
  total_at() {
    "$ftd" replay --log "$work/r.log" --guest "$guest" --no-stdin --until "$1" \
      --inspect "mem:$addr:8" 2>/dev/null | grep -E '^[0-9a-f]{8,16}:( [0-9a-f]{2}){8}$' | tail -1 | {
      # "ADDR: b0 b1 ... b7": the u64, little-endian
      read -r _ b0 b1 b2 b3 b4 b5 b6 b7 && [ -n "$b7" ] && echo $((16#$b7$b6$b5$b4$b3$b2$b1$b0))
    }
  }
  at=$(total_at "$p")
  before=$(total_at $((p - 1)))
  [ -n "$at" ] && [ "$at" -ge 10 ] || bad "at point $p dbg_total is '$at' (the assert said it failed there)"
  [ -n "$before" ] && [ "$before" -lt 10 ] || bad "at point $((p - 1)) dbg_total is already '$before'"
fi

# --- FTD_REPLAY_ASSERT ---------------------------------------------------------------------------
if [ "$granularity" = points ]; then
  # Code addresses cannot be trapped here: a clear refusal, no replay that pretends.
  timeout 300 "$ftd" replay --log "$work/r.log" --guest "$guest" --no-stdin --replay-asserts \
    >"$work/ra.out" 2>"$work/ra.err"
  rc=$?
  [ "$rc" != 0 ] && grep -q "cannot break in guest ring 3" "$work/ra.err" ||
    bad "--replay-asserts at point granularity: rc $rc: $(cat "$work/ra.err")"
else
timeout 300 "$ftd" replay --log "$work/r.log" --guest "$guest" --no-stdin --replay-asserts \
  >"$work/ra.out" 2>"$work/ra.err"
rc=$?
[ "$rc" = 1 ] || bad "--replay-asserts exited $rc (expected 1): $(cat "$work/ra.err")"
grep -q "FTD_REPLAY_ASSERT(dbg_counter < 5) at .*replaydbg.c:[0-9]* failed" "$work/ra.err" ||
  bad "--replay-asserts report: $(cat "$work/ra.err")"
grep -q "^tick 4$" "$work/ra.out" && ! grep -q "^tick 5$" "$work/ra.out" ||
  bad "--replay-asserts did not stop at the fifth tick: $(cat "$work/ra.out")"
# Up to the failing site the replay with the asserts printed what the recording printed.
head -c "$(stat -c %s "$work/ra.out")" "$work/rec.out" | cmp -s - "$work/ra.out" ||
  bad "--replay-asserts: the console is not the recording's up to the assert"
grep -qi "diverge" "$work/ra.err" && bad "--replay-asserts diverged: $(cat "$work/ra.err")"
fi
timeout 300 "$ftd" replay --log "$work/r.log" --guest "$guest" --no-stdin \
  >"$work/plain.out" 2>"$work/plain.err" || bad "plain replay: $(cat "$work/plain.err")"
cmp -s "$work/plain.out" "$work/rec.out" || bad "the plain replay's console differs from the recording's"
grep -qi "assert" "$work/plain.err" && bad "the plain replay mentions an assert: $(cat "$work/plain.err")"

[ "$failures" = 0 ] || exit 1
echo "PASS ($granularity): gdb breakpoints/reverse-continue/reverse-stepi/watchpoint, point granularity, --assert at point $p, FTD_REPLAY_ASSERT"
