// netgarbage: sends garbage to a guest, for robustness tests. Bounded in count.
//
//   netgarbage frames IFNAME DST_MAC COUNT SEED   raw Ethernet frames on IFNAME (AF_PACKET):
//       random lengths 0..1600, random bytes; every 4th frame is addressed to DST_MAC with an
//       IPv4 ethertype and a mangled IPv4/UDP header, so it gets past the MAC filter
//   netgarbage udp HOST PORT COUNT SEED           random UDP payloads (0..1400 bytes)
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

int Usage() {
  std::fprintf(stderr, "usage: netgarbage frames IFNAME DST_MAC COUNT SEED | udp HOST PORT COUNT SEED\n");
  return 64;
}

bool ParseMac(const char* s, uint8_t mac[6]) {
  unsigned v[6];
  if (std::sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return false;
  for (int i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(v[i]);
  return true;
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
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) return perror("socket(AF_PACKET)"), 1;
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_ifindex = static_cast<int>(if_nametoindex(argv[2]));
    addr.sll_halen = 6;
    if (addr.sll_ifindex == 0) return std::fprintf(stderr, "no interface %s\n", argv[2]), 1;
    long sent = 0;
    for (long i = 0; i < count; ++i) {
      size_t len = rng() % 1601;
      for (size_t j = 0; j < len; ++j) buf[j] = byte();
      if (i % 4 == 0 && len >= 14 + 28) {
        std::memcpy(buf.data(), dst, 6);
        buf[12] = 0x08;  // IPv4
        buf[13] = 0x00;
        buf[14] = static_cast<uint8_t>(0x40 | (rng() % 16));  // version 4, any header length
        buf[23] = 17;                                          // UDP
      }
      if (len < 14) len = 14;  // the kernel wants at least a header for AF_PACKET
      std::memcpy(addr.sll_addr, buf.data(), 6);
      if (sendto(fd, buf.data(), len, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) >= 0) ++sent;
    }
    close(fd);
    std::printf("netgarbage: sent %ld of %ld frames\n", sent, count);
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
