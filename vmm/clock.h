// The one clock interface every guest-visible time source reads. Devices never
// call clock_gettime themselves: the record/replay layer substitutes a Clock that
// logs (record) or returns logged values (replay).
#pragma once

#include <cstdint>

namespace ftd::vmm {

class Clock {
 public:
  virtual ~Clock() = default;
  // Guest time: nanoseconds since the machine booted. Never goes backwards.
  virtual uint64_t MonotonicNs() = 0;
  // Wall-clock time in nanoseconds since the Unix epoch (for the RTC).
  virtual int64_t RealtimeNs() = 0;
};

// Host CLOCK_MONOTONIC / CLOCK_REALTIME, with guest time continuing from
// `start_ns` (0 at boot; the saved guest time after a restore).
class HostClock final : public Clock {
 public:
  explicit HostClock(uint64_t start_ns = 0);
  uint64_t MonotonicNs() override;
  int64_t RealtimeNs() override;

 private:
  int64_t host_origin_ns_;  // host CLOCK_MONOTONIC at guest time 0
  uint64_t last_ns_ = 0;
};

// A clock that moves only when told to; for unit tests.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint64_t now_ns = 0, int64_t realtime_origin_ns = 0)
      : now_ns_(now_ns), realtime_origin_ns_(realtime_origin_ns) {}
  uint64_t MonotonicNs() override { return now_ns_; }
  int64_t RealtimeNs() override { return realtime_origin_ns_ + static_cast<int64_t>(now_ns_); }
  void Advance(uint64_t ns) { now_ns_ += ns; }
  void Set(uint64_t ns) { now_ns_ = ns; }

 private:
  uint64_t now_ns_;
  int64_t realtime_origin_ns_;
};

}  // namespace ftd::vmm
