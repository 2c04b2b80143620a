// Guest-virtual to guest-physical translation through the guest's own page tables (4-level
// long-mode paging with 4 KiB, 2 MiB and 1 GiB pages; identity when paging is off), for a
// debugger reading guest memory by the addresses the guest's code uses. Reads only.
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "vmm/guest_memory.h"

struct kvm_sregs;

namespace ftd::vmm {

// The physical address of `vaddr`, or NotFound when it is not mapped (a page-table entry
// not present, a table outside guest RAM, a non-canonical address).
absl::StatusOr<uint64_t> TranslateVirtual(const GuestMemory& memory, const kvm_sregs& sregs,
                                          uint64_t vaddr);
// Reads `out.size()` bytes at `vaddr`, page by page (each page translated on its own).
absl::Status ReadVirtual(const GuestMemory& memory, const kvm_sregs& sregs, uint64_t vaddr,
                         std::span<uint8_t> out);

}  // namespace ftd::vmm
