#include "vmm/cpuid_policy.h"

#include <gtest/gtest.h>

namespace ftd::vmm {
namespace {

kvm_cpuid_entry2 Entry(uint32_t fn, uint32_t idx = 0) {
  kvm_cpuid_entry2 e{};
  e.function = fn;
  e.index = idx;
  e.eax = e.ebx = e.ecx = e.edx = 0xffffffff;
  return e;
}

const kvm_cpuid_entry2* Find(const std::vector<kvm_cpuid_entry2>& v, uint32_t fn,
                             uint32_t idx = 0) {
  for (const auto& e : v) {
    if (e.function == fn && e.index == idx) return &e;
  }
  return nullptr;
}

TEST(CpuidPolicyTest, HidesNondeterministicAndParavirtualFeatures) {
  std::vector<kvm_cpuid_entry2> in = {Entry(0),          Entry(1),          Entry(7, 0),
                                      Entry(7, 1),       Entry(0x40000000), Entry(0x40000001),
                                      Entry(0x80000001), Entry(0x80000007)};
  auto out = ApplyCpuidPolicy(in);
  EXPECT_EQ(Find(out, 0x40000000), nullptr);
  EXPECT_EQ(Find(out, 0x40000001), nullptr);
  const auto* l1 = Find(out, 1);
  ASSERT_NE(l1, nullptr);
  EXPECT_EQ(l1->ecx & (1u << 30), 0u) << "RDRAND";
  EXPECT_EQ(l1->ecx & (1u << 31), 0u) << "hypervisor";
  EXPECT_EQ(l1->ecx & (1u << 24), 0u) << "TSC deadline";
  EXPECT_EQ(l1->ecx & (1u << 21), 0u) << "x2APIC";
  EXPECT_EQ(l1->edx & (1u << 9), 0u) << "APIC";
  EXPECT_NE(l1->edx & (1u << 4), 0u) << "TSC itself stays (it cannot be trapped anyway)";
  const auto* l7 = Find(out, 7, 0);
  ASSERT_NE(l7, nullptr);
  EXPECT_EQ(l7->ebx & (1u << 18), 0u) << "RDSEED";
  EXPECT_EQ(l7->ecx & (1u << 22), 0u) << "RDPID";
  EXPECT_EQ(Find(out, 7, 1)->ebx, 0xffffffffu) << "other subleaves untouched";
  EXPECT_EQ(Find(out, 0x80000001)->edx & (1u << 27), 0u) << "RDTSCP";
  EXPECT_EQ(Find(out, 0x80000007)->edx & (1u << 8), 0u) << "invariant TSC";
  EXPECT_EQ(Find(out, 0)->ebx, 0xffffffffu);
}

TEST(CpuidPolicyTest, TimeMsrsIncludeTscAndKvmClock) {
  auto msrs = TimeMsrIndices();
  for (uint32_t m : {0x10u, 0x6e0u, 0x4b564d01u, 0xc0000103u}) {
    EXPECT_NE(std::find(msrs.begin(), msrs.end(), m), msrs.end()) << std::hex << m;
  }
}

}  // namespace
}  // namespace ftd::vmm
