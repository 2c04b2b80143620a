/*
 * sysabi: checks the system-call ABI (guest/README.md "System calls") on whichever path the
 * CPU takes: the DPL-3 gate (VMX, SVM, QEMU TCG) or the #UD fallback (PVM).
 *   - an unknown number returns -1;
 *   - every register but RAX (result) and RCX (clobbered) survives a call;
 *   - wait_irq(seen != total) returns at once with the total; three real waits on the PIT;
 *   - mask_irq stops the timer's interrupts from being counted;
 *   - then a genuine `ud2`, which must be reported as an exception (vec=0x06), not taken for a
 *     system call: the VM ends with status 0x7f after the EXCEPTION line.
 * Every line is the same on every path; a test compares them.
 */
#include "ftd.h"

/* One call with known values in every register the ABI keeps; returns how many changed. */
static int clobbered_registers(void) {
  uint64_t in[12] = {0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666,
                     0x7777, 0x8888, 0x9999, 0xaaaa, 0xbbbb, 0xcccc};
  uint64_t out[12];
  __asm__ volatile(
      "push %%rbx\n\t"
      "push %%rbp\n\t"
      "push %%r12\n\t"
      "push %%r13\n\t"
      "push %%r14\n\t"
      "push %%r15\n\t"
      "push %%rdi\n\t" /* &out, after the call */
      "mov 0(%%rsi), %%rbx\n\t"
      "mov 8(%%rsi), %%rbp\n\t"
      "mov 16(%%rsi), %%rdx\n\t"
      "mov 24(%%rsi), %%r8\n\t"
      "mov 32(%%rsi), %%r9\n\t"
      "mov 40(%%rsi), %%r10\n\t"
      "mov 48(%%rsi), %%r11\n\t"
      "mov 56(%%rsi), %%r12\n\t"
      "mov 64(%%rsi), %%r13\n\t"
      "mov 72(%%rsi), %%r14\n\t"
      "mov 80(%%rsi), %%r15\n\t"
      "mov $99, %%eax\n\t" /* unknown number: -1, no side effect */
      "mov 88(%%rsi), %%rdi\n\t"
      "int %[vec]\n\t"
      "mov %%rdi, %%rax\n\t" /* the argument register must survive too */
      "pop %%rdi\n\t"
      "mov %%rbx, 0(%%rdi)\n\t"
      "mov %%rbp, 8(%%rdi)\n\t"
      "mov %%rdx, 16(%%rdi)\n\t"
      "mov %%r8, 24(%%rdi)\n\t"
      "mov %%r9, 32(%%rdi)\n\t"
      "mov %%r10, 40(%%rdi)\n\t"
      "mov %%r11, 48(%%rdi)\n\t"
      "mov %%r12, 56(%%rdi)\n\t"
      "mov %%r13, 64(%%rdi)\n\t"
      "mov %%r14, 72(%%rdi)\n\t"
      "mov %%r15, 80(%%rdi)\n\t"
      "mov %%rax, 88(%%rdi)\n\t"
      "pop %%r15\n\t"
      "pop %%r14\n\t"
      "pop %%r13\n\t"
      "pop %%r12\n\t"
      "pop %%rbp\n\t"
      "pop %%rbx\n\t"
      :
      : "S"(in), "D"(out), [vec] "i"(FTD_SYSCALL_VECTOR)
      : "rax", "rcx", "rdx", "r8", "r9", "r10", "r11", "memory", "cc");
  int changed = 0;
  for (int i = 0; i < 12; i++) changed += out[i] != in[i];
  return changed;
}

/* PIT channel 0's current count (latched): it counts down and reloads once a period. */
static unsigned pit_counter(void) {
  outb(FTD_PORT_PIT_CMD, 0x00); /* counter latch, channel 0 */
  unsigned lo = inb(FTD_PORT_PIT_CH0);
  return lo | (unsigned)inb(FTD_PORT_PIT_CH0) << 8;
}

int main(const char* cmdline) {
  (void)cmdline;
  printf("sysabi: unknown call -> %d\n", (int)(int64_t)ftd_syscall1(99, 0));
  printf("sysabi: registers changed by a call: %d\n", clobbered_registers());

  uint64_t t = ftd_irq_total;
  printf("sysabi: wait(seen != total) %s\n",
         sys_wait_irq(t + 1) == t ? "returned the total at once" : "FAILED");

  timer_start(200);
  uint64_t before = ftd_irq_count[0];
  wait_ticks(3);
  printf("sysabi: 3 timer waits: %s\n", ftd_irq_count[0] - before >= 3 ? "ok" : "FAILED");

  sys_mask_irq(0);
  uint64_t masked = ftd_irq_count[0];
  /* Six PIT periods pass (the counter reloads six times) with IRQ0 masked.  The PIT itself is
   * the time base: the fallback clock of a host without the ftd clock device (QEMU) would stop
   * with IRQ0 masked. */
  unsigned prev = pit_counter(), wraps = 0;
  for (unsigned reads = 0; wraps < 6 && reads < 10000000; reads++) {
    unsigned c = pit_counter();
    wraps += c > prev;
    prev = c;
  }
  printf("sysabi: masked timer: %s\n", wraps == 6 && ftd_irq_count[0] == masked ? "ok" : "FAILED");

  printf("sysabi: a genuine ud2 next\n");
  __asm__ volatile("ud2");
  printf("sysabi: FAILED: ud2 was taken for a system call\n");
  return 1;
}
