/* virtio-blk driver: synchronous 512-byte-sector I/O (ring 3). */
#ifndef FTD_VIRTIO_BLK_H
#define FTD_VIRTIO_BLK_H

#include "virtio.h"

#define VIRTIO_BLK_F_RO (1ull << 5)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)

#define VIRTIO_BLK_SECTOR 512u
#define VIRTIO_BLK_MAX_BYTES (64u * 1024u) /* per request (we negotiate no SEG/SIZE_MAX) */

struct virtio_blk {
  struct virtio_dev dev;
  struct virtq q;
  uint64_t capacity; /* sectors */
  int read_only;
  int has_flush;
};

/* Bring up the device found at `where` (must be DeviceID 2).  0 on success. */
int virtio_blk_init(struct virtio_blk* b, const struct virtio_mmio_desc* where);
/* Each returns 0 on success, -1 on a range error, else the virtio status (1 IOERR, 2 UNSUPP).
 * Buffers may be anywhere in guest RAM; any sector count (split into 64 KiB requests). */
int virtio_blk_read(struct virtio_blk* b, uint64_t sector, void* buf, uint32_t nsectors);
int virtio_blk_write(struct virtio_blk* b, uint64_t sector, const void* buf, uint32_t nsectors);
int virtio_blk_flush(struct virtio_blk* b); /* no-op success if the device lacks FLUSH */
/* Device id string (up to 20 bytes, NUL-terminated in id[21]). */
int virtio_blk_get_id(struct virtio_blk* b, char id[21]);

#endif
