// Helpers for the device unit tests: an IrqSink that records, and byte/dword port I/O.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "vmm/device.h"
#include "vmm/irq.h"

namespace ftd::vmm::testing {

class FakeIrq final : public IrqSink {
 public:
  void SetIrq(unsigned irq, bool level) override {
    events.emplace_back(irq, level);
    if (irq >= levels.size()) return;
    if (level && !levels[irq]) ++rising[irq];
    levels[irq] = level;
  }
  std::vector<std::pair<unsigned, bool>> events;
  std::array<bool, 16> levels{};
  std::array<int, 16> rising{};
};

inline uint8_t In8(Device& d, uint64_t offset) {
  uint8_t b = 0;
  d.Read(offset, std::span<uint8_t>(&b, 1));
  return b;
}
inline void Out8(Device& d, uint64_t offset, uint8_t v) {
  d.Write(offset, std::span<const uint8_t>(&v, 1));
}
inline uint32_t In32(Device& d, uint64_t offset) {
  uint8_t b[4] = {};
  d.Read(offset, b);
  return b[0] | b[1] << 8 | b[2] << 16 | static_cast<uint32_t>(b[3]) << 24;
}
inline void Out32(Device& d, uint64_t offset, uint32_t v) {
  uint8_t b[4] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8),
                  static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 24)};
  d.Write(offset, b);
}
inline uint16_t In16(Device& d, uint64_t offset) {
  uint8_t b[2] = {};
  d.Read(offset, b);
  return static_cast<uint16_t>(b[0] | b[1] << 8);
}

}  // namespace ftd::vmm::testing
