// A device model on a bus. Devices see offsets relative to the start of their
// registered range, never absolute addresses (Firecracker vstate/bus.rs, kvmtool mmio.c).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace ftd::vmm {

class Device {
 public:
  virtual ~Device() = default;
  virtual std::string_view Name() const = 0;
  // A guest read of data.size() bytes at `offset`. Unknown registers read as 0xff
  // (as open bus does) and are reported once; a bad access never kills the VMM.
  virtual void Read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void Write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

}  // namespace ftd::vmm
