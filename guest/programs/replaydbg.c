/*
 * replaydbg: the replay debugger's workload. cmdline `ticks=N hz=H` (defaults 8, 100). At each
 * timer tick it updates three globals the debugger watches and asserts on:
 *   dbg_counter   the tick number (written once per tick, in dbg_step)
 *   dbg_last_ns   clock_ns() at that tick
 *   dbg_total     the sum of the tick numbers
 * and carries FTD_REPLAY_ASSERT(dbg_counter < 5), which fails at the fifth tick when checked
 * (`ftd replay --replay-asserts`) and costs nothing otherwise. Output: "tick I" per tick, then
 * "replaydbg N total T". Exit 0 (2: bad arguments).
 */
#include "ftd.h"

volatile uint64_t dbg_counter;
volatile uint64_t dbg_last_ns;
volatile uint64_t dbg_total;

__attribute__((noinline)) void dbg_step(uint64_t i) {
  dbg_counter = i;
  dbg_last_ns = clock_ns();
  dbg_total += i;
}

int main(const char* cmdline) {
  uint64_t n = cmdline_u64(cmdline, "ticks", 8);
  uint64_t hz = cmdline_u64(cmdline, "hz", 100);
  if (hz == 0 || hz > 100000) {
    printf("replaydbg: hz must be 1..100000\n");
    return 2;
  }
  timer_start((uint32_t)hz);
  for (uint64_t i = 1; i <= n; i++) {
    wait_ticks(1);
    dbg_step(i);
    FTD_REPLAY_ASSERT(dbg_counter < 5);
    printf("tick %llu\n", (unsigned long long)i);
  }
  printf("replaydbg %llu total %llu\n", (unsigned long long)n, (unsigned long long)dbg_total);
  return 0;
}
