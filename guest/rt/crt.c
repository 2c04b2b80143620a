/* Ring-3 start-up: the nanokernel IRETQs to _start3 (boot.S), which calls rt_start(). */
#include "ftd.h"

#define MB_BOOTLOADER_MAGIC 0x2BADB002u
#define MB_INFO_CMDLINE (1u << 2)

void rt_start(void) FTD_NORETURN;

/* The command line is copied because Multiboot loaders (QEMU) put it just above the image, in
 * memory the program may want to use.  Longer lines are truncated. */
static char cmdline_buf[4096];

void rt_start(void) {
  /* Deterministic FPU/SSE state, whatever the loader left (native in ring 3: free). */
  uint32_t mxcsr = 0x1f80;
  __asm__ volatile("fninit; ldmxcsr %0" : : "m"(mxcsr));

  if (ftd_mb_magic == MB_BOOTLOADER_MAGIC && ftd_mb_info != 0) {
    const volatile uint32_t* info = (const volatile uint32_t*)(uintptr_t)ftd_mb_info;
    if ((info[0] & MB_INFO_CMDLINE) && info[4] != 0) {
      const char* src = (const char*)(uintptr_t)info[4];
      size_t i = 0;
      for (; i + 1 < sizeof cmdline_buf && src[i]; i++) cmdline_buf[i] = src[i];
      cmdline_buf[i] = 0;
    }
  }
  exit(main(cmdline_buf));
}

void sys_exit(uint32_t status) {
  ftd_syscall1(FTD_SYS_EXIT, status);
  __builtin_unreachable();
}

void exit(int status) { sys_exit((uint32_t)status); }

void wait_for_interrupt(void) { sys_wait_irq(ftd_irq_total); }
