#!/usr/bin/env bash
# The resp guest (the kv store over the Redis protocol on the kit's TCP) on ftd, driven by
# Debian's redis-cli and redis-benchmark from the testbed's client namespace:
#   - redis-cli: PING, SET/GET, INCR, a pipelined burst, a protocol error;
#   - redis-benchmark -t set,get,incr -n 20000 -c 20 -P 4 completes without errors;
#   - SIGKILL ftd, boot again on the same disk: every acknowledged write is there;
#   - a recorded RESP session replays identically (every epoch verified).
#   - resp_compare_test.sh --target: redis-cli, raw bytes, --pipe and redis-benchmark against the
#     guest, replies diffed against a local redis-server.
#
#   resp_kvm_test.sh BUILD_DIR SOURCE_DIR
# Exit 0 pass, 1 fail, 77 skip (no /dev/kvm, not root, no redis-tools) unless FTD_REQUIRE_KVM=1.
set -uo pipefail
TESTBED_PREFIX_BASE=rsp
# shellcheck source=kv_testbed_lib.sh
source "$(dirname "$0")/kv_testbed_lib.sh"
command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null ||
  skip "needs redis-cli and redis-benchmark (Debian package redis-tools; scripts/setup.sh installs it)"

"$tb" up >/dev/null || fail "testbed up"
truncate -s 8M "$work/disk.img"
rcli() { in_client timeout 30 redis-cli -h "$guest" "$@"; }

# boot MODE NAME [ARGS...]: `ftd MODE` (run or record) the resp guest on host A; waits for ready
boot() {
  local mode=$1 name=$2
  shift 2
  ip netns exec "$FTD_TESTBED_PREFIX-a" "$build/ftd" "$mode" --guest "$build/guest/resp.elf" \
    --disk "$work/disk.img" --net tap:ftdtap0 --cmdline "ip=$guest/15" --no-stdin "$@" \
    >"$work/$name.out" 2>"$work/$name.err" &
  ftd_pid=$!
  for _ in $(seq 1 240); do
    grep -q "resp ready" "$work/$name.out" && return 0
    kill -0 "$ftd_pid" 2>/dev/null || fail "$name: ftd exited during boot"
    sleep 0.5
  done
  fail "$name: no 'resp ready' within 120 s"
}
want() { # want EXPECTED redis-cli-args...: one reply, compared exactly
  local exp=$1 got
  shift
  got=$(rcli "$@" 2>&1) || fail "redis-cli $*: exit $? ($got)"
  [ "$got" = "$exp" ] || fail "redis-cli $*: got '$got', want '$exp'"
}

boot run run1
grep -q "resp ready ip=$guest port=6379 keys=0" "$work/run1.out" || fail "unexpected ready line"
want PONG ping
want OK set greeting "hello world"
want "hello world" get greeting
want 1 incr visits
want 11 incrby visits 10
want "ERR value is not an integer or out of range" incr greeting
# a pipelined burst: 200 commands in one write, 200 replies in order
seq 1 200 | sed 's/.*/INCR burst/' | in_client timeout 30 redis-cli -h "$guest" >"$work/burst.txt" ||
  fail "pipelined burst"
[ "$(tail -1 "$work/burst.txt")" = 200 ] && [ "$(wc -l <"$work/burst.txt")" = 200 ] ||
  fail "pipelined burst: $(wc -l <"$work/burst.txt") replies, last '$(tail -1 "$work/burst.txt")'"
echo "redis-cli ok"

echo "--- redis-benchmark -t set,get,incr -n 20000 -c 20 -P 4 (unprotected)"
in_client timeout 600 redis-benchmark -h "$guest" -t set,get,incr -n 20000 -c 20 -P 4 -q \
  >"$work/bench.txt" 2>&1 || fail "redis-benchmark: exit $? $(tail -5 "$work/bench.txt")"
tr '\r' '\n' <"$work/bench.txt" | grep -E "requests per second" | tee "$work/bench-rps.txt"
[ "$(grep -c "requests per second" "$work/bench-rps.txt")" = 3 ] || fail "redis-benchmark: not three results"
if grep -qiE "error|warning" "$work/bench.txt"; then fail "redis-benchmark reported: $(grep -iE 'error|warning' "$work/bench.txt" | head -3)"; fi
n=$(rcli get counter:__rand_int__)
[ "$n" = 20000 ] || fail "INCR counter after the benchmark: '$n', want 20000 (each INCR applied once)"
want 200 get burst

# Crash and reboot on the same disk: what was acknowledged is there.
kill -9 "$ftd_pid"; wait "$ftd_pid" 2>/dev/null; ftd_pid=
boot run run2
want "hello world" get greeting
want 11 get visits
want 20000 get counter:__rand_int__
echo "durable across SIGKILL ok"
kill -9 "$ftd_pid"; wait "$ftd_pid" 2>/dev/null; ftd_pid=

# Record a RESP session, replay it: the same bytes on the wire, every epoch verified.
boot record rec --log "$work/resp.ftdlog" --epoch-ms 50
want OK flushdb
for i in $(seq 1 20); do want OK set "k$i" "v$i"; done
want 20 dbsize
in_client timeout 120 redis-benchmark -h "$guest" -t set,incr -n 500 -c 4 -P 2 -q >/dev/null 2>&1 ||
  fail "redis-benchmark while recording"
kill -TERM "$ftd_pid"; wait "$ftd_pid"; rc=$?; ftd_pid=
[ "$rc" = 0 ] || fail "ftd record exited $rc after SIGTERM"
rec_line=$(grep "ftd: recorded" "$work/rec.err") || fail "no 'recorded' summary from ftd record"
rec_exit=$(sed -n 's/.* to exit \([0-9]*\) in .*/\1/p' <<<"$rec_line")
timeout 900 "$build/ftd" replay --log "$work/resp.ftdlog" --guest "$build/guest/resp.elf" --no-stdin \
  >"$work/replay.out" 2>"$work/replay.err" || fail "replay: exit $?"
grep -q "diverge" "$work/replay.err" && fail "the replay diverged"
line=$(grep -E "ftd: replay (reached the end of the log|finished)" "$work/replay.err") ||
  fail "replay: no 'reached the end of the log' summary"
grep -q "at exit $rec_exit:" <<<"$line" || fail "replay ended elsewhere than exit $rec_exit: $line"
cmp -s "$work/rec.out" "$work/replay.out" || fail "replay console differs"
echo "recorded: $rec_line"
echo "replayed: $line"

# The redis-cli comparison against Debian's redis-server (resp_compare_test.sh, which
# RespCompareTest runs against resp_host) against the guest itself, over the kit's TCP.
boot run run3
bash "$src/tests/integration/resp_compare_test.sh" --target "$guest:6379" --ns "$FTD_TESTBED_PREFIX-client" ||
  fail "redis-cli comparison against the guest"
kill -9 "$ftd_pid"; wait "$ftd_pid" 2>/dev/null; ftd_pid=
echo "PASS: resp_kvm_test"
