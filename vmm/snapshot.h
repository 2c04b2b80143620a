// Snapshot files: a proto::Snapshot inside the versioned, CRC-checked envelope.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "snapshot.pb.h"
#include "vmm/envelope.h"

namespace ftd::vmm {

inline constexpr EnvelopeKind kSnapshotFile{{"FTDSNAP\0", 8}, 1, 1ull << 30};

absl::Status WriteSnapshotFile(const std::string& path, const proto::Snapshot& snap);
absl::StatusOr<proto::Snapshot> ReadSnapshotFile(const std::string& path);
// The same for a snapshot already in memory (tests, the wire).
std::vector<uint8_t> EncodeSnapshot(const proto::Snapshot& snap);
absl::StatusOr<proto::Snapshot> DecodeSnapshot(std::span<const uint8_t> bytes,
                                               std::string_view what);

}  // namespace ftd::vmm
