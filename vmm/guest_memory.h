// Guest RAM: one memfd-backed mapping at guest-physical address 0. The VMM's own
// writes go through Write(), which marks the pages in a dirty bitmap of its own:
// KVM's dirty log does not see writes made through the VMM's mapping, and epoch
// hashes (record/replay) need both.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ftd::vmm {

inline constexpr uint64_t kPageSize = 4096;
// Guest RAM must stay below the MMIO window (virtio-mmio at 0xd0000000).
inline constexpr uint64_t kMaxGuestMemory = 3ull << 30;

class GuestMemory {
 public:
  static absl::StatusOr<GuestMemory> Create(uint64_t size);
  GuestMemory(GuestMemory&& o) noexcept;
  GuestMemory& operator=(GuestMemory&&) = delete;
  ~GuestMemory();

  uint64_t size() const { return size_; }
  uint8_t* host() const { return host_; }
  int memfd() const { return memfd_; }

  bool InRange(uint64_t gpa, uint64_t len) const { return gpa <= size_ && len <= size_ - gpa; }
  // A view of guest memory; error when [gpa, gpa+len) is not all RAM.
  absl::StatusOr<std::span<uint8_t>> Span(uint64_t gpa, uint64_t len) const;
  absl::Status Read(uint64_t gpa, std::span<uint8_t> out) const;
  absl::Status Write(uint64_t gpa, std::span<const uint8_t> in);

  // Pages written through Write() since the last call; clears the set.
  std::vector<uint64_t> TakeVmmDirtyPages();

 private:
  GuestMemory(int memfd, uint8_t* host, uint64_t size);
  int memfd_ = -1;
  uint8_t* host_ = nullptr;
  uint64_t size_ = 0;
  std::vector<uint64_t> vmm_dirty_;  // one bit per page
};

}  // namespace ftd::vmm
