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
#include "kv.h"

#include "ftd.h"
#include "net.h"
#include "virtio_blk.h"
#include "virtio_net.h"

#define MAX_DEVS 8
#define BATCH VIRTIO_NET_RXQ

static struct virtio_net vnet;
static struct virtio_blk vblk;
static struct netif nif;
static struct kv kv;
static struct kvlog kvlog;
static uint16_t kv_port = 7000;

struct reply {
  uint32_t ip;
  uint16_t port;
  uint16_t len;
  char data[KV_REPLY_MAX];
};
static struct reply replies[BATCH];
static int nreplies;

static int blk_read(void* ctx, uint64_t sector, void* buf, uint32_t n) {
  return virtio_blk_read(ctx, sector, buf, n);
}
static int blk_write(void* ctx, uint64_t sector, const void* buf, uint32_t n) {
  return virtio_blk_write(ctx, sector, buf, n);
}
static int blk_flush(void* ctx) { return virtio_blk_flush(ctx); }

static void net_tx(void* ctx, const uint8_t* frame, uint32_t len) {
  virtio_net_send(ctx, frame, len);
}

static void on_udp(void* ctx, struct netif* n, uint32_t src_ip, uint16_t src_port,
                   uint16_t dst_port, const uint8_t* data, uint32_t len) {
  (void)ctx;
  (void)n;
  if (dst_port != kv_port || nreplies >= BATCH) return;
  struct reply* r = &replies[nreplies];
  int rl = kv_handle(&kv, data, len, r->data, sizeof r->data);
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

static int parse_ip_arg(const char* cmdline, const char* key, uint32_t* ip, int* prefix) {
  size_t len;
  const char* v = cmdline_find(cmdline, key, &len);
  if (!v) return 0;
  if (net_parse_ipv4(v, len, ip, prefix)) {
    printf("cmdline: bad value for %s: '%.*s'\n", key, (int)len, v);
    exit(2);
  }
  return 1;
}

int main(const char* cmdline) {
  uint32_t ip = 0xc612000a, gw = 0; /* 198.18.0.10 */
  int prefix = 15;
  parse_ip_arg(cmdline, "ip", &ip, &prefix);
  parse_ip_arg(cmdline, "gw", &gw, NULL);
  uint64_t port = cmdline_u64(cmdline, "port", 7000);
  if (port == 0 || port > 65535) {
    printf("kv: bad port\n");
    return 2;
  }
  kv_port = (uint16_t)port;
  char disk[16] = "";
  cmdline_str(cmdline, "disk", disk, sizeof disk);
  int volatile_mode = strcmp(disk, "none") == 0;

  struct virtio_mmio_desc found[MAX_DEVS];
  int bad = 0;
  int nfound = virtio_mmio_parse_cmdline(cmdline, found, MAX_DEVS, &bad);
  if (bad) printf("kv: %d malformed virtio_mmio.device= word(s) ignored\n", bad);
  int have_net = 0, have_blk = 0;
  for (int i = 0; i < nfound; i++) {
    struct virtio_dev probe;
    if (virtio_probe(&probe, &found[i])) {
      printf("kv: no virtio device at 0x%llx\n", (unsigned long long)found[i].base);
      continue;
    }
    if (probe.device_id == VIRTIO_ID_NET && !have_net) {
      if (virtio_net_init(&vnet, &found[i]) == 0)
        have_net = 1;
      else
        printf("kv: virtio-net at 0x%llx failed to initialise\n",
               (unsigned long long)found[i].base);
    } else if (probe.device_id == VIRTIO_ID_BLOCK && !have_blk && !volatile_mode) {
      if (virtio_blk_init(&vblk, &found[i]) == 0)
        have_blk = 1;
      else
        printf("kv: virtio-blk at 0x%llx failed to initialise\n",
               (unsigned long long)found[i].base);
    }
  }
  if (!have_net) {
    printf("kv: no usable virtio-net device (virtio_mmio.device=...)\n");
    return 3;
  }
  kv_init(&kv);
  if (!volatile_mode) {
    if (!have_blk) {
      printf("kv: no usable virtio-blk device (add one, or disk=none for a volatile store)\n");
      return 3;
    }
    struct kvlog_disk d = {&vblk, vblk.capacity, blk_read, blk_write, blk_flush};
    int rc = kv_attach_log(&kv, &kvlog, &d);
    if (rc != KVLOG_OK) {
      printf("kv: cannot open the log (error %d: %s)\n", rc,
             rc == KVLOG_EFORMAT  ? "the disk holds something else"
             : rc == KVLOG_ESMALL ? "disk too small"
                                  : "I/O error");
      return rc == KVLOG_EIO ? 4 : 3;
    }
    printf("kv: log epoch %u region %u: %llu records replayed%s\n", kvlog.epoch, kvlog.active,
           (unsigned long long)kvlog.records_replayed,
           kvlog.stopped_at_bad ? ", torn/corrupt tail dropped" : "");
  }

  uint32_t mask = prefix ? 0xffffffffu << (32 - prefix) : 0;
  net_init(&nif, vnet.mac, ip, mask, gw, net_tx, &vnet);
  nif.udp = on_udp;
  net_announce(&nif);
  virtio_net_flush(&vnet);

  char ipbuf[16];
  printf("kv ready ip=%s port=%u keys=%u\n", net_fmt_ipv4(ip, ipbuf), (unsigned)kv_port,
         (unsigned)kv.nkeys);

  for (;;) {
    uint64_t seen = ftd_irq_total;
    virtio_ack_irqs();
    nreplies = 0;
    int n = virtio_net_poll(&vnet, BATCH, on_frame, &nif);
    if (nreplies) {
      int rc = kv_commit(&kv);
      if (rc != KVLOG_OK) {
        printf("kv: log write failed (%d), stopping\n", rc);
        return 4;
      }
      for (int i = 0; i < nreplies; i++)
        net_udp_send(&nif, replies[i].ip, kv_port, replies[i].port, (const uint8_t*)replies[i].data,
                     replies[i].len);
    }
    virtio_net_flush(&vnet);
    if (n) continue;
    if (virtio_net_arm(&vnet)) continue;
    sys_wait_irq(seen);
  }
}
