#include "virtio_blk.h"

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8

struct blk_req_hdr {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};

static struct blk_req_hdr req_hdr;
static volatile uint8_t req_status;

int virtio_blk_init(struct virtio_blk* b, const struct virtio_mmio_desc* where) {
  memset(b, 0, sizeof *b);
  if (virtio_probe(&b->dev, where) || b->dev.device_id != VIRTIO_ID_BLOCK) return -1;
  if (virtio_negotiate(&b->dev, VIRTIO_BLK_F_FLUSH | VIRTIO_BLK_F_RO)) return -1;
  if (virtq_setup(&b->dev, &b->q, 0, 16)) {
    virtio_fail(&b->dev);
    return -1;
  }
  b->capacity = virtio_cfg_read64(&b->dev, 0);
  b->read_only = (b->dev.features & VIRTIO_BLK_F_RO) != 0;
  b->has_flush = (b->dev.features & VIRTIO_BLK_F_FLUSH) != 0;
  virtio_driver_ok(&b->dev);
  return 0;
}

/* One request, synchronously: header, optional data, status byte. */
static int do_req(struct virtio_blk* b, uint32_t type, uint64_t sector, void* data, uint32_t len,
                  int device_writes_data) {
  struct virtq_buf bufs[3];
  int n = 0;
  req_hdr.type = type;
  req_hdr.reserved = 0;
  req_hdr.sector = sector;
  req_status = 0xff;
  bufs[n++] = (struct virtq_buf){&req_hdr, sizeof req_hdr, 0};
  if (len) bufs[n++] = (struct virtq_buf){data, len, device_writes_data};
  bufs[n++] = (struct virtq_buf){(const void*)&req_status, 1, 1};
  int head = virtq_add(&b->q, bufs, n);
  if (head < 0) return -1;
  virtq_kick(&b->q);
  for (;;) {
    virtq_wait_used(&b->q);
    uint32_t ulen;
    int id = virtq_get_used(&b->q, &ulen);
    if (id == head) break;
  }
  virtq_disarm(&b->q);
  FTD_COMPILER_BARRIER();
  return req_status;
}

static int rw(struct virtio_blk* b, uint32_t type, uint64_t sector, uint8_t* buf, uint32_t n) {
  if (sector > b->capacity || n > b->capacity - sector) return -1;
  while (n) {
    uint32_t chunk =
        n < VIRTIO_BLK_MAX_BYTES / VIRTIO_BLK_SECTOR ? n : VIRTIO_BLK_MAX_BYTES / VIRTIO_BLK_SECTOR;
    int st = do_req(b, type, sector, buf, chunk * VIRTIO_BLK_SECTOR, type == T_IN);
    if (st) return st;
    sector += chunk;
    buf += chunk * VIRTIO_BLK_SECTOR;
    n -= chunk;
  }
  return 0;
}

int virtio_blk_read(struct virtio_blk* b, uint64_t sector, void* buf, uint32_t nsectors) {
  return rw(b, T_IN, sector, buf, nsectors);
}

int virtio_blk_write(struct virtio_blk* b, uint64_t sector, const void* buf, uint32_t nsectors) {
  if (b->read_only) return 1;
  return rw(b, T_OUT, sector, (uint8_t*)(uintptr_t)buf, nsectors);
}

int virtio_blk_flush(struct virtio_blk* b) {
  if (!b->has_flush) return 0;
  return do_req(b, T_FLUSH, 0, NULL, 0, 0);
}

int virtio_blk_get_id(struct virtio_blk* b, char id[21]) {
  static char buf[20];
  memset(buf, 0, sizeof buf);
  int st = do_req(b, T_GET_ID, 0, buf, sizeof buf, 1);
  memcpy(id, buf, 20);
  id[20] = 0;
  return st;
}
