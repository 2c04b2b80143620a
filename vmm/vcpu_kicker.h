// Kicks the vCPU thread out of KVM_RUN: now (from any thread, or a signal
// handler) or after a delay (a POSIX timer aimed at the vCPU thread). The signal
// handler sets kvm_run->immediate_exit, so a kick that lands between the loop's
// last check and KVM_RUN is not lost.
#pragma once

#include <pthread.h>
#include <time.h>

#include <cstdint>

#include "absl/status/status.h"
#include "vmm/kvm.h"

namespace ftd::vmm {

class VcpuKicker {
 public:
  VcpuKicker() = default;
  VcpuKicker(const VcpuKicker&) = delete;
  VcpuKicker& operator=(const VcpuKicker&) = delete;
  ~VcpuKicker();

  // Must be called on the vCPU thread, before it runs `vcpu`.
  absl::Status Attach(Vcpu* vcpu);
  // Async-signal-safe; any thread.
  void KickNow();
  // Kick after `delay_ns` (replaces any earlier timer); 0 disarms.
  void KickAfter(uint64_t delay_ns);

 private:
  pthread_t thread_{};
  bool attached_ = false;
  timer_t timer_{};
  bool timer_created_ = false;
};

// The signal used for kicks.
int KickSignal();

}  // namespace ftd::vmm
