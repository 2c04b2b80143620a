#include "vmm/guest_debug.h"

#include <string.h>

#include "absl/strings/str_format.h"
#include "vmm/page_walk.h"

namespace ftd::vmm {
namespace {

uint64_t Dr7Bits(size_t slot, const HwBreakpoint& bp) {
  uint64_t rw = 0;  // 00 execute, 01 write, 11 read/write
  uint64_t len = 0;  // 00 1 byte, 01 2, 11 4, 10 8
  if (bp.kind != HwBreakpoint::Kind::kExec) {
    rw = bp.kind == HwBreakpoint::Kind::kWrite ? 1 : 3;
    len = bp.len == 2 ? 1 : bp.len == 4 ? 3 : bp.len == 8 ? 2 : 0;
  }
  return (1ull << (2 * slot)) | (rw << (16 + 4 * slot)) | (len << (18 + 4 * slot));
}

}  // namespace

std::optional<uint64_t> IdtHandler(const GuestMemory& memory, const kvm_sregs& sregs,
                                   uint8_t vector) {
  if (static_cast<uint64_t>(vector) * 16 + 15 > sregs.idt.limit) return std::nullopt;
  uint8_t gate[16];
  if (!ReadVirtual(memory, sregs, sregs.idt.base + vector * 16ull, gate).ok()) return std::nullopt;
  if ((gate[5] & 0x80) == 0) return std::nullopt;  // not present
  uint16_t lo, mid;
  uint32_t hi;
  memcpy(&lo, gate, 2);
  memcpy(&mid, gate + 6, 2);
  memcpy(&hi, gate + 8, 4);
  return uint64_t{lo} | (uint64_t{mid} << 16) | (uint64_t{hi} << 32);
}

absl::StatusOr<std::optional<SwBreakpoint>> ApplyGuestDebug(Vcpu& vcpu, const GuestMemory& memory,
                                                            const DebugRequest& request) {
  kvm_guest_debug dbg{};
  if (request.breakpoints.size() > kMaxHwBreakpoints) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%u breakpoints: the debug registers hold %u", request.breakpoints.size(),
        kMaxHwBreakpoints));
  }
  std::optional<SwBreakpoint> stop;
  bool tf_step = false;
  if (request.step) {
    std::optional<uint8_t> vector;
    kvm_vcpu_events events{};
    if (auto s = vcpu.Ioctl(KVM_GET_VCPU_EVENTS, &events, "KVM_GET_VCPU_EVENTS"); !s.ok()) return s;
    auto sregs = vcpu.GetSregs();
    if (!sregs.ok()) return sregs.status();
    if (events.exception.injected) {
      vector = events.exception.nr;
    } else if (events.interrupt.injected) {
      vector = events.interrupt.nr;
    } else {
      auto regs = vcpu.GetRegs();
      if (!regs.ok()) return regs.status();
      uint8_t insn[2];
      if (ReadVirtual(memory, *sregs, regs->rip, insn).ok() && insn[0] == 0xcd) vector = insn[1];
    }
    std::optional<uint64_t> handler;
    if (vector) handler = IdtHandler(memory, *sregs, *vector);
    std::optional<uint64_t> gpa;
    if (handler) {
      auto pa = TranslateVirtual(memory, *sregs, *handler);
      if (pa.ok() && memory.InRange(*pa, 1)) gpa = *pa;
    }
    if (gpa) {
      // The step ends where the vector's delivery leaves the guest: its handler's entry.
      stop = SwBreakpoint{*handler, *gpa};
    } else {
      tf_step = true;
    }
  }
  if (!request.breakpoints.empty() || tf_step) {
    dbg.control = KVM_GUESTDBG_ENABLE;
    if (tf_step) dbg.control |= KVM_GUESTDBG_SINGLESTEP;
    if (!request.breakpoints.empty()) dbg.control |= KVM_GUESTDBG_USE_HW_BP;
    uint64_t dr7 = 0;
    for (size_t i = 0; i < request.breakpoints.size(); ++i) {
      dbg.arch.debugreg[i] = request.breakpoints[i].addr;
      dr7 |= Dr7Bits(i, request.breakpoints[i]);
    }
    dbg.arch.debugreg[7] = dr7;
  }
  if (auto s = vcpu.Ioctl(KVM_SET_GUEST_DEBUG, &dbg, "KVM_SET_GUEST_DEBUG"); !s.ok()) return s;
  return stop;
}

}  // namespace ftd::vmm
