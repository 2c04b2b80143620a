#include "vmm/exit.h"

#include "absl/strings/str_format.h"

namespace ftd::vmm {

bool IsPoint(const VcpuExit& exit) {
  return std::holds_alternative<IoExit>(exit) || std::holds_alternative<MmioExit>(exit) ||
         std::holds_alternative<HltExit>(exit) || std::holds_alternative<MsrReadExit>(exit) ||
         std::holds_alternative<MsrWriteExit>(exit) || std::holds_alternative<ShutdownExit>(exit) ||
         std::holds_alternative<IrqWindowExit>(exit);
}

std::string DescribeExit(const VcpuExit& exit) {
  struct V {
    std::string operator()(const IoExit& e) const {
      return absl::StrFormat("io %s port=%#x size=%u count=%u", e.is_write ? "out" : "in", e.port,
                             e.size, e.count);
    }
    std::string operator()(const MmioExit& e) const {
      return absl::StrFormat("mmio %s addr=%#x len=%u", e.is_write ? "write" : "read", e.addr,
                             e.data.size());
    }
    std::string operator()(const HltExit&) const { return "hlt"; }
    std::string operator()(const IrqWindowExit&) const { return "irq-window"; }
    std::string operator()(const ShutdownExit&) const { return "shutdown (triple fault)"; }
    std::string operator()(const InterruptedExit&) const { return "interrupted"; }
    std::string operator()(const MsrReadExit& e) const {
      return absl::StrFormat("rdmsr %#x", e.index);
    }
    std::string operator()(const MsrWriteExit& e) const {
      return absl::StrFormat("wrmsr %#x=%#x", e.index, e.data);
    }
    std::string operator()(const InternalErrorExit& e) const {
      return absl::StrFormat("KVM internal error, suberror %u (an instruction KVM cannot emulate?)",
                             e.suberror);
    }
    std::string operator()(const FailEntryExit& e) const {
      return absl::StrFormat("VM entry failed, hardware reason %#x", e.reason);
    }
    std::string operator()(const DebugTrapExit& e) const {
      return absl::StrFormat("debug trap pc=%#x dr6=%#x", e.pc, e.dr6);
    }
    std::string operator()(const UnknownExit& e) const {
      return absl::StrFormat("unknown exit reason %u", e.reason);
    }
  };
  return std::visit(V{}, exit);
}

}  // namespace ftd::vmm
