/*
 * TCP for the guest kit (RFC 9293, passive open only; portable C, host-tested).  See
 * docs/tcp.md for the design, the limits and what is deliberately left out.
 *
 * Model: single-threaded and poll-driven, like the rest of the kit.
 *   - net_input() hands every TCP segment to tcp_input() (through netif.tcp).  Input only
 *     changes state and sets flags; the one segment it may send at once is a RST or SYN-ACK
 *     (they carry no application data).
 *   - The application reads with tcp_peek()/tcp_consume() and writes with tcp_send().
 *   - tcp_poll(now) runs the timers and sends everything that is due (data, FIN, ACKs,
 *     retransmissions, window probes).  So an application that writes its replies, makes them
 *     durable, and only then calls tcp_poll() never lets a reply out before it is durable.
 * Time is the caller's monotonic clock in ms (the guest's clock_ns(), replayed like every
 * other input), and the initial sequence numbers come from a caller-given secret and that
 * clock, so a recorded run replays to the same bytes on the wire.
 *
 * Bounds: TCP_MAX_CONNS control blocks (listeners are separate), TCP_RCV_BUF / TCP_SND_BUF
 * bytes per connection, all static.  When they are hit: a SYN with no free block first reuses
 * the oldest TIME-WAIT block, then the oldest half-open (SYN-RECEIVED) one of that listener
 * when its half-open count is at its backlog (a SYN flood only ever holds `backlog` blocks),
 * and is otherwise refused with RST; a full receive buffer closes the window; a full send
 * buffer makes tcp_send() accept fewer bytes.  Nothing here allocates or can overflow.
 */
#ifndef FTD_TCP_H
#define FTD_TCP_H

#include "net.h"

#define TCP_MAX_CONNS 160
#define TCP_MAX_LISTENERS 4
#define TCP_RCV_BUF 16384u /* must stay <= 65535 (no window scaling) */
#define TCP_SND_BUF 16384u
#define TCP_MSS 1460u         /* what we announce: 1500 - 20 - 20 */
#define TCP_DEFAULT_MSS 536u  /* the peer's, if its SYN has no MSS option */
#define TCP_OOO_RANGES 4      /* out-of-order ranges kept in the receive buffer */
#define TCP_RTO_INIT_MS 1000u /* RFC 6298 */
#define TCP_RTO_MIN_MS 200u   /* (RFC 6298 says 1 s; 200 ms as Linux does) */
#define TCP_RTO_MAX_MS 60000u
#define TCP_MAX_RETRIES 12   /* consecutive timeouts before the connection is aborted */
#define TCP_SYN_RETRIES 5    /* SYN-ACK retransmissions before a half-open block is freed */
#define TCP_TIME_WAIT_MS 30000u /* 2 MSL with MSL = 15 s */
#define TCP_NO_DEADLINE UINT64_MAX

enum tcp_state {
  TCP_CLOSED = 0, /* free, or reset/finished and waiting for the application's tcp_close() */
  TCP_SYN_RECEIVED,
  TCP_ESTABLISHED,
  TCP_FIN_WAIT_1,
  TCP_FIN_WAIT_2,
  TCP_CLOSE_WAIT,
  TCP_CLOSING,
  TCP_LAST_ACK,
  TCP_TIME_WAIT,
};

struct tcp_range {
  uint32_t start, end; /* sequence numbers [start, end) held beyond rcv_nxt */
};

struct tcp_pcb {
  uint8_t state;
  uint8_t in_use;   /* the block is taken */
  uint8_t owned;    /* the application holds it (accepted and not yet tcp_close()d) */
  uint8_t accepted; /* handed out by tcp_accept */
  uint8_t listener; /* index of the listener it came from */
  uint8_t reset;    /* the peer reset it, or it was aborted: reads/writes fail */
  uint8_t fin_rcvd; /* the peer's FIN arrived in order: no more data after rx */
  uint8_t fin_queued, fin_sent;
  uint8_t ack_now;     /* send an ACK at the next poll */
  uint8_t fast_rexmit; /* three duplicate ACKs: retransmit snd_una at the next poll */
  uint8_t in_recovery;
  uint8_t probe; /* the timer fired: send one segment (or one byte into a zero window) */
  uint8_t dupacks;
  uint8_t retries;
  uint32_t rip;
  uint16_t rport, lport;
  /* send side (RFC 9293 3.3.1) */
  uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2;
  uint32_t cwnd, ssthresh, recover;
  uint16_t mss; /* effective: min(ours, the peer's) */
  /* receive side */
  uint32_t irs, rcv_nxt, rcv_adv; /* rcv_adv: right edge announced (rcv_nxt + window) */
  /* timers (ms on the caller's clock) */
  uint64_t rto_deadline; /* retransmission / persist / SYN-ACK / TIME-WAIT; NO_DEADLINE off */
  uint32_t rto_ms, srtt_ms8, rttvar_ms4; /* srtt * 8, rttvar * 4 (RFC 6298 fixed point) */
  uint32_t rtt_seq;                      /* timing this sequence number; 0 timing_off */
  uint8_t rtt_on;
  uint64_t rtt_start;
  uint64_t stamp; /* when it entered its current state (LRU for reuse) */
  /* buffers: rx holds unread in-order bytes at [rx_head, rx_head + rx_len) and out-of-order
   * bytes beyond them; tx holds bytes from snd_una (unacknowledged + unsent) */
  uint32_t rx_head, rx_len, tx_head, tx_len;
  struct tcp_range ooo[TCP_OOO_RANGES];
  uint8_t nooo;
  uint8_t rx[TCP_RCV_BUF];
  uint8_t tx[TCP_SND_BUF];
};

struct tcp_listener {
  uint16_t port; /* 0: unused */
  uint16_t backlog;
};

struct tcp_stats {
  uint64_t rx_segments, rx_bad, rx_no_conn, rx_out_of_window, rx_ooo, rx_dup;
  uint64_t tx_segments, tx_rst, retransmits, fast_retransmits, timeouts, syn_evicted,
      timewait_reused, refused, aborted, accepted;
};

struct tcp_stack {
  struct netif* nif;
  uint64_t now;
  uint32_t secret;
  uint32_t iss_counter;
  struct tcp_listener listeners[TCP_MAX_LISTENERS];
  struct tcp_pcb pcbs[TCP_MAX_CONNS];
  struct tcp_stats stats;
};

/* Wires the stack into nif (nif->tcp).  secret: any value that differs between boots (it is
 * mixed into the initial sequence numbers, RFC 6528). */
void tcp_init(struct tcp_stack* st, struct netif* nif, uint32_t secret, uint64_t now_ms);
/* Accept connections on port (backlog = half-open and not-yet-accepted connections, each).
 * 0, or -1 if the port is taken, 0, or there is no free listener slot. */
int tcp_listen(struct tcp_stack* st, uint16_t port, uint16_t backlog);
/* The next established connection on port not yet handed out, as a handle >= 0; -1: none. */
int tcp_accept(struct tcp_stack* st, uint16_t port);

/* Bytes readable now. */
uint32_t tcp_readable(const struct tcp_stack* st, int c);
/* Copy up to cap readable bytes into buf without consuming them; returns the count. */
uint32_t tcp_peek(const struct tcp_stack* st, int c, uint8_t* buf, uint32_t cap);
/* Consume n (<= readable) bytes; reopens the window. */
void tcp_consume(struct tcp_stack* st, int c, uint32_t n);
/* Room in the send buffer now (0 after shutdown, reset or close). */
uint32_t tcp_send_space(const struct tcp_stack* st, int c);
/* Queue up to len bytes; returns how many were taken (<= tcp_send_space). They leave at the
 * next tcp_poll(). */
uint32_t tcp_send(struct tcp_stack* st, int c, const uint8_t* data, uint32_t len);
/* The peer has closed its side and everything it sent has been read. */
int tcp_eof(const struct tcp_stack* st, int c);
/* The connection was reset (by the peer, or aborted after too many retransmissions). */
int tcp_was_reset(const struct tcp_stack* st, int c);
/* Nothing of ours is unacknowledged or unsent. */
int tcp_all_acked(const struct tcp_stack* st, int c);
/* Send FIN after the queued data (half-close: reading continues). */
void tcp_shutdown(struct tcp_stack* st, int c);
/* The application is done with c: shutdown (or RST if unread data is left, RFC 9293 3.6.1 /
 * RFC 2525), and the block is freed once the close completes.  The handle is invalid after. */
void tcp_close(struct tcp_stack* st, int c);
/* Reset now (RST) and release the handle. */
void tcp_abort(struct tcp_stack* st, int c);
enum tcp_state tcp_get_state(const struct tcp_stack* st, int c);

/* The caller's clock, before it feeds frames to net_input (input stamps RTT samples and
 * timers with it); tcp_poll() sets it too. */
static inline void tcp_set_now(struct tcp_stack* st, uint64_t now_ms) { st->now = now_ms; }
/* One received segment (IP payload): what nif->tcp calls; exposed for tests and fuzzing. */
void tcp_input(struct tcp_stack* st, uint32_t src_ip, uint32_t dst_ip, const uint8_t* seg,
               uint32_t len);
/* Timers and output.  Returns the next deadline (ms) or TCP_NO_DEADLINE. */
uint64_t tcp_poll(struct tcp_stack* st, uint64_t now_ms);
/* Connections in use (for tests and status). */
uint32_t tcp_active(const struct tcp_stack* st);

#endif
