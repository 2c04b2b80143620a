#!/usr/bin/env bash
# Runs the whole test suite on an existing build (scripts/setup.sh test builds first).
#
# Tests that need /dev/kvm are named *KvmTest*. On a host with /dev/kvm they run with
# everything else and a skip is a failure. On a host without it (these machines are
# themselves PVM guests and get no /dev/kvm), they run inside a QEMU TCG virtual machine
# that has a nested /dev/kvm (tests/kvm-vm/run-in-kvm-vm.sh), again with skips failing.
#
# Then the sanitizer stage (scripts/sanitize.sh: an -fsanitize=address,undefined build in
# build-asan/ running the unit tests and, where /dev/kvm exists, the go-live replay and pair
# failover tests); a failure or any sanitizer report fails the run. FTD_SKIP_SANITIZE=1 skips it
# (for local runs only; CI never sets it).
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here/$build"
export FTD_REQUIRE_TOOLS=1   # setup.sh installs QEMU: its absence is a failure
jobs=${FTD_TEST_JOBS:-2}

log=$(mktemp)
trap 'rm -f "$log" "$log.fuzz" "$log.host" "$log.san"' EXIT

# One closing line over every ctest run and the sanitizer stage:
# "ftd: N passed, N failed; sanitize: ...".
summarize() {
  local total=0 failed=0 t f
  while read -r t f; do total=$((total + t)); failed=$((failed + f)); done < <(
    cat "$@" 2>/dev/null | sed -n 's/.*tests passed.*, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p')
  echo "ftd: $((total - failed)) passed, $failed failed; $san_result"
}

# The sanitizer stage (scripts/sanitize.sh, its own build dir); sets san_result for the summary.
san_result="sanitize: not run"
run_sanitize() {
  if [ "${FTD_SKIP_SANITIZE:-}" = 1 ]; then
    san_result="sanitize: skipped (FTD_SKIP_SANITIZE=1)"
    echo "test: $san_result"
    return 0
  fi
  echo "test: sanitizer stage (scripts/sanitize.sh ${FTD_SANITIZE_BUILD_DIR:-build-asan})"
  set +e
  "$here/scripts/sanitize.sh" "${FTD_SANITIZE_BUILD_DIR:-build-asan}" 2>&1 | tee "$log.san"
  local r=${PIPESTATUS[0]}
  set -e
  san_result=$(grep '^sanitize: .*\(sanitizer reports\|did not build\)' "$log.san" | tail -1)
  [ -n "$san_result" ] || san_result="sanitize: FAILED (status $r)"
  if [ "$r" != 0 ]; then
    echo "test: FAILED: the sanitizer stage" >&2
    return 1
  fi
}

check_no_skips() {
  if grep -q "\*\*\*Skipped" "$log"; then
    echo "test: FAILED: KVM is available but tests were skipped:" >&2
    grep "\*\*\*Skipped" "$log" >&2
    exit 1
  fi
}

# Decoders and device register files get a short libFuzzer run (a crash fails the suite).
run_fuzz() {
  echo "test: fuzzing (fuzz/run.sh, ${FTD_FUZZ_SECONDS:-15} s per target)"
  FUZZ_BUILD_JOBS=${FTD_JOBS:-2} sh "$here/fuzz/run.sh" "${FTD_FUZZ_SECONDS:-15}" >"$log.fuzz" 2>&1 || {
    tail -40 "$log.fuzz" >&2
    echo "test: FAILED: fuzzing found a crash or did not build" >&2
    return 1
  }
  grep -E "^== |Done [0-9]+ runs" "$log.fuzz"
}

if [ -e /dev/kvm ]; then
  echo "test: /dev/kvm present: every test runs here, and a skip fails"
  export FTD_REQUIRE_KVM=1
  set +e
  ctest --output-on-failure -j "$jobs" --timeout 600 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  check_no_skips
  run_fuzz || rc=1
  run_sanitize || rc=1
  summarize "$log"
  exit "$rc"
fi

echo "test: no /dev/kvm on this host: running the KVM tests in a QEMU VM with nested KVM"
set +e
ctest --output-on-failure -j "$jobs" --timeout 600 -E KvmTest 2>&1 | tee "$log.host"
rc_host=${PIPESTATUS[0]}
set -e
if [ "$(id -u)" != 0 ]; then
  echo "test: the nested-KVM VM needs root; KVM tests not run (they skip on this host)" >&2
  run_sanitize || rc_host=1
  summarize "$log.host"
  exit "$rc_host"
fi
set +e
# One vCPU: nested KVM on multi-threaded TCG (--smp 2) can wedge the whole test VM (docs/vmm.md).
"$here/tests/kvm-vm/run-in-kvm-vm.sh" --workdir "$here" --timeout 2400 -- \
  env FTD_REQUIRE_KVM=1 FTD_REQUIRE_TOOLS=1 \
  bash -c 'set -o pipefail; ctest --output-on-failure -j 1 --timeout 600 -R KvmTest 2>&1 | cat' \
  2>&1 | tee "$log"
rc_vm=${PIPESTATUS[0]}
set -e
check_no_skips
if ! grep -q "tests passed" "$log"; then
  echo "test: FAILED: the KVM tests did not run in the nested VM (status $rc_vm)" >&2
  exit 1
fi
rc_fuzz=0
run_fuzz || rc_fuzz=1
rc_san=0
run_sanitize || rc_san=1
summarize "$log.host" "$log"
if [ "$rc_host" != 0 ] || [ "$rc_vm" != 0 ] || [ "$rc_fuzz" != 0 ] || [ "$rc_san" != 0 ]; then exit 1; fi
exit 0
