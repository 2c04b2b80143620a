// Exit handling as a plain function from a typed exit to an action, so it can be
// tested with synthetic exits and driven without KVM.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>

#include "vmm/bus.h"
#include "vmm/clock.h"
#include "vmm/exit.h"

namespace ftd::vmm {

// Answers the MSRs that the MSR filter sends to userspace.
class MsrHandler {
 public:
  virtual ~MsrHandler() = default;
  // false: the access raises #GP in the guest.
  virtual bool Read(uint32_t index, uint64_t* value) = 0;
  virtual bool Write(uint32_t index, uint64_t value) = 0;
};

// Time MSRs from the machine's Clock: the TSC reads as a 1 GHz counter of guest
// time; TSC_ADJUST and TSC_AUX read 0; writes to them are accepted and ignored
// (the guest cannot move time). Everything else (TSC deadline, kvmclock) is #GP:
// CPUID does not advertise it.
class TimeMsrs final : public MsrHandler {
 public:
  explicit TimeMsrs(Clock* clock) : clock_(clock) {}
  bool Read(uint32_t index, uint64_t* value) override;
  bool Write(uint32_t index, uint64_t value) override;

 private:
  Clock* clock_;
};

// Reports each unclaimed port/address once, then stays quiet about it.
class UnclaimedAccessLog {
 public:
  // Returns true the first time a (space, address) pair is seen.
  bool FirstTime(char space, uint64_t addr) { return seen_.insert({space, addr}).second; }

 private:
  std::set<std::pair<char, uint64_t>> seen_;
};

struct ExitContext {
  Bus* pio;
  Bus* mmio;
  MsrHandler* msrs;
  UnclaimedAccessLog* unclaimed;
};

enum class ExitAction {
  kContinue,     // handled; run the vCPU again
  kHalt,         // the guest executed HLT: wait for an interrupt
  kIrqWindow,    // the guest can take an interrupt now
  kInterrupted,  // a kick, not a point; nothing guest-visible happened
  kShutdown,     // triple fault: the machine resets/stops
  kDebugTrap,    // a debugger's step or breakpoint: not a point, the run stops for it
  kError,        // the VMM cannot continue this guest (message in ExitResult)
};

struct ExitResult {
  ExitAction action = ExitAction::kContinue;
  std::string error;
};

ExitResult HandleExit(const VcpuExit& exit, ExitContext& ctx);

}  // namespace ftd::vmm
