// The daemon's status file (proto/status.proto): written by a running ftd, read by
// `ftd status` and monitoring. JSON with the proto field names and every field present.
//
// Invariants:
// - WriteStatusFile replaces the file atomically (write PATH.tmp, rename over PATH): a reader
//   sees the previous report or the new one, never a mix. It does not fsync: the file
//   describes a live process and means nothing after a crash.
// - One writer per path (PATH.tmp is not unique).
// - A report is stale when updated_unix_ns is more than kStatusStaleNs before now.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "status.pb.h"

namespace ftd::failover {

inline constexpr uint64_t kStatusStaleNs = 3'000'000'000;  // 3 s

// The report as the status file holds it (one JSON object, no trailing newline).
absl::StatusOr<std::string> StatusToJson(const proto::StatusReport& report);

absl::Status WriteStatusFile(const std::string& path, const proto::StatusReport& report);

// NotFound when there is no file at `path`, DataLoss when it is not a status report.
// Unknown fields (from a newer ftd) are ignored.
absl::StatusOr<proto::StatusReport> ReadStatusFile(const std::string& path);

// True when the report is older than kStatusStaleNs at `now_unix_ns` (or was never stamped).
bool IsStale(const proto::StatusReport& report, uint64_t now_unix_ns);

// Human-readable, one aligned "label: value" line per item, ending with a newline; the last
// line says how old the report is and "(STALE: the daemon is not updating it)" when stale.
std::string FormatStatus(const proto::StatusReport& report, uint64_t now_unix_ns);

}  // namespace ftd::failover
