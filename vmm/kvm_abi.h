// C-layout versions of the linux/kvm.h structures that end in a flexible array.
//
// The kernel headers declare those arrays with __DECLARE_FLEX_ARRAY, which wraps an
// empty struct: 0 bytes in C but 1 byte in C++. In C++ that changes sizeof (and so the
// ioctl numbers, which encode the size) and the offset of the array: KVM then answers
// EINVAL or reads the wrong bytes. ftd uses these headers and ioctl numbers instead.
#pragma once

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstdint>

namespace ftd::vmm {

struct KvmCpuid2Header {  // followed by kvm_cpuid_entry2[nent]
  uint32_t nent;
  uint32_t padding;
};
struct KvmMsrsHeader {  // followed by kvm_msr_entry[nmsrs]
  uint32_t nmsrs;
  uint32_t pad;
};
struct KvmMsrListHeader {  // followed by uint32_t[nmsrs]
  uint32_t nmsrs;
};
struct KvmXsave {
  uint32_t region[1024];
};

static_assert(sizeof(KvmCpuid2Header) == 8 && sizeof(KvmMsrsHeader) == 8 &&
              sizeof(KvmMsrListHeader) == 4 && sizeof(KvmXsave) == 4096);
static_assert(alignof(kvm_msr_entry) <= 8 && alignof(kvm_cpuid_entry2) <= 8);

inline constexpr unsigned long kKvmGetMsrIndexList = _IOWR(KVMIO, 0x02, KvmMsrListHeader);
inline constexpr unsigned long kKvmGetSupportedCpuid = _IOWR(KVMIO, 0x05, KvmCpuid2Header);
inline constexpr unsigned long kKvmSetCpuid2 = _IOW(KVMIO, 0x90, KvmCpuid2Header);
inline constexpr unsigned long kKvmGetMsrs = _IOWR(KVMIO, 0x88, KvmMsrsHeader);
inline constexpr unsigned long kKvmSetMsrs = _IOW(KVMIO, 0x89, KvmMsrsHeader);
inline constexpr unsigned long kKvmGetXsave = _IOR(KVMIO, 0xa4, KvmXsave);
inline constexpr unsigned long kKvmSetXsave = _IOW(KVMIO, 0xa5, KvmXsave);

}  // namespace ftd::vmm
