/*
 * virtio 1.x over virtio-mmio (version 2), split virtqueues, ring 3.
 *
 * Guest RAM is identity-mapped, so a buffer's address is its guest-physical address.  Every
 * register access is a VM exit (8-25 us on the target): the core reads registers only at
 * set-up, writes QueueNotify only when the device asked for it (VIRTIO_F_EVENT_IDX) and touches
 * InterruptACK once per interrupt.
 *
 * Waiting (the kit's race-free pattern):
 *     for (;;) {
 *       uint64_t seen = ftd_irq_total;
 *       virtio_ack_irqs();                       // ack every device whose line fired
 *       if (virtq_has_used(q)) break;            // work to do
 *       if (virtq_arm(q)) break;                 // ask for an interrupt; re-check
 *       sys_wait_irq(seen);
 *     }
 */
#ifndef FTD_VIRTIO_H
#define FTD_VIRTIO_H

#include "ftd_port.h"
#include "virtio_cmdline.h"

#define VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2

#define VIRTIO_F_INDIRECT_DESC (1ull << 28)
#define VIRTIO_F_EVENT_IDX (1ull << 29)
#define VIRTIO_F_VERSION_1 (1ull << 32)

#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED 128u

#define VIRTQ_MAX_SIZE 256

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2

struct virtq_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
struct virtq_avail {
  uint16_t flags;
  uint16_t idx;
  uint16_t ring[]; /* [size], then used_event */
};
struct virtq_used_elem {
  uint32_t id;
  uint32_t len;
};
struct virtq_used {
  uint16_t flags;
  uint16_t idx;
  struct virtq_used_elem ring[]; /* [size], then avail_event */
};

struct virtio_dev;

struct virtq {
  struct virtio_dev* dev;
  uint16_t index; /* queue number */
  uint16_t size;
  volatile struct virtq_desc* desc;
  volatile struct virtq_avail* avail;
  volatile struct virtq_used* used;
  uint16_t avail_idx;  /* our shadow of avail->idx */
  uint16_t kicked_idx; /* avail_idx at the last notify decision */
  uint16_t last_used;  /* next used entry to consume */
  uint16_t free_head;  /* free descriptor list */
  uint16_t num_free;
  uint64_t notifies; /* statistics */
};

struct virtio_dev {
  volatile uint8_t* regs;
  struct virtio_mmio_desc where;
  uint32_t device_id;
  uint64_t features; /* negotiated */
  uint64_t irq_seen; /* ftd_irq_count[irq] at the last ack */
  uint64_t irqs;     /* statistics: interrupts acked */
};

/* Probe the window: magic, version 2, device id != 0.  0 on success, -1 otherwise. */
int virtio_probe(struct virtio_dev* dev, const struct virtio_mmio_desc* where);
/* Reset, ACKNOWLEDGE|DRIVER, negotiate (device & (wanted | VERSION_1 | EVENT_IDX)),
 * FEATURES_OK.  VERSION_1 is required.  Registers the device for virtio_ack_irqs().
 * 0 on success; -1 (status FAILED set) otherwise. */
int virtio_negotiate(struct virtio_dev* dev, uint64_t wanted);
/* Set up queue `index` with at most max_size entries (rings from a static pool). */
int virtq_setup(struct virtio_dev* dev, struct virtq* q, uint16_t index, uint16_t max_size);
/* DRIVER_OK and unmask the device's PIC line. */
void virtio_driver_ok(struct virtio_dev* dev);
void virtio_fail(struct virtio_dev* dev);

uint32_t virtio_cfg_read32(struct virtio_dev* dev, uint32_t off);
uint8_t virtio_cfg_read8(struct virtio_dev* dev, uint32_t off);
uint64_t virtio_cfg_read64(struct virtio_dev* dev, uint32_t off); /* generation-consistent */

struct virtq_buf {
  const void* addr;
  uint32_t len;
  int device_writes; /* 1: device writes it (VIRTQ_DESC_F_WRITE) */
};
/* Chain n buffers (device-readable ones first) and make them available (not yet notified).
 * Returns the head descriptor id, or -1 if there are not enough free descriptors. */
int virtq_add(struct virtq* q, const struct virtq_buf* bufs, int n);
/* Notify the device if it wants to hear about the buffers added since the last kick. */
void virtq_kick(struct virtq* q);
/* Is there a used entry to consume?  (Plain memory read, no exit.) */
static inline int virtq_has_used(const struct virtq* q) {
  FTD_COMPILER_BARRIER();
  return q->used->idx != q->last_used;
}
/* Consume one used entry: returns the head id and sets *len, or -1.  Frees the chain. */
int virtq_get_used(struct virtq* q, uint32_t* len);
/* Ask for an interrupt when the next used entry appears (used_event = last_used), then
 * re-check: returns 1 if an entry is already there (do not sleep). */
int virtq_arm(struct virtq* q);
/* Ask for (almost) no interrupts: used_event far behind (an interrupt at most every 64Ki
 * completions). */
void virtq_disarm(struct virtq* q);

/* Ack InterruptStatus of every negotiated device whose PIC line fired since its last ack.
 * Returns how many devices were acked. */
int virtio_ack_irqs(void);

/* Wait until virtq_has_used(q), acking interrupts as they come. */
void virtq_wait_used(struct virtq* q);

#endif
