/* TCP: a segment arrives (RFC 9293 3.10.7, with RFC 5961's challenge ACKs).  Input changes
 * state and sets flags; tcp_poll() sends.  The only segments sent from here are RSTs and
 * SYN-ACKs.  See tcp.h. */
#include "tcp_priv.h"

struct seg {
  uint32_t seq, ack, wnd;
  uint8_t flags;
  uint16_t sport, dport, mss;
  const uint8_t* data;
  uint32_t dlen;
};

static int parse(struct tcp_stack* st, uint32_t src, uint32_t dst, const uint8_t* t, uint32_t len,
                 struct seg* s) {
  if (len < TCP_HLEN) return -1;
  uint32_t doff = (uint32_t)(t[12] >> 4) * 4;
  if (doff < TCP_HLEN || doff > len) return -1;
  if (net_csum(t, len, net_pseudo_sum(src, dst, NET_IPPROTO_TCP, len)) != 0xffff) return -1;
  (void)st;
  s->sport = ftd_rd16be(t);
  s->dport = ftd_rd16be(t + 2);
  s->seq = ftd_rd32be(t + 4);
  s->ack = ftd_rd32be(t + 8);
  s->flags = t[13] & 0x3f;
  s->wnd = ftd_rd16be(t + 14);
  s->mss = 0;
  for (uint32_t i = TCP_HLEN; i < doff;) { /* options: only MSS matters to us */
    uint8_t kind = t[i];
    if (kind == 0) break;
    if (kind == 1) {
      i++;
      continue;
    }
    if (i + 1 >= doff || t[i + 1] < 2 || i + t[i + 1] > doff) return -1;
    if (kind == 2 && t[i + 1] == 4) s->mss = ftd_rd16be(t + i + 2);
    i += t[i + 1];
  }
  s->data = t + doff;
  s->dlen = len - doff;
  if (!s->sport || !s->dport) return -1;
  return 0;
}

static struct tcp_pcb* lookup(struct tcp_stack* st, uint32_t rip, const struct seg* s) {
  for (int i = 0; i < TCP_MAX_CONNS; i++) {
    struct tcp_pcb* p = &st->pcbs[i];
    if (p->in_use && p->state != TCP_CLOSED && p->rip == rip && p->rport == s->sport &&
        p->lport == s->dport)
      return p;
  }
  return NULL;
}

static int listener_of(const struct tcp_stack* st, uint16_t port) {
  for (int i = 0; i < TCP_MAX_LISTENERS; i++)
    if (st->listeners[i].port == port) return i;
  return -1;
}

/* The answer to a segment nobody wants (RFC 9293 3.10.7.1). */
static void refuse(struct tcp_stack* st, uint32_t rip, const struct seg* s) {
  if (s->flags & TCP_RST) return;
  if (s->flags & TCP_ACK) {
    tcp_send_reset(st, rip, s->dport, s->sport, s->ack, 0, TCP_RST);
  } else {
    uint32_t len = s->dlen + !!(s->flags & TCP_SYN) + !!(s->flags & TCP_FIN);
    tcp_send_reset(st, rip, s->dport, s->sport, 0, s->seq + len, TCP_RST | TCP_ACK);
  }
}

static uint32_t queued(const struct tcp_stack* st, int l) {
  uint32_t n = 0;
  for (int i = 0; i < TCP_MAX_CONNS; i++) {
    const struct tcp_pcb* p = &st->pcbs[i];
    n += p->in_use && p->listener == l && !p->accepted && p->state != TCP_SYN_RECEIVED &&
         p->state != TCP_CLOSED;
  }
  return n;
}

/* LISTEN (3.10.7.2). */
static void on_listen(struct tcp_stack* st, int l, uint32_t rip, const struct seg* s) {
  if (s->flags & TCP_RST) return;
  if (s->flags & TCP_ACK) {
    refuse(st, rip, s);
    return;
  }
  if (!(s->flags & TCP_SYN)) return;
  if (queued(st, l) >= st->listeners[l].backlog) { /* nobody accepts: let the client retry */
    st->stats.refused++;
    return;
  }
  struct tcp_pcb* p = tcp_pcb_alloc(st, l);
  if (!p) {
    st->stats.refused++;
    refuse(st, rip, s);
    return;
  }
  p->state = TCP_SYN_RECEIVED;
  p->rip = rip;
  p->rport = s->sport;
  p->lport = s->dport;
  p->irs = s->seq;
  p->rcv_nxt = s->seq + 1; /* data on the SYN is not taken: the peer sends it again */
  p->rcv_adv = p->rcv_nxt;
  p->iss = tcp_make_iss(st, rip, s->sport, s->dport);
  p->snd_una = p->iss;
  p->snd_nxt = p->snd_max = p->iss + 1;
  p->snd_wnd = s->wnd;
  p->snd_wl1 = s->seq;
  p->snd_wl2 = p->iss;
  uint32_t mss = s->mss ? s->mss : TCP_DEFAULT_MSS;
  if (mss < 64) mss = 64; /* a silly MSS must not turn one write into thousands of segments */
  p->mss = (uint16_t)tcp_min(mss, TCP_MSS);
  p->cwnd = tcp_min(4u * p->mss, tcp_max(2u * p->mss, 4380u)); /* RFC 5681 IW */
  p->ssthresh = 65535;
  tcp_send_synack(st, p);
  tcp_arm_rto(st, p);
}

/* RFC 9293 3.10.7.4 first check; may strip data/FIN when the window is zero. */
static int acceptable(const struct tcp_pcb* p, struct seg* s) {
  uint32_t wnd = tcp_rcv_space(p);
  uint32_t slen = s->dlen + !!(s->flags & TCP_SYN) + !!(s->flags & TCP_FIN);
  uint32_t lo = p->rcv_nxt, hi = p->rcv_nxt + wnd;
  int ok;
  if (slen == 0)
    ok = wnd == 0 ? s->seq == lo : SEQ_LEQ(lo, s->seq) && SEQ_LT(s->seq, hi);
  else if (wnd == 0)
    ok = 0;
  else
    ok = (SEQ_LEQ(lo, s->seq) && SEQ_LT(s->seq, hi)) ||
         (SEQ_LEQ(lo, s->seq + slen - 1) && SEQ_LT(s->seq + slen - 1, hi));
  if (!ok && wnd == 0 && s->seq == lo) { /* still take its ACK (and RST) */
    s->dlen = 0;
    s->flags &= (uint8_t)~TCP_FIN;
    ok = 1;
  }
  return ok;
}

/* Out-of-order ranges: insert [a, b), merging what touches it.  0 if there was no room. */
static int ooo_add(struct tcp_pcb* p, uint32_t a, uint32_t b) {
  for (int i = 0; i < p->nooo;) {
    struct tcp_range* r = &p->ooo[i];
    if (SEQ_LEQ(r->start, b) && SEQ_LEQ(a, r->end)) { /* overlaps or touches: absorb */
      if (SEQ_LT(r->start, a)) a = r->start;
      if (SEQ_GT(r->end, b)) b = r->end;
      p->ooo[i] = p->ooo[--p->nooo];
      i = 0;
      continue;
    }
    i++;
  }
  if (p->nooo >= TCP_OOO_RANGES) return 0;
  p->ooo[p->nooo].start = a;
  p->ooo[p->nooo].end = b;
  p->nooo++;
  return 1;
}

/* Advance rcv_nxt over the ranges that now join it. */
static void ooo_join(struct tcp_pcb* p) {
  for (int i = 0; i < p->nooo;) {
    struct tcp_range* r = &p->ooo[i];
    if (SEQ_LEQ(r->start, p->rcv_nxt)) {
      if (SEQ_GT(r->end, p->rcv_nxt)) {
        uint32_t adv = r->end - p->rcv_nxt;
        p->rcv_nxt += adv;
        p->rx_len += adv;
      }
      p->ooo[i] = p->ooo[--p->nooo];
      i = 0;
      continue;
    }
    i++;
  }
}

/* Take the segment's data (already known acceptable). */
static void receive(struct tcp_stack* st, struct tcp_pcb* p, uint32_t seq, const uint8_t* d,
                    uint32_t n) {
  if (SEQ_LT(seq, p->rcv_nxt)) { /* the front was already here */
    uint32_t skip = p->rcv_nxt - seq;
    if (skip >= n) return;
    d += skip;
    n -= skip;
    seq = p->rcv_nxt;
  }
  uint32_t off = seq - p->rcv_nxt;
  uint32_t space = tcp_rcv_space(p);
  p->ack_now = 1;
  if (off < space) {
    n = tcp_min(n, space - off);
    uint32_t at = (p->rx_head + p->rx_len + off) % TCP_RCV_BUF;
    uint32_t first = tcp_min(n, TCP_RCV_BUF - at);
    memcpy(p->rx + at, d, first);
    memcpy(p->rx, d + first, n - first);
  }
  if (off == 0) {
    p->rcv_nxt += n;
    p->rx_len += n;
    if (!p->nooo) return; /* the usual case: the ACK goes with the next poll's output */
    ooo_join(p);
  } else {
    st->stats.rx_ooo++;
    if (off < space) ooo_add(p, seq, seq + n);
  }
  /* RFC 5681 4.2: an out-of-order segment, or one that fills a gap, is acknowledged at once
   * (one duplicate ACK per segment is what lets the sender's fast retransmit work). */
  tcp_send_segment(st, p, p->snd_nxt, TCP_ACK, 0, 0);
}

/* The ACK field in a synchronized state (3.10.7.4 fifth check).  0: drop the segment. */
static int on_ack(struct tcp_stack* st, struct tcp_pcb* p, const struct seg* s) {
  if (SEQ_GT(s->ack, p->snd_max)) { /* acknowledges what we never sent */
    p->ack_now = 1;
    return 0;
  }
  uint32_t old_wnd = p->snd_wnd;
  if (SEQ_LT(p->snd_wl1, s->seq) || (p->snd_wl1 == s->seq && SEQ_LEQ(p->snd_wl2, s->ack))) {
    p->snd_wnd = s->wnd;
    p->snd_wl1 = s->seq;
    p->snd_wl2 = s->ack;
  }
  if (p->snd_wnd == 0) p->retries = 0; /* the peer answers our probes: it is alive */
  if (SEQ_GT(s->ack, p->snd_una)) {
    uint32_t acked = s->ack - p->snd_una;
    uint32_t data = tcp_min(acked, p->tx_len);
    p->tx_head = (p->tx_head + data) % TCP_SND_BUF;
    p->tx_len -= data;
    p->snd_una = s->ack;
    if (SEQ_LT(p->snd_nxt, p->snd_una)) p->snd_nxt = p->snd_una;
    if (p->rtt_on && SEQ_GT(s->ack, p->rtt_seq)) {
      tcp_rtt_sample(p, st->now - p->rtt_start);
      p->rtt_on = 0;
    }
    p->retries = 0;
    p->dupacks = 0;
    if (p->in_recovery) {
      if (SEQ_GEQ(s->ack, p->recover)) {
        p->in_recovery = 0;
        p->cwnd = p->ssthresh;
      } else { /* partial ACK: the next hole, at once (RFC 6582) */
        p->fast_rexmit = 1;
        p->cwnd = tcp_max(p->cwnd > data ? p->cwnd - data + p->mss : p->mss, p->mss);
      }
    } else if (p->cwnd < p->ssthresh) {
      p->cwnd += tcp_min(data, p->mss);
    } else {
      p->cwnd += tcp_max(1u, (uint32_t)p->mss * p->mss / p->cwnd);
    }
    if (p->cwnd > 4u * TCP_SND_BUF) p->cwnd = 4u * TCP_SND_BUF;
    if (p->snd_una == p->snd_max)
      p->rto_deadline = TCP_NO_DEADLINE;
    else
      tcp_arm_rto(st, p);
    return 1;
  }
  /* a duplicate: only a pure ACK with unchanged window while data is out counts */
  if (s->ack == p->snd_una && s->dlen == 0 && !(s->flags & (TCP_SYN | TCP_FIN)) &&
      s->wnd == old_wnd && p->snd_max != p->snd_una) {
    st->stats.rx_dup++;
    if (++p->dupacks == 3 && !p->in_recovery) {
      p->ssthresh = tcp_max((p->snd_max - p->snd_una) / 2, 2u * p->mss);
      p->cwnd = p->ssthresh + 3u * p->mss;
      p->recover = p->snd_max;
      p->in_recovery = 1;
      p->fast_rexmit = 1;
    } else if (p->dupacks > 3 && p->in_recovery) {
      p->cwnd += p->mss;
    }
  }
  return 1;
}

static int our_fin_acked(const struct tcp_pcb* p) { return p->fin_sent && p->snd_una == p->snd_max; }

static void on_segment(struct tcp_stack* st, struct tcp_pcb* p, struct seg* s) {
  /* a retransmitted SYN while our SYN-ACK is unanswered */
  if (p->state == TCP_SYN_RECEIVED && (s->flags & TCP_SYN) && !(s->flags & TCP_ACK) &&
      s->seq == p->irs) {
    tcp_send_synack(st, p);
    return;
  }
  /* TIME-WAIT: a new SYN beyond the old sequence space may reopen (RFC 9293 3.10.7.4) */
  if (p->state == TCP_TIME_WAIT && !p->owned && (s->flags & TCP_SYN) && !(s->flags & TCP_ACK) &&
      SEQ_GT(s->seq, p->rcv_nxt)) {
    int l = listener_of(st, s->dport);
    uint32_t rip = p->rip;
    tcp_pcb_free(st, p);
    if (l >= 0) on_listen(st, l, rip, s);
    return;
  }
  uint32_t seg_seq = s->seq, seg_dlen = s->dlen;
  if (!acceptable(p, s)) {
    st->stats.rx_out_of_window++;
    if (!(s->flags & TCP_RST)) p->ack_now = 1;
    if (p->state == TCP_TIME_WAIT && (s->flags & TCP_FIN))
      p->rto_deadline = st->now + TCP_TIME_WAIT_MS;
    return;
  }
  if (s->flags & TCP_RST) { /* RFC 5961 3.2: exact match resets, in-window challenges */
    if (s->seq != p->rcv_nxt) {
      p->ack_now = 1;
      return;
    }
    if (p->state == TCP_SYN_RECEIVED || p->state == TCP_TIME_WAIT ||
        p->state == TCP_LAST_ACK || p->state == TCP_CLOSING) {
      if (p->owned && p->state != TCP_SYN_RECEIVED) {
        p->state = TCP_CLOSED; /* already closing: end it quietly */
        p->rto_deadline = TCP_NO_DEADLINE;
      } else {
        tcp_pcb_free(st, p);
      }
      return;
    }
    tcp_pcb_dead(st, p);
    return;
  }
  if (s->flags & TCP_SYN) { /* RFC 5961 4.2: a SYN in a synchronized state */
    p->ack_now = 1;
    return;
  }
  if (!(s->flags & TCP_ACK)) return;
  if (p->state == TCP_SYN_RECEIVED) {
    if (!(SEQ_LT(p->snd_una, s->ack) && SEQ_LEQ(s->ack, p->snd_max))) {
      tcp_send_reset(st, p->rip, p->lport, p->rport, s->ack, 0, TCP_RST);
      return;
    }
    if (queued(st, p->listener) >= st->listeners[p->listener].backlog) return; /* retry later */
    p->state = TCP_ESTABLISHED;
    p->stamp = st->now;
    p->retries = 0;
    p->snd_una = s->ack;
    p->snd_wnd = s->wnd;
    p->snd_wl1 = s->seq;
    p->snd_wl2 = s->ack;
    p->rto_ms = TCP_RTO_INIT_MS;
    p->rto_deadline = TCP_NO_DEADLINE;
  } else if (!on_ack(st, p, s)) {
    return;
  }
  switch (p->state) {
    case TCP_FIN_WAIT_1:
      if (our_fin_acked(p)) {
        p->state = TCP_FIN_WAIT_2;
        if (!p->owned) p->rto_deadline = st->now + TCP_TIME_WAIT_MS;
      }
      break;
    case TCP_CLOSING:
      if (our_fin_acked(p)) tcp_enter_time_wait(st, p);
      break;
    case TCP_LAST_ACK:
      if (our_fin_acked(p)) {
        if (p->owned) {
          p->state = TCP_CLOSED;
          p->rto_deadline = TCP_NO_DEADLINE;
        } else {
          tcp_pcb_free(st, p);
        }
        return;
      }
      break;
    case TCP_TIME_WAIT:
      if (s->flags & TCP_FIN) {
        p->ack_now = 1;
        p->rto_deadline = st->now + TCP_TIME_WAIT_MS;
      }
      return;
    default:
      break;
  }
  int takes_data = p->state == TCP_ESTABLISHED || p->state == TCP_FIN_WAIT_1 ||
                   p->state == TCP_FIN_WAIT_2;
  if (s->dlen && takes_data) {
    if (!p->owned && p->accepted) { /* closed by the application: nobody will read this */
      tcp_send_rst_for(st, p);
      st->stats.aborted++;
      tcp_pcb_free(st, p);
      return;
    }
    receive(st, p, s->seq, s->data, s->dlen);
  }
  /* FIN: only in order, after all of the segment's data was taken */
  if ((s->flags & TCP_FIN) && p->rcv_nxt == seg_seq + seg_dlen &&
      (takes_data || p->state == TCP_SYN_RECEIVED)) {
    p->rcv_nxt++;
    p->fin_rcvd = 1;
    p->ack_now = 1;
    if (p->state == TCP_ESTABLISHED) {
      p->state = TCP_CLOSE_WAIT;
    } else if (p->state == TCP_FIN_WAIT_1) {
      if (our_fin_acked(p))
        tcp_enter_time_wait(st, p);
      else
        p->state = TCP_CLOSING;
    } else if (p->state == TCP_FIN_WAIT_2) {
      tcp_enter_time_wait(st, p);
    }
  }
}

void tcp_input(struct tcp_stack* st, uint32_t src, uint32_t dst, const uint8_t* t, uint32_t len) {
  struct seg s;
  st->stats.rx_segments++;
  if (parse(st, src, dst, t, len, &s)) {
    st->stats.rx_bad++;
    return;
  }
  struct tcp_pcb* p = lookup(st, src, &s);
  if (p) {
    on_segment(st, p, &s);
    return;
  }
  int l = listener_of(st, s.dport);
  if (l >= 0) {
    on_listen(st, l, src, &s);
    return;
  }
  st->stats.rx_no_conn++;
  refuse(st, src, &s);
}
