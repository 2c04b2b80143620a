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

#include "absl/status/statusor.h"

namespace ftd::vmm {

inline constexpr size_t kSparsePageSize = 4096;

struct SparseImage {
  std::string bitmap;  // ceil(ceil(size / 4 KiB) / 8) bytes
  std::string zstd;    // the non-zero pages, in order, one frame (content size set)
  uint64_t pages = 0;  // how many bits are set
};

// Encodes `bytes` at zstd `level`.
absl::StatusOr<SparseImage> EncodeSparse(std::span<const uint8_t> bytes, int level = 1);

// Writes the non-zero pages of an encoded image into `out`, which must be the image's size and
// all zeros (fresh guest memory, a zero-filled buffer); zero pages are left as they are. A
// bitmap or frame that does not fit `out` exactly is refused (DataLoss), never written past it.
absl::Status DecodeSparse(std::string_view bitmap, std::string_view zstd, std::span<uint8_t> out);

}  // namespace ftd::vmm
