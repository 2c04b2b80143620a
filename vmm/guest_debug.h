// A debugger's traps on the vCPU: single steps (KVM_SET_GUEST_DEBUG), hardware breakpoints
// and watchpoints in the four debug registers, and software breakpoints the machine patches
// into guest code. None of them may change what the guest does, which single-stepping with
// RFLAGS.TF alone would: an interrupt or a software interrupt (`int n`) delivered while TF is
// set pushes an RFLAGS image with TF into guest memory (a stack frame the recording never
// wrote, and TF back on after IRET). So a step that delivers a vector (an interrupt the
// machine injects at this entry, or an `int n` at RIP) stops on the handler's first
// instruction instead, by a software breakpoint there, TF never set: the frame is the one
// the recording wrote.
//
// A software breakpoint is the byte kTrapByte, `in al, dx`, not int3. Under QEMU's TCG
// (the nested-KVM test VM) an int3 in the L2 guest is delivered to the guest without the #BP
// intercept KVM asked for (TCG checks the INTn intercept for it), and the debug registers
// never fire there; a one-byte port read exits to the VMM on every x86 KVM, from ring 0 and
// from ring 3 where the guest grants I/O (the kit's TSS opens every port). The machine knows
// it for a trap by RIP on a patched byte, and undoes the read (RAX, RIP) before it reports
// it: the guest never sees it run.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

// x86 has four debug registers.
inline constexpr size_t kMaxHwBreakpoints = 4;

// The byte a software breakpoint puts in guest code: `in al, dx` (see the top of this file).
inline constexpr uint8_t kTrapByte = 0xec;

// A trap byte the machine writes into guest code (and hides from epoch hashes and snapshots):
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
// (KVM_GET_VCPU_EVENTS: an interrupt the machine injected, an exception) is seen there: a
// step then returns where it must stop, the handler's guest-physical address, for the
// caller to patch with kTrapByte for that KVM_RUN.
absl::StatusOr<std::optional<SwBreakpoint>> ApplyGuestDebug(Vcpu& vcpu, const GuestMemory& memory,
                                                            const DebugRequest& request);

// DR6 bits of a debug trap: which breakpoint slots fired, and whether it was a single step.
inline constexpr uint64_t kDr6SingleStep = 1ull << 14;
inline uint64_t Dr6Hits(uint64_t dr6) { return dr6 & 0xf; }

}  // namespace ftd::vmm
