// Host tests of guest/net/net.c (and the virtio-mmio command-line parser): frames are byte
// arrays, the stack's output is captured by the send callback.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "guest_c.h"

namespace {

using Frame = std::vector<uint8_t>;

constexpr uint32_t kOurIp = 0xc612000a;   // 198.18.0.10
constexpr uint32_t kPeerIp = 0xc6120001;  // 198.18.0.1
constexpr uint32_t kMask = 0xfffe0000;    // /15
const uint8_t kOurMac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
const uint8_t kPeerMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

struct Udp {
  uint32_t src;
  uint16_t sport, dport;
  std::string data;
};

struct Stack {
  netif nif;
  std::vector<Frame> sent;
  std::vector<Udp> udp;
  Stack() {
    net_init(&nif, kOurMac, kOurIp, kMask, 0, &Stack::Send, this);
    nif.udp = &Stack::OnUdp;
    nif.udp_ctx = this;
  }
  static void Send(void* ctx, const uint8_t* f, uint32_t len) {
    static_cast<Stack*>(ctx)->sent.emplace_back(f, f + len);
  }
  static void OnUdp(void* ctx, netif*, uint32_t src, uint16_t sport, uint16_t dport,
                    const uint8_t* d, uint32_t len) {
    static_cast<Stack*>(ctx)->udp.push_back({src, sport, dport, std::string(d, d + len)});
  }
  void In(const Frame& f) { net_input(&nif, f.data(), static_cast<uint32_t>(f.size())); }
};

void Put16(Frame& f, size_t o, uint16_t v) { ftd_wr16be(f.data() + o, v); }

Frame Eth(const uint8_t* dst, const uint8_t* src, uint16_t type, size_t payload) {
  Frame f(14 + payload, 0);
  memcpy(f.data(), dst, 6);
  memcpy(f.data() + 6, src, 6);
  Put16(f, 12, type);
  return f;
}

Frame Arp(uint16_t op, const uint8_t* dst_mac, uint32_t spa, uint32_t tpa) {
  static const uint8_t bc[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  Frame f = Eth(op == 1 ? bc : dst_mac, kPeerMac, 0x0806, 28);
  uint8_t* a = f.data() + 14;
  ftd_wr16be(a, 1);
  ftd_wr16be(a + 2, 0x0800);
  a[4] = 6;
  a[5] = 4;
  ftd_wr16be(a + 6, op);
  memcpy(a + 8, kPeerMac, 6);
  ftd_wr32be(a + 14, spa);
  if (op == 2) memcpy(a + 18, kOurMac, 6);
  ftd_wr32be(a + 24, tpa);
  return f;
}

// IPv4 packet from the peer to us carrying `payload`.
Frame Ip(uint8_t proto, const Frame& payload, uint16_t frag = 0x4000, uint32_t dst = kOurIp) {
  Frame f = Eth(kOurMac, kPeerMac, 0x0800, 20 + payload.size());
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  ftd_wr16be(ip + 2, static_cast<uint16_t>(20 + payload.size()));
  ftd_wr16be(ip + 6, frag);
  ip[8] = 64;
  ip[9] = proto;
  ftd_wr32be(ip + 12, kPeerIp);
  ftd_wr32be(ip + 16, dst);
  ftd_wr16be(ip + 10, net_ip_checksum(ip, 20));
  memcpy(ip + 20, payload.data(), payload.size());
  return f;
}

Frame UdpPayload(uint16_t sport, uint16_t dport, const std::string& data, bool csum = true) {
  Frame u(8 + data.size(), 0);
  ftd_wr16be(u.data(), sport);
  ftd_wr16be(u.data() + 2, dport);
  ftd_wr16be(u.data() + 4, static_cast<uint16_t>(u.size()));
  memcpy(u.data() + 8, data.data(), data.size());
  if (csum) ftd_wr16be(u.data() + 6, net_udp_checksum(kPeerIp, kOurIp, u.data(), u.size()));
  return u;
}

TEST(GuestNet, ChecksumVectors) {
  const uint8_t rfc1071[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(net_csum(rfc1071, sizeof rfc1071, 0), 0xddf2);
  const uint8_t hdr[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                         0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(net_ip_checksum(hdr, sizeof hdr), 0xb861);
  const uint8_t odd[] = {0x01, 0x02, 0x03};
  EXPECT_EQ(net_csum(odd, 3, 0), 0x0402);
  EXPECT_EQ(crc32_update(0, "123456789", 9), 0xcbf43926u);
  EXPECT_EQ(crc32_update(crc32_update(0, "1234", 4), "56789", 5), 0xcbf43926u);
}

TEST(GuestNet, ParseAndFormatIpv4) {
  uint32_t ip;
  int pfx;
  std::string s = "198.18.0.10/15";
  ASSERT_EQ(net_parse_ipv4(s.data(), s.size(), &ip, &pfx), 0);
  EXPECT_EQ(ip, kOurIp);
  EXPECT_EQ(pfx, 15);
  s = "10.0.0.1";
  ASSERT_EQ(net_parse_ipv4(s.data(), s.size(), &ip, &pfx), 0);
  EXPECT_EQ(pfx, 32);
  for (std::string bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4/33", "1.2.3.4/",
                          "a.b.c.d", "1..2.3", "1.2.3.4 ", "1.2.3.4/15x", "1234.1.1.1"})
    EXPECT_NE(net_parse_ipv4(bad.data(), bad.size(), &ip, &pfx), 0) << bad;
  s = "1.2.3.4/8";
  EXPECT_NE(net_parse_ipv4(s.data(), s.size(), &ip, nullptr), 0);
  char buf[16];
  EXPECT_STREQ(net_fmt_ipv4(kOurIp, buf), "198.18.0.10");
  EXPECT_STREQ(net_fmt_ipv4(0, buf), "0.0.0.0");
  EXPECT_STREQ(net_fmt_ipv4(0xffffffff, buf), "255.255.255.255");
}

TEST(GuestNet, VirtioMmioCmdline) {
  virtio_mmio_desc d[4];
  int bad = -1;
  int n = virtio_mmio_parse_cmdline(
      "/kv.elf virtio_mmio.device=512@0xd0000000:10 ip=1.2.3.4 "
      "virtio_mmio.device=4K@0xd0001000:11:3 "
      "virtio_mmio.device=oops virtio_mmio.device=512@0xd0002000:16",
      d, 4, &bad);
  ASSERT_EQ(n, 2);
  EXPECT_EQ(bad, 2);
  EXPECT_EQ(d[0].base, 0xd0000000u);
  EXPECT_EQ(d[0].size, 512u);
  EXPECT_EQ(d[0].irq, 10u);
  EXPECT_EQ(d[1].base, 0xd0001000u);
  EXPECT_EQ(d[1].size, 4096u);
  EXPECT_EQ(d[1].irq, 11u);
  for (std::string s : {"512@0xd0000000", "@0xd0000000:5", "512@:5", "0@0x1000:5", "512@0x1000:5:",
                        "512x@0x1000:5", "99999999999999999999@1:1", "1M@0x1000:5 "}) {
    virtio_mmio_desc x;
    EXPECT_NE(virtio_mmio_parse_one(s.data(), s.size(), &x), 0) << s;
  }
  EXPECT_EQ(virtio_mmio_parse_cmdline("", d, 4, nullptr), 0);
}

TEST(GuestNet, ArpRequestForUsIsAnsweredAndLearned) {
  Stack s;
  s.In(Arp(1, nullptr, kPeerIp, kOurIp));
  ASSERT_EQ(s.sent.size(), 1u);
  const Frame& r = s.sent[0];
  ASSERT_GE(r.size(), 42u);
  EXPECT_EQ(memcmp(r.data(), kPeerMac, 6), 0);
  EXPECT_EQ(memcmp(r.data() + 6, kOurMac, 6), 0);
  EXPECT_EQ(ftd_rd16be(r.data() + 12), 0x0806);
  EXPECT_EQ(ftd_rd16be(r.data() + 20), 2);  // reply
  EXPECT_EQ(memcmp(r.data() + 22, kOurMac, 6), 0);
  EXPECT_EQ(ftd_rd32be(r.data() + 28), kOurIp);
  EXPECT_EQ(memcmp(r.data() + 32, kPeerMac, 6), 0);
  EXPECT_EQ(ftd_rd32be(r.data() + 38), kPeerIp);
  const uint8_t* m = net_arp_lookup(&s.nif, kPeerIp);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(memcmp(m, kPeerMac, 6), 0);
}

TEST(GuestNet, ArpForSomeoneElseIsIgnored) {
  Stack s;
  s.In(Arp(1, nullptr, kPeerIp, kOurIp + 1));
  EXPECT_TRUE(s.sent.empty());
  EXPECT_EQ(net_arp_lookup(&s.nif, kPeerIp), nullptr);  // not for us: not inserted
}

TEST(GuestNet, IcmpEchoIsAnswered) {
  Stack s;
  s.In(Arp(1, nullptr, kPeerIp, kOurIp));
  s.sent.clear();
  Frame icmp(8 + 56);
  icmp[0] = 8;
  ftd_wr16be(icmp.data() + 4, 0x1234);
  ftd_wr16be(icmp.data() + 6, 7);
  for (size_t i = 8; i < icmp.size(); i++) icmp[i] = static_cast<uint8_t>(i);
  ftd_wr16be(icmp.data() + 2, net_ip_checksum(icmp.data(), icmp.size()));
  s.In(Ip(1, icmp));
  ASSERT_EQ(s.sent.size(), 1u);
  const Frame& r = s.sent[0];
  ASSERT_EQ(r.size(), 14u + 20 + icmp.size());
  EXPECT_EQ(memcmp(r.data(), kPeerMac, 6), 0);
  const uint8_t* ip = r.data() + 14;
  EXPECT_EQ(net_csum(ip, 20, 0), 0xffff);
  EXPECT_EQ(ftd_rd32be(ip + 12), kOurIp);
  EXPECT_EQ(ftd_rd32be(ip + 16), kPeerIp);
  const uint8_t* e = ip + 20;
  EXPECT_EQ(e[0], 0);
  EXPECT_EQ(net_csum(e, icmp.size(), 0), 0xffff);
  EXPECT_EQ(memcmp(e + 4, icmp.data() + 4, icmp.size() - 4), 0);
  // bad ICMP checksum: no reply
  s.sent.clear();
  icmp[10] ^= 1;
  s.In(Ip(1, icmp));
  EXPECT_TRUE(s.sent.empty());
}

TEST(GuestNet, UdpDeliveryAndChecksums) {
  Stack s;
  s.In(Ip(17, UdpPayload(4000, 7000, "hello")));
  ASSERT_EQ(s.udp.size(), 1u);
  EXPECT_EQ(s.udp[0].src, kPeerIp);
  EXPECT_EQ(s.udp[0].sport, 4000);
  EXPECT_EQ(s.udp[0].dport, 7000);
  EXPECT_EQ(s.udp[0].data, "hello");
  s.In(Ip(17, UdpPayload(4000, 7000, "nocsum", false)));  // checksum 0 = none
  ASSERT_EQ(s.udp.size(), 2u);
  Frame bad = UdpPayload(4000, 7000, "hello");
  bad[9] ^= 0x20;
  s.In(Ip(17, bad));
  EXPECT_EQ(s.udp.size(), 2u);
  // Ethernet padding after the IP packet is ignored
  Frame padded = Ip(17, UdpPayload(1, 2, "x"));
  padded.resize(60, 0xee);
  s.In(padded);
  ASSERT_EQ(s.udp.size(), 3u);
  EXPECT_EQ(s.udp[2].data, "x");
}

TEST(GuestNet, FragmentsAndForeignPacketsAreDropped) {
  Stack s;
  s.In(Ip(17, UdpPayload(1, 7000, "frag"), 0x2000));  // MF
  s.In(Ip(17, UdpPayload(1, 7000, "frag"), 0x0010));  // offset
  s.In(Ip(17, UdpPayload(1, 7000, "other"), 0, kOurIp + 1));
  Frame wrong_mac = Ip(17, UdpPayload(1, 7000, "mac"));
  wrong_mac[0] ^= 2;
  s.In(wrong_mac);
  Frame bad_ihl = Ip(17, UdpPayload(1, 7000, "ihl"));
  bad_ihl[14] = 0x44;
  s.In(bad_ihl);
  Frame bad_hdr_csum = Ip(17, UdpPayload(1, 7000, "csum"));
  bad_hdr_csum[14 + 8] = 1;  // TTL changed without a new checksum
  s.In(bad_hdr_csum);
  EXPECT_TRUE(s.udp.empty());
  EXPECT_TRUE(s.sent.empty());
  EXPECT_EQ(s.nif.stats.rx_dropped, 6u);
}

TEST(GuestNet, UdpSendResolvesFirst) {
  Stack s;
  ASSERT_EQ(net_udp_send(&s.nif, kPeerIp, 7000, 4000, reinterpret_cast<const uint8_t*>("a"), 1), 0);
  ASSERT_EQ(s.sent.size(), 1u);  // an ARP request, the datagram waits
  EXPECT_EQ(ftd_rd16be(s.sent[0].data() + 12), 0x0806);
  EXPECT_EQ(ftd_rd16be(s.sent[0].data() + 20), 1);
  EXPECT_EQ(ftd_rd32be(s.sent[0].data() + 38), kPeerIp);
  s.sent.clear();
  s.In(Arp(2, kOurMac, kPeerIp, kOurIp));
  ASSERT_EQ(s.sent.size(), 1u);
  const Frame& f = s.sent[0];
  EXPECT_EQ(memcmp(f.data(), kPeerMac, 6), 0);
  ASSERT_GE(f.size(), 14u + 20 + 8 + 1);
  const uint8_t* ip = f.data() + 14;
  EXPECT_EQ(ip[9], 17);
  EXPECT_EQ(net_csum(ip, 20, 0), 0xffff);
  const uint8_t* u = ip + 20;
  EXPECT_EQ(ftd_rd16be(u), 7000);
  EXPECT_EQ(ftd_rd16be(u + 2), 4000);
  EXPECT_EQ(ftd_rd16be(u + 4), 9);
  EXPECT_EQ(u[8], 'a');
  // receiver-side verification of our UDP checksum
  uint8_t copy[9];
  memcpy(copy, u, 9);
  uint16_t c = ftd_rd16be(copy + 6);
  ftd_wr16be(copy + 6, 0);
  EXPECT_EQ(net_udp_checksum(kOurIp, kPeerIp, copy, 9), c);
  // now resolved: sent at once
  s.sent.clear();
  net_udp_send(&s.nif, kPeerIp, 7000, 4000, reinterpret_cast<const uint8_t*>("b"), 1);
  ASSERT_EQ(s.sent.size(), 1u);
  EXPECT_EQ(ftd_rd16be(s.sent[0].data() + 12), 0x0800);
  // off-subnet without a gateway: dropped
  s.sent.clear();
  EXPECT_NE(net_udp_send(&s.nif, 0x08080808, 1, 2, reinterpret_cast<const uint8_t*>("c"), 1), 0);
  EXPECT_TRUE(s.sent.empty());
}

TEST(GuestNet, ArpCacheEvictsLeastRecentlyUsed) {
  Stack s;
  for (uint32_t i = 0; i < NET_ARP_ENTRIES + 3; i++)
    s.In(Arp(1, nullptr, kPeerIp + 100 + i, kOurIp));
  int present = 0;
  for (uint32_t i = 0; i < NET_ARP_ENTRIES + 3; i++)
    present += net_arp_lookup(&s.nif, kPeerIp + 100 + i) != nullptr;
  EXPECT_EQ(present, NET_ARP_ENTRIES);
  EXPECT_NE(net_arp_lookup(&s.nif, kPeerIp + 100 + NET_ARP_ENTRIES + 2), nullptr);
  EXPECT_EQ(net_arp_lookup(&s.nif, kPeerIp + 100), nullptr);
}

TEST(GuestNet, GarbageAndTruncatedFramesNeverCrash) {
  Stack s;
  s.In(Arp(1, nullptr, kPeerIp, kOurIp));
  Frame icmp(8 + 40, 0);
  icmp[0] = 8;
  ftd_wr16be(icmp.data() + 2, net_ip_checksum(icmp.data(), icmp.size()));
  std::vector<Frame> valid = {Arp(1, nullptr, kPeerIp, kOurIp), Ip(1, icmp),
                              Ip(17, UdpPayload(4000, 7000, "hello world"))};
  for (const Frame& v : valid)
    for (size_t n = 0; n <= v.size(); n++) {
      Frame t(v.begin(), v.begin() + static_cast<long>(n));
      s.In(t);
    }
  net_input(&s.nif, nullptr, 0);
  std::mt19937 rng(42);
  for (int i = 0; i < 200000; i++) {
    Frame f = valid[rng() % valid.size()];
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; k++) f[rng() % f.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1));
    if (rng() % 8 == 0) f.resize(rng() % 2048, static_cast<uint8_t>(rng()));
    s.In(f);
    if (s.sent.size() > 1000) s.sent.clear();
    if (s.udp.size() > 1000) s.udp.clear();
  }
  // a huge (over-MTU) ICMP echo must not overflow the output frame
  Frame big(1900, 0);
  big[0] = 8;
  ftd_wr16be(big.data() + 2, net_ip_checksum(big.data(), big.size()));
  s.sent.clear();
  s.In(Ip(1, big));
  EXPECT_TRUE(s.sent.empty());
}

}  // namespace
