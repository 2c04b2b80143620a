/*
 * A small IPv4 stack over Ethernet (portable C, host-tested): ARP (replies for our address, a
 * small cache, resolve-before-send with a short pending queue), IPv4 (header checksum, no
 * fragments: fragmented packets are dropped, options skipped), ICMP echo reply, UDP with
 * checksums.  Garbage or truncated frames are counted and dropped.
 *
 * The driver side is two callbacks: the stack calls `send` for each outgoing frame and the
 * driver calls net_input() for each received one.  Addresses are host-order uint32_t
 * (198.18.0.10 = 0xc612000a).
 */
#ifndef FTD_NET_H
#define FTD_NET_H

#include "ftd_port.h"

#define NET_ETH_HLEN 14
#define NET_MTU 1500
#define NET_MAX_FRAME (NET_ETH_HLEN + NET_MTU)
#define NET_ETHERTYPE_IPV4 0x0800
#define NET_ETHERTYPE_ARP 0x0806
#define NET_IPPROTO_ICMP 1
#define NET_IPPROTO_UDP 17
#define NET_IPPROTO_TCP 6
#define NET_UDP_MAX_PAYLOAD (NET_MTU - 20 - 8)

#define NET_ARP_ENTRIES 8
#define NET_PENDING 8 /* frames waiting for an ARP reply */

struct netif;
typedef void (*net_send_fn)(void* ctx, const uint8_t* frame, uint32_t len);
typedef void (*net_udp_fn)(void* ctx, struct netif* nif, uint32_t src_ip, uint16_t src_port,
                           uint16_t dst_port, const uint8_t* data, uint32_t len);
/* One TCP segment (the IP payload, len bytes, checksum not yet verified). */
typedef void (*net_tcp_fn)(void* ctx, struct netif* nif, uint32_t src_ip, uint32_t dst_ip,
                           const uint8_t* seg, uint32_t len);

struct net_arp_entry {
  uint32_t ip; /* 0: unused */
  uint8_t mac[6];
  uint64_t used; /* LRU stamp */
};

struct net_pending {
  uint32_t next_hop; /* 0: unused */
  uint32_t len;
  uint8_t frame[NET_MAX_FRAME];
};

struct net_stats {
  uint64_t rx_frames, rx_dropped, rx_arp, rx_icmp, rx_udp, rx_udp_noport, rx_tcp;
  uint64_t tx_frames, tx_arp_requests, tx_dropped;
};

struct netif {
  uint8_t mac[6];
  uint32_t ip, netmask, gw; /* gw 0: none (off-subnet destinations are dropped) */
  net_send_fn send;
  void* send_ctx;
  net_udp_fn udp;
  void* udp_ctx;
  net_tcp_fn tcp; /* NULL: TCP segments are dropped */
  void* tcp_ctx;
  struct net_arp_entry arp[NET_ARP_ENTRIES];
  uint64_t arp_clock;
  struct net_pending pending[NET_PENDING];
  struct net_stats stats;
};

void net_init(struct netif* nif, const uint8_t mac[6], uint32_t ip, uint32_t netmask, uint32_t gw,
              net_send_fn send, void* send_ctx);
/* One received Ethernet frame (no FCS). */
void net_input(struct netif* nif, const uint8_t* frame, uint32_t len);
/* Send a UDP datagram (len <= NET_UDP_MAX_PAYLOAD).  Resolves the next hop with ARP first (the
 * frame waits in a small queue meanwhile).  Returns 0 if sent or queued, -1 if dropped. */
int net_udp_send(struct netif* nif, uint32_t dst_ip, uint16_t src_port, uint16_t dst_port,
                 const uint8_t* data, uint32_t len);
/* Send an IPv4 packet of another protocol in two steps, without a copy: net_ip_payload()
 * writes the IP header of a packet to dst and returns where its payload_len bytes go
 * (payload_len <= NET_MTU - 20); net_ip_output() then routes and sends it like
 * net_udp_send().  Nothing else may be sent in between (one frame is built at a time). */
uint8_t* net_ip_payload(struct netif* nif, uint32_t dst, uint8_t proto, uint32_t payload_len);
int net_ip_output(struct netif* nif, uint32_t dst, uint32_t payload_len);
/* Broadcast a gratuitous ARP (announce our IP -> MAC). */
void net_announce(struct netif* nif);

/* Helpers (exposed for tests). */
uint16_t net_csum(const void* data, uint32_t len,
                  uint32_t initial); /* ones' complement sum, folded, NOT inverted */
uint16_t net_ip_checksum(const void* hdr,
                         uint32_t len); /* inverted: 0 stored in a valid header when verified */
/* The pseudo-header's contribution to a TCP/UDP checksum (an `initial` for net_csum). */
uint32_t net_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint32_t len);
uint16_t net_udp_checksum(uint32_t src, uint32_t dst, const uint8_t* udp, uint32_t len);
/* "a.b.c.d" or "a.b.c.d/prefix" (prefix 0..32, *prefix = 32 if absent; prefix may be NULL
 * when no /len is accepted).  0 on success. */
int net_parse_ipv4(const char* s, size_t len, uint32_t* ip, int* prefix);
/* Format a.b.c.d into buf (>= 16 bytes); returns buf. */
char* net_fmt_ipv4(uint32_t ip, char* buf);
/* ARP cache lookup (for tests). */
const uint8_t* net_arp_lookup(struct netif* nif, uint32_t ip);

#endif
