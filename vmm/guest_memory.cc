#include "vmm/guest_memory.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_format.h"

namespace ftd::vmm {

absl::StatusOr<GuestMemory> GuestMemory::Create(uint64_t size) {
  if (size < (2ull << 20) || size % kPageSize != 0 || size > kMaxGuestMemory) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "guest memory size %u bytes: must be a multiple of 4 KiB between 2 MiB and 3 GiB", size));
  }
  int fd = memfd_create("ftd-guest-ram", MFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrFormat("memfd_create: %s", strerror(errno)));
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int e = errno;
    close(fd);
    return absl::ResourceExhaustedError(absl::StrFormat("ftruncate guest RAM: %s", strerror(e)));
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    close(fd);
    return absl::ResourceExhaustedError(absl::StrFormat("mmap guest RAM: %s", strerror(e)));
  }
  return GuestMemory(fd, static_cast<uint8_t*>(p), size);
}

GuestMemory::GuestMemory(int memfd, uint8_t* host, uint64_t size)
    : memfd_(memfd), host_(host), size_(size), vmm_dirty_((size / kPageSize + 63) / 64, 0) {}

GuestMemory::GuestMemory(GuestMemory&& o) noexcept
    : memfd_(o.memfd_), host_(o.host_), size_(o.size_), vmm_dirty_(std::move(o.vmm_dirty_)) {
  o.memfd_ = -1;
  o.host_ = nullptr;
  o.size_ = 0;
}

GuestMemory::~GuestMemory() {
  if (host_ != nullptr) munmap(host_, size_);
  if (memfd_ >= 0) close(memfd_);
}

absl::StatusOr<std::span<uint8_t>> GuestMemory::Span(uint64_t gpa, uint64_t len) const {
  if (!InRange(gpa, len)) {
    return absl::OutOfRangeError(absl::StrFormat(
        "guest range [%#x, %#x) is outside RAM (%#x bytes)", gpa, gpa + len, size_));
  }
  return std::span<uint8_t>(host_ + gpa, len);
}

absl::Status GuestMemory::Read(uint64_t gpa, std::span<uint8_t> out) const {
  auto s = Span(gpa, out.size());
  if (!s.ok()) return s.status();
  std::memcpy(out.data(), s->data(), out.size());
  return absl::OkStatus();
}

absl::Status GuestMemory::Write(uint64_t gpa, std::span<const uint8_t> in) {
  auto s = Span(gpa, in.size());
  if (!s.ok()) return s.status();
  std::memcpy(s->data(), in.data(), in.size());
  if (!in.empty()) {
    for (uint64_t p = gpa / kPageSize; p <= (gpa + in.size() - 1) / kPageSize; ++p) {
      vmm_dirty_[p / 64] |= 1ull << (p % 64);
    }
  }
  return absl::OkStatus();
}

std::vector<uint64_t> GuestMemory::TakeVmmDirtyPages() {
  std::vector<uint64_t> pages;
  for (size_t w = 0; w < vmm_dirty_.size(); ++w) {
    for (uint64_t bits = vmm_dirty_[w]; bits != 0; bits &= bits - 1) {
      pages.push_back(w * 64 + static_cast<uint64_t>(__builtin_ctzll(bits)));
    }
    vmm_dirty_[w] = 0;
  }
  return pages;
}

}  // namespace ftd::vmm
