#include "vmm/devices/debug_exit.h"

#include "absl/status/status.h"
#include "vmm/devices/state_check.h"

namespace ftd::vmm {

void DebugExit::Read(uint64_t offset, std::span<uint8_t> data) {
  // A well-formed read is harmless (QEMU's device reads as open bus too): not reported.
  size_t n = data.size();
  if ((n != 1 && n != 2 && n != 4) || offset >= kSize) {
    bad_access_.Report(false, offset, n, "accesses are 1, 2 or 4 bytes");
  }
  FillOpenBus(data);
}

void DebugExit::Write(uint64_t offset, std::span<const uint8_t> data) {
  size_t n = data.size();
  if ((n != 1 && n != 2 && n != 4) || offset >= kSize) {
    bad_access_.Report(true, offset, n, "the status is written with 1, 2 or 4 bytes");
    return;
  }
  exit_status_ = static_cast<uint32_t>(LoadLe(data));
}

DebugExit::State DebugExit::Save() const {
  State s;
  if (exit_status_) s.set_exit_status(*exit_status_);
  return s;
}

absl::StatusOr<std::unique_ptr<DebugExit>> DebugExit::Restore(const State& state) {
  if (absl::Status st = CheckNoUnknownFields(state, "debug_exit"); !st.ok()) return st;
  // Every message is valid: the status is absent or any 32-bit value.
  auto dev = std::make_unique<DebugExit>();
  if (state.has_exit_status()) dev->exit_status_ = state.exit_status();
  return dev;
}

}  // namespace ftd::vmm
