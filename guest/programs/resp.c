/*
 * resp: the durable kv store over the Redis protocol (RESP2) on TCP, for redis-cli,
 * redis-benchmark and any Redis client (commands and limits: guest/README.md, "RESP").
 *
 * cmdline: as kv (kvsvc.h: virtio devices, ip=, gw=, disk=none), port=N (default 6379).
 * prints:  "resp ready ip=A.B.C.D port=N keys=K" once serving.
 * exit:    never on its own; 2 bad arguments, 3 missing/broken device or log, 4 disk I/O error.
 *
 * Main loop, one batch per wake-up: every received frame goes through the TCP stack; each
 * connection with input runs its complete commands (replies go into its TCP send buffer,
 * not yet on the wire); the batch's mutations are written and flushed once; only then does
 * tcp_poll() send (replies, ACKs, retransmissions), so no reply leaves before its write is
 * durable, and under ftd's output commit not before the backup has the log behind it.
 * The PIT runs at 100 Hz for the TCP timers; time is clock_ns(), replayed like every input.
 */
#include "ftd.h"
#include "kvsvc.h"
#include "resp.h"
#include "tcp.h"

#define BATCH VIRTIO_NET_RXQ

static struct kvsvc svc;
static struct tcp_stack tcp;
static struct resp_conn conns[TCP_MAX_CONNS]; /* by TCP handle */
static uint8_t open_conn[TCP_MAX_CONNS];
static uint8_t inbuf[TCP_RCV_BUF];
static uint8_t outbuf[TCP_SND_BUF];

static void on_frame(void* ctx, const uint8_t* frame, uint32_t len) { net_input(ctx, frame, len); }

static uint64_t now_ms(void) { return clock_ns() / 1000000u; }

/* Run c's complete commands; 1 if it did anything. */
static int serve(int c, uint64_t now) {
  struct resp_conn* rc = &conns[c];
  int did = 0;
  for (int round = 0; round < 8 && !rc->close; round++) {
    uint32_t n = tcp_peek(&tcp, c, inbuf, sizeof inbuf);
    uint32_t space = tcp_send_space(&tcp, c);
    if (!n || space < RESP_REPLY_MAX / 4) break; /* nothing to do, or wait for ACKs */
    uint32_t out_len = 0;
    int used = resp_process(&svc.kv, rc, inbuf, n, now, outbuf, space, &out_len);
    if (used < 0) {
      printf("resp: log write failed, stopping\n");
      exit(4);
    }
    if (out_len) tcp_send(&tcp, c, outbuf, out_len); /* fits: out_len <= space */
    if (rc->close) used = (int)n; /* QUIT / protocol error: the rest is not read */
    tcp_consume(&tcp, c, (uint32_t)used);
    if (!used && !out_len) break; /* a partial command: wait for the rest */
    did = 1;
  }
  return did;
}

int main(const char* cmdline) {
  uint64_t port = cmdline_u64(cmdline, "port", 6379);
  if (port == 0 || port > 65535) {
    printf("resp: bad port\n");
    return 2;
  }
  kvsvc_start(&svc, cmdline, "resp");
  timer_start(100);
  tcp_init(&tcp, &svc.nif, (uint32_t)(clock_ns() * 2654435761u), now_ms());
  if (tcp_listen(&tcp, (uint16_t)port, 64) != 0) {
    printf("resp: cannot listen on port %u\n", (unsigned)port);
    return 2;
  }
  net_announce(&svc.nif);
  virtio_net_flush(&svc.vnet);
  char ipbuf[16];
  printf("resp ready ip=%s port=%u keys=%u\n", net_fmt_ipv4(svc.ip, ipbuf), (unsigned)port,
         (unsigned)svc.kv.nkeys);

  for (;;) {
    uint64_t seen = ftd_irq_total;
    virtio_ack_irqs();
    uint64_t now = now_ms();
    tcp_set_now(&tcp, now);
    int n = virtio_net_poll(&svc.vnet, BATCH, on_frame, &svc.nif);
    for (int c; (c = tcp_accept(&tcp, (uint16_t)port)) >= 0;) {
      resp_conn_init(&conns[c]);
      open_conn[c] = 1;
    }
    int did = 0;
    for (int c = 0; c < TCP_MAX_CONNS; c++) {
      if (!open_conn[c]) continue;
      int served = serve(c, now);
      did |= served;
      /* closed by the peer with only a partial command left: nothing more can complete it */
      int stuck = !served && tcp_get_state(&tcp, c) == TCP_CLOSE_WAIT;
      int done = tcp_was_reset(&tcp, c) || conns[c].close || tcp_eof(&tcp, c) || stuck;
      if (done) { /* after QUIT: the FIN follows the +OK */
        tcp_close(&tcp, c);
        open_conn[c] = 0;
      }
    }
    if (did) kvsvc_commit(&svc, "resp");
    tcp_poll(&tcp, now);
    virtio_net_flush(&svc.vnet);
    if (n) continue;
    if (virtio_net_arm(&svc.vnet)) continue;
    sys_wait_irq(seen);
  }
}
