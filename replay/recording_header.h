// What ties a log to the machine it was recorded on: the header a recording starts with,
// and the machine configuration a replay rebuilds from it (with this host's disk and tap).
#pragma once

#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "log.pb.h"
#include "vmm/machine.h"

namespace ftd::replay {

// This host's part of a replayed machine: the files and devices the log does not name.
struct HostResources {
  std::string disk;          // a copy of the disk as it was when recording began (empty: none)
  std::string net = "none";  // "none" or "tap:IFNAME"; "none" keeps the recorded network
  bool replay_writes_disk = true;  // false: a shared disk a live primary still writes
};

// The log header of a recording of `m`, booted from `image`, with the disk at `disk_path`.
absl::StatusOr<proto::LogHeader> RecordingHeader(vmm::Machine& m, std::span<const uint8_t> image,
                                                 const std::string& disk_path);
// The machine configuration that replays a log: what it was recorded with, on this host's
// resources, with inputs from the log (InputTiming::kAtPoints, Backends::kLog).
absl::StatusOr<vmm::MachineConfig> ConfigFromLog(const proto::LogHeader& h,
                                                 const HostResources& host);

}  // namespace ftd::replay
