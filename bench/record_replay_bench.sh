#!/usr/bin/env bash
# Record/replay costs. Prints a table and one JSON line:
#  (a) compute guest: wall time of `ftd run`, `ftd record` and `ftd replay` (boot excluded by
#      subtracting the same command on the hello guest; best of --reps), log bytes;
#  (b) ticks guest (idle-heavy: 100 ticks at 100 Hz): replay speed over real time (from the
#      replay's summary line) and log bytes per second of guest time;
#  (c) kv guest in the netns testbed: `ftkv load` throughput under `ftd run` and under
#      `ftd record` (record overhead), log bytes per second of recording and per request;
#  (d) the same compute guest recorded and replayed by QEMU TCG
#      (`-icount shift=auto,rr=record|replay,rrfile=F`), as ratios to ftd's record/replay
#      measured in this run.
# Needs root and /dev/kvm (on hosts without it:
# tests/kvm-vm/run-in-kvm-vm.sh -- bench/record_replay_bench.sh BUILD_DIR).
#
#   bench/record_replay_bench.sh [BUILD_DIR] [--iters N] [--size S] [--reps R] [--qemu-iters N]
#                                [--clients N] [--duration S]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$here/build}" && pwd)
shift || true
iters=30000000
size=1048576
reps=3
qemu_iters=
clients=4
duration=5
while [ $# -gt 0 ]; do
  case $1 in
    --iters) iters=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --qemu-iters) qemu_iters=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    *) echo "usage: bench/record_replay_bench.sh [BUILD_DIR] [--iters N] [--size S] [--reps R] [--qemu-iters N] [--clients N] [--duration S]" >&2; exit 64 ;;
  esac
done
qemu_iters=${qemu_iters:-$iters}
[ -e /dev/kvm ] || { echo "record_replay_bench: needs /dev/kvm" >&2; exit 69; }
ftd=$build/ftd
g=$build/guest

export FTD_TESTBED_PREFIX="rrb$$"
tb="$here/deploy/testbed.sh"
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; "$tb" down >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
die() { echo "record_replay_bench: $*" >&2; exit 1; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# best REPS WANT_RC ERRFILE CMD...: the best wall time (s) of REPS runs; CMD's stderr is kept
# in ERRFILE (of the last run), its stdout discarded. Any other exit code is fatal.
best() {
  local n=$1 want=$2 err=$3; shift 3
  local b= t0 t1 rc d
  for _ in $(seq 1 "$n"); do
    t0=$(now); rc=0; "$@" >/dev/null 2>"$err" </dev/null || rc=$?; t1=$(now)
    [ "$rc" = "$want" ] || die "$* exited $rc (want $want): $(tail -3 "$err")"
    d=$(calc "%.4f" "$t1 - $t0")
    if [ -z "$b" ] || awk "BEGIN { exit !($d < $b) }"; then b=$d; fi
  done
  echo "$b"
}
# The replay summary: "... G s of guest time in W s (Kx real time)".
summary_field() {  # summary_field ERRFILE guest|wall|speed
  local line; line=$(grep "ftd: replay" "$1" | tail -1)
  case $2 in
    guest) sed -n 's/.*; \([0-9.]*\) s of guest time.*/\1/p' <<<"$line" ;;
    wall) sed -n 's/.* of guest time in \([0-9.]*\) s .*/\1/p' <<<"$line" ;;
    speed) sed -n 's/.*(\([0-9.]*\)x real time).*/\1/p' <<<"$line" ;;
  esac
}

# --- (a) compute under ftd: run, record, replay --------------------------------------------
cargs="iters=$iters size=$size"
run_hello=$(best "$reps" 0 "$work/e" "$ftd" run --guest "$g/hello.elf" --no-stdin)
rec_hello=$(best "$reps" 0 "$work/e" "$ftd" record --guest "$g/hello.elf" --log "$work/hello.log" --no-stdin)
rep_hello=$(best "$reps" 0 "$work/e" "$ftd" replay --guest "$g/hello.elf" --log "$work/hello.log" --no-stdin)
run_c=$(best "$reps" 0 "$work/e" "$ftd" run --guest "$g/compute.elf" --cmdline "$cargs" --no-stdin)
rec_c=$(best "$reps" 0 "$work/rec_c.err" "$ftd" record --guest "$g/compute.elf" --cmdline "$cargs" \
  --log "$work/compute.log" --no-stdin)
rep_c=$(best "$reps" 0 "$work/rep_c.err" "$ftd" replay --guest "$g/compute.elf" --log "$work/compute.log" --no-stdin)
grep -q "ftd: replay finished" "$work/rep_c.err" || die "compute replay: $(cat "$work/rep_c.err")"
compute_log=$(stat -c %s "$work/compute.log")
net_run=$(calc "%.4f" "$run_c - $run_hello")
net_rec=$(calc "%.4f" "$rec_c - $rec_hello")
net_rep=$(calc "%.4f" "$rep_c - $rep_hello")
rec_over_run=$(calc "%.3f" "$net_rec / $net_run")
rep_over_run=$(calc "%.3f" "$net_rep / $net_run")
rec_over_run_whole=$(calc "%.3f" "$rec_c / $run_c")
rep_over_run_whole=$(calc "%.3f" "$rep_c / $run_c")

# --- (b) ticks: idle-heavy, replay never sleeps -------------------------------------------------
"$ftd" record --guest "$g/ticks.elf" --cmdline "ticks=100 hz=100" --log "$work/ticks.log" --no-stdin \
  >/dev/null 2>"$work/rec_t.err" || die "ticks record: $(cat "$work/rec_t.err")"
"$ftd" replay --guest "$g/ticks.elf" --log "$work/ticks.log" --no-stdin >/dev/null 2>"$work/rep_t.err" ||
  die "ticks replay: $(cat "$work/rep_t.err")"
ticks_log=$(stat -c %s "$work/ticks.log")
ticks_guest_s=$(summary_field "$work/rep_t.err" guest)
ticks_replay_wall=$(summary_field "$work/rep_t.err" wall)
ticks_speed=$(summary_field "$work/rep_t.err" speed)
ticks_bytes_per_guest_s=$(calc "%.0f" "$ticks_log / $ticks_guest_s")

# --- (c) kv: ftd run vs ftd record under ftkv load ----------------------------------------------
guest=198.18.0.10
"$tb" up >/dev/null
kv_round() {  # kv_round run|record: boot, load, stop; sets kv_tput, kv_answered, kv_wall
  local mode=$1 out="$work/kv-$1.out" t0 t1
  truncate -s 0 "$work/kv-$mode.img"; truncate -s 8M "$work/kv-$mode.img"
  local extra=(); [ "$mode" = record ] && extra=(--log "$work/kv.log")
  t0=$(now)
  ip netns exec "$FTD_TESTBED_PREFIX-a" "$ftd" "$mode" --guest "$g/kv.elf" "${extra[@]}" \
    --disk "$work/kv-$mode.img" --net tap:ftdtap0 --cmdline "ip=$guest/15" --no-stdin >"$out" 2>&1 &
  pid=$!
  for _ in $(seq 1 120); do grep -q "kv ready" "$out" && break; sleep 0.5; done
  grep -q "kv ready" "$out" || die "kv guest ($mode) not ready: $(tail -3 "$out")"
  ip netns exec "$FTD_TESTBED_PREFIX-client" "$build/ftkv" "$guest" load --clients "$clients" \
    --duration "$duration" --history "$work/h-$mode.txt" >"$work/load-$mode.txt"
  "$build/ftkv" check "$work/h-$mode.txt" >/dev/null || die "history check ($mode) failed"
  kill -TERM "$pid"; wait "$pid" || true; pid=
  t1=$(now)
  kv_wall=$(calc "%.3f" "$t1 - $t0")
  local json; json=$(grep '^{' "$work/load-$mode.txt" | tail -1)
  kv_tput=$(sed -n 's/.*"throughput_per_s":\([0-9.]*\).*/\1/p' <<<"$json")
  kv_answered=$(sed -n 's/.*"answered":\([0-9]*\).*/\1/p' <<<"$json")
}
kv_round run
kv_run_tput=$kv_tput
kv_round record
kv_rec_tput=$kv_tput
kv_rec_answered=$kv_answered
grep -q "ftd: recorded" "$work/kv-record.out" || die "kv record: $(tail -3 "$work/kv-record.out")"
kv_log=$(stat -c %s "$work/kv.log")
kv_rec_over_run=$(calc "%.3f" "$kv_rec_tput / $kv_run_tput")
kv_bytes_per_s=$(calc "%.0f" "$kv_log / $kv_wall")
kv_bytes_per_req=$(calc "%.0f" "$kv_log / $kv_rec_answered")

# --- (d) QEMU TCG record/replay (icount) of the same compute guest ------------------------------
qemu=(qemu-system-x86_64 -accel tcg -m 64 -nodefaults -display none -no-reboot -serial stdio
      -device isa-debug-exit,iobase=0xf4,iosize=0x04)
qargs="iters=$qemu_iters size=$size"
q_hello_rec=$(best 1 1 "$work/e" "${qemu[@]}" -icount "shift=auto,rr=record,rrfile=$work/qh.rr" \
  -kernel "$g/hello.elf")
q_hello_rep=$(best 1 1 "$work/e" "${qemu[@]}" -icount "shift=auto,rr=replay,rrfile=$work/qh.rr" \
  -kernel "$g/hello.elf")
q_tcg=$(best 1 1 "$work/e" "${qemu[@]}" -kernel "$g/compute.elf" -append "$qargs")
q_rec=$(best 1 1 "$work/e" "${qemu[@]}" -icount "shift=auto,rr=record,rrfile=$work/qc.rr" \
  -kernel "$g/compute.elf" -append "$qargs")
q_rep=$(best 1 1 "$work/e" "${qemu[@]}" -icount "shift=auto,rr=replay,rrfile=$work/qc.rr" \
  -kernel "$g/compute.elf" -append "$qargs")
q_log=$(stat -c %s "$work/qc.rr")
q_net_rec=$(calc "%.4f" "$q_rec - $q_hello_rec")
q_net_rep=$(calc "%.4f" "$q_rep - $q_hello_rep")
scale=$(calc "%.6f" "$iters / $qemu_iters")  # ftd per QEMU iteration count, when they differ
q_rec_over_ftd=$(calc "%.2f" "$q_net_rec * $scale / $net_rec")
q_rep_over_ftd=$(calc "%.2f" "$q_net_rep * $scale / $net_rep")

kvm_module=$(sh "$here/bench/kvm_module.sh")
row() { printf '%-52s %14s\n' "$1" "$2"; }
row measure value
row "(a) compute: iters x size" "$iters x $size"
row "ftd run, boot excluded (s)" "$net_run"
row "ftd record, boot excluded (s)" "$net_rec"
row "ftd replay, boot excluded (s)" "$net_rep"
row "record / run" "$rec_over_run"
row "replay / run" "$rep_over_run"
row "record / run, whole processes" "$rec_over_run_whole"
row "replay / run, whole processes" "$rep_over_run_whole"
row "compute log bytes" "$compute_log"
row "(b) ticks=100 hz=100: guest time (s)" "$ticks_guest_s"
row "ticks replay wall (s)" "$ticks_replay_wall"
row "ticks replay speed (x real time)" "$ticks_speed"
row "ticks log bytes" "$ticks_log"
row "ticks log bytes per guest second" "$ticks_bytes_per_guest_s"
row "(c) kv: clients x duration (s)" "$clients x $duration"
row "kv throughput, ftd run (req/s)" "$kv_run_tput"
row "kv throughput, ftd record (req/s)" "$kv_rec_tput"
row "kv record / run throughput" "$kv_rec_over_run"
row "kv log bytes" "$kv_log"
row "kv log bytes per recorded second" "$kv_bytes_per_s"
row "kv log bytes per request" "$kv_bytes_per_req"
row "(d) qemu: iters" "$qemu_iters"
row "qemu tcg, no rr, whole process (s)" "$q_tcg"
row "qemu rr record, boot excluded (s)" "$q_net_rec"
row "qemu rr replay, boot excluded (s)" "$q_net_rep"
row "qemu record / ftd record" "$q_rec_over_ftd"
row "qemu replay / ftd replay" "$q_rep_over_ftd"
row "qemu rr log bytes" "$q_log"
row "KVM module" "$kvm_module"
printf '{"kvm_module":"%s","compute":{"iters":%s,"size":%s,"run_s":%s,"record_s":%s,"replay_s":%s,"record_over_run":%s,"replay_over_run":%s,"record_over_run_whole":%s,"replay_over_run_whole":%s,"log_bytes":%s},"ticks":{"guest_s":%s,"replay_wall_s":%s,"replay_speed_x":%s,"log_bytes":%s,"log_bytes_per_guest_s":%s},"kv":{"clients":%s,"duration_s":%s,"run_req_per_s":%s,"record_req_per_s":%s,"record_over_run":%s,"log_bytes":%s,"log_bytes_per_s":%s,"log_bytes_per_request":%s},"qemu":{"iters":%s,"tcg_whole_s":%s,"record_s":%s,"replay_s":%s,"record_over_ftd_record":%s,"replay_over_ftd_replay":%s,"log_bytes":%s}}\n' \
  "$kvm_module" "$iters" "$size" "$net_run" "$net_rec" "$net_rep" "$rec_over_run" "$rep_over_run" \
  "$rec_over_run_whole" "$rep_over_run_whole" "$compute_log" \
  "$ticks_guest_s" "$ticks_replay_wall" "$ticks_speed" "$ticks_log" "$ticks_bytes_per_guest_s" \
  "$clients" "$duration" "$kv_run_tput" "$kv_rec_tput" "$kv_rec_over_run" "$kv_log" "$kv_bytes_per_s" \
  "$kv_bytes_per_req" "$qemu_iters" "$q_tcg" "$q_net_rec" "$q_net_rep" "$q_rec_over_ftd" "$q_rep_over_ftd" "$q_log"
