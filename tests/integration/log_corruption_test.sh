#!/usr/bin/env bash
# A damaged log is refused, a torn tail is tolerated, end to end (replay/log_file.h has the
# definitions). Records the ticks guest, then for a spread of about 40 entries (every entry with
# FTD_LOG_CORRUPTION_ALL=1; the reader's unit test covers every position) flips one bit in that
# entry's payload and runs `ftd log info` on it, and `ftd replay` on about 15 of them (a VM each:
# slow in the nested-KVM test VM):
#   - an entry before the last (intact entries follow it): damaged. Both exit 65 and name the
#     entry and its byte offset; nothing calls it a torn tail.
#   - the last entry, and cuts anywhere inside the last frame (and inside the one before it,
#     with nothing after the cut): a torn tail. `log info` reports "torn tail" and exits 65 as
#     it always has (the log is incomplete); `ftd replay` ends with the guest's status (0) and
#     a warning naming the torn tail.
# Also a bit flip in a middle entry's length and CRC fields (damaged).
#
#   log_corruption_test.sh BUILD_DIR SOURCE_DIR
# Exit 0 pass, 1 fail, 77 skip (no /dev/kvm) unless FTD_REQUIRE_KVM=1.
set -uo pipefail
build=${1:?usage: log_corruption_test.sh BUILD_DIR SOURCE_DIR}
ftd="$build/ftd"
guest="$build/guest/ticks.elf"

skip() {
  if [ "${FTD_REQUIRE_KVM:-}" = 1 ]; then echo "FAIL: $* (FTD_REQUIRE_KVM=1)"; exit 1; fi
  echo "SKIP: $*"; exit 77
}
[ -e /dev/kvm ] || skip "needs /dev/kvm"
[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "needs read-write access to /dev/kvm"
command -v python3 >/dev/null || { echo "FAIL: needs python3"; exit 1; }
[ -x "$ftd" ] || { echo "FAIL: no $ftd (build the ftd target)"; exit 1; }
[ -f "$guest" ] || { echo "FAIL: no $guest (build the guest_images target)"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ftd-logcorrupt.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
checks=0
bad() { echo "FAIL: $*"; failures=$((failures + 1)); }

# --- Record and check the intact log --------------------------------------------------------
timeout 120 "$ftd" record --guest "$guest" --cmdline "ticks=16 hz=100" --log "$work/good.log" --no-stdin \
  >"$work/rec.out" 2>"$work/rec.err"
rc=$?
[ "$rc" = 0 ] || { echo "FAIL: ftd record exited $rc: $(cat "$work/rec.err")"; exit 1; }
timeout 60 "$ftd" log info "$work/good.log" >"$work/info.out" 2>&1 ||
  { echo "FAIL: ftd log info on the intact log: $(cat "$work/info.out")"; exit 1; }
timeout 60 "$ftd" replay --log "$work/good.log" --guest "$guest" --no-stdin >/dev/null 2>"$work/rep.err"
rc=$?
[ "$rc" = 0 ] || { echo "FAIL: replay of the intact log exited $rc: $(cat "$work/rep.err")"; exit 1; }
grep -q "warning" "$work/rep.err" && { echo "FAIL: replay of the intact log warns: $(cat "$work/rep.err")"; exit 1; }

# The frames: "seq offset payload_length" per entry (file header 16 bytes, then the LogHeader
# frame, then one frame per entry: u32 length, u32 CRC, payload).
python3 - "$work/good.log" >"$work/frames.txt" <<'EOF' || { echo "FAIL: cannot parse the log's frames"; exit 1; }
import struct, sys
b = open(sys.argv[1], 'rb').read()
off = 16
n = struct.unpack_from('<I', b, off)[0]
off += 8 + n
seq = 0
while off < len(b):
    if len(b) - off < 8:
        sys.exit("short frame header at %d" % off)
    n = struct.unpack_from('<I', b, off)[0]
    if off + 8 + n > len(b):
        sys.exit("short frame at %d" % off)
    seq += 1
    print(seq, off, n)
    off += 8 + n
EOF
mapfile -t frames <"$work/frames.txt"
n=${#frames[@]}
[ "$n" -ge 30 ] || { echo "FAIL: only $n entries recorded"; exit 1; }
grep -q "entries $n," "$work/info.out" || { echo "FAIL: log info does not count $n entries: $(cat "$work/info.out")"; exit 1; }
size=$(stat -c %s "$work/good.log")
echo "recorded $n entries, $size bytes"
off_of() { set -- ${frames[$(($1 - 1))]}; echo "$2"; }
len_of() { set -- ${frames[$(($1 - 1))]}; echo "$3"; }

# --- Helpers --------------------------------------------------------------------------------
# flip FILE_OFFSET BIT: good.log with one bit flipped, as bad.log.
flip() {
  python3 -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[int(sys.argv[3])] ^= 1 << int(sys.argv[4])
open(sys.argv[2], "wb").write(b)' "$work/good.log" "$work/bad.log" "$1" "$2"
}
cut() { head -c "$1" "$work/good.log" >"$work/bad.log"; }

# `ftd log info` runs on every case; `ftd replay` (a VM each: slow in the nested-KVM test VM) on
# every case unless replay_only_spread=1, which the per-entry loop sets for entries off the spread.
replay_only_spread=0
run_both() {
  timeout 60 "$ftd" log info "$work/bad.log" >"$work/i.out" 2>&1
  info_rc=$?
  replay_skipped=$replay_only_spread
  [ "$replay_skipped" = 1 ] && return 0
  timeout 60 "$ftd" replay --log "$work/bad.log" --guest "$guest" --no-stdin >/dev/null 2>"$work/r.err"
  replay_rc=$?
}

# expect_damaged WHAT SEQ: bad.log is damaged at entry SEQ.
expect_damaged() {
  local what=$1 seq=$2 names
  names="entry $seq at offset $(off_of "$seq") "
  run_both
  checks=$((checks + 1))
  [ "$info_rc" = 65 ] || bad "$what: ftd log info exited $info_rc, expected 65: $(tail -3 "$work/i.out")"
  grep -qF "$names" "$work/i.out" || bad "$what: log info does not name '$names': $(tail -3 "$work/i.out")"
  grep -qF "damaged, not torn" "$work/i.out" || bad "$what: log info does not call it damaged: $(tail -3 "$work/i.out")"
  grep -qi "torn tail:" "$work/i.out" && bad "$what: log info calls a damaged log a torn tail: $(tail -3 "$work/i.out")"
  [ "$replay_skipped" = 1 ] && return 0
  [ "$replay_rc" = 65 ] || bad "$what: ftd replay exited $replay_rc, expected 65: $(cat "$work/r.err")"
  grep -qF "$names" "$work/r.err" || bad "$what: replay does not name '$names': $(cat "$work/r.err")"
  grep -q "torn end" "$work/r.err" && bad "$what: replay calls a damaged log a torn end: $(cat "$work/r.err")"
}

# expect_torn WHAT: bad.log has a torn tail.
expect_torn() {
  local what=$1
  run_both
  checks=$((checks + 1))
  [ "$info_rc" = 65 ] || bad "$what: ftd log info exited $info_rc, expected 65 (an incomplete log): $(tail -3 "$work/i.out")"
  grep -q "torn tail:" "$work/i.out" || bad "$what: log info does not report a torn tail: $(tail -3 "$work/i.out")"
  grep -q "damaged, not torn" "$work/i.out" && bad "$what: log info calls a torn tail damage: $(tail -3 "$work/i.out")"
  [ "$replay_skipped" = 1 ] && return 0
  [ "$replay_rc" = 0 ] || bad "$what: ftd replay exited $replay_rc, expected 0 (the guest's status): $(cat "$work/r.err")"
  grep -q "warning:.*torn" "$work/r.err" || bad "$what: replay gives no warning about the torn tail: $(cat "$work/r.err")"
}

# --- Bit flips in entry payloads ------------------------------------------------------------
# By default a spread of about 40 (every position is the reader's unit test's job,
# tests/unit/log_file_test.cc; each case here starts processes, slow in the nested-KVM test VM);
# FTD_LOG_CORRUPTION_ALL=1: every entry.
if [ "${FTD_LOG_CORRUPTION_ALL:-0}" = 1 ]; then
  positions=$(seq 1 "$n")
else
  positions=$( (echo 1; echo 2; seq 1 $(((n + 39) / 40)) "$n"; echo $((n / 2)); echo $((n - 1)); echo "$n") | sort -nu)
fi
# ftd replay on a spread of them (1, 2, every n/14th, the middle, n-1, n); all with FTD_LOG_CORRUPTION_ALL=1.
spread=" $( (echo 1; echo 2; seq 1 $(((n + 13) / 14)) "$n"; echo $((n / 2)); echo $((n - 1)); echo "$n") | sort -nu | tr '\n' ' ')"
for seq in $positions; do
  replay_only_spread=1
  if [ "${FTD_LOG_CORRUPTION_ALL:-0}" = 1 ] || [[ "$spread" == *" $seq "* ]]; then replay_only_spread=0; fi
  off=$(off_of "$seq")
  len=$(len_of "$seq")
  flip $((off + 8 + len / 2)) $((seq % 8))
  if [ "$seq" -lt "$n" ]; then
    expect_damaged "payload bit flip in entry $seq of $n" "$seq"
  else
    expect_torn "payload bit flip in the last entry ($seq)"
  fi
done
replay_only_spread=0

# --- Bit flips in the length and CRC fields of a few entries ----------------------------------
# (FTD_LOG_CORRUPTION_ALL=1: three entries and three bits each; else two and two: the nested VM
# takes ~6 s a case, and the reader's unit test covers every bit.)
field_seqs="1 $((n - 1))" field_bits="0 30"
[ "${FTD_LOG_CORRUPTION_ALL:-0}" = 1 ] && field_seqs="1 $((n / 2)) $((n - 1))" field_bits="0 13 30"
for seq in $field_seqs; do
  off=$(off_of "$seq")
  for field in 0 4; do
    for bit in $field_bits; do
      flip $((off + field + bit / 8)) $((bit % 8))
      expect_damaged "bit $bit of the $([ $field = 0 ] && echo length || echo CRC) of entry $seq" "$seq"
    done
  done
done
off=$(off_of "$n")
for field in 0 4; do
  flip $((off + field + 1)) 2
  expect_torn "a bit flip in the $([ $field = 0 ] && echo length || echo CRC) of the last entry"
done

# --- Cuts: inside the last frame, and inside the one before with nothing after ---------------
for seq in "$n" $((n - 1)); do
  off=$(off_of "$seq")
  len=$(len_of "$seq")
  ks="1 7 8 $((8 + len / 2)) $((8 + len - 1))"
  [ "${FTD_LOG_CORRUPTION_ALL:-0}" = 1 ] && ks="1 4 7 8 9 $((8 + len / 2)) $((8 + len - 1))"
  for k in $ks; do
    [ "$k" -lt $((8 + len)) ] || continue
    cut $((off + k))
    expect_torn "the log cut $k bytes into entry $seq of $n"
  done
done

# --- Cuts in the middle of the log: nothing follows, so a torn tail too ------------------------
# At entries that open a new exit: a log that ends between two entries of one exit makes the
# replay diverge ("the log has no more entries"), torn or not, which is another matter.
timeout 60 "$ftd" log info --entries "$work/good.log" >"$work/entries.txt" 2>&1
mid_cuts=$(awk -v n="$n" '$1 == "exit" && $3 == "seq" {
    if ($4 > 1 && $2 != prev && ($4 >= 12 && !a || $4 >= n / 2 && !b)) {
      print $4; if ($4 >= n / 2) b = 1; a = 1
    }
    prev = $2
  }' "$work/entries.txt")
[ "$(wc -w <<<"$mid_cuts")" = 2 ] || bad "cannot find two entries opening an exit in: $(head -5 "$work/entries.txt")"
for seq in $mid_cuts; do
  off=$(off_of "$seq")
  for k in 3 8 $((8 + $(len_of "$seq") - 1)); do
    cut $((off + k))
    expect_torn "the log cut $k bytes into entry $seq of $n (mid-log)"
    grep -q "reached a torn end of the log" "$work/r.err" || bad "entry $seq cut at $k: no 'torn end' summary: $(cat "$work/r.err")"
    grep -qF "$((seq - 1)) log entries" "$work/r.err" || bad "entry $seq cut at $k: not $((seq - 1)) entries replayed: $(cat "$work/r.err")"
  done
done

echo "ftd log corruption: $checks cases, $failures failures"
[ "$failures" = 0 ] || exit 1
echo "PASS"
