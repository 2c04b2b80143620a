#!/usr/bin/env bash
# Runs the whole test suite on an existing build (scripts/setup.sh test builds first).
#
# Tests that need /dev/kvm are named *KvmTest*. On a host with /dev/kvm they run with
# everything else and a skip is a failure. On a host without it (these machines are
# themselves PVM guests and get no /dev/kvm), they run inside a QEMU TCG virtual machine
# that has a nested /dev/kvm (tests/kvm-vm/run-in-kvm-vm.sh), again with skips failing.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here/$build"
export FTD_REQUIRE_TOOLS=1   # setup.sh installs QEMU: its absence is a failure
jobs=${FTD_TEST_JOBS:-2}

log=$(mktemp)
trap 'rm -f "$log" "$log.fuzz" "$log.host"' EXIT

# One closing line over every ctest run: "ftd: N passed, N failed".
summarize() {
  local total=0 failed=0 t f
  while read -r t f; do total=$((total + t)); failed=$((failed + f)); done < <(
    cat "$@" 2>/dev/null | sed -n 's/.*tests passed.*, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p')
  echo "ftd: $((total - failed)) passed, $failed failed"
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
summarize "$log.host" "$log"
if [ "$rc_host" != 0 ] || [ "$rc_vm" != 0 ] || [ "$rc_fuzz" != 0 ]; then exit 1; fi
exit 0
