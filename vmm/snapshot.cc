#include "vmm/snapshot.h"

#include "absl/strings/str_format.h"

namespace ftd::vmm {

std::vector<uint8_t> EncodeSnapshot(const proto::Snapshot& snap) {
  std::string payload;
  snap.SerializeToString(&payload);
  return WrapEnvelope(kSnapshotFile,
                      {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()});
}

absl::StatusOr<proto::Snapshot> DecodeSnapshot(std::span<const uint8_t> bytes,
                                               std::string_view what) {
  auto payload = UnwrapEnvelope(kSnapshotFile, bytes, what);
  if (!payload.ok()) return payload.status();
  proto::Snapshot snap;
  if (!snap.ParseFromArray(payload->data(), static_cast<int>(payload->size()))) {
    return absl::DataLossError(absl::StrFormat("%s: snapshot payload does not parse", what));
  }
  if (snap.config().mem_size() == 0 || !snap.has_vcpu() || !snap.has_devices()) {
    return absl::DataLossError(
        absl::StrFormat("%s: snapshot lacks the machine config, vCPU or devices", what));
  }
  return snap;
}

absl::Status WriteSnapshotFile(const std::string& path, const proto::Snapshot& snap) {
  return WriteFileAtomically(path, EncodeSnapshot(snap));
}

absl::StatusOr<proto::Snapshot> ReadSnapshotFile(const std::string& path) {
  auto bytes = ReadWholeFile(path, kSnapshotFile.max_payload + kEnvelopeHeaderSize);
  if (!bytes.ok()) return bytes.status();
  return DecodeSnapshot(*bytes, path);
}

}  // namespace ftd::vmm
