// A debugger's traps on the vCPU (KVM_SET_GUEST_DEBUG): hardware breakpoints and
// watchpoints in the four debug registers, and single steps. None of them may change what
// the guest does, which single-stepping with RFLAGS.TF alone would: an interrupt or a
// software interrupt (`int n`) delivered while TF is set pushes an RFLAGS image with TF into
// guest memory (a stack frame the recording never wrote, and TF back on after IRET). So a
// step that delivers a vector (an interrupt the machine injects at this entry, or an
// `int n` at RIP) stops with an execution breakpoint on the handler's first instruction
// instead, TF never set: the frame is the one the recording wrote.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "vmm/guest_memory.h"
#include "vmm/kvm.h"

namespace ftd::vmm {

struct HwBreakpoint {
  enum class Kind { kExec, kWrite, kAccess };
  Kind kind = Kind::kExec;
  uint64_t addr = 0;
  uint8_t len = 1;  // 1, 2, 4 or 8 (watchpoints; aligned to len); 1 for kExec
  bool operator==(const HwBreakpoint&) const = default;
};

// x86 has four debug registers; a step that delivers a vector needs one of them.
inline constexpr size_t kMaxHwBreakpoints = 4;

// An int3 the machine writes into guest code (and hides from epoch hashes and snapshots):
// `addr` the guest-virtual address, `gpa` where that byte is.
struct SwBreakpoint {
  uint64_t addr = 0;
  uint64_t gpa = 0;
  bool operator==(const SwBreakpoint&) const = default;
};

struct DebugRequest {
  bool step = false;
  std::vector<HwBreakpoint> breakpoints;  // at most kMaxHwBreakpoints
  std::vector<SwBreakpoint> sw_breakpoints;
  bool active() const { return step || !breakpoints.empty() || !sw_breakpoints.empty(); }
};

// The handler of `vector` in the guest's IDT (its linear address), if the gate is present.
std::optional<uint64_t> IdtHandler(const GuestMemory& memory, const kvm_sregs& sregs,
                                   uint8_t vector);

// Sets the vCPU's traps for its next KVM_RUN. A vector KVM holds for delivery at that entry
// (KVM_GET_VCPU_EVENTS: an interrupt the machine injected, an exception) is seen there.
absl::Status ApplyGuestDebug(Vcpu& vcpu, const GuestMemory& memory, const DebugRequest& request);

// DR6 bits of a debug trap: which breakpoint slots fired, and whether it was a single step.
inline constexpr uint64_t kDr6SingleStep = 1ull << 14;
inline uint64_t Dr6Hits(uint64_t dr6) { return dr6 & 0xf; }

}  // namespace ftd::vmm
