/*
 * ftd guest runtime (ring 3).  Everything here runs natively in ring 3; the only ways into the
 * ring-0 nanokernel are the sys_* calls below (`int $0x30`, see ftd_abi.h), interrupts and
 * exceptions.
 *
 * Guest rules (see guest/README.md): never use RDTSC/RDTSCP/RDPID/RDRAND/RDSEED; time comes
 * from clock_ns() (the ftd clock device, or PIT ticks as a fallback).
 */
#ifndef FTD_H
#define FTD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "ftd_abi.h"

#define FTD_NORETURN __attribute__((noreturn))
#define FTD_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* The program's entry point: cmdline is the Multiboot command line ("" if none). */
int main(const char* cmdline);

/* ---- port I/O (every port is open to ring 3; each access is a VM exit) ---- */
static inline void outb(uint16_t port, uint8_t v) {
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v) {
  __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v) {
  __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint16_t inw(uint16_t port) {
  uint16_t v;
  __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint32_t inl(uint16_t port) {
  uint32_t v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

/* ---- system calls ---- */
static inline uint64_t ftd_syscall1(uint64_t nr, uint64_t arg) {
  uint64_t ret;
  __asm__ volatile("int %[vec]"
                   : "=a"(ret)
                   : "a"(nr), "D"(arg), [vec] "i"(FTD_SYSCALL_VECTOR)
                   : "rcx", "memory");
  return ret;
}
/* Returns the current total interrupt count.  Sleeps (STI;HLT in ring 0) only if the total
 * still equals seen_total, so "read total, check condition, sys_wait_irq(total)" never loses a
 * wake-up. */
static inline uint64_t sys_wait_irq(uint64_t seen_total) {
  return ftd_syscall1(FTD_SYS_WAIT_IRQ, seen_total);
}
static inline void sys_unmask_irq(unsigned irq) { ftd_syscall1(FTD_SYS_UNMASK_IRQ, irq); }
static inline void sys_mask_irq(unsigned irq) { ftd_syscall1(FTD_SYS_MASK_IRQ, irq); }
FTD_NORETURN void sys_exit(uint32_t status);

/* Interrupt counters, incremented by the ring-0 IRQ stubs (plain memory, no exit to read). */
extern volatile uint64_t ftd_irq_count[16];
extern volatile uint64_t ftd_irq_total;
extern volatile uint64_t ftd_irq_spurious;

/* Block until at least one interrupt arrives after the call starts. */
void wait_for_interrupt(void);

/* ---- process ---- */
FTD_NORETURN void exit(int status); /* ftd: VM exit status = status; QEMU: (status << 1) | 1 */

/* ---- console (COM1, one OUT per byte, no polling: the UART is always ready) ---- */
int putchar(int c);
int puts(const char* s);          /* appends '\n' like libc */
int fputs_console(const char* s); /* no '\n' */
int printf(const char* fmt, ...) FTD_PRINTF(1, 2);
int vprintf(const char* fmt, va_list ap);
int snprintf(char* buf, size_t size, const char* fmt, ...) FTD_PRINTF(3, 4);
int vsnprintf(char* buf, size_t size, const char* fmt, va_list ap);

/* ---- strings / memory ---- */
void* memset(void* d, int c, size_t n);
void* memcpy(void* __restrict d, const void* __restrict s, size_t n);
void* memmove(void* d, const void* s, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);
int strcmp(const char* a, const char* b);
int strncmp(const char* a, const char* b, size_t n);
unsigned long strtoul(const char* s, char** end, int base);

/* ---- command line: space-separated words, `key=value` or bare `key` ---- */
/* Value of `key` (pointer into cmdline, not NUL-terminated; *len = its length) or NULL. A bare
 * `key` gives "" with *len = 0. */
const char* cmdline_find(const char* cmdline, const char* key, size_t* len);
/* Copy the value of `key` into buf (NUL-terminated, truncated); returns 1 if found, else 0. */
int cmdline_str(const char* cmdline, const char* key, char* buf, size_t size);
/* Integer value of `key` (decimal, 0x hex, 0 octal); def if absent.  A malformed value prints a
 * message and exits with status 2 (a test must not silently run with a default). */
uint64_t cmdline_u64(const char* cmdline, const char* key, uint64_t def);

/* ---- timer (PIT channel 0, IRQ0) and clock ---- */
#define FTD_PIT_HZ 1193182u
void timer_start(uint32_t hz); /* mode 2 rate generator at ~hz (divisor rounded) */
uint32_t timer_hz(void);       /* 0 until timer_start */
static inline uint64_t timer_ticks(void) { return ftd_irq_count[0]; } /* IRQ0 count since boot */
void wait_ticks(uint64_t n); /* wait for n more IRQ0 interrupts */
void sleep_ms(uint64_t ms);  /* tick-granular; starts the timer at 100 Hz if needed */
/* Monotonic ns since boot: the ftd clock device (ports 0x600-0x60f) when its magic reads
 * "FTDC", else a fallback derived from the IRQ0 count (tick-granular; see README). */
uint64_t clock_ns(void);
int clock_has_device(void);

/* ---- replay-time asserts (docs/debug.md) ----
 * FTD_REPLAY_ASSERT(cond): checked only by `ftd replay --replay-asserts`, never while running
 * or recording. It emits no instruction: the site's address, the line, the file and the text of
 * `cond` go into the image's .ftd_asserts section, which is not loaded, and the replay
 * evaluates the text at the site (an execution breakpoint there) over guest memory by symbol.
 * So `cond` must be an expression over global variables and constants that ftd's assert
 * language reads (assert_expr.h: C operators, casts, symbols); `sizeof` checks it compiles. */
#define FTD_REPLAY_ASSERT(cond)                                                        \
  do {                                                                                 \
    (void)sizeof((cond) ? 1 : 0);                                                      \
    __asm__ volatile("1:\n\t.pushsection .ftd_asserts,\"\",@progbits\n\t.balign 8\n\t" \
                     ".quad 1b\n\t.quad %c0\n\t.asciz \"" __FILE__ "\"\n\t"              \
                     ".asciz \"" #cond "\"\n\t.balign 8\n\t.popsection" ::"i"(__LINE__)); \
  } while (0)

/* ---- Multiboot ---- */
extern uint32_t ftd_mb_magic; /* EAX at entry: 0x2BADB002 for a Multiboot loader */
extern uint32_t ftd_mb_info;  /* EBX at entry: physical (= virtual) address of the info */

#endif
