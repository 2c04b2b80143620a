/* Parsing of `virtio_mmio.device=<size>@<base>:<irq>[:<id>]` words (portable, host-tested). */
#ifndef FTD_VIRTIO_CMDLINE_H
#define FTD_VIRTIO_CMDLINE_H

#include "ftd_port.h"

struct virtio_mmio_desc {
  uint64_t base; /* guest-physical address of the register window */
  uint64_t size; /* bytes */
  uint32_t irq;  /* PIC line 0..15 */
};

/* Parse one value "<size>@<base>:<irq>[:<platform-id>]" as Linux's virtio_mmio module does:
 * size and base accept 0x hex / 0 octal / decimal, size may end in K/M/G; irq is a number.
 * Returns 0 on success, -1 if malformed (or irq > 15, size 0). */
int virtio_mmio_parse_one(const char* s, size_t len, struct virtio_mmio_desc* out);

/* Find every `virtio_mmio.device=` word of cmdline, in order; well-formed ones go to out[]
 * (at most max).  Returns how many were stored; malformed words are skipped and counted in
 * *bad (may be NULL). */
int virtio_mmio_parse_cmdline(const char* cmdline, struct virtio_mmio_desc* out, int max, int* bad);

#endif
