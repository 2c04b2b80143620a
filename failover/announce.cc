#include "failover/announce.h"

#include <algorithm>

namespace ftd::failover {
namespace {

constexpr bool AnnounceScheduleConsistent() {
  int at = 0;
  for (int i = 0; i < kAnnounceRounds; ++i) {
    at += kAnnounceDelaysMs[i];
    if (kAnnounceAtMs[i] != at) return false;
  }
  return true;
}
static_assert(AnnounceScheduleConsistent(), "kAnnounceAtMs must sum kAnnounceDelaysMs");

void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

}  // namespace

std::vector<uint8_t> RarpAnnounceFrame(const std::array<uint8_t, 6>& mac) {
  std::vector<uint8_t> f(kRarpFrameSize, 0);  // addresses 0.0.0.0 and padding stay zero
  std::fill(f.begin(), f.begin() + 6, 0xff);  // broadcast
  std::copy(mac.begin(), mac.end(), f.begin() + 6);
  Put16(&f[12], 0x8035);  // ETH_P_RARP
  Put16(&f[14], 1);       // ARPHRD_ETHER
  Put16(&f[16], 0x0800);  // ETH_P_IP
  f[18] = 6;
  f[19] = 4;
  Put16(&f[20], 3);  // ARPOP_RREQUEST
  std::copy(mac.begin(), mac.end(), f.begin() + 22);
  std::copy(mac.begin(), mac.end(), f.begin() + 32);
  return f;
}

}  // namespace ftd::failover
