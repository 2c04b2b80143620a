/*
 * What the kv guests (kv: UDP, resp: the Redis protocol on TCP) share: the command line's
 * network and disk words, virtio device discovery, the store opened from its log, the IPv4
 * interface brought up and announced.
 *
 * cmdline: virtio_mmio.device=SIZE@BASE:IRQ (one per device: a virtio-net, and a virtio-blk
 *          unless disk=none), ip=A.B.C.D/PREFIX (default 198.18.0.10/15), gw=A.B.C.D,
 *          disk=none (volatile: no log).
 */
#ifndef FTD_KVSVC_H
#define FTD_KVSVC_H

#include "kv.h"
#include "net.h"
#include "virtio_blk.h"
#include "virtio_net.h"

struct kvsvc {
  struct virtio_net vnet;
  struct virtio_blk vblk;
  struct netif nif;
  struct kv kv;
  struct kvlog kvlog;
  uint32_t ip;
};

/* Sets everything up (name prefixes the messages).  On a bad argument or a missing/broken
 * device or log it prints why and exits: 2 bad arguments, 3 device or log, 4 disk I/O. */
void kvsvc_start(struct kvsvc* s, const char* cmdline, const char* name);
/* Make the batch's mutations durable; on failure prints and exits 4. */
void kvsvc_commit(struct kvsvc* s, const char* name);

#endif
