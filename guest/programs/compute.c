/*
 * compute: cmdline `iters=N size=S` (defaults 200000, 4096 bytes).  A CPU-bound ring-3 hash
 * chain over an S-byte buffer (compute_kernel.c, shared with the host reference).
 * `hz=H` (default 0: off) runs the PIT at H Hz meanwhile; the result does not depend on it.
 * Output: "compute iters=N size=S result=0x%016llx".  Exit 0, or 2 for bad arguments.
 */
#include "compute_kernel.h"
#include "ftd.h"

#define MAX_SIZE (1u << 20)
static uint64_t buf[MAX_SIZE / 8];

int main(const char* cmdline) {
  uint64_t iters = cmdline_u64(cmdline, "iters", 200000);
  uint64_t size = cmdline_u64(cmdline, "size", 4096);
  /* hz=H: run the PIT during the computation, so the machine takes interrupts (and the EOI
   * exits they cause) in the middle of it: the snapshot tests stop it there. */
  uint64_t hz = cmdline_u64(cmdline, "hz", 0);
  if (hz > 100000) {
    printf("compute: hz must be 0..100000\n");
    return 2;
  }
  if (size < 8 || size % 8 || size > MAX_SIZE) {
    printf("compute: size must be a multiple of 8 in 8..%u\n", MAX_SIZE);
    return 2;
  }
  if (hz) timer_start((uint32_t)hz);
  uint64_t result = ftd_compute(iters, buf, size / 8);
  printf("compute iters=%llu size=%llu result=0x%016llx\n", (unsigned long long)iters,
         (unsigned long long)size, (unsigned long long)result);
  return 0;
}
