// Typed vCPU exits. A KVM_RUN return is decoded into one of these so exit
// handling is a plain function that tests can drive with synthetic exits and
// the replayer can drive without KVM (Firecracker handle_kvm_exit).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>

namespace ftd::vmm {

// Port I/O. `data` holds size*count bytes (count > 1 for rep ins/outs); for an
// IN the handler fills it and KVM copies it into the guest on the next KVM_RUN.
struct IoExit {
  uint16_t port = 0;
  uint8_t size = 0;  // 1, 2 or 4
  bool is_write = false;
  uint32_t count = 1;
  std::span<uint8_t> data;
};

struct MmioExit {
  uint64_t addr = 0;
  bool is_write = false;
  std::span<uint8_t> data;  // 1..8 bytes
};

struct HltExit {};
struct IrqWindowExit {};
struct ShutdownExit {};  // triple fault or the like
// KVM_RUN returned because of a signal or immediate_exit: not a point.
struct InterruptedExit {};

// RDMSR/WRMSR of an MSR that the MSR filter sends to userspace.
struct MsrReadExit {
  uint32_t index = 0;
  uint64_t* data = nullptr;  // the handler stores the value here
  uint8_t* error = nullptr;  // the handler sets 1 to inject #GP
};
struct MsrWriteExit {
  uint32_t index = 0;
  uint64_t data = 0;
  uint8_t* error = nullptr;
};

struct InternalErrorExit {
  uint32_t suberror = 0;
};
struct FailEntryExit {
  uint64_t reason = 0;
};
// KVM_EXIT_DEBUG: a single step or a hardware breakpoint/watchpoint set by a debugger
// (KVM_SET_GUEST_DEBUG). Not a point: the guest did nothing a replay must reproduce.
struct DebugTrapExit {
  uint64_t pc = 0;
  uint64_t dr6 = 0;
  uint64_t dr7 = 0;
  uint32_t exception = 0;
};
struct UnknownExit {
  uint32_t reason = 0;
};

using VcpuExit =
    std::variant<IoExit, MmioExit, HltExit, IrqWindowExit, ShutdownExit, InterruptedExit,
                 MsrReadExit, MsrWriteExit, InternalErrorExit, FailEntryExit, DebugTrapExit,
                 UnknownExit>;

// True for exits the guest caused: the execution points of the determinism contract.
bool IsPoint(const VcpuExit& exit);
std::string DescribeExit(const VcpuExit& exit);

}  // namespace ftd::vmm
