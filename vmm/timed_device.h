// A device whose state changes with guest time (the PIT). The machine asks for the
// next deadline to know how long a halted vCPU may sleep and when to kick a running
// one, and calls Advance() at exits so the device raises its interrupts.
#pragma once

#include <cstdint>
#include <optional>

namespace ftd::vmm {

class TimedDevice {
 public:
  virtual ~TimedDevice() = default;
  // Guest time (Clock::MonotonicNs) at which the device next needs Advance(),
  // or nullopt when it has nothing scheduled.
  virtual std::optional<uint64_t> NextDeadlineNs() const = 0;
  // Bring the device up to guest time `now_ns`, raising any interrupts that fell due.
  virtual void Advance(uint64_t now_ns) = 0;
};

}  // namespace ftd::vmm
