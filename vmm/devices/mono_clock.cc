#include "vmm/devices/mono_clock.h"

#include "absl/status/status.h"
#include "vmm/devices/state_check.h"

namespace ftd::vmm {

void MonoClock::Read(uint64_t offset, std::span<uint8_t> data) {
  if (data.size() == 4) {
    switch (offset) {
      case 0: {
        uint64_t now = clock_->MonotonicNs();
        latched_high_ = static_cast<uint32_t>(now >> 32);
        StoreLe(data, static_cast<uint32_t>(now));
        return;
      }
      case 4:
        StoreLe(data, latched_high_);
        return;
      case 8:
        StoreLe(data, kMagic);
        return;
      default:
        break;
    }
  }
  bad_access_.Report(false, offset, data.size(), "only 32-bit reads at offsets 0, 4 and 8");
  FillOpenBus(data);
}

void MonoClock::Write(uint64_t offset, std::span<const uint8_t> data) {
  bad_access_.Report(true, offset, data.size(), "the clock is read-only");
}

MonoClock::State MonoClock::Save() const {
  State s;
  s.set_latched_high(latched_high_);
  return s;
}

absl::StatusOr<std::unique_ptr<MonoClock>> MonoClock::Restore(Clock* clock, const State& state) {
  if (absl::Status st = CheckNoUnknownFields(state, "mono_clock"); !st.ok()) return st;
  auto dev = std::make_unique<MonoClock>(clock);
  dev->latched_high_ = state.latched_high();
  return dev;
}

}  // namespace ftd::vmm
