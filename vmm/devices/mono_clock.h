// ftd's monotonic clock device at ports 0x600-0x60f: the guest's only source of time
// (guests must not use RDTSC; DESIGN.md). Every read of the low half is a clock read,
// i.e. a logged input under record/replay.
//
//   offset 0, 32-bit IN: low 32 bits of Clock::MonotonicNs(); latches the high 32 bits
//   offset 4, 32-bit IN: the high half latched by the last offset-0 read
//   offset 8, 32-bit IN: magic 0x43445446 ("FTDC" as little-endian bytes)
// Reading offset 0 then offset 4 gives a consistent 64-bit time. Other reads return all
// ones and are reported once; writes are ignored (and reported once).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "devices.pb.h"
#include "vmm/clock.h"
#include "vmm/device.h"
#include "vmm/devices/access.h"

namespace ftd::vmm {

class MonoClock final : public Device {
 public:
  using State = proto::MonoClockState;

  static constexpr uint64_t kBase = 0x600;
  static constexpr uint64_t kSize = 16;
  static constexpr uint32_t kMagic = 0x43445446;  // 'F' 'T' 'D' 'C' in memory order

  // `clock` is not owned and must outlive the device.
  explicit MonoClock(Clock* clock) : clock_(clock) {}
  static absl::StatusOr<std::unique_ptr<MonoClock>> Restore(Clock* clock, const State& state);
  State Save() const;

  std::string_view Name() const override { return "mono_clock"; }
  void Read(uint64_t offset, std::span<uint8_t> data) override;
  void Write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  Clock* clock_;
  BadAccessLog bad_access_{"mono_clock"};
  uint32_t latched_high_ = 0;
};

}  // namespace ftd::vmm
