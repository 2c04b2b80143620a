#!/usr/bin/env bash
# Runs a command with a working /dev/kvm (nested SVM) inside a QEMU TCG virtual machine.
#
# Usage: run-in-kvm-vm.sh [options] -- COMMAND ARGS...
#   --workdir DIR   directory the command may write to; changes land on the host (default: $PWD)
#   --timeout SEC   kill the VM after SEC seconds, exit 124 (default: 900; env KVM_VM_TIMEOUT)
#   --mem MB        guest memory (default: 2048; env KVM_VM_MEM)
#   --smp N         virtual CPUs (default: 1; env KVM_VM_SMP); with N > 1 QEMU runs one TCG
#                   thread per vCPU (multi-threaded TCG is QEMU's default for x86 on x86 hosts)
#   --verbose       show the VM's console (kernel + init messages) on stderr
#
# The VM boots Debian's kernel with a busybox initramfs built here, mounts the host's root
# filesystem read-only over virtio-9p under a tmpfs overlay (writes outside --workdir are
# discarded), mounts --workdir writable at its own path, loads kvm_amd, chroots into the host
# root, cds to $PWD and runs COMMAND as root with the caller's environment.
# COMMAND's stdout and stderr are streamed to ours (through two guest serial ports); stdin is
# /dev/null. The exit status is COMMAND's; 124 on timeout; 125 if the VM itself failed.
# The VM has no network device. Needs root (apt-get, 9p passthrough of /).
set -euo pipefail

die() { echo "run-in-kvm-vm: $*" >&2; exit 125; }

workdir=$PWD
timeout_s=${KVM_VM_TIMEOUT:-900}
mem=${KVM_VM_MEM:-2048}
smp=${KVM_VM_SMP:-1}
verbose=0
while [ $# -gt 0 ]; do
  case $1 in
    --workdir) workdir=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --verbose) verbose=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) die "unknown option '$1' (usage: $0 [--workdir DIR] [--timeout SEC] [--mem MB] [--smp N] [--verbose] -- COMMAND ARGS...)" ;;
  esac
done
[[ "$smp" =~ ^[1-9][0-9]?$ ]] || die "--smp wants 1..99 virtual CPUs, not '$smp'"
[ $# -gt 0 ] || die "no command given (usage: $0 [options] -- COMMAND ARGS...)"
[ "$(id -u)" = 0 ] || die "must run as root"
workdir=$(cd "$workdir" && pwd -P) || die "bad --workdir"
[ "$workdir" != / ] || die "--workdir / is not supported (the root is shared read-only)"
cwd=$(pwd -P)

# --- 1. Debian packages (installed once; a dpkg query when present) -------------------------
pkgs="linux-image-amd64 busybox-static qemu-system-x86 cpio"
missing=
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "run-in-kvm-vm: installing$missing (one time)" >&2
  export DEBIAN_FRONTEND=noninteractive
  timeout 900 apt-get install -y --no-install-recommends $missing >&2 ||
    { timeout 300 apt-get update >&2 && timeout 900 apt-get install -y --no-install-recommends $missing >&2; } ||
    die "apt-get install$missing failed"
fi

# --- 2. Kernel: the newest /boot/vmlinuz-* whose modules include kvm-amd ---------------------
kver=
for k in $(ls /boot/vmlinuz-* 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -V -r); do
  if [ -n "$(ls /lib/modules/"$k"/kernel/arch/x86/kvm/kvm-amd.ko* 2>/dev/null)" ]; then kver=$k; break; fi
done
[ -n "$kver" ] || die "no /boot/vmlinuz-* with a matching kvm-amd module (is linux-image-amd64 installed?)"
kernel=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver

# --- 3. initramfs (cached; rebuilt when this script or the kernel changes) -------------------
cache=${KVM_VM_CACHE:-/var/cache/ftd-kvm-vm}
mkdir -p "$cache"
key=$(cat "$0" "$moddir/modules.dep" /bin/busybox | md5sum | cut -c1-16)
initrd=$cache/initramfs-$kver-$key.cpio.gz
if [ ! -s "$initrd" ]; then
  b=$(mktemp -d "$cache/build.XXXXXX")
  mkdir -p "$b"/{bin,dev,proc,sys,mnt,lib/modules}
  cp /bin/busybox "$b/bin/"
  # Load order from modules.dep: each module's dependencies (listed last-loaded-first) then itself.
  declare -A seen=()
  order=()
  add_mod() { # $1: path relative to $moddir
    local m=$1 d deps
    [ -n "${seen[$m]:-}" ] && return 0
    seen[$m]=1
    deps=$(awk -v m="$m:" '$1==m { for (i = NF; i > 1; i--) print $i }' "$moddir/modules.dep")
    for d in $deps; do add_mod "$d"; done
    order+=("$m")
  }
  for name in kvm-amd 9pnet_virtio 9p virtio_pci overlay; do
    path=$(awk -F: -v n="$name" '{ f = $1; sub(/.*\//, "", f); sub(/\.ko.*/, "", f); gsub(/_/, "-", f); t = n; gsub(/_/, "-", t); if (f == t) { print $1; exit } }' "$moddir/modules.dep")
    if [ -z "$path" ]; then
      # built into the kernel: nothing to load
      grep -q "/$name.ko" "$moddir/modules.builtin" 2>/dev/null || die "module $name not found for $kver"
      continue
    fi
    add_mod "$path"
  done
  : > "$b/modules.order"
  for m in "${order[@]}"; do
    f=$(basename "$m"); f=${f%%.ko*}.ko
    case $m in
      *.ko) cp "$moddir/$m" "$b/lib/modules/$f" ;;
      *.ko.xz) xz -dc "$moddir/$m" > "$b/lib/modules/$f" ;;
      *.ko.zst) zstd -dc "$moddir/$m" > "$b/lib/modules/$f" ;;
      *.ko.gz) gzip -dc "$moddir/$m" > "$b/lib/modules/$f" ;;
      *) die "unknown module format $m" ;;
    esac
    echo "$f" >> "$b/modules.order"
  done
  cat > "$b/init" <<'INIT'
#!/bin/busybox sh
# PID 1 of the run-in-kvm-vm guest. Console: ttyS0; command stdout: ttyS1, stderr: ttyS2.
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "INIT-FAIL: $*"; echo 125 > /mnt/ctl/status 2>/dev/null; sync; poweroff -f; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m || fail "insmod $m"; done
[ -c /dev/kvm ] || fail "no /dev/kvm after loading kvm_amd (is svm in: $(grep -o -w -m1 svm /proc/cpuinfo))"
o=trans=virtio,version=9p2000.L,msize=512000
mkdir -p /mnt/ctl /mnt/lower /mnt/upper /mnt/root
mount -t 9p -o $o ctl /mnt/ctl || fail "mount ctl"
mount -t 9p -o $o,cache=loose,ro hostroot /mnt/lower || fail "mount hostroot"
mount -t tmpfs -o mode=755 upper /mnt/upper && mkdir -p /mnt/upper/u /mnt/upper/w
mount -t overlay -o lowerdir=/mnt/lower,upperdir=/mnt/upper/u,workdir=/mnt/upper/w root /mnt/root ||
  fail "mount overlay"
r=/mnt/root
mount -t proc proc $r/proc
mount -t sysfs sysfs $r/sys
mount -t devtmpfs dev $r/dev
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts devpts $r/dev/pts
mount -t tmpfs shm $r/dev/shm
mount -t tmpfs -o mode=755 run $r/run
wd=$(cat /mnt/ctl/workdir)
mkdir -p "$r$wd"
mount -t 9p -o $o,cache=mmap work "$r$wd" || fail "mount workdir $wd"
mkdir -p $r/run/kvm-vm
mount --bind /mnt/ctl $r/run/kvm-vm
stty -F /dev/ttyS1 raw -echo 115200
stty -F /dev/ttyS2 raw -echo 115200
# The VM's own loopback (tests bind 127.0.0.1): busybox init leaves it down.
chroot $r ip link set lo up || fail "loopback up"
echo "KVM-VM-READY $(cut -d' ' -f1 /proc/uptime)"
chroot $r /bin/bash /run/kvm-vm/cmd.sh </dev/null >/dev/ttyS1 2>/dev/ttyS2
rc=$?
echo "KVM-VM-DONE rc=$rc $(cut -d' ' -f1 /proc/uptime)"
echo $rc > /mnt/ctl/status
sync
poweroff -f
INIT
  chmod +x "$b/init"
  (cd "$b" && find . | cpio -o -H newc --quiet | gzip -1) > "$b.cpio.gz"
  mv "$b.cpio.gz" "$initrd"
  rm -rf "$b"
  # drop stale images
  for f in "$cache"/initramfs-*.cpio.gz; do [ "$f" = "$initrd" ] || rm -f "$f"; done
fi

# --- 4. Run directory: command script, status, output fifos ---------------------------------
run=$(mktemp -d /tmp/kvm-vm.XXXXXX)
qpid=
cleanup() {
  trap '' INT TERM HUP
  local qemu_pid
  qemu_pid=$(cat "$run/qemu.pid" 2>/dev/null || true)
  if [ -n "$qpid" ]; then
    # $qpid is timeout(1), which forwards TERM to QEMU; QEMU's own pid is in its pidfile.
    kill "$qpid" 2>/dev/null || true
    [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
    [ -n "$qemu_pid" ] && kill -9 "$qemu_pid" 2>/dev/null || true
    kill -9 "$qpid" 2>/dev/null || true
  fi
  [ -n "${cat_pids:-}" ] && kill $cat_pids 2>/dev/null || true
  rm -rf "$run"
}
trap cleanup EXIT
trap 'echo "run-in-kvm-vm: interrupted" >&2; exit 130' INT TERM HUP
mkdir "$run/ctl"
echo "$workdir" > "$run/ctl/workdir"
{
  echo "# generated by run-in-kvm-vm.sh"
  export -p | grep -v -E '^declare -x (SHLVL|PWD|OLDPWD|_)(=|$)' || true
  printf 'cd %q || exit 125\n' "$cwd"
  printf 'exec'; printf ' %q' "$@"; printf '\n'
} > "$run/ctl/cmd.sh"
mkfifo "$run/out" "$run/err" "$run/con"
cat "$run/out" & cat_pids=$!
cat "$run/err" >&2 & cat_pids="$cat_pids $!"
if [ "$verbose" = 1 ]; then tee "$run/console.log" < "$run/con" >&2 & else cat "$run/con" > "$run/console.log" & fi
cat_pids="$cat_pids $!"

# --- 5. Boot ---------------------------------------------------------------------------------
# -cpu max under TCG has svm+npt (TCG has no nested VMX). No network device at all.
t0=$(date +%s.%N)
timeout --kill-after=5 "$timeout_s" qemu-system-x86_64 \
  -accel tcg -cpu max -smp "$smp" -m "$mem" \
  -nodefaults -no-user-config -display none -no-reboot -nic none -pidfile "$run/qemu.pid" \
  -kernel "$kernel" -initrd "$initrd" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off ${KVM_VM_APPEND:-}" \
  -chardev file,id=con,path="$run/con" -serial chardev:con \
  -chardev file,id=out,path="$run/out" -serial chardev:out \
  -chardev file,id=err,path="$run/err" -serial chardev:err \
  -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
  -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
  -fsdev local,id=work,path="$workdir",security_model=none,multidevs=remap \
  -device virtio-9p-pci,fsdev=work,mount_tag=work \
  -fsdev local,id=ctl,path="$run/ctl",security_model=none \
  -device virtio-9p-pci,fsdev=ctl,mount_tag=ctl \
  ${KVM_VM_QEMU_ARGS:-} \
  </dev/null >/dev/null 2>"$run/qemu.err" &
qpid=$!
set +e
wait "$qpid"; qrc=$?
set -e
qpid=
# If QEMU died before opening the fifos, the readers still block in open(): release them.
for f in out err con; do : <> "$run/$f"; done
wait $cat_pids 2>/dev/null || true
cat_pids=
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  echo "run-in-kvm-vm: timed out after ${timeout_s}s" >&2
  [ "$verbose" = 1 ] || tail -20 "$run/console.log" >&2 2>/dev/null || true
  exit 124
fi
if [ ! -s "$run/ctl/status" ]; then
  echo "run-in-kvm-vm: VM ended without a status (qemu exit $qrc)" >&2
  cat "$run/qemu.err" >&2 || true
  [ "$verbose" = 1 ] || tail -30 "$run/console.log" >&2 2>/dev/null || true
  exit 125
fi
rc=$(cat "$run/ctl/status")
if [ "$verbose" != 1 ] && grep -q INIT-FAIL "$run/console.log" 2>/dev/null; then tail -30 "$run/console.log" >&2; fi
[ -n "${KVM_VM_TIMES:-}" ] && echo "run-in-kvm-vm: wall $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')s; guest: $(grep -o -E 'KVM-VM-(READY [^ ]*|DONE rc=[^ ]* [^ ]*)' "$run/console.log" 2>/dev/null | tr '\n' ' ')" >&2
exit "$rc"
