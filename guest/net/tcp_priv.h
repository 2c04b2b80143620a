/* Internals shared by tcp.c (blocks and the application side), tcp_in.c (segment arrival)
 * and tcp_out.c (segments, timers, output).  Not for users of the stack: see tcp.h. */
#ifndef FTD_TCP_PRIV_H
#define FTD_TCP_PRIV_H

#include "tcp.h"

#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_HLEN 20u

static inline uint32_t tcp_min(uint32_t a, uint32_t b) { return a < b ? a : b; }
static inline uint32_t tcp_max(uint32_t a, uint32_t b) { return a > b ? a : b; }

/* Free receive space = the window we can offer from rcv_nxt. */
static inline uint32_t tcp_rcv_space(const struct tcp_pcb* p) { return TCP_RCV_BUF - p->rx_len; }

/* tcp.c */
void tcp_pcb_free(struct tcp_stack* st, struct tcp_pcb* p);
/* The peer reset it / it was aborted: keep it for its owner (reads fail), else free it. */
void tcp_pcb_dead(struct tcp_stack* st, struct tcp_pcb* p);
struct tcp_pcb* tcp_pcb_alloc(struct tcp_stack* st, int listener);
uint32_t tcp_make_iss(struct tcp_stack* st, uint32_t rip, uint16_t rport, uint16_t lport);
void tcp_enter_time_wait(struct tcp_stack* st, struct tcp_pcb* p);

/* tcp_out.c */
/* One segment: header (with our MSS option if syn), data from the send ring at offset off
 * (from snd_una) of n bytes. */
void tcp_send_segment(struct tcp_stack* st, struct tcp_pcb* p, uint32_t seq, uint8_t flags,
                      uint32_t off, uint32_t n);
/* A RST (or RST+ACK) for a segment that has no connection. */
void tcp_send_reset(struct tcp_stack* st, uint32_t rip, uint16_t lport, uint16_t rport,
                    uint32_t seq, uint32_t ack, uint8_t flags);
void tcp_send_synack(struct tcp_stack* st, struct tcp_pcb* p);
/* RST on a synchronized connection (abort). */
void tcp_send_rst_for(struct tcp_stack* st, struct tcp_pcb* p);
void tcp_arm_rto(struct tcp_stack* st, struct tcp_pcb* p);
void tcp_rtt_sample(struct tcp_pcb* p, uint64_t rtt_ms);

#endif
