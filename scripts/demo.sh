#!/usr/bin/env bash
# The main job on the bundled guests: boots hello, ticks and compute under ftd, saves compute
# mid-run and resumes it in a new process, records/replays/inspects ticks, feeds echo serial
# input, and shows the divergence report for nondet (which breaks the contract on purpose).
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
ftd="$build/ftd"
g="$build/guest"

if [ ! -e /dev/kvm ] && [ "$(id -u)" = 0 ] && [ -z "${FTD_IN_KVM_VM:-}" ]; then
  echo "demo: this host has no /dev/kvm: running the demo in a QEMU VM with nested KVM (tests/kvm-vm)" >&2
  "$here/tests/kvm-vm/run-in-kvm-vm.sh" --workdir "$here" --timeout 600 -- \
    env FTD_IN_KVM_VM=1 "$here/scripts/demo.sh" "$build" && exit 0
  echo "demo: the nested-KVM VM failed (status $?)" >&2
fi

if [ ! -e /dev/kvm ]; then
  echo "demo: this host has no /dev/kvm, so ftd cannot run a VM here:" >&2
  "$ftd" run --guest "$g/hello.elf" --no-stdin || echo "demo: (ftd exited $?)" >&2
  echo "demo: showing the same guest images under QEMU TCG instead" >&2
  for prog in hello "compute iters=20000"; do
    set -- $prog
    echo "\$ qemu-system-x86_64 -accel tcg -kernel $g/$1.elf -append '${*:2}'"
    timeout 60 qemu-system-x86_64 -accel tcg -m 64 -nodefaults -display none -no-reboot \
      -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
      -kernel "$g/$1.elf" -append "${*:2}" </dev/null || true
  done
  exit 0
fi

run() {
  echo "\$ ftd $*"
  local rc=0
  "$ftd" "$@" </dev/null || rc=$?
  echo "(exit status $rc)"
  return "$rc"
}
run run --guest "$g/hello.elf"
run run --guest "$g/ticks.elf" --cmdline "ticks=10 hz=100"
run run --guest "$g/compute.elf" --cmdline "iters=200000"
snap=$(mktemp --suffix=.snap)
trap 'rm -f "$snap"' EXIT
# Stop compute in the middle (the PIT at 1 kHz gives it exits while it computes), save the
# whole machine, and finish it in a new process: the result is the same.
run run --guest "$g/compute.elf" --cmdline "iters=20000000 size=65536 hz=1000" --save-at-exit 100 --save "$snap"
run resume --snapshot "$snap"
echo "host reference: $("$g/compute_ref" 20000000 65536)"

# Record a run, replay it exactly (idle time skipped), and look inside the log.
log=$(mktemp --suffix=.log)
trap 'rm -f "$snap" "$log"' EXIT
run record --guest "$g/ticks.elf" --cmdline "ticks=20 hz=100" --log "$log" >/dev/null
run replay --guest "$g/ticks.elf" --log "$log" | tail -1
run log info "$log"
run replay --guest "$g/ticks.elf" --log "$log" --until 13 --inspect regs

# Serial input: the echo guest reads lines from COM1 (IRQ 4) and prints them upper-cased.
echo "\$ printf 'hello\\nworld\\n' | ftd run --guest $g/echo.elf --cmdline lines=2"
printf 'hello\nworld\n' | "$ftd" run --guest "$g/echo.elf" --cmdline "lines=2"
echo "(exit status $?)"

# The determinism contract, broken on purpose: nondet branches on RDTSC, so its replay
# diverges and ftd reports where (exit status 76 is the expected result here).
run record --guest "$g/nondet.elf" --log "$log" >/dev/null
rc=0
run replay --guest "$g/nondet.elf" --log "$log" || rc=$?
if [ "$rc" != 76 ]; then
  echo "demo: the nondet replay should have been reported as a divergence (76), not $rc" >&2
  exit 1
fi
echo "demo: done"
