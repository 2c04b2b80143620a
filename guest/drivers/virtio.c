/* virtio-mmio transport and split virtqueues (ring 3; MMIO through the identity map). */
#include "virtio.h"

#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_DEVICE_FEATURES 0x010
#define R_DEVICE_FEATURES_SEL 0x014
#define R_DRIVER_FEATURES 0x020
#define R_DRIVER_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INTERRUPT_STATUS 0x060
#define R_INTERRUPT_ACK 0x064
#define R_STATUS 0x070
#define R_QUEUE_DESC_LO 0x080
#define R_QUEUE_DESC_HI 0x084
#define R_QUEUE_DRIVER_LO 0x090
#define R_QUEUE_DRIVER_HI 0x094
#define R_QUEUE_DEVICE_LO 0x0a0
#define R_QUEUE_DEVICE_HI 0x0a4
#define R_CONFIG_GENERATION 0x0fc
#define R_CONFIG 0x100

#define MAX_QUEUES 8
#define MAX_DEVS 8

/* Ring memory: per queue one page each for the descriptor table, the available and the used
 * ring (256 entries fit: 4096, 6 + 512, 6 + 2048 bytes). */
static uint8_t vq_pool[MAX_QUEUES][3 * 4096] __attribute__((aligned(4096)));
static int vq_pool_used;

static struct virtio_dev* devs[MAX_DEVS];
static int ndevs;

static inline uint32_t rd32(struct virtio_dev* d, uint32_t off) {
  return *(volatile uint32_t*)(d->regs + off);
}
static inline void wr32(struct virtio_dev* d, uint32_t off, uint32_t v) {
  *(volatile uint32_t*)(d->regs + off) = v;
}

int virtio_probe(struct virtio_dev* dev, const struct virtio_mmio_desc* where) {
  memset(dev, 0, sizeof *dev);
  if (where->base == 0 || where->base >= (1ull << 32) || where->size < 0x100) return -1;
  dev->regs = (volatile uint8_t*)(uintptr_t)where->base;
  dev->where = *where;
  if (rd32(dev, R_MAGIC) != VIRTIO_MMIO_MAGIC) return -1;
  if (rd32(dev, R_VERSION) != 2) return -1;
  dev->device_id = rd32(dev, R_DEVICE_ID);
  if (dev->device_id == 0) return -1;
  return 0;
}

void virtio_fail(struct virtio_dev* dev) {
  wr32(dev, R_STATUS, rd32(dev, R_STATUS) | VIRTIO_STATUS_FAILED);
}

int virtio_negotiate(struct virtio_dev* dev, uint64_t wanted) {
  wr32(dev, R_STATUS, 0); /* reset */
  uint32_t status = VIRTIO_STATUS_ACKNOWLEDGE;
  wr32(dev, R_STATUS, status);
  status |= VIRTIO_STATUS_DRIVER;
  wr32(dev, R_STATUS, status);
  wr32(dev, R_DEVICE_FEATURES_SEL, 0);
  uint64_t have = rd32(dev, R_DEVICE_FEATURES);
  wr32(dev, R_DEVICE_FEATURES_SEL, 1);
  have |= (uint64_t)rd32(dev, R_DEVICE_FEATURES) << 32;
  if (!(have & VIRTIO_F_VERSION_1)) {
    virtio_fail(dev);
    return -1;
  }
  uint64_t feat = have & (wanted | VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX);
  wr32(dev, R_DRIVER_FEATURES_SEL, 0);
  wr32(dev, R_DRIVER_FEATURES, (uint32_t)feat);
  wr32(dev, R_DRIVER_FEATURES_SEL, 1);
  wr32(dev, R_DRIVER_FEATURES, (uint32_t)(feat >> 32));
  status |= VIRTIO_STATUS_FEATURES_OK;
  wr32(dev, R_STATUS, status);
  if (!(rd32(dev, R_STATUS) & VIRTIO_STATUS_FEATURES_OK)) {
    virtio_fail(dev);
    return -1;
  }
  dev->features = feat;
  if (ndevs < MAX_DEVS) devs[ndevs++] = dev;
  return 0;
}

int virtq_setup(struct virtio_dev* dev, struct virtq* q, uint16_t index, uint16_t max_size) {
  memset(q, 0, sizeof *q);
  if (vq_pool_used >= MAX_QUEUES) return -1;
  wr32(dev, R_QUEUE_SEL, index);
  if (rd32(dev, R_QUEUE_READY)) return -1;
  uint32_t max = rd32(dev, R_QUEUE_NUM_MAX);
  if (max == 0) return -1;
  uint32_t size = max < max_size ? max : max_size;
  if (size > VIRTQ_MAX_SIZE) size = VIRTQ_MAX_SIZE;
  while (size & (size - 1)) size &= size - 1; /* power of two */
  uint8_t* mem = vq_pool[vq_pool_used++];
  memset(mem, 0, 3 * 4096);
  q->dev = dev;
  q->index = index;
  q->size = (uint16_t)size;
  q->desc = (volatile struct virtq_desc*)mem;
  q->avail = (volatile struct virtq_avail*)(mem + 4096);
  q->used = (volatile struct virtq_used*)(mem + 8192);
  for (uint32_t i = 0; i < size; i++) q->desc[i].next = (uint16_t)(i + 1);
  q->free_head = 0;
  q->num_free = (uint16_t)size;
  uintptr_t d = (uintptr_t)q->desc, a = (uintptr_t)q->avail, u = (uintptr_t)q->used;
  wr32(dev, R_QUEUE_NUM, size);
  wr32(dev, R_QUEUE_DESC_LO, (uint32_t)d);
  wr32(dev, R_QUEUE_DESC_HI, (uint32_t)((uint64_t)d >> 32));
  wr32(dev, R_QUEUE_DRIVER_LO, (uint32_t)a);
  wr32(dev, R_QUEUE_DRIVER_HI, (uint32_t)((uint64_t)a >> 32));
  wr32(dev, R_QUEUE_DEVICE_LO, (uint32_t)u);
  wr32(dev, R_QUEUE_DEVICE_HI, (uint32_t)((uint64_t)u >> 32));
  wr32(dev, R_QUEUE_READY, 1);
  return 0;
}

void virtio_driver_ok(struct virtio_dev* dev) {
  wr32(dev, R_STATUS, rd32(dev, R_STATUS) | VIRTIO_STATUS_DRIVER_OK);
  dev->irq_seen = ftd_irq_count[dev->where.irq];
  sys_unmask_irq(dev->where.irq);
}

uint8_t virtio_cfg_read8(struct virtio_dev* dev, uint32_t off) {
  return *(volatile uint8_t*)(dev->regs + R_CONFIG + off);
}
uint32_t virtio_cfg_read32(struct virtio_dev* dev, uint32_t off) {
  return rd32(dev, R_CONFIG + off);
}
uint64_t virtio_cfg_read64(struct virtio_dev* dev, uint32_t off) {
  for (;;) {
    uint32_t g = rd32(dev, R_CONFIG_GENERATION);
    uint64_t v = rd32(dev, R_CONFIG + off) | ((uint64_t)rd32(dev, R_CONFIG + off + 4) << 32);
    if (rd32(dev, R_CONFIG_GENERATION) == g) return v;
  }
}

static inline volatile uint16_t* used_event(struct virtq* q) { return &q->avail->ring[q->size]; }
static inline volatile uint16_t* avail_event(struct virtq* q) {
  return (volatile uint16_t*)&q->used->ring[q->size];
}

int virtq_add(struct virtq* q, const struct virtq_buf* bufs, int n) {
  if (n <= 0 || n > q->num_free) return -1;
  uint16_t head = q->free_head, id = head, last = head;
  for (int i = 0; i < n; i++) {
    volatile struct virtq_desc* d = &q->desc[id];
    d->addr = (uint64_t)(uintptr_t)bufs[i].addr;
    d->len = bufs[i].len;
    d->flags = (uint16_t)((bufs[i].device_writes ? VIRTQ_DESC_F_WRITE : 0) |
                          (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
    last = id;
    id = d->next;
  }
  q->free_head = q->desc[last].next;
  q->num_free = (uint16_t)(q->num_free - n);
  q->avail->ring[q->avail_idx & (q->size - 1)] = head;
  q->avail_idx++;
  FTD_COMPILER_BARRIER(); /* x86 keeps stores in order: ring entry before idx */
  q->avail->idx = q->avail_idx;
  return head;
}

void virtq_kick(struct virtq* q) {
  uint16_t old = q->kicked_idx, now = q->avail_idx;
  if (old == now) return;
  q->kicked_idx = now;
  FTD_MB(); /* our avail->idx store before the avail_event load */
  int need;
  if (q->dev->features & VIRTIO_F_EVENT_IDX) {
    uint16_t ev = *avail_event(q);
    need = (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
  } else {
    need = !(q->used->flags & 1); /* VIRTQ_USED_F_NO_NOTIFY */
  }
  if (need) {
    wr32(q->dev, R_QUEUE_NOTIFY, q->index);
    q->notifies++;
  }
}

int virtq_get_used(struct virtq* q, uint32_t* len) {
  if (!virtq_has_used(q)) return -1;
  FTD_COMPILER_BARRIER(); /* idx before the entry (x86 keeps loads in order) */
  volatile struct virtq_used_elem* e = &q->used->ring[q->last_used & (q->size - 1)];
  uint32_t id = e->id;
  if (len) *len = e->len;
  q->last_used++;
  if (id >= q->size) return -1; /* device bug: skip */
  /* free the chain */
  uint16_t i = (uint16_t)id;
  int n = 1;
  while ((q->desc[i].flags & VIRTQ_DESC_F_NEXT) && n < q->size) {
    i = q->desc[i].next;
    n++;
  }
  q->desc[i].next = q->free_head;
  q->free_head = (uint16_t)id;
  q->num_free = (uint16_t)(q->num_free + n);
  return (int)id;
}

int virtq_arm(struct virtq* q) {
  if (q->dev->features & VIRTIO_F_EVENT_IDX) {
    *used_event(q) = q->last_used;
  } else {
    q->avail->flags = 0;
  }
  FTD_MB(); /* used_event store before re-reading used->idx */
  return virtq_has_used(q);
}

void virtq_disarm(struct virtq* q) {
  if (q->dev->features & VIRTIO_F_EVENT_IDX)
    *used_event(q) = (uint16_t)(q->last_used - 1);
  else
    q->avail->flags = 1; /* VIRTQ_AVAIL_F_NO_INTERRUPT */
}

int virtio_ack_irqs(void) {
  int n = 0;
  for (int i = 0; i < ndevs; i++) {
    struct virtio_dev* d = devs[i];
    uint64_t c = ftd_irq_count[d->where.irq];
    if (c == d->irq_seen) continue;
    d->irq_seen = c;
    uint32_t st = rd32(d, R_INTERRUPT_STATUS);
    if (st) wr32(d, R_INTERRUPT_ACK, st);
    d->irqs++;
    n++;
  }
  return n;
}

void virtq_wait_used(struct virtq* q) {
  for (;;) {
    uint64_t seen = ftd_irq_total;
    virtio_ack_irqs();
    if (virtq_has_used(q)) return;
    if (virtq_arm(q)) return;
    sys_wait_irq(seen);
  }
}
