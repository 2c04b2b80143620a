#include "vmm/cpuid_policy.h"

#include <algorithm>

namespace ftd::vmm {
namespace {
constexpr uint32_t Bit(int n) { return 1u << n; }
}  // namespace

std::vector<kvm_cpuid_entry2> ApplyCpuidPolicy(std::vector<kvm_cpuid_entry2> entries) {
  std::erase_if(entries, [](const kvm_cpuid_entry2& e) {
    return e.function >= 0x40000000 && e.function <= 0x400000ff;
  });
  for (auto& e : entries) {
    switch (e.function) {
      case 1:
        e.ecx &= ~(Bit(30) | Bit(31) | Bit(24) | Bit(21));
        e.edx &= ~Bit(9);
        break;
      case 7:
        if (e.index == 0) {
          e.ebx &= ~Bit(18);
          e.ecx &= ~Bit(22);
        }
        break;
      case 0x80000001:
        e.edx &= ~Bit(27);
        break;
      case 0x80000007:
        e.edx &= ~Bit(8);
        break;
      default:
        break;
    }
  }
  return entries;
}

std::vector<uint32_t> TimeMsrIndices() {
  return {
      0x00000010,  // IA32_TIME_STAMP_COUNTER
      0x0000003b,  // IA32_TSC_ADJUST
      0x000006e0,  // IA32_TSC_DEADLINE
      0xc0000103,  // IA32_TSC_AUX (what RDTSCP/RDPID would return)
      0x00000011,  // MSR_KVM_WALL_CLOCK
      0x00000012,  // MSR_KVM_SYSTEM_TIME
      0x4b564d00,  // MSR_KVM_WALL_CLOCK_NEW
      0x4b564d01,  // MSR_KVM_SYSTEM_TIME_NEW
  };
}

}  // namespace ftd::vmm
