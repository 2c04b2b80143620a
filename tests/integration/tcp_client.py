#!/usr/bin/env python3
"""TCP checks against an echo server (the guest kit's TCP), with Linux's stack as the client.

    tcp_client.py HOST PORT basic
    tcp_client.py HOST PORT bulk BYTES SEED        BYTES of random data echoed byte-exact
    tcp_client.py HOST PORT halfclose              data, shutdown(SHUT_WR), the rest and EOF
    tcp_client.py HOST PORT refused                connect must be refused (RST)
    tcp_client.py HOST PORT many N                 N connections open at once, each echoed
    tcp_client.py HOST PORT synflood COUNT SRCNET  COUNT raw SYNs from spoofed sources
                                                   SRCNET.x.y (nobody has them), then exits

Every check is bounded in time (socket timeouts, an overall deadline) and prints one line
"ok ..." or raises (exit 1) with what differed.
"""
import random
import socket
import struct
import sys
import threading
import time

TIMEOUT = 60.0


def connect(host, port):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def recv_exact(s, n):
    out = bytearray()
    while len(out) < n:
        b = s.recv(min(65536, n - len(out)))
        if not b:
            raise RuntimeError(f"EOF after {len(out)} of {n} bytes")
        out += b
    return bytes(out)


def recv_to_eof(s, limit):
    out = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            return bytes(out)
        out += b
        if len(out) > limit:
            raise RuntimeError(f"more than {limit} bytes before EOF")


def basic(host, port):
    s = connect(host, port)
    s.sendall(b"hello, guest\n")
    got = recv_exact(s, 13)
    if got != b"hello, guest\n":
        raise RuntimeError(f"echo differs: {got!r}")
    s.close()
    print("ok basic")


def bulk(host, port, nbytes, seed):
    data = random.Random(seed).randbytes(nbytes)
    s = connect(host, port)
    got = bytearray()
    err = []

    def reader():
        try:
            got.extend(recv_exact(s, nbytes))
        except Exception as e:  # reported below
            err.append(e)

    t = threading.Thread(target=reader)
    t0 = time.monotonic()
    t.start()
    for i in range(0, nbytes, 8192):
        s.sendall(data[i:i + 8192])
    t.join(TIMEOUT * 4)
    if t.is_alive():
        raise RuntimeError(f"bulk: only {len(got)} of {nbytes} bytes back in time")
    if err:
        raise err[0]
    dt = time.monotonic() - t0
    if bytes(got) != data:
        first = next(i for i in range(nbytes) if got[i] != data[i])
        raise RuntimeError(f"bulk: echo differs first at byte {first}")
    s.shutdown(socket.SHUT_WR)
    if recv_to_eof(s, 0) != b"":
        raise RuntimeError("bulk: data after the echo")
    s.close()
    print(f"ok bulk {nbytes} bytes byte-exact in {dt:.2f} s ({nbytes / dt / 1e6:.2f} MB/s)")


def halfclose(host, port):
    s = connect(host, port)
    msg = b"x" * 50000 + b"end"
    s.sendall(msg)
    s.shutdown(socket.SHUT_WR)  # we are done sending; the server still answers
    got = recv_to_eof(s, len(msg))
    if got != msg:
        raise RuntimeError(f"halfclose: got {len(got)} bytes, wanted {len(msg)}")
    s.close()
    print("ok halfclose: all data back, then the server's FIN")


def refused(host, port):
    try:
        s = socket.create_connection((host, port), timeout=10)
    except ConnectionRefusedError:
        print(f"ok refused: port {port} answered RST")
        return
    s.close()
    raise RuntimeError(f"refused: port {port} accepted a connection")


def many(host, port, n):
    socks = [connect(host, port) for _ in range(n)]  # all open before any data
    for i, s in enumerate(socks):
        s.sendall(f"conn {i:04d} ".encode() * 10)
    for i, s in enumerate(socks):
        want = f"conn {i:04d} ".encode() * 10
        got = recv_exact(s, len(want))
        if got != want:
            raise RuntimeError(f"many: connection {i} got {got[:40]!r}")
    for s in socks:
        s.close()
    print(f"ok many: {n} connections open at once, each echoed")


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def synflood(host, port, count, srcnet):
    dst = socket.inet_aton(host)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    rng = random.Random(7)
    a, b = (int(x) for x in srcnet.split("."))
    for i in range(count):
        src = bytes([a, b, rng.randrange(1, 255), rng.randrange(1, 255)])
        sport = rng.randrange(1024, 65535)
        tcp = struct.pack("!HHIIBBHHH", sport, port, rng.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i & 0xFFFF, 0, 64, 6, 0, src, dst)
        raw.sendto(ip + tcp, (host, 0))
        if i % 200 == 199:
            time.sleep(0.01)  # a flood, but not one that only tests the TAP's queue
    raw.close()
    print(f"ok synflood: {count} SYNs sent from {srcnet}.0.0/16")


def main():
    deadline = time.monotonic() + 600
    host, port, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    args = sys.argv[4:]
    if what == "basic":
        basic(host, port)
    elif what == "bulk":
        bulk(host, port, int(args[0]), int(args[1]))
    elif what == "halfclose":
        halfclose(host, port)
    elif what == "refused":
        refused(host, port)
    elif what == "many":
        many(host, port, int(args[0]))
    elif what == "synflood":
        synflood(host, port, int(args[0]), args[1])
    else:
        raise SystemExit(f"unknown check {what}")
    if time.monotonic() > deadline:
        raise RuntimeError("over the overall deadline")


if __name__ == "__main__":
    main()
