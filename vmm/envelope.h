// The envelope around every file ftd reads back (Firecracker snapshot/mod.rs):
//
//   offset  size  field
//   0       8     magic (names the kind of file, e.g. "FTDSNAP\0")
//   8       4     format version (little endian)
//   12      4     reserved, must be 0
//   16      8     payload length
//   24      4     CRC-32 (zlib polynomial) of the payload
//   28      4     CRC-32 of bytes 0..27
//   32      ...   payload
//
// Compatibility rule: a reader accepts exactly the versions it knows; a newer
// version is refused with a message naming both versions.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ftd::vmm {

inline constexpr size_t kEnvelopeHeaderSize = 32;

struct EnvelopeKind {
  std::string_view magic;  // exactly 8 bytes
  uint32_t version;
  uint64_t max_payload;  // larger files are refused before being read
};

// CRC-32 with zlib's polynomial, over any length.
uint32_t Crc32(std::span<const uint8_t> data);
// Little-endian (host order on x86-64) integers in byte buffers, for the file formats.
inline void Put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void Put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline uint32_t Get32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t Get64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::vector<uint8_t> WrapEnvelope(const EnvelopeKind& kind, std::span<const uint8_t> payload);
// Checks magic, version, length and CRCs; returns the payload. `what` names the input in errors.
absl::StatusOr<std::span<const uint8_t>> UnwrapEnvelope(const EnvelopeKind& kind,
                                                        std::span<const uint8_t> file,
                                                        std::string_view what);

// Writes all of `data` at `offset` of `fd` (retrying short writes and EINTR); `what` names
// the file in the error.
absl::Status PwriteAll(int fd, std::span<const uint8_t> data, uint64_t offset,
                       std::string_view what);
absl::Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> data);
absl::StatusOr<std::vector<uint8_t>> ReadWholeFile(const std::string& path, uint64_t max_size);

}  // namespace ftd::vmm
