#!/usr/bin/env bash
# The sanitizer stage (scripts/test.sh runs it after the normal suite; CI through it):
# a separate build of the host code with -fsanitize=address,undefined (cmake -DFTD_SANITIZE=...;
# the guest images are never instrumented) that runs
#   - every test not named *KvmTest (the unit tests, the CLI and QEMU tests, GuestIsaTest), and,
#   - where /dev/kvm exists, every *KvmTest too: among them `ftd replay --go-live-at 100`
#     (RecordReplayKvmTest.GoLiveFromTheMiddle...), the kv guest's go-live
#     (KvRecordReplayKvmTest), the damaged-log cases (LogCorruptionKvmTest) and the pair's
#     failovers with real `ftd --role primary|backup` processes (PairFailoverKvmTest & co.).
#     About 2 minutes on a PVM host; FTD_SANITIZE_KVM_TESTS narrows them.
# Without /dev/kvm the KVM tests are not run under the sanitizers (no nested-VM run here: too slow).
# LeakSanitizer is on (the suite is leak-free); FTD_SANITIZE_LEAKS=0 turns it off.
#
# Every sanitized process (ftd started by test scripts included, whose stderr may be swallowed)
# writes its reports to $FTD_SANITIZE_LOG_DIR (default /tmp/ftd-asan, made fresh each run):
# any file there fails the stage, as does any failed test. Last line on success:
#   sanitize: N tests passed, 0 sanitizer reports
#
#   scripts/sanitize.sh [BUILD_DIR]      (default build-asan; relative to the repository root)
# Environment: FTD_JOBS (build jobs, default nproc), FTD_TEST_JOBS (ctest -j, default 2),
#   FTD_SANITIZE (default address,undefined), FTD_SANITIZE_LOG_DIR (default /tmp/ftd-asan),
#   FTD_SANITIZE_KVM_TESTS (ctest -R regex of the KVM tests to run; default KvmTest: all),
#   FTD_SANITIZE_LEAKS=0 (LeakSanitizer off).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-asan}
case $build in /*) ;; *) build=$here/$build ;; esac
jobs=${FTD_JOBS:-$(nproc)}
test_jobs=${FTD_TEST_JOBS:-2}
sanitizers=${FTD_SANITIZE:-address,undefined}
logdir=${FTD_SANITIZE_LOG_DIR:-/tmp/ftd-asan}
kvm_tests=${FTD_SANITIZE_KVM_TESTS:-KvmTest}
export FTD_REQUIRE_TOOLS=${FTD_REQUIRE_TOOLS:-1}   # as in test.sh: QEMU missing is a failure

# --- build -----------------------------------------------------------------------------------
# Debug with -O1: asan's usual level (fast enough to run, quicker to compile than -O2).
t0=$SECONDS
echo "sanitize: building $build with -fsanitize=$sanitizers (-O1 -g, $jobs jobs)"
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
  -DFTD_SANITIZE="$sanitizers" >/dev/null
# Everything: ctest lists every test binary, and gtest discovery needs each one built.
if ! cmake --build "$build" -j "$jobs"; then
  echo "sanitize: FAILED: the sanitizer build did not build" >&2
  exit 1
fi
build_s=$((SECONDS - t0))

# --- run -------------------------------------------------------------------------------------
rm -rf "$logdir"
mkdir -p "$logdir"
leaks=1
[ "${FTD_SANITIZE_LEAKS:-1}" = 0 ] && leaks=0
export ASAN_OPTIONS="detect_leaks=$leaks:abort_on_error=1:halt_on_error=1:log_path=$logdir/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:log_path=$logdir/ubsan"
unset LSAN_OPTIONS   # its log_path would override ASan's (leak reports go to asan.PID)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
t1=$SECONDS
rc=0
run_ctest() {  # run_ctest CTEST-ARGS...: ctest in $build, output teed to $log; sets rc on failure
  local r
  set +e
  ctest --test-dir "$build" --output-on-failure -j "$test_jobs" --timeout 600 "$@" 2>&1 | tee -a "$log"
  r=${PIPESTATUS[0]}
  set -e
  [ "$r" = 0 ] || rc=1
}
echo "sanitize: the tests not needing /dev/kvm"
run_ctest -E KvmTest
if [ -e /dev/kvm ]; then
  echo "sanitize: /dev/kvm present: the KVM tests matching $kvm_tests (a skip fails)"
  FTD_REQUIRE_KVM=1 run_ctest -R "$kvm_tests"
  if grep -q "\*\*\*Skipped" "$log"; then
    echo "sanitize: FAILED: KVM is available but tests were skipped:" >&2
    grep "\*\*\*Skipped" "$log" >&2
    rc=1
  fi
  kvm_note=""
else
  kvm_note=" (no /dev/kvm here: the KVM tests ran under the sanitizers only on hosts with /dev/kvm)"
  echo "sanitize: no /dev/kvm on this host: the KVM tests are not run under the sanitizers here;" \
    "they run in this stage only where /dev/kvm exists"
fi
test_s=$((SECONDS - t1))

# --- verdict ---------------------------------------------------------------------------------
total=0 failed=0
while read -r t f; do total=$((total + t)); failed=$((failed + f)); done < <(
  sed -n 's/.*tests passed.*, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$log")
mapfile -t reports < <(find "$logdir" -type f | sort)
if ((${#reports[@]})); then
  rc=1
  echo "sanitize: ${#reports[@]} sanitizer report(s) in $logdir:" >&2
  for f in "${reports[@]}"; do
    echo "===== $f" >&2
    head -n 150 "$f" >&2
  done
  echo "sanitize: distinct reports (count, summary line):" >&2
  cat "${reports[@]}" | grep -h '^SUMMARY: ' | sort | uniq -c >&2 || true
fi
echo "sanitize: build ${build_s} s, tests ${test_s} s"
if [ "$rc" != 0 ] || [ "$total" = 0 ]; then
  echo "sanitize: FAILED: $((total - failed)) tests passed, $failed failed, ${#reports[@]} sanitizer reports$kvm_note"
  exit 1
fi
echo "sanitize: $total tests passed, 0 sanitizer reports$kvm_note"
