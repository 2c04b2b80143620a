#!/usr/bin/env bash
# kv baseline, unprotected: the kv guest under `ftd run` in the netns testbed, driven
# from the client namespace. Prints a table and one JSON line: ftkv load throughput and
# latency percentiles, ping RTT to the guest, and VM exits per kv request. These are the
# baselines output commit will be measured against. Needs root and /dev/kvm (on hosts
# without it: tests/kvm-vm/run-in-kvm-vm.sh -- bench/kv_bench.sh).
#
#   bench/kv_bench.sh [BUILD_DIR] [--clients N] [--duration S]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$here/build}" && pwd)
shift || true
clients=8
duration=10
while [ $# -gt 0 ]; do
  case $1 in
    --clients) clients=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    *) echo "usage: bench/kv_bench.sh [BUILD_DIR] [--clients N] [--duration S]" >&2; exit 64 ;;
  esac
done
[ -e /dev/kvm ] || { echo "kv_bench: needs /dev/kvm" >&2; exit 69; }

export FTD_TESTBED_PREFIX="kvb$$"
tb="$here/deploy/testbed.sh"
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; "$tb" down >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
guest=198.18.0.10
"$tb" up >/dev/null
truncate -s 8M "$work/disk.img"

boot() {
  ip netns exec "$FTD_TESTBED_PREFIX-a" "$build/ftd" run --guest "$build/guest/kv.elf" \
    --disk "$work/disk.img" --net tap:ftdtap0 --cmdline "ip=$guest/15" --no-stdin >"$1" 2>&1 &
  pid=$!
  for _ in $(seq 1 120); do grep -q "kv ready" "$1" && return 0; sleep 0.5; done
  echo "kv_bench: guest not ready" >&2; exit 1
}
stop_exits() {  # SIGTERM ftd; print the exit index it stopped at
  kill -TERM "$pid"; wait "$pid" || true; pid=
  sed -n 's/.*stopped at exit \([0-9]*\).*/\1/p' "$1" | tail -1
}

# Exits of boot + readiness alone, to subtract.
boot "$work/boot.out"
exits_idle=$(stop_exits "$work/boot.out")

boot "$work/run.out"
ip netns exec "$FTD_TESTBED_PREFIX-client" ping -q -c 50 -i 0.02 -W 2 "$guest" >"$work/ping.txt"
rtt=$(sed -n 's|.*= \([0-9.]*\)/\([0-9.]*\)/\([0-9.]*\)/.*|\1 \2 \3|p' "$work/ping.txt")
read -r rtt_min rtt_avg rtt_max <<<"$rtt"
ip netns exec "$FTD_TESTBED_PREFIX-client" "$build/ftkv" "$guest" load --clients "$clients" \
  --duration "$duration" --history "$work/h.txt" >"$work/load.txt"
"$build/ftkv" check "$work/h.txt" >/dev/null
json=$(grep '^{' "$work/load.txt" | tail -1)
exits_run=$(stop_exits "$work/run.out")
answered=$(sed -n 's/.*"answered":\([0-9]*\).*/\1/p' <<<"$json")
pings=50
exits_per_req=$(awk -v a="$exits_run" -v b="$exits_idle" -v n="$answered" -v p="$pings" \
  'BEGIN { printf "%.1f", (a - b) / (n + p) }')
kvm_module=$(sh "$here/bench/kvm_module.sh")
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$json"; }

printf '%-36s %12s\n' measure value
printf '%-36s %12s\n' "clients x duration (s)" "$clients x $duration"
printf '%-36s %12s\n' "kv requests answered" "$answered"
printf '%-36s %12s\n' "kv throughput (req/s)" "$(field throughput_per_s)"
printf '%-36s %12s\n' "kv latency p50 (us)" "$(field p50_us)"
printf '%-36s %12s\n' "kv latency p90 (us)" "$(field p90_us)"
printf '%-36s %12s\n' "kv latency p99 (us)" "$(field p99_us)"
printf '%-36s %12s\n' "ping RTT min/avg/max (ms)" "$rtt_min/$rtt_avg/$rtt_max"
printf '%-36s %12s\n' "VM exits per request" "$exits_per_req"
printf '%-36s %12s\n' "KVM module" "$kvm_module"
printf '{"kvm_module":"%s","clients":%s,"duration_s":%s,"answered":%s,"throughput_per_s":%s,"p50_us":%s,"p90_us":%s,"p99_us":%s,"ping_rtt_ms":{"min":%s,"avg":%s,"max":%s},"exits_per_request":%s}\n' \
  "$kvm_module" "$clients" "$duration" "$answered" "$(field throughput_per_s)" "$(field p50_us)" \
  "$(field p90_us)" "$(field p99_us)" "$rtt_min" "$rtt_avg" "$rtt_max" "$exits_per_req"
