/*
 * Timer (8254 PIT channel 0 -> IRQ0) and the monotonic clock.
 *
 * Clock source: the ftd clock device (32-bit IN 0x600 = low half of ns since boot, latching the
 * high half; IN 0x604 = latched high half; IN 0x608 = magic "FTDC").  Each read is two exits.
 * Where the magic does not match (QEMU: unassigned ports read 0xffffffff) the clock falls back
 * to IRQ0 ticks times the programmed PIT period: monotonic, but only tick-granular and only
 * advancing while the PIT interrupt runs (the BIOS's 18.2 Hz until timer_start).
 */
#include "ftd.h"

static uint32_t cur_hz;     /* 0 until timer_start */
static uint64_t period_ns;  /* PIT period for the fallback clock */
static uint64_t fb_base_ns; /* fallback clock value at fb_base_ticks */
static uint64_t fb_base_ticks;
static int clock_state; /* 0 unknown, 1 device, -1 fallback */

int clock_has_device(void) {
  if (!clock_state) clock_state = inl(FTD_PORT_CLOCK_MAGIC) == FTD_CLOCK_MAGIC ? 1 : -1;
  return clock_state > 0;
}

static uint64_t fallback_ns(void) {
  /* Before timer_start assume the BIOS default divisor 65536 (18.2 Hz). */
  uint64_t p = period_ns ? period_ns : (65536ull * 1000000000ull + FTD_PIT_HZ / 2) / FTD_PIT_HZ;
  return fb_base_ns + (timer_ticks() - fb_base_ticks) * p;
}

uint64_t clock_ns(void) {
  if (clock_has_device()) {
    uint32_t lo = inl(FTD_PORT_CLOCK_LO); /* must come first: latches the high half */
    uint32_t hi = inl(FTD_PORT_CLOCK_HI);
    return ((uint64_t)hi << 32) | lo;
  }
  return fallback_ns();
}

void timer_start(uint32_t hz) {
  if (hz == 0) hz = 1;
  uint32_t divisor = (FTD_PIT_HZ + hz / 2) / hz;
  if (divisor < 2) divisor = 2;         /* mode 2 does not allow 1 */
  if (divisor > 65536) divisor = 65536; /* written as 0 */
  if (!clock_has_device()) {
    /* re-base so the fallback clock stays continuous across a rate change */
    fb_base_ns = fallback_ns();
    fb_base_ticks = timer_ticks();
  }
  period_ns = ((uint64_t)divisor * 1000000000ull + FTD_PIT_HZ / 2) / FTD_PIT_HZ;
  cur_hz = hz;
  outb(FTD_PORT_PIT_CMD, 0x34); /* channel 0, lobyte/hibyte, mode 2, binary */
  outb(FTD_PORT_PIT_CH0, (uint8_t)(divisor & 0xff));
  outb(FTD_PORT_PIT_CH0, (uint8_t)((divisor >> 8) & 0xff));
}

uint32_t timer_hz(void) { return cur_hz; }

void wait_ticks(uint64_t n) {
  uint64_t seen = ftd_irq_total; /* read before the condition: no lost wake-up */
  uint64_t target = timer_ticks() + n;
  while (timer_ticks() < target) seen = sys_wait_irq(seen);
}

void sleep_ms(uint64_t ms) {
  if (!cur_hz) timer_start(100);
  wait_ticks((ms * cur_hz + 999) / 1000);
}
