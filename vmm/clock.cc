#include "vmm/clock.h"

#include <time.h>

namespace ftd::vmm {
namespace {
int64_t Now(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

HostClock::HostClock(uint64_t start_ns)
    : host_origin_ns_(Now(CLOCK_MONOTONIC) - static_cast<int64_t>(start_ns)), last_ns_(start_ns) {}

uint64_t HostClock::MonotonicNs() {
  int64_t ns = Now(CLOCK_MONOTONIC) - host_origin_ns_;
  // CLOCK_MONOTONIC does not go backwards, but guard the guest contract anyway.
  if (ns > 0 && static_cast<uint64_t>(ns) > last_ns_) last_ns_ = static_cast<uint64_t>(ns);
  return last_ns_;
}

int64_t HostClock::RealtimeNs() { return Now(CLOCK_REALTIME); }

}  // namespace ftd::vmm
