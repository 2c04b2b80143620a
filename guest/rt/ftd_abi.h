/*
 * ftd guest ABI: constants shared by the ring-0 nanokernel (boot/boot.S, included through the C
 * preprocessor) and the ring-3 runtime.  Keep this file assembler-safe: plain #defines only
 * outside the __ASSEMBLER__ guard, no integer suffixes.
 */
#ifndef FTD_ABI_H
#define FTD_ABI_H

/* System calls: `int $FTD_SYSCALL_VECTOR` (a DPL-3 interrupt gate; on PVM the instruction raises
 * #UD and the kernel's #UD stub completes it, see boot/boot.S and README.md) with the number in
 * RAX, the argument in RDI; result in RAX.  Clobbered: RCX (the kernel's scratch).  Everything
 * else is kept.  Not SYSCALL: on PVM it does not leave ring 3. */
#define FTD_SYSCALL_VECTOR 0x30
#define FTD_SYS_WAIT_IRQ                                                   \
  0 /* (seen_total) -> total; sleeps (sti;hlt) only if total == seen_total \
     */
#define FTD_SYS_UNMASK_IRQ 1 /* (irq 0..15)  -> 0 */
#define FTD_SYS_EXIT 2       /* (status)     -> does not return */
#define FTD_SYS_MASK_IRQ 3   /* (irq 0..15)  -> 0 */
/* any other number returns -1 */

/* Ports (all of 0x0000-0xffff are open to ring 3 through the TSS I/O bitmap). */
#define FTD_PORT_COM1 0x3f8
#define FTD_PORT_DEBUG_EXIT 0xf4 /* 32-bit OUT: end the VM with this status */
#define FTD_PORT_PIC1_CMD 0x20
#define FTD_PORT_PIC1_DATA 0x21
#define FTD_PORT_PIC2_CMD 0xa0
#define FTD_PORT_PIC2_DATA 0xa1
#define FTD_PORT_PIT_CH0 0x40
#define FTD_PORT_PIT_CMD 0x43
#define FTD_PORT_CLOCK_LO 0x600    /* 32-bit IN: ns since boot, low half; latches the high half */
#define FTD_PORT_CLOCK_HI 0x604    /* 32-bit IN: latched high half */
#define FTD_PORT_CLOCK_MAGIC 0x608 /* 32-bit IN: FTD_CLOCK_MAGIC */
#define FTD_CLOCK_MAGIC 0x43445446 /* "FTDC" little endian */

#define FTD_IRQ_VECTOR_BASE 0x20 /* master PIC -> 0x20-0x27, slave -> 0x28-0x2f */
#define FTD_EXIT_EXCEPTION 0x7f  /* debug-exit status after an unhandled CPU exception */

/* PIC mask at boot: everything masked except IRQ0 (PIT), IRQ2 (cascade) and IRQ4 (COM1). */
#define FTD_PIC_MASK_BOOT 0xffea

#endif
