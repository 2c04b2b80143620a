/* TCP: building segments, the retransmission timer (RFC 6298), congestion control (RFC 5681,
 * NewReno recovery as RFC 6582 for partial ACKs) and tcp_poll().  See tcp.h. */
#include "tcp_priv.h"

static void put_header(uint8_t* t, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                       uint8_t flags, uint32_t hl, uint16_t wnd) {
  ftd_wr16be(t, sport);
  ftd_wr16be(t + 2, dport);
  ftd_wr32be(t + 4, seq);
  ftd_wr32be(t + 8, ack);
  t[12] = (uint8_t)((hl / 4) << 4);
  t[13] = flags;
  ftd_wr16be(t + 14, wnd);
  ftd_wr16be(t + 16, 0);
  ftd_wr16be(t + 18, 0);
}

static void finish(struct tcp_stack* st, uint32_t rip, uint8_t* t, uint32_t len) {
  struct netif* nif = st->nif;
  ftd_wr16be(t + 16, (uint16_t)~net_csum(t, len, net_pseudo_sum(nif->ip, rip, NET_IPPROTO_TCP, len)));
  st->stats.tx_segments++;
  net_ip_output(nif, rip, len);
}

static uint16_t window(struct tcp_pcb* p) {
  uint32_t w = tcp_rcv_space(p);
  if (w > 65535) w = 65535;
  if (SEQ_GT(p->rcv_nxt + w, p->rcv_adv)) p->rcv_adv = p->rcv_nxt + w;
  return (uint16_t)w;
}

void tcp_send_segment(struct tcp_stack* st, struct tcp_pcb* p, uint32_t seq, uint8_t flags,
                      uint32_t off, uint32_t n) {
  uint32_t hl = TCP_HLEN + ((flags & TCP_SYN) ? 4 : 0);
  uint8_t* t = net_ip_payload(st->nif, p->rip, NET_IPPROTO_TCP, hl + n);
  put_header(t, p->lport, p->rport, seq, p->rcv_nxt, flags, hl, window(p));
  if (flags & TCP_SYN) {
    t[20] = 2; /* MSS */
    t[21] = 4;
    ftd_wr16be(t + 22, (uint16_t)TCP_MSS);
  }
  uint32_t at = (p->tx_head + off) % TCP_SND_BUF;
  uint32_t first = tcp_min(n, TCP_SND_BUF - at);
  memcpy(t + hl, p->tx + at, first);
  memcpy(t + hl + first, p->tx, n - first);
  p->ack_now = 0;
  finish(st, p->rip, t, hl + n);
}

void tcp_send_reset(struct tcp_stack* st, uint32_t rip, uint16_t lport, uint16_t rport,
                    uint32_t seq, uint32_t ack, uint8_t flags) {
  uint8_t* t = net_ip_payload(st->nif, rip, NET_IPPROTO_TCP, TCP_HLEN);
  put_header(t, lport, rport, seq, ack, flags, TCP_HLEN, 0);
  st->stats.tx_rst++;
  finish(st, rip, t, TCP_HLEN);
}

void tcp_send_synack(struct tcp_stack* st, struct tcp_pcb* p) {
  tcp_send_segment(st, p, p->iss, TCP_SYN | TCP_ACK, 0, 0);
}

void tcp_send_rst_for(struct tcp_stack* st, struct tcp_pcb* p) {
  tcp_send_reset(st, p->rip, p->lport, p->rport, p->snd_nxt, p->rcv_nxt, TCP_RST | TCP_ACK);
}

void tcp_arm_rto(struct tcp_stack* st, struct tcp_pcb* p) {
  p->rto_deadline = st->now + p->rto_ms;
}

void tcp_rtt_sample(struct tcp_pcb* p, uint64_t rtt_ms) {
  int64_t r = rtt_ms > 60000 ? 60000 : (int64_t)rtt_ms;
  if (!p->srtt_ms8) {
    p->srtt_ms8 = (uint32_t)(r * 8 + 1); /* +1: "measured" even for a 0 ms sample */
    p->rttvar_ms4 = (uint32_t)(r * 2);
  } else {
    int64_t delta = r - (int64_t)(p->srtt_ms8 >> 3);
    int64_t s = (int64_t)p->srtt_ms8 + delta;
    p->srtt_ms8 = (uint32_t)(s > 1 ? s : 1);
    int64_t v = (int64_t)p->rttvar_ms4 + (delta < 0 ? -delta : delta) - (p->rttvar_ms4 >> 2);
    p->rttvar_ms4 = (uint32_t)(v > 0 ? v : 0);
  }
  uint32_t rto = (p->srtt_ms8 >> 3) + tcp_max(1, p->rttvar_ms4);
  p->rto_ms = rto < TCP_RTO_MIN_MS ? TCP_RTO_MIN_MS : rto > TCP_RTO_MAX_MS ? TCP_RTO_MAX_MS : rto;
}

/* Bytes in flight (sequence space from snd_una to snd_nxt, FIN included). */
static uint32_t flight(const struct tcp_pcb* p) { return p->snd_max - p->snd_una; }

/* The retransmission timer fired. */
static void on_timeout(struct tcp_stack* st, struct tcp_pcb* p) {
  p->rto_deadline = TCP_NO_DEADLINE;
  switch (p->state) {
    case TCP_TIME_WAIT:
    case TCP_FIN_WAIT_2: /* an orphan's wait for the peer's FIN */
      if (p->owned)
        p->state = TCP_CLOSED;
      else
        tcp_pcb_free(st, p);
      return;
    case TCP_SYN_RECEIVED:
      if (++p->retries > TCP_SYN_RETRIES) {
        tcp_pcb_free(st, p);
        return;
      }
      p->rto_ms = tcp_min(p->rto_ms * 2, TCP_RTO_MAX_MS);
      st->stats.retransmits++;
      tcp_send_synack(st, p);
      tcp_arm_rto(st, p);
      return;
    case TCP_CLOSED:
      return;
    default:
      break;
  }
  if (p->snd_una == p->snd_max && p->tx_len == 0) return; /* nothing outstanding */
  int probe = p->snd_wnd == 0 && p->snd_una == p->snd_max;
  if (!probe && ++p->retries > TCP_MAX_RETRIES) {
    tcp_send_rst_for(st, p);
    st->stats.aborted++;
    tcp_pcb_dead(st, p);
    return;
  }
  st->stats.timeouts++;
  if (!probe) {
    p->ssthresh = tcp_max(flight(p) / 2, 2u * p->mss);
    p->cwnd = p->mss;
    p->in_recovery = 0;
    p->dupacks = 0;
    p->snd_nxt = p->snd_una; /* go back: resend from the first unacknowledged byte */
    p->rtt_on = 0;           /* Karn: no sample from a retransmission */
  }
  p->rto_ms = tcp_min(p->rto_ms * 2, TCP_RTO_MAX_MS);
  p->probe = 1;
}

/* Send what the windows allow, the FIN after the last byte, and an ACK if one is owed. */
static void output(struct tcp_stack* st, struct tcp_pcb* p) {
  if (p->state == TCP_SYN_RECEIVED || p->state == TCP_CLOSED) return;
  if (p->state == TCP_TIME_WAIT) {
    if (p->ack_now) tcp_send_segment(st, p, p->snd_nxt, TCP_ACK, 0, 0);
    return;
  }
  if (p->fast_rexmit) { /* one segment from snd_una (RFC 5681 3.2 / RFC 6582) */
    p->fast_rexmit = 0;
    uint32_t n = tcp_min(p->mss, p->tx_len);
    int fin = p->fin_sent && n == p->tx_len;
    if (n || fin) {
      st->stats.fast_retransmits++;
      tcp_send_segment(st, p, p->snd_una, TCP_ACK | (fin ? TCP_FIN : 0), 0, n);
      p->rtt_on = 0; /* Karn: the sample would be ambiguous */
    }
  }
  for (int guard = 0; guard < 64; guard++) {
    uint32_t off = p->snd_nxt - p->snd_una;
    if (off > p->tx_len) break; /* the FIN is out */
    uint32_t avail = p->tx_len - off;
    uint32_t win = tcp_min(p->snd_wnd, p->cwnd);
    uint32_t inflight = p->snd_nxt - p->snd_una;
    uint32_t room = win > inflight ? win - inflight : 0;
    if (p->probe && room == 0 && avail) room = 1; /* zero-window probe: one byte */
    uint32_t n = tcp_min(tcp_min(avail, room), p->mss);
    int fin = p->fin_queued && off + n == p->tx_len;
    if (!n && !fin) break;
    p->probe = 0;
    uint8_t flags = TCP_ACK;
    if (n && off + n == p->tx_len) flags |= TCP_PSH;
    if (fin) flags |= TCP_FIN;
    int rexmit = SEQ_LT(p->snd_nxt, p->snd_max);
    if (rexmit) st->stats.retransmits++;
    if (!p->rtt_on && !rexmit && n) {
      p->rtt_on = 1;
      p->rtt_seq = p->snd_nxt;
      p->rtt_start = st->now;
    }
    tcp_send_segment(st, p, p->snd_nxt, flags, off, n);
    p->snd_nxt += n + (fin ? 1 : 0);
    if (fin) p->fin_sent = 1;
    if (SEQ_GT(p->snd_nxt, p->snd_max)) p->snd_max = p->snd_nxt;
    if (p->rto_deadline == TCP_NO_DEADLINE) tcp_arm_rto(st, p);
    if (fin) break;
  }
  /* persist: data waits for a window the peer has not opened */
  if (p->snd_wnd == 0 && p->tx_len > p->snd_nxt - p->snd_una &&
      p->rto_deadline == TCP_NO_DEADLINE)
    tcp_arm_rto(st, p);
  if (p->ack_now) tcp_send_segment(st, p, p->snd_nxt, TCP_ACK, 0, 0);
}

uint64_t tcp_poll(struct tcp_stack* st, uint64_t now_ms) {
  st->now = now_ms;
  uint64_t next = TCP_NO_DEADLINE;
  for (int i = 0; i < TCP_MAX_CONNS; i++) {
    struct tcp_pcb* p = &st->pcbs[i];
    if (!p->in_use) continue;
    if (p->rto_deadline != TCP_NO_DEADLINE && now_ms >= p->rto_deadline) on_timeout(st, p);
    if (!p->in_use) continue;
    output(st, p);
    if (p->rto_deadline < next) next = p->rto_deadline;
  }
  return next;
}
