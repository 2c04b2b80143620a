/*
 * kv: a durable key-value service on UDP (see guest/README.md for the protocol, the log
 * format and the limits).
 *
 * cmdline: virtio_mmio.device=SIZE@BASE:IRQ (one per device: a virtio-net, and a virtio-blk
 *          unless disk=none), ip=A.B.C.D/PREFIX (default 198.18.0.10/15), gw=A.B.C.D,
 *          port=N (default 7000), disk=none (volatile: no log).
 * prints:  "kv ready ip=A.B.C.D port=N keys=K" once serving (K = keys recovered from the log).
 * exit:    never on its own; 2 bad arguments, 3 missing/broken device or log, 4 disk I/O error.
 *
 * Main loop, one batch per wake-up: take every received frame (up to the RX ring size),
 * handle requests, append the mutations to the log, write + flush the log once, then send all
 * replies and notify the TX queue once.
 */
#include "ftd.h"
#include "kvsvc.h"

#define BATCH VIRTIO_NET_RXQ

static struct kvsvc svc;
static uint16_t kv_port = 7000;

struct reply {
  uint32_t ip;
  uint16_t port;
  uint16_t len;
  char data[KV_REPLY_MAX];
};
static struct reply replies[BATCH];
static int nreplies;

static void on_udp(void* ctx, struct netif* n, uint32_t src_ip, uint16_t src_port,
                   uint16_t dst_port, const uint8_t* data, uint32_t len) {
  (void)ctx;
  (void)n;
  if (dst_port != kv_port || nreplies >= BATCH) return;
  struct reply* r = &replies[nreplies];
  int rl = kv_handle(&svc.kv, data, len, r->data, sizeof r->data);
  if (rl < 0) {
    printf("kv: log write failed, stopping\n");
    exit(4);
  }
  if (rl == 0) return;
  r->ip = src_ip;
  r->port = src_port;
  r->len = (uint16_t)rl;
  nreplies++;
}

static void on_frame(void* ctx, const uint8_t* frame, uint32_t len) { net_input(ctx, frame, len); }

int main(const char* cmdline) {
  uint64_t port = cmdline_u64(cmdline, "port", 7000);
  if (port == 0 || port > 65535) {
    printf("kv: bad port\n");
    return 2;
  }
  kv_port = (uint16_t)port;
  kvsvc_start(&svc, cmdline, "kv");
  svc.nif.udp = on_udp;
  net_announce(&svc.nif);
  virtio_net_flush(&svc.vnet);

  char ipbuf[16];
  printf("kv ready ip=%s port=%u keys=%u\n", net_fmt_ipv4(svc.ip, ipbuf), (unsigned)kv_port,
         (unsigned)svc.kv.nkeys);

  for (;;) {
    uint64_t seen = ftd_irq_total;
    virtio_ack_irqs();
    nreplies = 0;
    int n = virtio_net_poll(&svc.vnet, BATCH, on_frame, &svc.nif);
    if (nreplies) {
      kvsvc_commit(&svc, "kv");
      for (int i = 0; i < nreplies; i++)
        net_udp_send(&svc.nif, replies[i].ip, kv_port, replies[i].port,
                     (const uint8_t*)replies[i].data, replies[i].len);
    }
    virtio_net_flush(&svc.vnet);
    if (n) continue;
    if (virtio_net_arm(&svc.vnet)) continue;
    sys_wait_irq(seen);
  }
}
