#!/usr/bin/env bash
# Runs the whole test suite on an existing build (scripts/setup.sh test builds first).
# A test that needs /dev/kvm skips where it is missing; on a host WITH /dev/kvm
# every such test must run, so this script makes a skip fail there.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here/$build"

export FTD_REQUIRE_TOOLS=1   # setup.sh installs QEMU: its absence is a failure
if [ -e /dev/kvm ]; then
  export FTD_REQUIRE_KVM=1
  echo "test: /dev/kvm present: KVM tests must run (a skip fails)"
else
  echo "test: no /dev/kvm on this host: KVM tests skip (they run on hosts with KVM)"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
ctest --output-on-failure -j "${FTD_TEST_JOBS:-2}" --timeout 600 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
if [ -e /dev/kvm ] && grep -q "\*\*\*Skipped" "$log"; then
  echo "test: FAILED: /dev/kvm exists but tests were skipped:" >&2
  grep "\*\*\*Skipped" "$log" >&2
  exit 1
fi
exit "$rc"
