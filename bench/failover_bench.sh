#!/usr/bin/env bash
# Failover costs of an ftd pair (`ftd --role primary` on host A, `--role backup` on B,
# replicating over the testbed's repl link with mutual TLS, heartbeat 50 ms, peer timeout
# 500 ms) serving the kv guest. KILLS times, each on a fresh pair (testbed, disks, arbiter,
# processes), exactly as tests/integration/pair_failover_test.sh: ping every 10 ms and
# `ftkv load --clients 4` from the client, SIGKILL the primary after a random 1-3 s, the backup
# goes live (checked: live at generation 2, history clean, state kept). Per kill: the longest
# gap between ping replies and between kv completions seen by the client, the time from the
# kill to the backup's "live at generation" line, the backup's failover_ms and the pair's
# first_transfer_pause_ms (status); the backup's lag_ms and lag_entries sampled every 100 ms
# under load before the kill. Prints a table and one JSON line (p50/p99/max), and draws each
# round's client timeline around the kill (kv completions and ping replies, one row per round)
# to $FTD_BENCH_PLOTS/failover_bench-MODE.png (default: the build dir). Needs root and
# /dev/kvm (on hosts without it: tests/kvm-vm/run-in-kvm-vm.sh -- bench/failover_bench.sh
# build). Exit 77 when it cannot run (no /dev/kvm, not root), 1 when a failover fails.
#
# MODE (tests/integration/pair_lib.sh silence_primary): kill (SIGKILL of the primary, the
# default), stop (SIGSTOP of the primary past the peer timeout, SIGCONT after the backup went
# live: the old primary must halt and release nothing), cut (the replication link cut: either
# side may win the arbiter). For stop and cut the client-seen gap is also `silent_gap_ms`
# (target: p99 <= peer timeout + 250 ms).
#
#   bench/failover_bench.sh [BUILD_DIR] [KILLS=10] [MODE=kill]
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
kills=${2:-10}
mode=${3:-kill}
[[ "$kills" =~ ^[1-9][0-9]{0,2}$ && "$mode" =~ ^(kill|stop|cut)$ ]] ||
  { echo "usage: bench/failover_bench.sh [BUILD_DIR] [KILLS=10] [kill|stop|cut]" >&2; exit 64; }
# shellcheck disable=SC2034  # read by tests/integration/kv_testbed_lib.sh
TESTBED_PREFIX_BASE=fob
# shellcheck source-path=SCRIPTDIR/.. source=tests/integration/pair_lib.sh
source "$here/tests/integration/pair_lib.sh" "${1:-$here/build}" "$here"
# shellcheck source=plot_lib.sh
source "$here/bench/plot_lib.sh"
sample_file="$work/lag-samples.txt"
: >"$sample_file"

# pctl P: the P-th percentile (nearest rank) of the numbers on stdin; null if there are none.
pctl() {
  grep -E '^-?[0-9]+(\.[0-9]+)?$' | sort -g | awk -v p="$1" '{ v[NR] = $1 }
    END { if (!NR) { print "null"; exit } i = p * NR / 100; if (i > int(i)) i = int(i) + 1; if (i < 1) i = 1; print v[i] }'
}
# stats COLUMN FILE: {"p50":..,"p99":..,"max":..,"n":..} of a column of numbers.
stats() {
  local v
  v=$(awk -v c="$1" '{ print $c }' "$2")
  printf '{"p50":%s,"p99":%s,"max":%s,"n":%s}' "$(pctl 50 <<<"$v")" "$(pctl 99 <<<"$v")" \
    "$(pctl 100 <<<"$v")" "$(grep -cE '^-?[0-9]' <<<"$v")"
}
num() { if [[ "$1" =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then echo "$1"; else echo null; fi; }

# One line per kill: k delay_ms ping_gap_ms kv_gap_ms live_ms failover_ms first_transfer_pause_ms winner
results="$work/results.txt"
timeline="$work/timeline.dat"  # k seconds_from_the_kill kind(1 kv, 2 ping)
: >"$results"
: >"$timeline"
for k in $(seq 1 "$kills"); do
  failover_round "k$k" "$mode"
  echo "$k $fo_delay_ms $fo_ping_gap_ms $fo_kv_gap_ms $fo_live_ms $(num "$fo_failover_ms") $(num "$fo_pause_ms") $fo_winner" >>"$results"
  awk -v k="$k" -v t="$t_silent" '!/^#/ && NF >= 8 && ($8 == "OK" || $8 == "NOTFOUND") { printf "%d %.4f 1\n", k, $7 / 1e9 - t }' \
    "$work/$round-h.txt" >>"$timeline"
  awk -v k="$k" -v t="$t_silent" '/bytes from/ { printf "%d %.4f 2\n", k, substr($1, 2, length($1) - 2) - t }' \
    "$work/$round-ping.out" >>"$timeline"
  echo "failover_bench: $mode $k/$kills: ping gap $fo_ping_gap_ms ms, kv gap $fo_kv_gap_ms ms, $fo_winner serves" >&2
done
pair_down

kvm_module=$(sh "$here/bench/kvm_module.sh")
printf '%-5s %9s %12s %10s %9s %12s %17s %8s\n' "$mode" "at" "ping gap" "kv gap" "live" "failover" "transfer pause" serves
while read -r k d pg kg lv fo pa w; do
  printf '%-5s %7s ms %9s ms %7s ms %6s ms %9s ms %14s ms %8s\n' "$k" "$d" "$pg" "$kg" "$lv" "$fo" "$pa" "$w"
done <"$results"
row() { printf '%-44s %8s %8s %8s\n' "$1" "$(pctl 50 <<<"$2")" "$(pctl 99 <<<"$2")" "$(pctl 100 <<<"$2")"; }
col() { awk -v c="$1" '{ print $c }' "$2"; }
printf '%-44s %8s %8s %8s\n' "measure ($kills rounds, $mode)" p50 p99 max
row "ping gap (ms)" "$(col 3 "$results")"
row "kv gap (ms)" "$(col 4 "$results")"
row "$mode to the winner's line (ms)" "$(col 5 "$results")"
row "failover_ms (backup status)" "$(col 6 "$results")"
row "first_transfer_pause_ms (status)" "$(col 7 "$results")"
row "backup lag_ms under load ($(wc -l <"$sample_file") samples)" "$(col 1 "$sample_file")"
row "backup lag_entries under load" "$(col 2 "$sample_file")"
per_kill=$(awk '{ printf "%s{\"delay_ms\":%s,\"ping_gap_ms\":%s,\"kv_gap_ms\":%s,\"live_ms\":%s,\"failover_ms\":%s,\"first_transfer_pause_ms\":%s,\"winner\":\"%s\"}",
  (NR > 1 ? "," : ""), $2, $3, $4, $5, $6, $7, $8 }' "$results")
silent=''
[ "$mode" = kill ] || silent=",\"silent_gap_ms\":$(stats 3 "$results")"
printf '{"kvm_module":"%s","mode":"%s","kills":%s,"heartbeat_ms":50,"peer_timeout_ms":500,"ping_gap_ms":%s%s,"kv_gap_ms":%s,"live_ms":%s,"failover_ms":%s,"first_transfer_pause_ms":%s,"lag_ms":%s,"lag_entries":%s,"per_kill":[%s]}\n' \
  "$kvm_module" "$mode" "$kills" "$(stats 3 "$results")" "$silent" "$(stats 4 "$results")" "$(stats 5 "$results")" \
  "$(stats 6 "$results")" "$(stats 7 "$results")" "$(stats 1 "$sample_file")" "$(stats 2 "$sample_file")" "$per_kill"
# The picture: per round, the client's kv completions (dots) and ping replies (bars), from 1.5 s
# before the primary went silent to 2.5 s after.
plot_png "${FTD_BENCH_PLOTS:-$build}/failover_bench-$mode.png" "set title 'client view around the $mode (t = 0), one row per round (KVM: $kvm_module)';
  set xlabel 'seconds from the $mode'; set ylabel 'round'; set xrange [-1.5:2.5]; set yrange [0.5:$kills.5];
  set ytics 1; set grid x; set key outside top center horizontal;
  plot '$timeline' using 2:(\$3 == 1 ? \$1 - 0.12 : 1/0) with points pt 7 ps 0.3 title 'kv reply',
       '' using 2:(\$3 == 2 ? \$1 + 0.12 : 1/0) with points pt 5 ps 0.3 title 'ping reply'"
