#!/usr/bin/env python3
"""A Redis-protocol client that checks every reply, for failover tests.

    resp_client.py HOST PORT CONNS SECONDS

CONNS connections are opened, "running" is printed, and they stay open for SECONDS; each one, in turn: SET w{k}:{i % 50} to a unique
value (reply +OK), INCR n{k} (reply exactly the previous + 1: an INCR applied twice or lost
shows here).  With RESP_TIMELINE=FILE set, the end time of every pair is written there
(unix seconds, one per line: bench/resp_bench.sh draws the throughput around a kill).  Any reset, EOF, timeout (30 s) or unexpected reply fails the run.  Then a fresh
connection reads everything back: each key holds its last acknowledged value, each counter the
last acknowledged count.  Prints "ok ..." with the counts and the longest wait for one reply.
"""
import os
import socket
import sys
import threading
import time


class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=30)
        self.s.settimeout(30)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            b = self.s.recv(65536)
            if not b:
                raise RuntimeError("the server closed the connection")
            self.buf += b
        out, self.buf = self.buf.split(b"\r\n", 1)
        return out

    def call(self, *args):
        req = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
        self.s.sendall(req)
        head = self.line()
        if head[:1] == b"$":
            n = int(head[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                b = self.s.recv(65536)
                if not b:
                    raise RuntimeError("the server closed the connection")
                self.buf += b
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if head[:1] == b"-":
            raise RuntimeError(f"error reply: {head.decode(errors='replace')}")
        return head


def worker(host, port, k, seconds, result, errors, ready, stamps):
    try:
        c = Conn(host, port)
        if c.call(b"DEL", b"n%d" % k) not in (b":0", b":1"):
            raise RuntimeError("DEL")
        last = {}
        count = 0
        ready.wait(60)
        worst, worst_at = 0.0, 0.0
        start = time.time()
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            key = b"w%d:%d" % (k, i % 50)
            val = b"v%d:%d" % (k, i)
            t0 = time.monotonic()
            r = c.call(b"SET", key, val)
            if r != b"+OK":
                raise RuntimeError(f"SET {key!r}: {r!r}")
            last[key] = val
            r = c.call(b"INCR", b"n%d" % k)
            if time.monotonic() - t0 > worst:
                worst, worst_at = time.monotonic() - t0, time.time()
            if r != b":%d" % (count + 1):
                raise RuntimeError(f"conn {k}: INCR gave {r!r}, want :{count + 1}")
            count += 1
            i += 1
            if stamps is not None:
                stamps.append(time.time())
        c.s.close()
        result[k] = (last, count, worst, worst_at, start, time.time())
    except Exception as e:
        errors.append(f"conn {k}: {type(e).__name__}: {e}")


def main():
    host, port, conns, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    result, errors = {}, []
    ready = threading.Barrier(conns + 1)
    timeline = os.environ.get("RESP_TIMELINE")
    stamps = [] if timeline else None
    threads = [threading.Thread(target=worker,
                                args=(host, port, k, seconds, result, errors, ready, stamps))
               for k in range(conns)]
    for t in threads:
        t.start()
    ready.wait(60)  # every connection is open: the load starts now
    print(f"running: {conns} connections open", flush=True)
    for t in threads:
        t.join(seconds + 120)
    if timeline:
        with open(timeline, "w") as f:
            f.write("".join(f"{t:.4f}\n" for t in sorted(stamps)))
    if errors or len(result) != conns:
        print("FAIL: " + "; ".join(errors or ["a connection did not finish"]))
        sys.exit(1)
    c = Conn(host, port)
    for k, (last, count, *_) in result.items():
        got = c.call(b"GET", b"n%d" % k)
        if got != b"%d" % count:
            print(f"FAIL: counter n{k} is {got!r} after {count} acknowledged INCRs")
            sys.exit(1)
        for key, val in last.items():
            got = c.call(b"GET", key)
            if got != val:
                print(f"FAIL: {key!r} is {got!r}, last acknowledged {val!r}")
                sys.exit(1)
    total = sum(r[1] for r in result.values())
    worst = max(result.values(), key=lambda r: r[2])
    first = min(r[4] for r in result.values())
    last_end = max(r[5] for r in result.values())
    print(f"ok resp_client: {conns} connections kept open, {total} SET+INCR pairs, every reply "
          f"checked, all read back; longest wait for a reply {worst[2] * 1000:.0f} ms, ending at "
          f"{worst[3]:.3f}; ran {first:.3f} .. {last_end:.3f}")


if __name__ == "__main__":
    main()
