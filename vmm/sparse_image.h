// A byte image (guest memory, a disk) as its non-zero 4 KiB pages: a bitmap with one bit per
// page (bit i of byte i/8, least significant first: page i holds a non-zero byte) and one zstd
// frame (checksummed) of those pages in order (the last page may be short: the image's size need not be a
// multiple of 4 KiB). Zero pages, most of a freshly booted guest's memory and of a new disk,
// cost one bit and no compression time: under nested KVM, zstd over 64 MiB of zeros took 4.5 s
// of the first transfer's 7.8 s (docs/pair.md "The first transfer").
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ftd::vmm {

inline constexpr size_t kSparsePageSize = 4096;

struct SparseImage {
  std::string bitmap;  // ceil(ceil(size / 4 KiB) / 8) bytes
  std::string zstd;    // the non-zero pages, in order, one frame (content size set)
  uint64_t pages = 0;  // how many bits are set
};

// Encodes `bytes` at zstd `level`. `known_zero`, when not empty, has one entry per page: true
// where the page is certainly all zeros and is not read at all (see FileHoles).
absl::StatusOr<SparseImage> EncodeSparse(std::span<const uint8_t> bytes, int level = 1,
                                         const std::vector<bool>& known_zero = {});

// Encodes the first `size` bytes of the file `fd` (a disk image), reading only the pages that
// are not holes.
absl::StatusOr<SparseImage> EncodeSparseFile(int fd, uint64_t size, int level = 1);

// One entry per 4 KiB page of the first `size` bytes of `fd`: true where the page lies wholly
// in a hole (SEEK_HOLE/SEEK_DATA: never written, reads as zeros), found without reading or
// faulting in anything. Guest RAM is a memfd whose untouched pages are holes; reading them
// instead would allocate each one (under nested KVM that, not compression, made the snapshot
// of a fresh 64 MiB guest take 6 s). Empty when the file system cannot say.
std::vector<bool> FileHoles(int fd, uint64_t size);

// Writes the non-zero pages of an encoded image into `out`, which must be the image's size and
// all zeros (fresh guest memory, a zero-filled buffer); zero pages are left as they are. A
// bitmap or frame that does not fit `out` exactly is refused (DataLoss), never written past it.
absl::Status DecodeSparse(std::string_view bitmap, std::string_view zstd, std::span<uint8_t> out);

}  // namespace ftd::vmm
