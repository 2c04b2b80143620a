// The CPUID the guest sees. Part of the guest contract (README "Guest contract"):
// ftd cannot trap RDTSC/RDTSCP/RDRAND/RDSEED/RDPID on these hosts, so it hides the
// features that would tempt a guest into non-determinism, and KVM's paravirtual
// leaves (kvmclock and friends read host time behind the VMM's back).
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace ftd::vmm {

// Bits cleared, by leaf/subleaf/register (documented here and in README):
//   1.ECX:  RDRAND(30), hypervisor(31), TSC-deadline(24), x2APIC(21)
//   1.EDX:  APIC(9)
//   7.0.EBX: RDSEED(18)    7.0.ECX: RDPID(22)
//   0x80000001.EDX: RDTSCP(27)
//   0x80000007.EDX: invariant TSC(8)
//   0x40000000-0x400000ff: removed (KVM paravirtual leaves)
std::vector<kvm_cpuid_entry2> ApplyCpuidPolicy(std::vector<kvm_cpuid_entry2> supported);

// Time-related MSRs the MSR filter sends to userspace (TimeMsrs answers them).
std::vector<uint32_t> TimeMsrIndices();

}  // namespace ftd::vmm
