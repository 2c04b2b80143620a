// Save and restore of a vCPU's complete architectural state (regs, sregs, FPU,
// XSAVE, XCRs, vCPU events, debug registers, MP state, MSRs one by one).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "snapshot.pb.h"
#include "vmm/kvm.h"

namespace ftd::vmm {

absl::StatusOr<proto::VcpuState> SaveVcpu(const Kvm& kvm, const Vcpu& vcpu);
// Restores into a fresh vCPU whose CPUID is already set.
absl::Status RestoreVcpu(const proto::VcpuState& state, Vcpu& vcpu);
// What decides interrupt delivery at the next point (snapshot.proto InterruptState): part of
// every epoch hash and of a snapshot's restore check.
absl::StatusOr<proto::InterruptState> CaptureInterruptState(const Vcpu& vcpu);

}  // namespace ftd::vmm
