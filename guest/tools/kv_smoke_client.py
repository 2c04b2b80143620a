# kv smoke-test client (guest/tools/kv-smoke.sh): phase 1 writes and checks, phase 2 checks what a restart recovered.
import socket, sys, time
phase = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.1", 0))
s.settimeout(2.0)
dst = ("198.18.0.10", 7000)
def req(text, tries=5):
    for t in range(tries):
        s.sendto(text.encode(), dst)
        try:
            while True:
                data, _ = s.recvfrom(2048)
                r = data.decode().rstrip("\n")
                ids = " ".join(text.split()[:2])
                if r.startswith(ids + " "):
                    return r
        except socket.timeout:
            print("timeout, retry", text, flush=True)
    return None
fails = 0
def check(text, want):
    global fails
    r = req(text)
    ok = r == want
    if not ok: fails += 1
    print(("ok  " if ok else "BAD ") + text + " -> " + repr(r) + ("" if ok else " want " + repr(want)), flush=True)
if phase == "1":
    check("1 1 SET a hello", "1 1 OK")
    check("1 2 GET a", "1 2 OK hello")
    check("1 3 INCR n", "1 3 OK 1")
    check("1 3 INCR n", "1 3 OK 1")
    check("1 2 INCR n", "1 2 ERR stale-request")
    check("1 4 INCR a", "1 4 ERR not-an-integer")
    check("1 5 DEL nothere", "1 5 NOTFOUND")
    check("1 6 SET bad/key x", "1 6 ERR bad-key")
    t0 = time.time()
    for i in range(200):
        check("2 %d INCR ctr" % (i + 1), "2 %d OK %d" % (i + 1, i + 1))
    dt = time.time() - t0
    print("200 sequential INCRs: %.1f ms each" % (dt * 1000 / 200), flush=True)
    # pipelined burst: many clients at once
    for c in range(10, 60):
        s.sendto(("%d 1 SET k%d v%d" % (c, c, c)).encode(), dst)
    got = set()
    t0 = time.time()
    while len(got) < 50 and time.time() - t0 < 10:
        try:
            data, _ = s.recvfrom(2048)
            got.add(data.decode().split()[0])
        except socket.timeout:
            break
    print("burst replies:", len(got), flush=True)
    if len(got) != 50: fails += 1
    s.sendto(b"\x00\xff garbage", dst)
    s.sendto(b"", dst)
    check("1 7 GET a", "1 7 OK hello")
else:
    check("1 3 INCR n", "1 3 OK 1")
    check("1 8 GET n", "1 8 OK 1")
    check("1 9 GET ctr", "1 9 OK 200")
    check("1 10 GET k33", "1 10 OK v33")
    check("2 200 INCR ctr", "2 200 OK 200")
    check("2 201 INCR ctr", "2 201 OK 201")
print("FAILS", fails, flush=True)
sys.exit(1 if fails else 0)
