#include "virtio_net.h"

static uint8_t rx_bufs[VIRTIO_NET_RXQ][VIRTIO_NET_BUF] __attribute__((aligned(64)));
static uint8_t tx_bufs[VIRTIO_NET_TXQ][VIRTIO_NET_BUF] __attribute__((aligned(64)));
static int tx_free[VIRTIO_NET_TXQ]; /* stack of free TX buffer indexes */
static int tx_nfree;
static int tx_by_desc[VIRTQ_MAX_SIZE]; /* descriptor head -> TX buffer */
static int rx_by_desc[VIRTQ_MAX_SIZE]; /* descriptor head -> RX buffer */

static void post_rx(struct virtio_net* n, int i) {
  struct virtq_buf b = {rx_bufs[i], VIRTIO_NET_BUF, 1};
  int head = virtq_add(&n->rx, &b, 1);
  if (head >= 0) rx_by_desc[head] = i;
}

int virtio_net_init(struct virtio_net* n, const struct virtio_mmio_desc* where) {
  memset(n, 0, sizeof *n);
  if (virtio_probe(&n->dev, where) || n->dev.device_id != VIRTIO_ID_NET) return -1;
  if (virtio_negotiate(&n->dev, VIRTIO_NET_F_MAC)) return -1;
  if (virtq_setup(&n->dev, &n->rx, 0, VIRTIO_NET_RXQ) ||
      virtq_setup(&n->dev, &n->tx, 1, VIRTIO_NET_TXQ)) {
    virtio_fail(&n->dev);
    return -1;
  }
  if (n->dev.features & VIRTIO_NET_F_MAC) {
    for (int i = 0; i < 6; i++) n->mac[i] = virtio_cfg_read8(&n->dev, (uint32_t)i);
  } else {
    static const uint8_t def[6] = {0x02, 0x46, 0x54, 0x44, 0x00, 0x01}; /* local, "FTD" */
    memcpy(n->mac, def, 6);
  }
  for (int i = 0; i < n->rx.size; i++) post_rx(n, i);
  tx_nfree = 0;
  for (int i = n->tx.size - 1; i >= 0; i--) tx_free[tx_nfree++] = i;
  virtq_arm(&n->rx);
  virtq_disarm(&n->tx);
  virtio_driver_ok(&n->dev);
  virtq_kick(&n->rx);
  return 0;
}

int virtio_net_poll(struct virtio_net* n, int max, virtio_net_rx_fn fn, void* ctx) {
  int count = 0;
  uint32_t len;
  int id;
  while (count < max && (id = virtq_get_used(&n->rx, &len)) >= 0) {
    int b = rx_by_desc[id];
    if (len > VIRTIO_NET_HDR_LEN && len <= VIRTIO_NET_BUF) {
      n->rx_frames++;
      fn(ctx, rx_bufs[b] + VIRTIO_NET_HDR_LEN, len - VIRTIO_NET_HDR_LEN);
    } else {
      n->rx_dropped++;
    }
    post_rx(n, b);
    count++;
  }
  if (count) virtq_kick(&n->rx);
  return count;
}

static void tx_reclaim(struct virtio_net* n) {
  int id;
  while ((id = virtq_get_used(&n->tx, NULL)) >= 0) tx_free[tx_nfree++] = tx_by_desc[id];
}

int virtio_net_send(struct virtio_net* n, const void* frame, uint32_t len) {
  if (len == 0 || len > VIRTIO_NET_MAX_FRAME) return -1;
  tx_reclaim(n);
  while (tx_nfree == 0) {
    n->tx_waits++;
    virtq_kick(&n->tx);
    virtq_wait_used(&n->tx);
    tx_reclaim(n);
    virtq_disarm(&n->tx);
  }
  int b = tx_free[--tx_nfree];
  uint8_t* p = tx_bufs[b];
  memset(p, 0, VIRTIO_NET_HDR_LEN); /* no offloads; num_buffers 0 on TX */
  memcpy(p + VIRTIO_NET_HDR_LEN, frame, len);
  struct virtq_buf vb = {p, VIRTIO_NET_HDR_LEN + len, 0};
  int head = virtq_add(&n->tx, &vb, 1);
  if (head < 0) { /* cannot happen: as many descriptors as buffers */
    tx_free[tx_nfree++] = b;
    return -1;
  }
  tx_by_desc[head] = b;
  n->tx_frames++;
  return 0;
}

void virtio_net_flush(struct virtio_net* n) {
  virtq_kick(&n->tx);
  tx_reclaim(n);
}
