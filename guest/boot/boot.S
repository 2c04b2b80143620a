/*
 * ftd guest boot stub and ring-0 nanokernel.
 *
 * On the target (KVM PVM) every ring-0 instruction is run by KVM's instruction emulator at
 * ~600 ns each, so ring 0 does as little as possible and only with plain integer instructions:
 * no SSE, no INT n / INT3, no SYSRET (we return with IRETQ), no string I/O (no REP OUTS/INS),
 * no RDTSC & co.  Everything that can be static (page tables, GDT, TSS with its I/O bitmap) is
 * assembled into the image so that the loader copies it instead of ring 0 computing it.
 *
 * Flow: Multiboot 32-bit entry -> long mode -> ring-0 setup (TSS, IDT, 8259 PIC)
 * -> IRETQ to ring 3 (_start3 -> rt_start() -> main()) with IF=1.
 * Ring 3 comes back only through the system-call gate (`int $FTD_SYSCALL_VECTOR`: wait_irq,
 * unmask/mask_irq, exit), interrupts (count + EOI + IRETQ; every IRETQ in this file returns to
 * ring 3) and exceptions (report on COM1, end the VM with status 0x7f).
 *
 * Why not SYSCALL: on PVM a SYSCALL from ring 3 jumps to LSTAR but stays at CPL 3 (FACTS.md),
 * so its handler could never STI;HLT, and FMASK's IF=0 could never be undone.  Real ring 0 is
 * reached only through IDT delivery.  `int $0x30` through a DPL-3 interrupt gate is that on
 * VMX, SVM and QEMU TCG; on PVM the same instruction raises #UD at the `cd 30`, and the #UD
 * stub below recognises it (CS.RPL = 3 and those two bytes at the faulting RIP), steps over it
 * and joins the same code.  Both paths leave the same 5-word frame at kstack_top - 40 (#UD has
 * no error code), so one handler serves both.
 *
 * Everything from ftd_ring0_start to ftd_ring0_end runs in ring 0 (tests/unit/guest/
 * guest_isa_test.sh checks that no instruction PVM cannot run appears there).
 */
#include "ftd_abi.h"

#define MB_HEADER_MAGIC 0x1BADB002
#define MB_HEADER_FLAGS 0x00010000 /* bit 16: the a.out-kludge address fields are valid */

/* GDT in the Linux x86-64 layout (PVM runs guest ring 3 with the host's __USER_CS/__USER_DS,
 * 0x33/0x2b; costs nothing to match). */
#define SEL_KCODE 0x10
#define SEL_KDATA 0x18
#define SEL_UDATA 0x2b /* 0x28 | RPL 3 */
#define SEL_UCODE 0x33 /* 0x30 | RPL 3 */
#define SEL_TSS   0x40

#define CR0_VALUE 0x80000033 /* PG | NE | ET | MP | PE; EM=0, TS=0 so ring 3 may use x87/SSE */
#define CR4_VALUE 0x00000620 /* OSXMMEXCPT | OSFXSR | PAE */
#define EFER_VALUE 0x00000100 /* LME; no SCE: SYSCALL is not part of the ABI (see above) */
#define MSR_EFER  0xC0000080

/* 0-31 exceptions, 0x20-0x2f PIC IRQs, 0x30 the system-call gate; anything above is a #GP */
#define IDT_ENTRIES (FTD_SYSCALL_VECTOR + 1)
#define GATE_INTR_DPL0 0x8e00
#define GATE_INTR_DPL3 0xee00
#define USER_RFLAGS 0x202 /* IF=1, IOPL=0 (IOPL is ignored by PVM; the TSS bitmap grants I/O) */

/* ------------------------------------------------------------------------------------------ */
/* Multiboot v1 header with the a.out kludge: QEMU -kernel refuses ELF64 otherwise, and it lets
 * any loader copy the file linearly: file[header_offset ..] -> load_addr .. load_end_addr,
 * then zero up to bss_end_addr.  The linker script keeps everything in one PT_LOAD. */
        .section .mbhdr, "a"
        .balign 4
mb_header:
        .long MB_HEADER_MAGIC
        .long MB_HEADER_FLAGS
        .long -(MB_HEADER_MAGIC + MB_HEADER_FLAGS)
        .long mb_header         /* header_addr */
        .long mb_header         /* load_addr: the header is the first byte of the image */
        .long _edata            /* load_end_addr: end of .data (symbols etc. are not loaded) */
        .long _end              /* bss_end_addr: the loader zeroes [_edata, _end) */
        .long _start32          /* entry_addr */

/* ------------------------------------------------------------------------------------------ */
/* 32-bit entry in the Multiboot state: EAX=0x2BADB002, EBX=multiboot info, flat 32-bit CS/DS/SS,
 * CR0.PE=1 PG=0, IF=0.  No stack is needed here. */
        .text
        .code32
        .globl _start32, ftd_ring0_start, ftd_ring0_end
ftd_ring0_start:
_start32:
        mov     %eax, ftd_mb_magic      /* ring 3 checks the magic and reads the info */
        mov     %ebx, ftd_mb_info
        mov     $pml4, %eax
        mov     %eax, %cr3
        mov     $CR4_VALUE, %eax        /* whole-register writes: no dependence on entry state */
        mov     %eax, %cr4
        mov     $MSR_EFER, %ecx
        mov     $EFER_VALUE, %eax
        xor     %edx, %edx
        wrmsr
        mov     $CR0_VALUE, %eax        /* paging on with LME set -> long mode (compat) */
        mov     %eax, %cr0
        lgdt    gdtr
        ljmp    $SEL_KCODE, $long64

/* ------------------------------------------------------------------------------------------ */
        .code64
long64:
        mov     $SEL_KDATA, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %fs
        mov     %eax, %gs
        mov     %eax, %ss
        lea     kstack_top(%rip), %rsp

        /* TSS descriptor base (the image is below 16 MiB: bits 24-63 stay 0). */
        lea     tss(%rip), %eax
        mov     %ax, gdt_tss+2(%rip)
        shr     $16, %eax
        mov     %al, gdt_tss+4(%rip)
        mov     $SEL_TSS, %eax
        ltr     %ax

        /* IDT: interrupt gates (IF cleared on entry), all handlers below 4 GiB; DPL 0 except
         * the system-call gate, which ring 3 may name in `int`. */
        lea     idt(%rip), %rdi
        lea     vec_table(%rip), %rsi
        mov     $IDT_ENTRIES, %ecx
1:      mov     (%rsi), %eax
        movzwl  %ax, %edx
        or      $(SEL_KCODE << 16), %edx
        mov     %edx, (%rdi)
        and     $0xffff0000, %eax
        or      $GATE_INTR_DPL0, %eax
        mov     %eax, 4(%rdi)           /* bytes 8-15 stay 0 (bss) */
        add     $4, %rsi
        add     $16, %rdi
        dec     %ecx
        jnz     1b
        movb    $(GATE_INTR_DPL3 >> 8), idt+16*FTD_SYSCALL_VECTOR+5(%rip)
        lidt    idtr(%rip)

        /* 8259A pair: ICW1 edge+cascade+ICW4, ICW2 vector bases 0x20/0x28, ICW3 slave on IRQ2,
         * ICW4 8086 mode; then the mask. */
        mov     $0x11, %al
        out     %al, $FTD_PORT_PIC1_CMD
        out     %al, $FTD_PORT_PIC2_CMD
        mov     $FTD_IRQ_VECTOR_BASE, %al
        out     %al, $FTD_PORT_PIC1_DATA
        mov     $(FTD_IRQ_VECTOR_BASE + 8), %al
        out     %al, $FTD_PORT_PIC2_DATA
        mov     $0x04, %al
        out     %al, $FTD_PORT_PIC1_DATA
        mov     $0x02, %al
        out     %al, $FTD_PORT_PIC2_DATA
        mov     $0x01, %al
        out     %al, $FTD_PORT_PIC1_DATA
        out     %al, $FTD_PORT_PIC2_DATA
        mov     pic_mask(%rip), %eax
        out     %al, $FTD_PORT_PIC1_DATA
        mov     %ah, %al
        out     %al, $FTD_PORT_PIC2_DATA

        /* To ring 3 with IF=1 on the user stack. */
        pushq   $SEL_UDATA
        pushq   $ustack_top
        pushq   $USER_RFLAGS
        pushq   $SEL_UCODE
        pushq   $_start3
        iretq

/* ------------------------------------------------------------------------------------------ */
/* System-call entry (the DPL-3 gate, or the #UD stub on PVM): IF=0 (interrupt gate), RSP =
 * kstack_top - 40 holding the IRETQ frame to ring 3 (RIP after the `int`); number in RAX,
 * argument in RDI.  Every path leaves through IRETQ. */
sys_entry:
        test    %eax, %eax
        jnz     sys_other
/* wait_irq(seen): sleep only if no interrupt came since the caller read the total.  IF=0 until
 * the STI, so the check cannot race.  The waking interrupt does not return here: its stub sees
 * that it interrupted ring 0 (which only ever happens in this STI;HLT window) and completes the
 * syscall itself, returning to ring 3 (irq_wake).  So the wake-up is correct even if the STI
 * shadow is not honoured, and there is no ring-0 -> ring-0 IRETQ anywhere. */
sys_wait_irq:
        mov     ftd_irq_total(%rip), %rax
        cmp     %rdi, %rax
        jne     1f
        sti
        hlt
        /* Reached only if the VMM resumes after the HLT without delivering an interrupt: a
         * spurious wake-up, allowed by the contract (callers loop). */
        cli
        mov     ftd_irq_total(%rip), %rax
1:      iretq

sys_other:
        cmp     $FTD_SYS_UNMASK_IRQ, %eax
        je      sys_unmask_irq
        cmp     $FTD_SYS_MASK_IRQ, %eax
        je      sys_mask_irq
        cmp     $FTD_SYS_EXIT, %eax
        je      sys_exit
        mov     $-1, %rax
        iretq

sys_unmask_irq:                         /* pic_mask &= ~(1 << (irq & 15)) */
        mov     %edi, %ecx
        and     $15, %ecx
        mov     $1, %eax
        shl     %cl, %eax
        not     %eax
        and     pic_mask(%rip), %eax
        jmp     set_pic_mask
sys_mask_irq:                           /* pic_mask |= 1 << (irq & 15) */
        mov     %edi, %ecx
        and     $15, %ecx
        mov     $1, %eax
        shl     %cl, %eax
        or      pic_mask(%rip), %eax
set_pic_mask:
        mov     %eax, pic_mask(%rip)
        out     %al, $FTD_PORT_PIC1_DATA
        mov     %ah, %al
        out     %al, $FTD_PORT_PIC2_DATA
        xor     %eax, %eax
        iretq

sys_exit:
        mov     %edi, %eax
        out     %eax, $FTD_PORT_DEBUG_EXIT
halt_forever:                           /* only reached if nothing implements the exit port */
        cli
        hlt
        jmp     halt_forever

/* ------------------------------------------------------------------------------------------ */
/* IRQ stubs: count, EOI, return.  Counters live in ordinary (user-readable) memory.
 * Ring 0 runs with IF=0 except in sys_wait_irq's STI;HLT, so an interrupt that arrives from
 * ring 0 is the wake-up of a wait_irq: drop its frame and finish that syscall (result = total)
 * by IRETQ-ing through the syscall's frame, which sits at kstack_top - 40.  (Not RSP + 40: the
 * CPU may have 16-byte-aligned RSP before pushing the interrupt frame.) */
.macro IRQ_RETURN
        testb   $3, 8(%rsp)             /* RPL of the interrupted CS */
        jz      irq_wake
        iretq
.endm
irq_wake:
        lea     kstack_top-40(%rip), %rsp
        mov     ftd_irq_total(%rip), %rax
        iretq

.macro IRQ_STUB n
irq_\n:
        incq    ftd_irq_count+8*\n(%rip)
        incq    ftd_irq_total(%rip)
        push    %rax
        mov     $0x20, %al              /* non-specific EOI */
  .if \n >= 8
        out     %al, $FTD_PORT_PIC2_CMD
  .endif
        out     %al, $FTD_PORT_PIC1_CMD
        pop     %rax
        IRQ_RETURN
.endm
        IRQ_STUB 0
        IRQ_STUB 1
        IRQ_STUB 2
        IRQ_STUB 3
        IRQ_STUB 4
        IRQ_STUB 5
        IRQ_STUB 6
        IRQ_STUB 8
        IRQ_STUB 9
        IRQ_STUB 10
        IRQ_STUB 11
        IRQ_STUB 12
        IRQ_STUB 13
        IRQ_STUB 14

/* IRQ7 / IRQ15 may be spurious: real only if the PIC's in-service register has bit 7 set
 * (OCW3 0x0b selects ISR for the next read).  A spurious IRQ7 gets no EOI; a spurious IRQ15
 * gets an EOI on the master only (which did see IRQ2). */
irq_7:
        push    %rax
        mov     $0x0b, %al
        out     %al, $FTD_PORT_PIC1_CMD
        in      $FTD_PORT_PIC1_CMD, %al
        test    $0x80, %al
        jz      irq_spurious
        incq    ftd_irq_count+8*7(%rip)
        incq    ftd_irq_total(%rip)
        mov     $0x20, %al
        out     %al, $FTD_PORT_PIC1_CMD
        pop     %rax
        IRQ_RETURN
irq_15:
        push    %rax
        mov     $0x0b, %al
        out     %al, $FTD_PORT_PIC2_CMD
        in      $FTD_PORT_PIC2_CMD, %al
        test    $0x80, %al
        mov     $0x20, %al
        jz      1f
        incq    ftd_irq_count+8*15(%rip)
        incq    ftd_irq_total(%rip)
        out     %al, $FTD_PORT_PIC2_CMD
        out     %al, $FTD_PORT_PIC1_CMD
        pop     %rax
        IRQ_RETURN
1:      out     %al, $FTD_PORT_PIC1_CMD
irq_spurious:                           /* not counted; a wait_irq it ends wakes spuriously */
        incq    ftd_irq_spurious(%rip)
        pop     %rax
        IRQ_RETURN

/* ------------------------------------------------------------------------------------------ */
/* Exceptions: print "EXCEPTION vec=.. err=.. rip=.. cs=.. rsp=.. cr2=.." on COM1 and end the VM
 * with status 0x7f.  Frame after the stub: vec, err, rip, cs, rflags, rsp, ss. */
.macro EXC_STUB n, has_err=0
exc_\n:
  .if \has_err == 0
        pushq   $0
  .endif
        pushq   $\n
        jmp     exc_common
.endm
        EXC_STUB 0
        EXC_STUB 1
        EXC_STUB 2
        EXC_STUB 3
        EXC_STUB 4
        EXC_STUB 5
        EXC_STUB 7
        EXC_STUB 8, 1
        EXC_STUB 9
        EXC_STUB 10, 1
        EXC_STUB 11, 1
        EXC_STUB 12, 1
        EXC_STUB 13, 1
        EXC_STUB 14, 1
        EXC_STUB 15
        EXC_STUB 16
        EXC_STUB 17, 1
        EXC_STUB 18
        EXC_STUB 19
        EXC_STUB 20
        EXC_STUB 21, 1
        EXC_STUB 22
        EXC_STUB 23
        EXC_STUB 24
        EXC_STUB 25
        EXC_STUB 26
        EXC_STUB 27
        EXC_STUB 28
        EXC_STUB 29, 1
        EXC_STUB 30, 1
        EXC_STUB 31

/* #UD: on PVM `int $FTD_SYSCALL_VECTOR` from ring 3 arrives here with RIP at the `cd 30`.
 * Only that exact case is a system call (from ring 3, those two bytes); any other #UD, from
 * either ring, is reported like every exception.  RAX is saved around the check because it
 * carries the system-call number.  No `int` or SSE here: this is ring 0 on PVM. */
exc_6:
        testb   $3, 8(%rsp)             /* RPL of the faulting CS */
        jz      1f
        push    %rax
        mov     8(%rsp), %rax           /* faulting RIP (identity-mapped, readable from ring 0) */
        cmpw    $(0xcd | (FTD_SYSCALL_VECTOR << 8)), (%rax)
        pop     %rax
        jne     1f
        addq    $2, (%rsp)              /* return after the instruction, as the gate would */
        jmp     sys_entry
1:      pushq   $0
        pushq   $6
        jmp     exc_common

exc_common:
        mov     %rsp, %rbx
        lea     s_vec(%rip), %rsi
        mov     0(%rbx), %r8
        mov     $4, %ecx                /* 4 * (digits - 1) */
        call    kput_hex
        lea     s_err(%rip), %rsi
        mov     8(%rbx), %r8
        mov     $60, %ecx
        call    kput_hex
        lea     s_rip(%rip), %rsi
        mov     16(%rbx), %r8
        mov     $60, %ecx
        call    kput_hex
        lea     s_cs(%rip), %rsi
        mov     24(%rbx), %r8
        mov     $4, %ecx
        call    kput_hex
        lea     s_rsp(%rip), %rsi
        mov     40(%rbx), %r8
        mov     $60, %ecx
        call    kput_hex
        lea     s_cr2(%rip), %rsi
        mov     %cr2, %r8
        mov     $60, %ecx
        call    kput_hex
        mov     $'\n', %al
        out     %al, (%dx)
        mov     $FTD_EXIT_EXCEPTION, %eax
        out     %eax, $FTD_PORT_DEBUG_EXIT
        jmp     halt_forever

/* Print the NUL-terminated string at RSI, then "0x" and R8 in hex, high nibble first starting
 * at bit ECX (a multiple of 4).  Clobbers RAX, RCX, RDX, RSI; leaves DX = COM1. */
kput_hex:
        mov     $FTD_PORT_COM1, %edx
1:      movzbl  (%rsi), %eax
        test    %eax, %eax
        jz      2f
        out     %al, (%dx)
        inc     %rsi
        jmp     1b
2:      mov     %r8, %rax
        shr     %cl, %rax
        and     $15, %eax
        cmp     $10, %eax
        jb      3f
        add     $('a' - '0' - 10), %eax
3:      add     $'0', %eax
        out     %al, (%dx)
        sub     $4, %ecx
        jns     2b
        ret
ftd_ring0_end:                          /* end of the ring-0 code */

/* ------------------------------------------------------------------------------------------ */
/* Ring-3 entry (reached by the IRETQ above): RSP = ustack_top, 16-byte aligned. */
        .globl _start3
_start3:
        xor     %ebp, %ebp
        call    rt_start                /* never returns: it calls exit() */
        ud2

/* ------------------------------------------------------------------------------------------ */
        .section .rodata
s_vec:  .asciz "EXCEPTION vec=0x"
s_err:  .asciz " err=0x"
s_rip:  .asciz " rip=0x"
s_cs:   .asciz " cs=0x"
s_rsp:  .asciz " rsp=0x"
s_cr2:  .asciz " cr2=0x"

        .balign 4
vec_table:                              /* IDT handler addresses, vectors 0..47 */
        .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .long exc_\n
        .endr
        .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
        .long irq_\n
        .endr
        .long sys_entry                 /* FTD_SYSCALL_VECTOR */
        .if (. - vec_table) != 4 * IDT_ENTRIES
        .error "vec_table does not match IDT_ENTRIES"
        .endif

/* ------------------------------------------------------------------------------------------ */
        .data
        .balign 8
gdt:
        .quad 0
        .quad 0x00cf9b000000ffff        /* 0x08 ring-0 code, 32-bit (unused) */
        .quad 0x00af9b000000ffff        /* 0x10 ring-0 code, 64-bit */
        .quad 0x00cf93000000ffff        /* 0x18 ring-0 data */
        .quad 0x00cffb000000ffff        /* 0x20 ring-3 code, 32-bit (unused) */
        .quad 0x00cff3000000ffff        /* 0x28 ring-3 data */
        .quad 0x00affb000000ffff        /* 0x30 ring-3 code, 64-bit */
        .quad 0                         /* 0x38 unused */
gdt_tss:                                /* 0x40 64-bit available TSS; base filled at boot */
        .quad 0x0000890000000000 + (tss_end - tss - 1)
        .quad 0
gdt_end:
        .balign 8
gdtr:   .word gdt_end - gdt - 1
        .quad gdt                       /* LGDT in 32-bit mode reads only the low 4 bytes */
        .balign 8
idtr:   .word IDT_ENTRIES * 16 - 1
        .quad idt
        .balign 4
pic_mask:
        .long FTD_PIC_MASK_BOOT         /* shadow of the two 8259 mask registers */

/* 64-bit TSS: RSP0 for interrupts from ring 3, and an I/O permission bitmap with every port
 * open (IOPL is ignored by PVM: ring-3 IN/OUT is allowed only through this bitmap). */
        .balign 16
tss:
        .long 0                         /* reserved */
        .quad kstack_top                /* rsp0 */
        .quad 0, 0                      /* rsp1, rsp2 */
        .quad 0                         /* reserved */
        .quad 0, 0, 0, 0, 0, 0, 0       /* ist1-7 (unused) */
        .quad 0                         /* reserved */
        .word 0                         /* reserved */
        .word iomap - tss               /* I/O map base = 104 */
iomap:  .fill 8192, 1, 0                /* ports 0x0000-0xffff: 0 = allowed */
        .byte 0xff                      /* required terminator */
tss_end:
        .if (iomap - tss) != 104
        .error "TSS layout"
        .endif

/* Identity map of the first 4 GiB with 2 MiB pages, present+writable+USER (so ring 3 can touch
 * RAM and MMIO windows such as 0xd0000000).  Static, so ring 0 never spends time building it. */
        .section .data.pagetables, "aw"
        .balign 4096
pml4:
        .quad pdpt + 0x007              /* P | RW | US */
        .fill 511, 8, 0
pdpt:
        .quad pd + 0x0007, pd + 0x1007, pd + 0x2007, pd + 0x3007
        .fill 508, 8, 0
pd:
        .set addr, 0
        .rept 2048
        .quad addr + 0x87               /* P | RW | US | PS (2 MiB) */
        .set addr, addr + 0x200000
        .endr

/* ------------------------------------------------------------------------------------------ */
        .bss
        .balign 16
idt:    .skip IDT_ENTRIES * 16
        .balign 8
        .globl ftd_irq_count, ftd_irq_total, ftd_irq_spurious, ftd_mb_magic, ftd_mb_info
ftd_irq_count:    .skip 16 * 8          /* per-IRQ counts (IRQ 0..15) */
ftd_irq_total:    .skip 8               /* sum of the above */
ftd_irq_spurious: .skip 8               /* spurious IRQ7/IRQ15, not in the counts */
ftd_mb_magic:     .skip 4               /* EAX at entry */
ftd_mb_info:      .skip 4               /* EBX at entry */
        .balign 16
kstack: .skip 8192
kstack_top:
ustack: .skip 65536
        .globl ustack_top
ustack_top:

        .section .note.GNU-stack, "", @progbits
