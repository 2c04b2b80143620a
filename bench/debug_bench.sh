#!/usr/bin/env bash
# What reverse execution costs (docs/debug.md "Cost model"). Records the replaydbg guest for
# SECONDS of guest time (a tick at 100 Hz, one dbg_step call each), then drives
# `ftd replay --gdb` with Debian's gdb in batch mode: continue to the end of the recording
# (checkpoints taken on the way, every CKPT points), then at the end
#   reverse-stepi        REPS times (each: restore the last checkpoint, replay to the point,
#                        single-step to the instruction before)   -> reverse_step_ms
#   reverse-continue     with `break dbg_step`, REPS times (each scans back from a checkpoint
#                        to the last hit before the current one)  -> reverse_continue_ms
# and `monitor info` for the checkpoints' memory. Prints a table and one JSON line with
# reverse_step_ms, reverse_continue_ms (p50 and max), checkpoint_bytes, checkpoints,
# recording_s and forward_s (the replay to the end under gdb). Needs /dev/kvm (on hosts without
# it: tests/kvm-vm/run-in-kvm-vm.sh -- bench/debug_bench.sh build). Exit 77 when it cannot run.
#
#   bench/debug_bench.sh [BUILD_DIR] [SECONDS=10] [REPS=5] [CKPT=2000]
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$here/build}" && pwd)
seconds=${2:-10}
reps=${3:-5}
ckpt=${4:-2000}
[[ "$seconds" =~ ^[1-9][0-9]{0,2}$ && "$reps" =~ ^[1-9][0-9]?$ && "$ckpt" =~ ^[1-9][0-9]{0,6}$ ]] ||
  { echo "usage: bench/debug_bench.sh [BUILD_DIR] [SECONDS=10] [REPS=5] [CKPT=2000]" >&2; exit 64; }
ftd="$build/ftd"
guest="$build/guest/replaydbg.elf"
[ -e /dev/kvm ] || { echo "SKIP: needs /dev/kvm" >&2; exit 77; }
command -v gdb >/dev/null || { echo "needs gdb" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ftd-debugbench.XXXXXX")
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

ticks=$((seconds * 100))
timeout $((seconds * 10 + 120)) "$ftd" record --guest "$guest" --cmdline "ticks=$ticks hz=100" \
  --log "$work/r.log" --no-stdin >/dev/null 2>"$work/rec.err" || { cat "$work/rec.err" >&2; exit 1; }
"$ftd" replay --log "$work/r.log" --guest "$guest" --no-stdin --gdb 127.0.0.1:0 \
  --checkpoint-every "$ckpt" >/dev/null 2>"$work/srv.err" &
server=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's/.*gdb server on 127.0.0.1:\([0-9]*\) .*/\1/p' "$work/srv.err")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "no gdb server: $(cat "$work/srv.err")" >&2; exit 1; }

cat >"$work/bench.gdb" <<EOF
set pagination off
python import time
python t0 = time.time()
continue
python print("forward_ms %.1f" % ((time.time() - t0) * 1000))
monitor info
python
for i in range($reps):
    t = time.time(); gdb.execute("reverse-stepi", to_string=True)
    print("reverse_step_ms %.1f" % ((time.time() - t) * 1000))
end
break dbg_step
python
for i in range($reps):
    t = time.time(); gdb.execute("reverse-continue", to_string=True)
    print("reverse_continue_ms %.1f" % ((time.time() - t) * 1000))
end
monitor info
detach
EOF
timeout 3600 gdb -nx -batch -ex "file $guest" -ex "target remote 127.0.0.1:$port" \
  -x "$work/bench.gdb" >"$work/gdb.out" 2>&1
wait "$server"
server=""
grep -qi diverge "$work/srv.err" && { echo "the replay diverged: $(cat "$work/srv.err")" >&2; exit 1; }

python3 - "$work/gdb.out" "$seconds" "$ckpt" <<'EOF'
import json, re, statistics, sys
text = open(sys.argv[1]).read()
def vals(name): return [float(v) for v in re.findall(r"^%s ([0-9.]+)$" % name, text, re.M)]
rs, rc, fw = vals("reverse_step_ms"), vals("reverse_continue_ms"), vals("forward_ms")
ck = re.findall(r"checkpoints: (\d+) \((\d+) bytes\)", text)
if not rs or not rc or not ck:
    sys.exit("bench: gdb output incomplete:\n" + text)
n, b = map(int, ck[-1])
out = {"bench": "debug", "recording_s": int(sys.argv[2]), "checkpoint_every": int(sys.argv[3]),
       "forward_s": round(fw[0] / 1000, 2) if fw else None,
       "reverse_step_ms": round(statistics.median(rs), 1), "reverse_step_ms_max": round(max(rs), 1),
       "reverse_continue_ms": round(statistics.median(rc), 1),
       "reverse_continue_ms_max": round(max(rc), 1),
       "checkpoints": n, "checkpoint_bytes": b}
print("%-26s %s" % ("metric", "value"))
for k, v in out.items():
    if k != "bench": print("%-26s %s" % (k, v))
print(json.dumps(out))
EOF
