// `ftd replay` and `ftd log info`.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "cli/run_command.h"
#include "log.pb.h"
#include "vmm/machine.h"

namespace ftd::cli {

// The machine configuration a log was recorded with; opts.disk and opts.net (when not
// "none") are this host's.
absl::StatusOr<vmm::MachineConfig> ConfigFromLog(const proto::LogHeader& h, const RunOptions& opts);

int ReplayCommand(const RunOptions& opts);
// `epochs`: also print each epoch's registers; `entries`: one line per entry.
int LogInfoCommand(const std::string& path, bool epochs = false, bool entries = false);

}  // namespace ftd::cli
