/* The kv guests' shared start-up.  See kvsvc.h. */
#include "kvsvc.h"

#include "ftd.h"

#define MAX_DEVS 8

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

void kvsvc_start(struct kvsvc* s, const char* cmdline, const char* name) {
  uint32_t ip = 0xc612000a, gw = 0; /* 198.18.0.10 */
  int prefix = 15;
  parse_ip_arg(cmdline, "ip", &ip, &prefix);
  parse_ip_arg(cmdline, "gw", &gw, NULL);
  char disk[16] = "";
  cmdline_str(cmdline, "disk", disk, sizeof disk);
  int volatile_mode = strcmp(disk, "none") == 0;

  struct virtio_mmio_desc found[MAX_DEVS];
  int bad = 0;
  int nfound = virtio_mmio_parse_cmdline(cmdline, found, MAX_DEVS, &bad);
  if (bad) printf("%s: %d malformed virtio_mmio.device= word(s) ignored\n", name, bad);
  int have_net = 0, have_blk = 0;
  for (int i = 0; i < nfound; i++) {
    struct virtio_dev probe;
    if (virtio_probe(&probe, &found[i])) {
      printf("%s: no virtio device at 0x%llx\n", name, (unsigned long long)found[i].base);
      continue;
    }
    if (probe.device_id == VIRTIO_ID_NET && !have_net) {
      if (virtio_net_init(&s->vnet, &found[i]) == 0)
        have_net = 1;
      else
        printf("%s: virtio-net at 0x%llx failed to initialise\n", name,
               (unsigned long long)found[i].base);
    } else if (probe.device_id == VIRTIO_ID_BLOCK && !have_blk && !volatile_mode) {
      if (virtio_blk_init(&s->vblk, &found[i]) == 0)
        have_blk = 1;
      else
        printf("%s: virtio-blk at 0x%llx failed to initialise\n", name,
               (unsigned long long)found[i].base);
    }
  }
  if (!have_net) {
    printf("%s: no usable virtio-net device (virtio_mmio.device=...)\n", name);
    exit(3);
  }
  kv_init(&s->kv);
  if (!volatile_mode) {
    if (!have_blk) {
      printf("%s: no usable virtio-blk device (add one, or disk=none for a volatile store)\n",
             name);
      exit(3);
    }
    struct kvlog_disk d = {&s->vblk, s->vblk.capacity, blk_read, blk_write, blk_flush};
    int rc = kv_attach_log(&s->kv, &s->kvlog, &d);
    if (rc != KVLOG_OK) {
      printf("%s: cannot open the log (error %d: %s)\n", name, rc,
             rc == KVLOG_EFORMAT  ? "the disk holds something else"
             : rc == KVLOG_ESMALL ? "disk too small"
                                  : "I/O error");
      exit(rc == KVLOG_EIO ? 4 : 3);
    }
    printf("%s: log epoch %u region %u: %llu records replayed%s\n", name, s->kvlog.epoch,
           s->kvlog.active, (unsigned long long)s->kvlog.records_replayed,
           s->kvlog.stopped_at_bad ? ", torn/corrupt tail dropped" : "");
  }
  uint32_t mask = prefix ? 0xffffffffu << (32 - prefix) : 0;
  s->ip = ip;
  net_init(&s->nif, s->vnet.mac, ip, mask, gw, net_tx, &s->vnet);
}

void kvsvc_commit(struct kvsvc* s, const char* name) {
  int rc = kv_commit(&s->kv);
  if (rc != KVLOG_OK) {
    printf("%s: log write failed (%d), stopping\n", name, rc);
    exit(4);
  }
}
