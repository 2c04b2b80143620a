#!/bin/bash
# Smoke test of the kv guest with ftd's virtio devices; needs root and /dev/kvm, so on
# machines without one run it through the nested-KVM VM:
#   tests/kvm-vm/run-in-kvm-vm.sh --workdir /tmp/kvsmoke -- guest/tools/kv-smoke.sh /tmp/kvsmoke
# Creates tap kvtap0 (198.18.0.1/15), boots kv (198.18.0.10) on a fresh 8 MiB disk, pings it,
# runs kv_smoke_client.py phase 1, kills ftd, boots again on the same disk and checks the
# recovered state (phase 2).  Exit 0 when both phases pass.
set -u
work=${1:-/tmp/kvsmoke}
here=$(cd "$(dirname "$0")" && pwd)
B=${FTD_BUILD:-$here/../../build}
mkdir -p "$work" && cd "$work" || exit 2
modprobe tun 2>/dev/null
ip tuntap add dev kvtap0 mode tap || exit 2
ip addr add 198.18.0.1/15 dev kvtap0
ip link set kvtap0 up
rm -f disk.img && truncate -s 8M disk.img
start() {
  "$B/ftd" run --guest "$B/guest/kv.elf" --disk disk.img --net tap:kvtap0 \
      --cmdline "ip=198.18.0.10/15" --no-stdin >"$1" 2>&1 &
  pid=$!
  for _ in $(seq 1 120); do grep -q "kv ready" "$1" && break; sleep 0.5; done
  cat "$1"
}
start out1.txt
ping -c 2 -W 2 198.18.0.10; p=$?
python3 "$here/kv_smoke_client.py" 1; r1=$?
kill "$pid"; wait "$pid"
start out2.txt
python3 "$here/kv_smoke_client.py" 2; r2=$?
kill "$pid"; wait "$pid"
ip link del kvtap0
echo "kv-smoke: ping=$p phase1=$r1 phase2=$r2"
[ "$p" = 0 ] && [ "$r1" = 0 ] && [ "$r2" = 0 ]
