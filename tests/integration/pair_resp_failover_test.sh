#!/usr/bin/env bash
# Real TCP clients across a failover: the resp guest (Redis protocol on the kit's TCP) as a
# protected pair (`ftd --role backup` on B, `--role primary` on A), and from the client
# namespace: first `redis-benchmark -t set,get,incr -n 20000 -c 20 -P 4` must complete without an
# error (the INCR counter exactly 20000), then, while the primary is SIGKILLed:
#   - tests/integration/resp_client.py: 4 connections that stay open, each SETting unique values
#     and INCRing its own counter with every reply checked (an INCR applied twice or lost, a
#     reset or an error reply fails), then everything read back from a fresh connection;
#   - redis-benchmark -t set,incr -n 10000 -c 10 -P 4 running through the kill without an error.
# The backup must go live at generation 2 and the connections must not notice more than a pause.
#
#   pair_resp_failover_test.sh BUILD_DIR SOURCE_DIR
# Exit 0 pass, 1 fail, 77 skip (no /dev/kvm or not root) unless FTD_REQUIRE_KVM=1.
set -uo pipefail
TESTBED_PREFIX_BASE=prs
# shellcheck source=pair_lib.sh
source "$(dirname "$0")/pair_lib.sh"
command -v redis-benchmark >/dev/null ||
  skip "needs redis-benchmark (Debian package redis-tools; scripts/setup.sh installs it)"

kv="$build/guest/resp.elf"
PAIR_READY_TEXT="resp ready"
pair_up resp
in_client timeout 30 redis-cli -h "$guest" set before-kill yes >/dev/null || pfail "redis-cli set"
# the issue's benchmark, protected: it must complete without an error (nested VM: ~6 min)
in_client timeout 900 redis-benchmark -h "$guest" -t set,get,incr -n 20000 -c 20 -P 4 -q \
  >"$work/bench-protected.out" 2>&1 || pfail "redis-benchmark (protected): exit $? $(tail -3 "$work/bench-protected.out")"
tr '\r' '\n' <"$work/bench-protected.out" | grep -E "requests per second" >"$work/bench-protected.rps"
cat "$work/bench-protected.rps"
[ "$(grep -c "requests per second" "$work/bench-protected.rps")" = 3 ] || pfail "redis-benchmark (protected): not three results"
if grep -qiE "error|warning" "$work/bench-protected.out"; then pfail "redis-benchmark (protected): $(grep -iE 'error|warning' "$work/bench-protected.out" | head -3)"; fi
n=$(in_client timeout 30 redis-cli -h "$guest" get counter:__rand_int__)
[ "$n" = 20000 ] || pfail "INCR counter after the protected benchmark: '$n', want 20000"

in_client timeout 300 python3 "$src/tests/integration/resp_client.py" "$guest" 6379 4 12 \
  >"$work/client.out" 2>&1 &
client_pid=$!
in_client timeout 300 redis-benchmark -h "$guest" -t set,incr -n 10000 -c 10 -P 4 -q \
  >"$work/bench.out" 2>&1 &
bench_pid=$!
# (Python and redis-benchmark start slowly in the nested VM: the kill waits until both run)
wait_for "$work/client.out" "running" 120 "$client_pid"
wait_for "$work/bench.out" "rps=" 120 "$bench_pid"
random_sleep 1000 3000
running "$bench_pid" || pfail "redis-benchmark finished before the kill: make -n larger"
echo "SIGKILL of the primary ${slept_ms} ms into the load"
kill_and_take_over primary backup "live at generation 2" live
echo "backup live ${took_ms} ms after the kill (killed at $t_kill)"

wait "$client_pid"; rc=$?
cat "$work/client.out"
[ "$rc" = 0 ] || pfail "resp_client failed across the failover (exit $rc)"
# the client must really have been talking when the primary died
span=$(sed -n 's/.*ran \([0-9.]*\) \.\. \([0-9.]*\).*/\1 \2/p' "$work/client.out")
awk -v k="$t_kill" -v s="$span" 'BEGIN { split(s, a, " "); exit !(a[1] < k && k < a[2]) }' ||
  pfail "the client's run ($span) does not span the kill ($t_kill)"
wait "$bench_pid"; rc=$?
tr '\r' '\n' <"$work/bench.out" | grep -E "requests per second" || true
[ "$rc" = 0 ] || pfail "redis-benchmark exited $rc across the failover: $(tail -3 "$work/bench.out")"
if grep -qiE "error|reset|closed" "$work/bench.out"; then
  pfail "redis-benchmark saw: $(grep -iE 'error|reset|closed' "$work/bench.out" | head -3)"
fi
got=$(in_client timeout 30 redis-cli -h "$guest" get before-kill) || pfail "redis-cli get after the failover"
[ "$got" = yes ] || pfail "before-kill is '$got' on the new primary"
running "$backup_pid" || pfail "the new primary exited"
pair_down
echo "PASS: pair_resp_failover_test"
