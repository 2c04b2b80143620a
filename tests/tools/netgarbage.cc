// netgarbage: sends garbage to a guest, for robustness tests. Bounded in count.
//
//   netgarbage frames IFNAME DST_MAC COUNT SEED   raw Ethernet frames on IFNAME (AF_PACKET):
//       random lengths 0..1600, random bytes; every 4th frame is addressed to DST_MAC with an
//       IPv4 ethertype and a mangled IPv4/UDP header, so it gets past the MAC filter
//   netgarbage udp HOST PORT COUNT SEED           random UDP payloads (0..1400 bytes)
//   netgarbage multicast IFNAME INTERVAL_US COUNT SEED   well-formed multicast/broadcast
//       frames such as any real network carries at boot (IGMPv2 reports to 01:00:5e:00:00:16,
//       MLD to 33:33:00:00:00:16, broadcast ARP requests for addresses nobody has) from random
//       source MACs and sender addresses nobody has (198.19.254.0/24: no ARP cache learns a
//       wrong MAC for a real host), one every INTERVAL_US microseconds
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: netgarbage frames IFNAME DST_MAC COUNT SEED | udp HOST PORT COUNT SEED |"
               " multicast IFNAME INTERVAL_US COUNT SEED\n");
  return 64;
}

bool ParseMac(const char* s, uint8_t mac[6]) {
  unsigned v[6];
  if (std::sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
    return false;
  for (int i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(v[i]);
  return true;
}

// A raw packet socket and the address of interface `ifname` to send on; -1 (said why) on error.
int OpenPacketSocket(const char* ifname, sockaddr_ll* addr) {
  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (fd < 0) return perror("socket(AF_PACKET)"), -1;
  *addr = sockaddr_ll{};
  addr->sll_family = AF_PACKET;
  addr->sll_ifindex = static_cast<int>(if_nametoindex(ifname));
  addr->sll_halen = 6;
  if (addr->sll_ifindex == 0) {
    std::fprintf(stderr, "no interface %s\n", ifname);
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) return Usage();
  std::string mode = argv[1];
  long count = std::strtol(argv[4], nullptr, 10);
  std::mt19937 rng(static_cast<unsigned>(std::strtoul(argv[5], nullptr, 10)));
  if (count < 0 || count > 1000000) return Usage();
  auto byte = [&rng] { return static_cast<uint8_t>(rng() & 0xff); };
  std::vector<uint8_t> buf(1600);
  if (mode == "frames") {
    uint8_t dst[6];
    if (!ParseMac(argv[3], dst)) return Usage();
    sockaddr_ll addr{};
    int fd = OpenPacketSocket(argv[2], &addr);
    if (fd < 0) return 1;
    long sent = 0;
    for (long i = 0; i < count; ++i) {
      size_t len = rng() % 1601;
      for (size_t j = 0; j < len; ++j) buf[j] = byte();
      if (i % 4 == 0 && len >= 14 + 28) {
        std::memcpy(buf.data(), dst, 6);
        buf[12] = 0x08;  // IPv4
        buf[13] = 0x00;
        buf[14] = static_cast<uint8_t>(0x40 | (rng() % 16));  // version 4, any header length
        buf[23] = 17;                                         // UDP
      }
      if (len < 14) len = 14;  // the kernel wants at least a header for AF_PACKET
      std::memcpy(addr.sll_addr, buf.data(), 6);
      if (sendto(fd, buf.data(), len, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) >= 0)
        ++sent;
    }
    close(fd);
    std::printf("netgarbage: sent %ld of %ld frames\n", sent, count);
    return 0;
  }
  if (mode == "multicast") {
    long interval_us = std::strtol(argv[3], nullptr, 10);
    if (interval_us < 0 || interval_us > 10'000'000) return Usage();
    sockaddr_ll addr{};
    int fd = OpenPacketSocket(argv[2], &addr);
    if (fd < 0) return 1;
    long sent = 0;
    for (long i = 0; i < count; ++i) {
      std::vector<uint8_t> f(14, 0);
      uint8_t src[6] = {0x02, byte(), byte(), byte(), byte(), byte()};  // locally administered
      std::memcpy(f.data() + 6, src, 6);
      auto put = [&f](std::initializer_list<int> bytes) {
        for (int b : bytes) f.push_back(static_cast<uint8_t>(b));
      };
      switch (i % 3) {
        case 0: {  // IGMPv2 membership report for 224.0.0.22, IPv4 with router alert
          const uint8_t dst[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x16};
          std::memcpy(f.data(), dst, 6);
          f[12] = 0x08, f[13] = 0x00;
          put({0x46, 0xc0, 0x00, 0x20, byte(), byte(), 0x00, 0x00, 0x01, 0x02, 0x00,
               0x00, 198,  19,   254,  byte(), 224,    0,    0,    22,   0x94, 0x04,
               0x00, 0x00, 0x16, 0x00, 0x00,   0x00,   224,  0,    0,    22});
          break;
        }
        case 1: {  // IPv6 MLDv2 report to ff02::16 (header only: the guest has no IPv6)
          const uint8_t dst[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x16};
          std::memcpy(f.data(), dst, 6);
          f[12] = 0x86, f[13] = 0xdd;
          put({0x60, 0, 0, 0, 0, 8, 0, 1});
          for (int j = 0; j < 16; ++j) f.push_back(j == 0 ? 0xfe : j == 1 ? 0x80 : byte());
          for (int j = 0; j < 16; ++j)
            f.push_back(j == 0 ? 0xff : j == 1 ? 0x02 : j == 15 ? 0x16 : 0);
          put({0x8f, 0, 0, 0, 0, 0, 0, 0});
          break;
        }
        default: {  // broadcast ARP request, 198.19.254.x asking for 198.19.255.x (nobody's)
          std::memset(f.data(), 0xff, 6);
          f[12] = 0x08, f[13] = 0x06;
          put({0, 1, 8, 0, 6, 4, 0, 1});
          for (uint8_t b : src) f.push_back(b);
          put({198, 19, 254, byte(), 0, 0, 0, 0, 0, 0, 198, 19, 255, byte()});
          break;
        }
      }
      while (f.size() < 60) f.push_back(0);
      std::memcpy(addr.sll_addr, f.data(), 6);
      if (sendto(fd, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) >= 0)
        ++sent;
      if (interval_us > 0) {
        timespec ts{interval_us / 1'000'000, (interval_us % 1'000'000) * 1000};
        nanosleep(&ts, nullptr);
      }
    }
    close(fd);
    std::printf("netgarbage: sent %ld of %ld multicast frames\n", sent, count);
    return 0;
  }
  if (mode == "udp") {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) return perror("socket"), 1;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(std::strtoul(argv[3], nullptr, 10)));
    if (inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) return Usage();
    long sent = 0;
    for (long i = 0; i < count; ++i) {
      size_t len = rng() % 1401;
      for (size_t j = 0; j < len; ++j) buf[j] = byte();
      if (i % 3 == 0 && len > 4) std::memcpy(buf.data(), "1 1 ", 4);  // looks like a request
      if (sendto(fd, buf.data(), len, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) >= 0) ++sent;
    }
    close(fd);
    std::printf("netgarbage: sent %ld of %ld datagrams\n", sent, count);
    return 0;
  }
  return Usage();
}
