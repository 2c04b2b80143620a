/*
 * ioloop: cmdline `iters=N` (default 100000).  N reads of the ftd clock's magic register
 * (port 0x608): one port-I/O exit each, from ring 3.  The benchmark's exits-per-second
 * workload.  Output: "ioloop iters=N ok=N"; exit 0 when every read returned the magic (under
 * QEMU, which has no ftd clock, ok=0 and the exit status is 3).
 */
#include "ftd.h"

int main(const char* cmdline) {
  uint64_t iters = cmdline_u64(cmdline, "iters", 100000);
  uint64_t ok = 0;
  for (uint64_t i = 0; i < iters; i++) ok += inl(FTD_PORT_CLOCK_MAGIC) == FTD_CLOCK_MAGIC;
  printf("ioloop iters=%llu ok=%llu\n", (unsigned long long)iters, (unsigned long long)ok);
  return ok == iters ? 0 : 3;
}
