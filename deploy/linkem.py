#!/usr/bin/env python3
"""linkem: a delayed, lossy IP link between two network namespaces, in user space.

For kernels without sch_netem (`tc qdisc ... netem` fails with "Specified qdisc kind is
unknown", as on the PVM hosts): deploy/testbed.sh impair starts it when netem is missing.
It opens the tun device DEV in namespace A and the tun device DEV in namespace B (both made
by testbed.sh, with host routes to the peer's replication address through them), and carries
every IP packet from one to the other after DELAY_MS, dropping each with probability LOSS_PCT.
The queue is bounded (MAX_QUEUE packets; beyond it packets drop, as a full queue does) and so
is the run (--max-seconds); SIGTERM ends it.

  linkem.py --ns-a /run/netns/A --ns-b /run/netns/B --dev NAME --delay-ms 20 --loss-pct 5
            [--seed N] [--max-seconds 3600]
"""
import argparse
import ctypes
import fcntl
import heapq
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
MAX_QUEUE = 20000
MTU_READ = 65536

libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


def main():
    ap = argparse.ArgumentParser(description="user-space delayed, lossy link between two netns tun devices")
    ap.add_argument("--ns-a", required=True)
    ap.add_argument("--ns-b", required=True)
    ap.add_argument("--dev", required=True)
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument("--loss-pct", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--max-seconds", type=float, default=3600.0)
    o = ap.parse_args()
    if not (0 <= o.delay_ms <= 10000 and 0 <= o.loss_pct <= 100 and 0 < o.max_seconds <= 86400):
        ap.error("delay 0-10000 ms, loss 0-100 %, max-seconds 0-86400")
    rng = random.Random(o.seed)
    enter_netns(o.ns_a)
    fa = open_tun(o.dev)
    enter_netns(o.ns_b)
    fb = open_tun(o.dev)
    peer = {fa: fb, fb: fa}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    delay = o.delay_ms / 1000.0
    end = time.monotonic() + o.max_seconds
    queue = []  # (due, n, out_fd, packet)
    n = dropped = carried = 0
    while True:
        now = time.monotonic()
        if now >= end:
            break
        while queue and queue[0][0] <= now:
            _, _, out, pkt = heapq.heappop(queue)
            try:
                os.write(out, pkt)
                carried += 1
            except OSError:
                dropped += 1  # the device is down (a cut link) or full: the packet is lost
        timeout = min(end - now, (queue[0][0] - now) if queue else 1.0)
        ready, _, _ = select.select([fa, fb], [], [], max(timeout, 0))
        for fd in ready:
            for _ in range(64):  # bounded per wake-up
                try:
                    pkt = os.read(fd, MTU_READ)
                except BlockingIOError:
                    break
                if not pkt:
                    break
                if rng.random() * 100 < o.loss_pct or len(queue) >= MAX_QUEUE:
                    dropped += 1
                    continue
                n += 1
                heapq.heappush(queue, (time.monotonic() + delay, n, peer[fd], pkt))
    print(f"linkem: carried {carried}, dropped {dropped}", file=sys.stderr)


if __name__ == "__main__":
    main()
