// Debug-exit port at 0xf4 (4 ports), like QEMU's isa-debug-exit (iobase=0xf4,
// iosize=4): a guest write of 1, 2 or 4 bytes at any offset records the written value
// as the guest's exit status. The machine polls exit_status() after I/O exits and ends
// the run. The value is recorded as written; QEMU turns it into the process exit code
// (value << 1) | 1, which is the runner's business, not the device's. A later write
// replaces the status. Reads return all ones.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "devices.pb.h"
#include "vmm/device.h"
#include "vmm/devices/access.h"

namespace ftd::vmm {

class DebugExit final : public Device {
 public:
  using State = proto::DebugExitState;

  static constexpr uint64_t kBase = 0xf4;
  static constexpr uint64_t kSize = 4;

  DebugExit() = default;
  static absl::StatusOr<std::unique_ptr<DebugExit>> Restore(const State& state);
  State Save() const;

  std::string_view Name() const override { return "debug_exit"; }
  void Read(uint64_t offset, std::span<uint8_t> data) override;
  void Write(uint64_t offset, std::span<const uint8_t> data) override;

  std::optional<uint32_t> exit_status() const { return exit_status_; }

 private:
  BadAccessLog bad_access_{"debug_exit"};
  std::optional<uint32_t> exit_status_;
};

}  // namespace ftd::vmm
