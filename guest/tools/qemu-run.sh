#!/bin/sh
# Boot an ftd guest image under QEMU TCG (no KVM needed) and exit with the GUEST's status.
#   guest/tools/qemu-run.sh build/guest/ticks.elf "ticks=5 hz=100"
# Guest console (COM1) goes to stdout.  QEMU's isa-debug-exit makes QEMU exit with
# (status << 1) | 1; this script undoes that.  Exit 124 on timeout (QEMU_TIMEOUT, default 60 s),
# 125 if QEMU ended some other way (e.g. a triple fault with -no-reboot exits 0).
set -u
img=$1
append=${2-}
timeout "${QEMU_TIMEOUT:-60}" qemu-system-x86_64 -accel tcg -m 64 -nodefaults -display none \
    -no-reboot -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -kernel "$img" -append "$append"
rc=$?
[ "$rc" -eq 124 ] && exit 124
[ $((rc & 1)) -eq 1 ] || exit 125
exit $((rc >> 1))
