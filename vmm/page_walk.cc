#include "vmm/page_walk.h"

#include <linux/kvm.h>

#include <algorithm>

#include "absl/strings/str_format.h"

namespace ftd::vmm {
namespace {
constexpr uint64_t kPresent = 1ull << 0;
constexpr uint64_t kLargePage = 1ull << 7;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;
constexpr uint64_t kCr0Pg = 1ull << 31;
constexpr uint64_t kEferLma = 1ull << 10;

absl::StatusOr<uint64_t> ReadEntry(const GuestMemory& memory, uint64_t gpa) {
  uint64_t e = 0;
  if (!memory.InRange(gpa, sizeof(e))) {
    return absl::NotFoundError(absl::StrFormat("page table at %#x is outside guest RAM", gpa));
  }
  std::copy_n(memory.host() + gpa, sizeof(e), reinterpret_cast<uint8_t*>(&e));
  return e;
}
}  // namespace

absl::StatusOr<uint64_t> TranslateVirtual(const GuestMemory& memory, const kvm_sregs& sregs,
                                          uint64_t vaddr) {
  if ((sregs.cr0 & kCr0Pg) == 0) return vaddr;
  if ((sregs.efer & kEferLma) == 0) {
    return absl::UnimplementedError("32-bit paging is not supported by the debugger");
  }
  const uint64_t top = vaddr >> 47;
  if (top != 0 && top != 0x1ffff) {
    return absl::NotFoundError(absl::StrFormat("%#x is not a canonical address", vaddr));
  }
  uint64_t table = sregs.cr3 & kAddrMask;
  for (int level = 3; level >= 0; --level) {
    const unsigned shift = 12 + 9 * static_cast<unsigned>(level);
    auto e = ReadEntry(memory, table + ((vaddr >> shift) & 0x1ff) * 8);
    if (!e.ok()) return e.status();
    if ((*e & kPresent) == 0) {
      return absl::NotFoundError(absl::StrFormat("%#x is not mapped", vaddr));
    }
    if (level == 0 || (level <= 2 && (*e & kLargePage) != 0)) {
      const uint64_t page_mask = (1ull << shift) - 1;
      return (*e & kAddrMask & ~page_mask) | (vaddr & page_mask);
    }
    table = *e & kAddrMask;
  }
  return absl::InternalError("unreachable");
}

absl::Status ReadVirtual(const GuestMemory& memory, const kvm_sregs& sregs, uint64_t vaddr,
                         std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t va = vaddr + done;
    const size_t in_page = std::min<size_t>(out.size() - done, 4096 - (va & 4095));
    auto pa = TranslateVirtual(memory, sregs, va);
    if (!pa.ok()) return pa.status();
    if (auto s = memory.Read(*pa, out.subspan(done, in_page)); !s.ok()) return s;
    done += in_page;
  }
  return absl::OkStatus();
}

}  // namespace ftd::vmm
