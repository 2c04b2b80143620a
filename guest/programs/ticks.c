/*
 * ticks: cmdline `ticks=N hz=H` (defaults 20, 100).  Programs the PIT at H Hz, waits for N timer
 * interrupts, reads the monotonic clock at each and checks that it never goes backwards.
 * Output: "tick I clock_ns=T" per tick, then "ticks N checksum 0x...", where the checksum
 * depends only on N (FNV-1a over the tick numbers), so it is the same on every run.
 * Exit: 0 ok, 1 the clock went backwards, 2 bad arguments.
 */
#include "ftd.h"

int main(const char* cmdline) {
  uint64_t n = cmdline_u64(cmdline, "ticks", 20);
  uint64_t hz = cmdline_u64(cmdline, "hz", 100);
  if (hz == 0 || hz > 100000) {
    printf("ticks: hz must be 1..100000\n");
    return 2;
  }
  timer_start((uint32_t)hz);

  uint64_t checksum = 0xcbf29ce484222325ull; /* FNV-1a 64 */
  uint64_t prev = clock_ns();
  for (uint64_t i = 1; i <= n; i++) {
    wait_ticks(1);
    uint64_t now = clock_ns();
    if (now < prev) {
      printf("ticks: clock went backwards at tick %llu: %llu < %llu\n", (unsigned long long)i,
             (unsigned long long)now, (unsigned long long)prev);
      return 1;
    }
    prev = now;
    printf("tick %llu clock_ns=%llu\n", (unsigned long long)i, (unsigned long long)now);
    for (int b = 0; b < 8; b++) checksum = (checksum ^ ((i >> (8 * b)) & 0xff)) * 0x100000001b3ull;
  }
  printf("ticks %llu checksum 0x%016llx\n", (unsigned long long)n, (unsigned long long)checksum);
  return 0;
}
