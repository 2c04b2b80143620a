/* virtio-net driver (ring 3): RX buffers always posted, TX with completion reclaim, one
 * notify per batch.  Frames are Ethernet frames without FCS; the 12-byte virtio_net_hdr
 * (VERSION_1 layout, num_buffers included) is handled here. */
#ifndef FTD_VIRTIO_NET_H
#define FTD_VIRTIO_NET_H

#include "virtio.h"

#define VIRTIO_NET_F_MAC (1ull << 5)
#define VIRTIO_NET_HDR_LEN 12
#define VIRTIO_NET_BUF 2048
#define VIRTIO_NET_RXQ 128
#define VIRTIO_NET_TXQ 128
#define VIRTIO_NET_MAX_FRAME 1514 /* what we send: no jumbo frames */

struct virtio_net {
  struct virtio_dev dev;
  struct virtq rx, tx;
  uint8_t mac[6];
  uint64_t rx_frames, rx_dropped, tx_frames, tx_waits;
};

typedef void (*virtio_net_rx_fn)(void* ctx, const uint8_t* frame, uint32_t len);

int virtio_net_init(struct virtio_net* n, const struct virtio_mmio_desc* where);
/* Hand up to max received frames to fn (frame valid during the call only), repost the
 * buffers and notify once.  Returns the number of frames. */
int virtio_net_poll(struct virtio_net* n, int max, virtio_net_rx_fn fn, void* ctx);
/* Queue one frame (copied).  When every TX buffer is in flight, notifies and waits for the
 * device to complete one.  Returns 0, or -1 if len is 0 or over VIRTIO_NET_MAX_FRAME. */
int virtio_net_send(struct virtio_net* n, const void* frame, uint32_t len);
/* Notify the device of queued frames (call once per batch) and reclaim completed ones. */
void virtio_net_flush(struct virtio_net* n);
/* True if a received frame is waiting (no exit). */
static inline int virtio_net_rx_pending(const struct virtio_net* n) {
  return virtq_has_used(&n->rx);
}
/* Arm the RX interrupt; returns 1 if a frame is already waiting. */
static inline int virtio_net_arm(struct virtio_net* n) { return virtq_arm(&n->rx); }

#endif
