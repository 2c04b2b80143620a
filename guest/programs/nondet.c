/*
 * nondet: BREAKS the guest contract on purpose, to test that replay catches it.
 * cmdline `ticks=N` (default 60): at each of N timer ticks (100 Hz) it reads RDTSC, which
 * nothing can trap here, and branches on it: the parity picks which counter to bump and
 * what to store in a table.  A replay of a recording takes other branches, and the first
 * epoch hash after that differs (memory, registers).  Prints "nondet a=.. b=.." and exits 0.
 */
#include "ftd.h"

static volatile uint64_t table[512];

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

int main(const char* cmdline) {
  uint64_t n = cmdline_u64(cmdline, "ticks", 60);
  uint64_t a = 0, b = 0;
  timer_start(100);
  for (uint64_t i = 0; i < n; i++) {
    wait_ticks(1);
    uint64_t t = rdtsc();
    if ((t >> 4) & 1) {
      a++;
      table[i % 512] = t;
    } else {
      b++;
      table[(i * 7) % 512] = ~t;
    }
  }
  printf("nondet a=%llu b=%llu\n", (unsigned long long)a, (unsigned long long)b);
  return 0;
}
