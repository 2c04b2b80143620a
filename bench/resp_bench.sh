#!/usr/bin/env bash
# The resp guest (the kv store over the Redis protocol on the kit's TCP) under Debian's
# redis-benchmark, measured side by side in one run in the netns testbed:
#   1. unprotected (`ftd run` on host A),
#   2. protected (`ftd --role primary` on A, backup on B, mutual TLS over the repl link),
#   3. Debian's redis-server on the host's 127.0.0.1, for scale (no VM, no network namespace),
# each `redis-benchmark -t set,get,incr -n N -c 20 -P 4 --csv`; then a kill of the protected
# pair's primary under a reply-checking client (tests/integration/resp_client.py, 4
# connections): its throughput timeline around the kill is drawn to
# $FTD_BENCH_PLOTS/resp_bench-failover.png (default: the build dir).
# Prints a table and one JSON line: resp_rps_ratio (protected / unprotected, the mean of the
# set, get and incr ratios), each test's rps and p50/p99 in both modes, redis-server's rps, and
# the longest gap in the client's replies around the kill (failover_gap_ms).
# Needs root, /dev/kvm (else: tests/kvm-vm/run-in-kvm-vm.sh -- bench/resp_bench.sh build) and
# redis-tools / redis-server.
#
#   bench/resp_bench.sh [BUILD_DIR] [--requests N]
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bdir=${1:-$here/build}
shift || true
requests=20000
while [ $# -gt 0 ]; do
  case $1 in
    --requests) requests=$2; shift 2 ;;
    *) echo "usage: bench/resp_bench.sh [BUILD_DIR] [--requests N]" >&2; exit 64 ;;
  esac
done
for t in redis-benchmark redis-server redis-cli; do
  command -v "$t" >/dev/null || { echo "resp_bench: needs $t (apt-get install redis-tools redis-server)" >&2; exit 69; }
done
# shellcheck disable=SC2034  # read by tests/integration/kv_testbed_lib.sh
TESTBED_PREFIX_BASE=rb
# shellcheck source-path=SCRIPTDIR/.. source=tests/integration/pair_lib.sh
source "$here/tests/integration/pair_lib.sh" "$bdir" "$here"
# shellcheck source=plot_lib.sh
source "$here/bench/plot_lib.sh"
kv="$build/guest/resp.elf"
PAIR_READY_TEXT="resp ready"
kvm=nested
grep -q kvm_pvm /proc/modules 2>/dev/null && [ -e /dev/kvm ] && kvm=pvm
# In the one-vCPU nested VM, 20 redis-benchmark clients starve the backup's heartbeats past
# 500 ms now and then (a false failover mid-measurement): 2 s there; the real timeout on PVM.
[ "$kvm" = pvm ] || export PAIR_PEER_TIMEOUT_MS=${PAIR_PEER_TIMEOUT_MS:-2000}

# bench NAME HOST PORT CMD-PREFIX...: redis-benchmark's CSV for set, get, incr into $work/NAME.csv
bench() {
  local name=$1 host=$2 port=$3
  shift 3
  "$@" timeout 900 redis-benchmark -h "$host" -p "$port" -t set,get,incr -n "$requests" -c 20 -P 4 --csv \
    >"$work/$name.csv" 2>"$work/$name.err" || fail "redis-benchmark ($name): $(tail -3 "$work/$name.err")"
  [ "$(grep -c '^"\(SET\|GET\|INCR\)"' "$work/$name.csv")" = 3 ] || fail "redis-benchmark ($name): $(cat "$work/$name.csv")"
}
# col NAME TEST FIELD: rps | p50 | p99 of TEST (SET, GET, INCR) in NAME's CSV
col() {
  local i
  case $3 in rps) i=2 ;; p50) i=5 ;; p99) i=7 ;; esac
  awk -F, -v t="\"$2\"" -v i="$i" '$1 == t { gsub(/"/, "", $i); print $i }' "$work/$1.csv"
}

# 1. Unprotected.
"$tb" up >/dev/null || fail "testbed up"
truncate -s 8M "$work/plain.disk"
ip netns exec "$FTD_TESTBED_PREFIX-a" "$build/ftd" run --guest "$kv" --disk "$work/plain.disk" \
  --net tap:ftdtap0 --cmdline "ip=$guest/15" --no-stdin >"$work/plain.out" 2>&1 &
plain_pid=$!
poll 120 grep -q "resp ready" "$work/plain.out" || fail "unprotected resp not ready"
bench plain "$guest" 6379 in_client
kill "$plain_pid"; wait "$plain_pid" 2>/dev/null
"$tb" down >/dev/null 2>&1  # pair_up brings up a fresh testbed

# 2. Protected, then the kill under the checking client.
pair_up rb
bench protected "$guest" 6379 in_client
in_client env RESP_TIMELINE="$work/timeline.txt" \
  timeout 300 python3 "$here/tests/integration/resp_client.py" "$guest" 6379 4 10 \
  >"$work/client.out" 2>&1 &
client_pid=$!
wait_for "$work/client.out" "running" 120 "$client_pid"
sleep 3
kill_and_take_over primary backup "live at generation 2" live
t_kill_s=$t_kill
wait "$client_pid" || fail "resp_client across the kill: $(cat "$work/client.out")"
pair_down

# 3. redis-server on 127.0.0.1, for scale.
rport=$((20000 + $$ % 20000))
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  >"$work/redis-server.out" 2>&1 &
rs_pid=$!
poll 20 redis-cli -p "$rport" ping >/dev/null || fail "redis-server did not start"
bench redis 127.0.0.1 "$rport" env
kill "$rs_pid"; wait "$rs_pid" 2>/dev/null

# The timeline: replies per 100 ms around the kill; the longest gap between two replies.
awk -v k="$t_kill_s" '{ b = ($1 - k) * 10; b = (b < 0) ? -int(-b) - 1 : int(b); n[b]++
    if (NR == 1 || b < lo) lo = b; if (NR == 1 || b > hi) hi = b }
  END { for (b = lo; b <= hi; b++) print b / 10, (b in n ? n[b] : 0) * 10 }' \
  "$work/timeline.txt" >"$work/timeline.dat"  # every 100 ms bucket, empty ones as 0
gap_ms=$(awk 'NR > 1 { d = $1 - p; if (d > m) m = d } { p = $1 } END { printf "%.0f\n", m * 1000 }' "$work/timeline.txt")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b > 0) ? a / b : 0 }'; }
printf "%-6s %12s %12s %10s %10s %10s %10s %14s\n" test plain_rps prot_rps ratio p50_plain p50_prot p99_prot redis_server
json='{"bench":"resp"'
sum=0
for t in SET GET INCR; do
  lt=$(tr 'A-Z' 'a-z' <<<"$t")
  r=$(ratio "$(col protected $t rps)" "$(col plain $t rps)")
  sum=$(awk -v s="$sum" -v r="$r" 'BEGIN { print s + r }')
  printf "%-6s %12s %12s %10s %10s %10s %10s %14s\n" "$t" "$(col plain $t rps)" "$(col protected $t rps)" "$r" \
    "$(col plain $t p50)" "$(col protected $t p50)" "$(col protected $t p99)" "$(col redis $t rps)"
  json+=",\"${lt}_rps_plain\":$(col plain $t rps),\"${lt}_rps_protected\":$(col protected $t rps)"
  json+=",\"${lt}_p50_ms_plain\":$(col plain $t p50),\"${lt}_p99_ms_plain\":$(col plain $t p99)"
  json+=",\"${lt}_p50_ms_protected\":$(col protected $t p50),\"${lt}_p99_ms_protected\":$(col protected $t p99)"
  json+=",\"${lt}_rps_redis_server\":$(col redis $t rps)"
done
resp_rps_ratio=$(awk -v s="$sum" 'BEGIN { printf "%.3f\n", s / 3 }')
echo "failover under the checking client: backup live ${took_ms} ms after the kill; longest gap between replies ${gap_ms} ms"
echo "$json,\"resp_rps_ratio\":$resp_rps_ratio,\"failover_gap_ms\":$gap_ms,\"live_ms\":$took_ms,\"requests\":$requests,\"kvm\":\"$kvm\"}"
out="${FTD_BENCH_PLOTS:-$build}/resp_bench-failover.png"
plot_png "$out" "set title 'resp guest: replies/s of 4 checking connections around a SIGKILL of the primary (t = 0)';
  set xlabel 'seconds from the kill'; set ylabel 'SET+INCR pairs per second'; set grid;
  set arrow from 0, graph 0 to 0, graph 1 nohead lc rgb 'red';
  plot '$work/timeline.dat' using 1:2 with steps lw 2 title 'replies/s (100 ms buckets)'" || true
