// An address space (port I/O or MMIO) of devices registered by range. Overlapping
// ranges are refused; lookup is an ordered-map search (Firecracker vstate/bus.rs).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "vmm/device.h"

namespace ftd::vmm {

class Bus {
 public:
  explicit Bus(std::string name) : name_(std::move(name)) {}

  // Registers `device` (not owned; it must outlive the bus) at [base, base+size).
  absl::Status Register(uint64_t base, uint64_t size, Device* device);

  // Dispatches an access; false when no device claims the whole access
  // (the caller treats it as open bus). An access that straddles the end of a
  // device's range is not dispatched either.
  bool Read(uint64_t addr, std::span<uint8_t> data) const;
  bool Write(uint64_t addr, std::span<const uint8_t> data) const;

  const std::string& name() const { return name_; }

 private:
  struct Range {
    uint64_t size;
    Device* device;
  };
  // Finds the device whose range holds [addr, addr+len); sets *offset.
  Device* Find(uint64_t addr, uint64_t len, uint64_t* offset) const;

  std::string name_;
  std::map<uint64_t, Range> ranges_;  // keyed by base
};

}  // namespace ftd::vmm
