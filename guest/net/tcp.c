/* TCP: control blocks, listeners and the application side.  See tcp.h and docs/tcp.md. */
#include "tcp_priv.h"

static void hook(void* ctx, struct netif* nif, uint32_t src, uint32_t dst, const uint8_t* seg,
                 uint32_t len) {
  (void)nif;
  tcp_input(ctx, src, dst, seg, len);
}

void tcp_init(struct tcp_stack* st, struct netif* nif, uint32_t secret, uint64_t now_ms) {
  memset(st, 0, sizeof *st);
  st->nif = nif;
  st->secret = secret;
  st->now = now_ms;
  nif->tcp = hook;
  nif->tcp_ctx = st;
}

int tcp_listen(struct tcp_stack* st, uint16_t port, uint16_t backlog) {
  if (!port || !backlog) return -1;
  struct tcp_listener* slot = NULL;
  for (int i = 0; i < TCP_MAX_LISTENERS; i++) {
    if (st->listeners[i].port == port) return -1;
    if (!st->listeners[i].port && !slot) slot = &st->listeners[i];
  }
  if (!slot) return -1;
  slot->port = port;
  slot->backlog = backlog > TCP_MAX_CONNS ? TCP_MAX_CONNS : backlog;
  return 0;
}

/* ---- control blocks ---- */

/* Everything before the buffers is state; the buffers need no clearing. */
#define PCB_STATE_BYTES offsetof(struct tcp_pcb, rx)

void tcp_pcb_free(struct tcp_stack* st, struct tcp_pcb* p) {
  (void)st;
  memset(p, 0, PCB_STATE_BYTES);
}

void tcp_pcb_dead(struct tcp_stack* st, struct tcp_pcb* p) {
  if (!p->owned) {
    tcp_pcb_free(st, p);
    return;
  }
  p->state = TCP_CLOSED;
  p->reset = 1;
  p->rx_len = 0;
  p->tx_len = 0;
  p->nooo = 0;
  p->rto_deadline = TCP_NO_DEADLINE;
}

void tcp_enter_time_wait(struct tcp_stack* st, struct tcp_pcb* p) {
  p->state = TCP_TIME_WAIT;
  p->stamp = st->now;
  p->tx_len = 0;
  p->rto_deadline = st->now + TCP_TIME_WAIT_MS;
}

static int half_open(const struct tcp_pcb* p, int l) {
  return p->in_use && p->listener == l && p->state == TCP_SYN_RECEIVED;
}

/* A free block for a new connection of listener l: a free one, else the oldest unowned
 * TIME-WAIT one, else (when l is at its half-open limit, the SYN-flood case) l's oldest
 * half-open one.  NULL: refuse. */
struct tcp_pcb* tcp_pcb_alloc(struct tcp_stack* st, int l) {
  struct tcp_pcb *tw = NULL, *ho = NULL;
  uint32_t nho = 0;
  struct tcp_pcb* free_pcb = NULL;
  for (int i = 0; i < TCP_MAX_CONNS; i++) {
    struct tcp_pcb* p = &st->pcbs[i];
    if (!p->in_use) {
      if (!free_pcb) free_pcb = p;
      continue;
    }
    if (p->state == TCP_TIME_WAIT && !p->owned && (!tw || p->stamp < tw->stamp)) tw = p;
    if (half_open(p, l)) {
      nho++;
      if (!ho || p->stamp < ho->stamp) ho = p;
    }
  }
  struct tcp_pcb* p = NULL;
  if (nho >= st->listeners[l].backlog && ho) {
    st->stats.syn_evicted++;
    p = ho;
  } else if (free_pcb) {
    p = free_pcb;
  } else if (tw) {
    st->stats.timewait_reused++;
    p = tw;
  } else if (ho) {
    st->stats.syn_evicted++;
    p = ho;
  }
  if (!p) return NULL;
  tcp_pcb_free(st, p);
  p->in_use = 1;
  p->listener = (uint8_t)l;
  p->stamp = st->now;
  p->rto_deadline = TCP_NO_DEADLINE;
  p->rto_ms = TCP_RTO_INIT_MS;
  return p;
}

static uint32_t mix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

/* RFC 6528: a clock (4 us steps from the ms clock) plus a keyed hash of the connection. */
uint32_t tcp_make_iss(struct tcp_stack* st, uint32_t rip, uint16_t rport, uint16_t lport) {
  uint32_t h = mix32(st->secret ^ mix32(rip ^ mix32(((uint32_t)rport << 16) | lport)));
  st->iss_counter += 64000;
  return h + (uint32_t)(st->now * 250u) + st->iss_counter;
}

uint32_t tcp_active(const struct tcp_stack* st) {
  uint32_t n = 0;
  for (int i = 0; i < TCP_MAX_CONNS; i++) n += st->pcbs[i].in_use;
  return n;
}

/* ---- the application side ---- */

static struct tcp_pcb* owned(const struct tcp_stack* st, int c) {
  if (c < 0 || c >= TCP_MAX_CONNS) return NULL;
  const struct tcp_pcb* p = &st->pcbs[c];
  return p->in_use && p->owned ? (struct tcp_pcb*)p : NULL;
}

int tcp_accept(struct tcp_stack* st, uint16_t port) {
  int best = -1;
  for (int i = 0; i < TCP_MAX_CONNS; i++) {
    struct tcp_pcb* p = &st->pcbs[i];
    if (!p->in_use || p->accepted || p->state == TCP_SYN_RECEIVED || p->state == TCP_CLOSED)
      continue;
    if (st->listeners[p->listener].port != port) continue;
    if (best < 0 || p->stamp < st->pcbs[best].stamp) best = i;
  }
  if (best >= 0) {
    st->pcbs[best].accepted = 1;
    st->pcbs[best].owned = 1;
    st->stats.accepted++;
  }
  return best;
}

uint32_t tcp_readable(const struct tcp_stack* st, int c) {
  const struct tcp_pcb* p = owned(st, c);
  return p ? p->rx_len : 0;
}

uint32_t tcp_peek(const struct tcp_stack* st, int c, uint8_t* buf, uint32_t cap) {
  const struct tcp_pcb* p = owned(st, c);
  if (!p) return 0;
  uint32_t n = tcp_min(cap, p->rx_len);
  uint32_t first = tcp_min(n, TCP_RCV_BUF - p->rx_head);
  memcpy(buf, p->rx + p->rx_head, first);
  memcpy(buf + first, p->rx, n - first);
  return n;
}

void tcp_consume(struct tcp_stack* st, int c, uint32_t n) {
  struct tcp_pcb* p = owned(st, c);
  if (!p) return;
  n = tcp_min(n, p->rx_len);
  p->rx_head = (p->rx_head + n) % TCP_RCV_BUF;
  p->rx_len -= n;
  /* a window update once the right edge can move by a segment or half the buffer */
  uint32_t edge = p->rcv_nxt + tcp_rcv_space(p);
  if (p->state != TCP_CLOSED && (int32_t)(edge - p->rcv_adv) >= (int32_t)tcp_min(TCP_RCV_BUF / 2, p->mss))
    p->ack_now = 1;
}

static int can_send(const struct tcp_pcb* p) {
  return !p->reset && !p->fin_queued &&
         (p->state == TCP_ESTABLISHED || p->state == TCP_CLOSE_WAIT);
}

uint32_t tcp_send_space(const struct tcp_stack* st, int c) {
  const struct tcp_pcb* p = owned(st, c);
  return p && can_send(p) ? TCP_SND_BUF - p->tx_len : 0;
}

uint32_t tcp_send(struct tcp_stack* st, int c, const uint8_t* data, uint32_t len) {
  struct tcp_pcb* p = owned(st, c);
  if (!p || !can_send(p)) return 0;
  uint32_t n = tcp_min(len, TCP_SND_BUF - p->tx_len);
  uint32_t at = (p->tx_head + p->tx_len) % TCP_SND_BUF;
  uint32_t first = tcp_min(n, TCP_SND_BUF - at);
  memcpy(p->tx + at, data, first);
  memcpy(p->tx, data + first, n - first);
  p->tx_len += n;
  return n;
}

int tcp_eof(const struct tcp_stack* st, int c) {
  const struct tcp_pcb* p = owned(st, c);
  return !p || (p->rx_len == 0 && (p->fin_rcvd || p->reset));
}

int tcp_was_reset(const struct tcp_stack* st, int c) {
  const struct tcp_pcb* p = owned(st, c);
  return !p || p->reset;
}

int tcp_all_acked(const struct tcp_stack* st, int c) {
  const struct tcp_pcb* p = owned(st, c);
  return !p || (p->tx_len == 0 && p->snd_una == p->snd_max);
}

enum tcp_state tcp_get_state(const struct tcp_stack* st, int c) {
  const struct tcp_pcb* p = owned(st, c);
  return p ? (enum tcp_state)p->state : TCP_CLOSED;
}

void tcp_shutdown(struct tcp_stack* st, int c) {
  struct tcp_pcb* p = owned(st, c);
  if (!p || p->fin_queued) return;
  if (p->state == TCP_ESTABLISHED) {
    p->state = TCP_FIN_WAIT_1;
  } else if (p->state == TCP_CLOSE_WAIT) {
    p->state = TCP_LAST_ACK;
  } else {
    return;
  }
  p->fin_queued = 1;
  p->stamp = st->now;
}

void tcp_abort(struct tcp_stack* st, int c) {
  struct tcp_pcb* p = owned(st, c);
  if (!p) return;
  if (p->state != TCP_CLOSED && p->state != TCP_TIME_WAIT) tcp_send_rst_for(st, p);
  st->stats.aborted++;
  tcp_pcb_free(st, p);
}

void tcp_close(struct tcp_stack* st, int c) {
  struct tcp_pcb* p = owned(st, c);
  if (!p) return;
  if (p->state == TCP_CLOSED) {
    tcp_pcb_free(st, p);
    return;
  }
  if (p->rx_len) { /* data the application never read: the peer must learn it was lost */
    tcp_abort(st, c);
    return;
  }
  tcp_shutdown(st, c);
  p->owned = 0;
  /* an orphan waiting for the peer's FIN does not wait forever */
  if (p->state == TCP_FIN_WAIT_2) p->rto_deadline = st->now + TCP_TIME_WAIT_MS;
}
