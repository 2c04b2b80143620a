/* Ethernet / ARP / IPv4 / ICMP echo / UDP.  See net.h.  Every length is checked before use. */
#include "net.h"

static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* One frame being built at a time (the stack is single-threaded). */
static uint8_t out_frame[NET_MAX_FRAME];
static uint16_t ip_ident;

uint16_t net_csum(const void* data, uint32_t len, uint32_t initial) {
  const uint8_t* p = data;
  uint64_t sum = initial;
  while (len >= 2) {
    sum += (uint32_t)((p[0] << 8) | p[1]);
    p += 2;
    len -= 2;
  }
  if (len) sum += (uint32_t)(p[0] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

uint16_t net_ip_checksum(const void* hdr, uint32_t len) { return (uint16_t)~net_csum(hdr, len, 0); }

uint32_t net_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint32_t len) {
  return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
}

uint16_t net_udp_checksum(uint32_t src, uint32_t dst, const uint8_t* udp, uint32_t len) {
  uint16_t c = (uint16_t)~net_csum(udp, len, net_pseudo_sum(src, dst, NET_IPPROTO_UDP, len));
  return c ? c : 0xffff;
}

int net_parse_ipv4(const char* s, size_t len, uint32_t* ip, int* prefix) {
  uint32_t v = 0;
  size_t i = 0;
  for (int part = 0; part < 4; part++) {
    if (part) {
      if (i >= len || s[i] != '.') return -1;
      i++;
    }
    uint32_t o = 0;
    size_t start = i;
    while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3)
      o = o * 10 + (uint32_t)(s[i++] - '0');
    if (i == start || o > 255) return -1;
    v = (v << 8) | o;
  }
  int pfx = 32;
  if (i < len && s[i] == '/') {
    if (!prefix) return -1;
    i++;
    size_t start = i;
    pfx = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 2) pfx = pfx * 10 + (s[i++] - '0');
    if (i == start || pfx > 32) return -1;
  }
  if (i != len) return -1;
  *ip = v;
  if (prefix) *prefix = pfx;
  return 0;
}

char* net_fmt_ipv4(uint32_t ip, char* buf) {
  char* p = buf;
  for (int i = 3; i >= 0; i--) {
    unsigned o = (ip >> (8 * i)) & 0xff;
    if (o >= 100) *p++ = (char)('0' + o / 100);
    if (o >= 10) *p++ = (char)('0' + (o / 10) % 10);
    *p++ = (char)('0' + o % 10);
    if (i) *p++ = '.';
  }
  *p = 0;
  return buf;
}

void net_init(struct netif* nif, const uint8_t mac[6], uint32_t ip, uint32_t netmask, uint32_t gw,
              net_send_fn send, void* send_ctx) {
  memset(nif, 0, sizeof *nif);
  memcpy(nif->mac, mac, 6);
  nif->ip = ip;
  nif->netmask = netmask;
  nif->gw = gw;
  nif->send = send;
  nif->send_ctx = send_ctx;
}

static void emit(struct netif* nif, const uint8_t* frame, uint32_t len) {
  nif->stats.tx_frames++;
  nif->send(nif->send_ctx, frame, len);
}

/* ---- ARP ---- */

const uint8_t* net_arp_lookup(struct netif* nif, uint32_t ip) {
  for (int i = 0; i < NET_ARP_ENTRIES; i++)
    if (nif->arp[i].ip == ip && ip) {
      nif->arp[i].used = ++nif->arp_clock;
      return nif->arp[i].mac;
    }
  return NULL;
}

static void arp_update(struct netif* nif, uint32_t ip, const uint8_t mac[6], int insert) {
  struct net_arp_entry* e = NULL;
  for (int i = 0; i < NET_ARP_ENTRIES; i++)
    if (nif->arp[i].ip == ip) e = &nif->arp[i];
  if (!e) {
    if (!insert) return;
    e = &nif->arp[0];
    for (int i = 0; i < NET_ARP_ENTRIES; i++) {
      if (!nif->arp[i].ip) {
        e = &nif->arp[i];
        break;
      }
      if (nif->arp[i].used < e->used) e = &nif->arp[i];
    }
    e->ip = ip;
  }
  memcpy(e->mac, mac, 6);
  e->used = ++nif->arp_clock;
  /* release the frames that waited for this address, oldest first */
  for (int i = 0; i < NET_PENDING; i++) {
    struct net_pending* p = &nif->pending[i];
    if (p->next_hop != ip) continue;
    memcpy(p->frame, mac, 6);
    emit(nif, p->frame, p->len);
    p->next_hop = 0;
  }
}

static void arp_send(struct netif* nif, uint16_t op, const uint8_t* dst_mac, const uint8_t* tha,
                     uint32_t tpa) {
  uint8_t f[NET_ETH_HLEN + 28 + 18]; /* padded to the 60-byte minimum */
  memset(f, 0, sizeof f);
  memcpy(f, dst_mac, 6);
  memcpy(f + 6, nif->mac, 6);
  ftd_wr16be(f + 12, NET_ETHERTYPE_ARP);
  uint8_t* a = f + NET_ETH_HLEN;
  ftd_wr16be(a, 1);
  ftd_wr16be(a + 2, NET_ETHERTYPE_IPV4);
  a[4] = 6;
  a[5] = 4;
  ftd_wr16be(a + 6, op);
  memcpy(a + 8, nif->mac, 6);
  ftd_wr32be(a + 14, nif->ip);
  memcpy(a + 18, tha, 6);
  ftd_wr32be(a + 24, tpa);
  emit(nif, f, sizeof f);
}

void net_announce(struct netif* nif) {
  static const uint8_t zero[6] = {0};
  arp_send(nif, 1, bcast_mac, zero, nif->ip);
}

static int bad_unicast_mac(const uint8_t* m) { return (m[0] & 1) != 0; } /* multicast/broadcast */

static void arp_input(struct netif* nif, const uint8_t* a, uint32_t len) {
  if (len < 28) goto drop;
  if (ftd_rd16be(a) != 1 || ftd_rd16be(a + 2) != NET_ETHERTYPE_IPV4 || a[4] != 6 || a[5] != 4)
    goto drop;
  uint16_t op = ftd_rd16be(a + 6);
  if (op != 1 && op != 2) goto drop;
  const uint8_t* sha = a + 8;
  uint32_t spa = ftd_rd32be(a + 14);
  uint32_t tpa = ftd_rd32be(a + 24);
  if (bad_unicast_mac(sha)) goto drop;
  nif->stats.rx_arp++;
  /* RFC 826: update an existing entry; insert when the packet is for us */
  if (spa && spa != nif->ip) arp_update(nif, spa, sha, tpa == nif->ip);
  if (op == 1 && tpa == nif->ip && nif->ip) arp_send(nif, 2, sha, sha, spa);
  return;
drop:
  nif->stats.rx_dropped++;
}

/* ---- IPv4 output ---- */

static int is_bcast(struct netif* nif, uint32_t ip) {
  return ip == 0xffffffffu || (nif->netmask != 0xffffffffu && ip == (nif->ip | ~nif->netmask));
}

/* frame = out_frame with the IP packet at +14 of ip_len bytes; fills Ethernet and sends or
 * queues it. */
static int ip_route(struct netif* nif, uint32_t dst, uint32_t ip_len) {
  uint8_t* f = out_frame;
  uint32_t len = NET_ETH_HLEN + ip_len;
  memcpy(f + 6, nif->mac, 6);
  ftd_wr16be(f + 12, NET_ETHERTYPE_IPV4);
  if (len < 60) { /* Ethernet minimum (without FCS) */
    memset(f + len, 0, 60 - len);
    len = 60;
  }
  if (is_bcast(nif, dst)) {
    memcpy(f, bcast_mac, 6);
    emit(nif, f, len);
    return 0;
  }
  uint32_t hop = ((dst ^ nif->ip) & nif->netmask) == 0 ? dst : nif->gw;
  if (!hop) {
    nif->stats.tx_dropped++;
    return -1;
  }
  const uint8_t* mac = net_arp_lookup(nif, hop);
  if (mac) {
    memcpy(f, mac, 6);
    emit(nif, f, len);
    return 0;
  }
  /* queue (replacing the oldest queued frame when full) and ask */
  struct net_pending* slot = NULL;
  for (int i = 0; i < NET_PENDING; i++)
    if (!nif->pending[i].next_hop) {
      slot = &nif->pending[i];
      break;
    }
  if (!slot) {
    nif->stats.tx_dropped++;
    memmove(&nif->pending[0], &nif->pending[1], sizeof(struct net_pending) * (NET_PENDING - 1));
    slot = &nif->pending[NET_PENDING - 1];
  }
  slot->next_hop = hop;
  slot->len = len;
  memcpy(slot->frame, f, len);
  static const uint8_t zero[6] = {0};
  nif->stats.tx_arp_requests++;
  arp_send(nif, 1, bcast_mac, zero, hop);
  return 0;
}

static uint8_t* ip_header(struct netif* nif, uint32_t dst, uint8_t proto, uint32_t payload_len) {
  uint8_t* ip = out_frame + NET_ETH_HLEN;
  ip[0] = 0x45;
  ip[1] = 0;
  ftd_wr16be(ip + 2, (uint16_t)(20 + payload_len));
  ftd_wr16be(ip + 4, ip_ident++);
  ftd_wr16be(ip + 6, 0x4000); /* DF */
  ip[8] = 64;
  ip[9] = proto;
  ftd_wr16be(ip + 10, 0);
  ftd_wr32be(ip + 12, nif->ip);
  ftd_wr32be(ip + 16, dst);
  ftd_wr16be(ip + 10, net_ip_checksum(ip, 20));
  return ip + 20;
}

uint8_t* net_ip_payload(struct netif* nif, uint32_t dst, uint8_t proto, uint32_t payload_len) {
  return ip_header(nif, dst, proto, payload_len);
}

int net_ip_output(struct netif* nif, uint32_t dst, uint32_t payload_len) {
  if (payload_len > NET_MTU - 20 || !dst) {
    nif->stats.tx_dropped++;
    return -1;
  }
  return ip_route(nif, dst, 20 + payload_len);
}

int net_udp_send(struct netif* nif, uint32_t dst_ip, uint16_t src_port, uint16_t dst_port,
                 const uint8_t* data, uint32_t len) {
  if (len > NET_UDP_MAX_PAYLOAD || !dst_ip) {
    nif->stats.tx_dropped++;
    return -1;
  }
  uint8_t* u = ip_header(nif, dst_ip, NET_IPPROTO_UDP, 8 + len);
  ftd_wr16be(u, src_port);
  ftd_wr16be(u + 2, dst_port);
  ftd_wr16be(u + 4, (uint16_t)(8 + len));
  ftd_wr16be(u + 6, 0);
  memmove(u + 8, data, len);
  ftd_wr16be(u + 6, net_udp_checksum(nif->ip, dst_ip, u, 8 + len));
  return ip_route(nif, dst_ip, 20 + 8 + len);
}

/* ---- IPv4 input ---- */

static void icmp_input(struct netif* nif, uint32_t src, const uint8_t* p, uint32_t len) {
  if (len < 8 || 20 + len > NET_MTU || net_csum(p, len, 0) != 0xffff) goto drop;
  if (p[0] != 8 || p[1] != 0) return; /* only echo requests are answered; others ignored */
  nif->stats.rx_icmp++;
  uint8_t* r = ip_header(nif, src, NET_IPPROTO_ICMP, len);
  memmove(r, p, len);
  r[0] = 0;
  r[1] = 0;
  ftd_wr16be(r + 2, 0);
  ftd_wr16be(r + 2, net_ip_checksum(r, len));
  ip_route(nif, src, 20 + len);
  return;
drop:
  nif->stats.rx_dropped++;
}

static void udp_input(struct netif* nif, uint32_t src, uint32_t dst, const uint8_t* u,
                      uint32_t len) {
  if (len < 8) goto drop;
  uint32_t ulen = ftd_rd16be(u + 4);
  if (ulen < 8 || ulen > len) goto drop;
  if (ftd_rd16be(u + 6) != 0 &&
      net_csum(u, ulen, net_pseudo_sum(src, dst, NET_IPPROTO_UDP, ulen)) != 0xffff)
    goto drop;
  nif->stats.rx_udp++;
  if (!nif->udp) {
    nif->stats.rx_udp_noport++;
    return;
  }
  nif->udp(nif->udp_ctx, nif, src, ftd_rd16be(u), ftd_rd16be(u + 2), u + 8, ulen - 8);
  return;
drop:
  nif->stats.rx_dropped++;
}

static void ip_input(struct netif* nif, const uint8_t* ip, uint32_t len) {
  if (len < 20 || (ip[0] >> 4) != 4) goto drop;
  uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4;
  uint32_t total = ftd_rd16be(ip + 2);
  if (ihl < 20 || total < ihl || total > len) goto drop;
  if (net_csum(ip, ihl, 0) != 0xffff) goto drop;
  uint16_t frag = ftd_rd16be(ip + 6);
  if (frag & 0x3fff) goto drop; /* MF set or offset != 0: no reassembly */
  uint32_t src = ftd_rd32be(ip + 12), dst = ftd_rd32be(ip + 16);
  if (dst != nif->ip || !nif->ip) goto drop; /* not for us (we are not a router) */
  if (src == 0 || src >= 0xe0000000u || is_bcast(nif, src)) goto drop;
  const uint8_t* payload = ip + ihl;
  uint32_t plen = total - ihl; /* Ethernet padding beyond total is ignored */
  switch (ip[9]) {
    case NET_IPPROTO_ICMP:
      icmp_input(nif, src, payload, plen);
      return;
    case NET_IPPROTO_UDP:
      udp_input(nif, src, dst, payload, plen);
      return;
    case NET_IPPROTO_TCP:
      if (!nif->tcp) goto drop;
      nif->stats.rx_tcp++;
      nif->tcp(nif->tcp_ctx, nif, src, dst, payload, plen);
      return;
    default:
      goto drop;
  }
drop:
  nif->stats.rx_dropped++;
}

void net_input(struct netif* nif, const uint8_t* frame, uint32_t len) {
  nif->stats.rx_frames++;
  if (!frame || len < NET_ETH_HLEN) goto drop;
  if (memcmp(frame, nif->mac, 6) != 0 && memcmp(frame, bcast_mac, 6) != 0) goto drop;
  switch (ftd_rd16be(frame + 12)) {
    case NET_ETHERTYPE_ARP:
      arp_input(nif, frame + NET_ETH_HLEN, len - NET_ETH_HLEN);
      return;
    case NET_ETHERTYPE_IPV4:
      ip_input(nif, frame + NET_ETH_HLEN, len - NET_ETH_HLEN);
      return;
    default:
      goto drop;
  }
drop:
  nif->stats.rx_dropped++;
}
