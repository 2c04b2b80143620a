#!/usr/bin/env bash
# What protection costs, measured side by side in one run in the netns testbed: the kv guest
# unprotected (`ftd run` on host A) and protected (`ftd --role primary` on A, backup on B, mutual
# TLS over the repl link), the same `ftkv load` against each; the plain gRPC stream round trip
# on the same link (bench/repl_rtt, no VM); the compute guest's run time unprotected and
# protected (compute_ratio leaves the first transfer out; it has its own field); the log
# bandwidth and the backup's lag under load; the idle log of the ticks guest at 100 Hz
# (idle_log_Bps). Prints a table and one JSON line, and draws the kv latency CDF unprotected vs
# protected to $FTD_BENCH_PLOTS/pair_bench-latency.png (default: the build dir). Needs root
# and /dev/kvm (on hosts without it: tests/kvm-vm/run-in-kvm-vm.sh --
# bench/pair_bench.sh build).
#
#   bench/pair_bench.sh [BUILD_DIR] [--clients N] [--duration S] [--iters N]
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bdir=${1:-$here/build}
shift || true
clients=4 duration=5 iters=30000000
while [ $# -gt 0 ]; do
  case $1 in
    --clients) clients=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    *) echo "usage: bench/pair_bench.sh [BUILD_DIR] [--clients N] [--duration S] [--iters N]" >&2; exit 64 ;;
  esac
done
# shellcheck disable=SC2034  # read by tests/integration/kv_testbed_lib.sh
TESTBED_PREFIX_BASE=pb
# shellcheck source-path=SCRIPTDIR/.. source=tests/integration/pair_lib.sh
source "$here/tests/integration/pair_lib.sh" "$bdir" "$here"
# shellcheck source=plot_lib.sh
source "$here/bench/plot_lib.sh"
sample_file="$work/lag-samples.txt"
: >"$sample_file"
now() { date +%s.%N; }
secs_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }'; }
load_field() { sed -n 's/.*"'"$2"'":\([0-9.]*\).*/\1/p' "$1" | tail -1; }
# kv_load FILE: the load against the guest, its JSON line kept in FILE.
kv_load() {
  in_client timeout $((duration + 40)) "$build/ftkv" "$guest" load --clients "$clients" --duration "$duration" \
    --history "$work/h-$1.txt" >"$work/$1.load" 2>&1 || fail "ftkv load ($1)"
  "$build/ftkv" check "$work/h-$1.txt" >/dev/null || fail "ftkv check ($1)"
}

# 1. Unprotected kv, and the compute guest, on host A.
"$tb" up >/dev/null || fail "testbed up"
truncate -s 8M "$work/plain.disk"
ip netns exec "$FTD_TESTBED_PREFIX-a" "$build/ftd" run --guest "$kv" --disk "$work/plain.disk" --net tap:ftdtap0 \
  --cmdline "ip=$guest/15" --no-stdin >"$work/plain.out" 2>&1 &
plain_pid=$!
poll 60 grep -q "kv ready" "$work/plain.out" || fail "unprotected kv not ready"
kv_load plain
kill "$plain_pid"; wait "$plain_pid" 2>/dev/null
t0=$(now)
"$build/ftd" run --guest "$build/guest/compute.elf" --cmdline "iters=$iters size=1048576" --no-stdin \
  >"$work/compute-plain.out" 2>&1 || fail "compute unprotected"
compute_plain_s=$(secs_since "$t0")

# 2. The plain gRPC stream round trip on the repl link (what output commit waits for).
ip netns exec "$FTD_TESTBED_PREFIX-b" "$build/bench/repl_rtt" server 198.19.0.2:7412 --ca "$certs/ca.crt" \
  --cert "$certs/198.19.0.2.crt" --key "$certs/198.19.0.2.key" 2>/dev/null &
rtt_pid=$!
sleep 1
ip netns exec "$FTD_TESTBED_PREFIX-a" "$build/bench/repl_rtt" client 198.19.0.2:7412 500 --ca "$certs/ca.crt" \
  --cert "$certs/198.19.0.1.crt" --key "$certs/198.19.0.1.key" >"$work/rtt.out" 2>&1 || fail "repl_rtt: $(cat "$work/rtt.out")"
kill "$rtt_pid"; wait "$rtt_pid" 2>/dev/null
"$tb" down >/dev/null

# 3. Protected kv (a fresh pair), sampling the backup's lag under load.
pair_up kv
sample_start
kv_load prot
sample_stop
log_bps=$(status_field primary log_bandwidth_bps)
log_bytes=$(status_field primary log_bytes)
pause_ms=$(status_field primary first_transfer_pause_ms)
pair_down

# 4. Protected compute: a pair whose primary runs the compute guest to its exit.
round=compute
arb="$work/$round.arbiter"; mkdir -p "$arb"
"$tb" up >/dev/null || fail "testbed up"
start_backup b
wait_state backup 30 waiting
t0=$(now)
start_ftd primary a --peer "198.19.0.2:$port" --guest "$build/guest/compute.elf" \
  --cmdline "iters=$iters size=1048576"
primary_pid=$!
wait "$primary_pid" || fail "protected compute exited $?"
compute_prot_s=$(secs_since "$t0")
# The first transfer is a one-off at start (its own field); compute_ratio leaves it out.
compute_xfer_ms=$(status_field primary first_transfer_pause_ms)
[ "$(grep result "$work/compute-plain.out")" = "$(grep result "$work/$round-primary.con.out")" ] ||
  fail "protected compute printed another result"
pair_down

# 5. The idle log: the ticks guest at 100 Hz recorded for 5 s of guest time; the encoded
# entries (what the replication stream carries, without the file's frames) per second of
# guest time, as `ftd log info` counts them.
"$build/ftd" record --guest "$build/guest/ticks.elf" --cmdline "ticks=500 hz=100" --log "$work/idle.log" \
  --no-stdin >"$work/idle.out" 2>&1 || fail "idle record: $(tail -2 "$work/idle.out")"
idle_Bps=$("$build/ftd" log info "$work/idle.log" | sed -n 's/.*entries encoded [0-9]* bytes, \([0-9]*\) B\/s.*/\1/p')
[ -n "$idle_Bps" ] || fail "no 'entries encoded' line in ftd log info"

rtt_p50=$(sed -n 's/.*"grpc_rtt_p50_us":\([0-9.]*\).*/\1/p' "$work/rtt.out")
rtt_p99=$(sed -n 's/.*"grpc_rtt_p99_us":\([0-9.]*\).*/\1/p' "$work/rtt.out")
lag_ms=$(awk '{print $1}' "$sample_file")
lag_e=$(awk '{print $2}' "$sample_file")
kvm=$(sh "$here/bench/kvm_module.sh")
latency_cdf "$work/h-plain.txt" >"$work/cdf-plain.dat"
latency_cdf "$work/h-prot.txt" >"$work/cdf-prot.dat"
plot_png "${FTD_BENCH_PLOTS:-$bdir}/pair_bench-latency.png" "set title 'kv latency CDF, $clients clients closed loop (KVM: $kvm)';
  set xlabel 'request latency (ms)'; set ylabel 'fraction of requests'; set logscale x; set grid; set key bottom right;
  plot '$work/cdf-plain.dat' with lines lw 2 title 'unprotected (ftd run)', '$work/cdf-prot.dat' with lines lw 2 title 'protected (primary + backup)'"
pctl() { grep -E '^[0-9.]+$' | sort -g | awk -v p="$1" '{ v[NR] = $1 } END { if (!NR) { print "null"; exit } i = int(p * NR / 100 + 0.999); if (i < 1) i = 1; print v[i] }'; }
awk -v pt="$(load_field "$work/plain.load" throughput_per_s)" -v pp50="$(load_field "$work/plain.load" p50_us)" \
  -v pp99="$(load_field "$work/plain.load" p99_us)" -v qt="$(load_field "$work/prot.load" throughput_per_s)" \
  -v qp50="$(load_field "$work/prot.load" p50_us)" -v qp99="$(load_field "$work/prot.load" p99_us)" \
  -v r50="$rtt_p50" -v r99="$rtt_p99" -v cp="$compute_plain_s" -v cq="$compute_prot_s" \
  -v bps="$log_bps" -v lb="$log_bytes" -v pause="$pause_ms" -v cx="${compute_xfer_ms:-0}" -v idle="$idle_Bps" \
  -v l50="$(pctl 50 <<<"$lag_ms")" -v l99="$(pctl 99 <<<"$lag_ms")" \
  -v e50="$(pctl 50 <<<"$lag_e")" -v e99="$(pctl 99 <<<"$lag_e")" -v clients="$clients" \
  -v kvm="$kvm" 'BEGIN {
  printf "%-52s %14s %14s\n", "measure (KVM: " kvm ")", "unprotected", "protected"
  printf "%-52s %14.1f %14.1f\n", "kv throughput (req/s, " clients " clients)", pt, qt
  printf "%-52s %14.2f %14.2f\n", "kv latency p50 (ms)", pp50 / 1000, qp50 / 1000
  printf "%-52s %14.2f %14.2f\n", "kv latency p99 (ms)", pp99 / 1000, qp99 / 1000
  printf "%-52s %14.2f %14.2f\n", "compute run time (s, boot included)", cp, cq
  printf "%-52s %14s %14.3f\n", "compute protected / unprotected (first transfer out)", "", (cq - cx / 1000) / cp
  printf "%-52s %14s %14.2f / %.2f\n", "plain gRPC stream round trip p50 / p99 (ms)", "", r50 / 1000, r99 / 1000
  printf "%-52s %14s %14.2f\n", "kv latency added p50 / gRPC round trip p50", "", (qp50 - pp50) / r50
  printf "%-52s %14s %14.1f\n", "log bandwidth under kv load (KB/s)", "", bps / 1000
  printf "%-52s %14s %14s / %s\n", "backup lag p50 / p99 (ms)", "", l50, l99
  printf "%-52s %14s %14s / %s\n", "backup lag p50 / p99 (entries)", "", e50, e99
  printf "%-52s %14s %14.0f\n", "first-transfer pause (ms)", "", pause
  printf "%-52s %14s %14.0f\n", "idle log, ticks guest at 100 Hz (B/s)", "", idle
  printf "{\"kvm_module\":\"%s\",\"kv_clients\":%d,\"kv_plain_rps\":%.1f,\"kv_prot_rps\":%.1f,\"kv_rps_ratio\":%.3f,\"kv_plain_p50_ms\":%.2f,\"kv_prot_p50_ms\":%.2f,\"kv_plain_p99_ms\":%.2f,\"kv_prot_p99_ms\":%.2f,\"grpc_rtt_p50_ms\":%.2f,\"grpc_rtt_p99_ms\":%.2f,\"added_latency_over_rtt\":%.2f,\"compute_plain_s\":%.3f,\"compute_prot_s\":%.3f,\"compute_ratio\":%.3f,\"compute_first_transfer_ms\":%.1f,\"log_bandwidth_Bps\":%.0f,\"log_bytes\":%d,\"lag_p50_ms\":%s,\"lag_p99_ms\":%s,\"lag_p50_entries\":%s,\"lag_p99_entries\":%s,\"first_transfer_pause_ms\":%.1f,\"idle_log_Bps\":%d}\n",
    kvm, clients, pt, qt, qt / pt, pp50 / 1000, qp50 / 1000, pp99 / 1000, qp99 / 1000, r50 / 1000, r99 / 1000,
    (qp50 - pp50) / r50, cp, cq, (cq - cx / 1000) / cp, cx, bps, lb, l50, l99, e50, e99, pause, idle
}'
